import { ExitCode, ShiptrackError, UsageError } from '../../errors.js';
import {
  documentCollections,
  type BenchmarkRunDocument,
  type RawScanDocument,
  type StatementSnapshotDocument,
} from './document-store.js';

/** Checks shared by both document stores, so both accept and refuse the same documents. */

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function invalidDocument(collection: string, id: unknown, message: string): ShiptrackError {
  return new ShiptrackError('invalid_document', ExitCode.usage, `${collection}: ${message}`, {
    details: { collection, ...(typeof id === 'string' ? { id } : {}) },
  });
}

/**
 * Rejects documents that neither store would accept, before anything is written, so a bad
 * document fails the whole call in both implementations. Shared by the MongoDB store.
 */
export function assertRawScanDocument(doc: RawScanDocument): void {
  const c = documentCollections.rawScans;
  if (typeof doc.id !== 'string' || doc.id === '') throw invalidDocument(c, undefined, 'id must be a non-empty string');
  if (typeof doc.trackingNumber !== 'string' || doc.trackingNumber === '') {
    throw invalidDocument(c, doc.id, `scan ${doc.id}: trackingNumber must be a non-empty string`);
  }
  if (doc.eventId !== null && !Number.isSafeInteger(doc.eventId)) {
    throw invalidDocument(c, doc.id, `scan ${doc.id}: eventId must be an integer or null`);
  }
  if (!(doc.scannedAt instanceof Date) || Number.isNaN(doc.scannedAt.getTime())) {
    throw invalidDocument(c, doc.id, `scan ${doc.id}: scannedAt must be a valid Date`);
  }
  if (typeof doc.source !== 'string' || doc.source === '') {
    throw invalidDocument(c, doc.id, `scan ${doc.id}: source must be a non-empty string`);
  }
  if (!isPlainObject(doc.payload)) throw invalidDocument(c, doc.id, `scan ${doc.id}: payload must be an object`);
}

/** See {@link assertRawScanDocument}. */
export function assertBenchmarkRunDocument(run: BenchmarkRunDocument): void {
  const c = documentCollections.benchmarkRuns;
  if (typeof run.id !== 'string' || run.id === '') throw invalidDocument(c, undefined, 'id must be a non-empty string');
  if (!(run.startedAt instanceof Date) || Number.isNaN(run.startedAt.getTime())) {
    throw invalidDocument(c, run.id, `run ${run.id}: startedAt must be a valid Date`);
  }
  if (typeof run.suite !== 'string' || run.suite === '') {
    throw invalidDocument(c, run.id, `run ${run.id}: suite must be a non-empty string`);
  }
  for (const field of ['environment', 'parameters', 'results'] as const) {
    if (!isPlainObject(run[field])) throw invalidDocument(c, run.id, `run ${run.id}: ${field} must be an object`);
  }
}

/** See {@link assertRawScanDocument}. */
export function assertStatementSnapshotDocument(snapshot: StatementSnapshotDocument): void {
  const c = documentCollections.statementSnapshots;
  const id = snapshot.id;
  if (typeof id !== 'string' || id === '') throw invalidDocument(c, undefined, 'id must be a non-empty string');
  if (typeof snapshot.server !== 'string' || snapshot.server === '') {
    throw invalidDocument(c, id, `snapshot ${id}: server must be a non-empty string`);
  }
  for (const field of ['takenAt', 'statsReset'] as const) {
    const value = snapshot[field];
    if (field === 'statsReset' && value === null) continue;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw invalidDocument(c, id, `snapshot ${id}: ${field} must be a valid Date`);
    }
  }
  if (!Array.isArray(snapshot.statements)) throw invalidDocument(c, id, `snapshot ${id}: statements must be an array`);
  for (const s of snapshot.statements) {
    const counters = [s.calls, s.totalMs, s.rows];
    if (typeof s.queryId !== 'string' || typeof s.query !== 'string' || !counters.every((n) => Number.isFinite(n))) {
      throw invalidDocument(c, id, `snapshot ${id}: each statement needs queryId, query, calls, totalMs and rows`);
    }
  }
}

/** Validates a `limit` option; undefined means no limit. */
export function checkLimit(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`limit must be a positive integer, got ${limit}`);
  return limit;
}

/** Keeps the first document of each id: a batch may carry the same scan twice. */
export function uniqueById<T extends { id: string }>(docs: readonly T[]): T[] {
  const seen = new Set<string>();
  return docs.filter((doc) => (seen.has(doc.id) ? false : (seen.add(doc.id), true)));
}
