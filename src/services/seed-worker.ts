import { parentPort, workerData } from 'node:worker_threads';
import type { SeedParams } from '../domain/seed/types.js';
import { encodePackageChunk, type ChunkOptions, type PackageChunk } from './seed-encoding.js';

/**
 * The seed's generator thread: encodes chunks of packages as COPY text and hands them to the
 * main thread (zero-copy), at most `ahead` chunks before the main thread asks for more.
 */

export interface SeedWorkerInput {
  params: SeedParams;
  start: number;
  total: number;
  chunkPackages: number;
  ahead: number;
  options: ChunkOptions;
}

/** What the worker posts: one chunk's COPY text per table, as bytes. */
export type SeedWorkerChunk = PackageChunk;

const input = workerData as SeedWorkerInput;
const port = parentPort;
let next = input.start;
let credits = input.ahead;
let finished = false;

function produce(): void {
  while (credits > 0 && next < input.total) {
    const count = Math.min(input.chunkPackages, input.total - next);
    const chunk = encodePackageChunk(input.params, next, count, input.options);
    next += count;
    credits -= 1;
    const message: SeedWorkerChunk = chunk;
    const buffers = [message.packages, message.shipments, message.events, message.documents].map((b) => b.buffer as ArrayBuffer);
    port?.postMessage(message, buffers);
  }
  if (next >= input.total && !finished) {
    finished = true;
    port?.postMessage('done');
  }
}

port?.on('message', () => {
  credits += 1;
  produce();
});
produce();
