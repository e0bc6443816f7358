import { createLatencyRecorder } from './histogram.js';
import type { LatencySummary } from './types.js';

/**
 * The measuring loop: `concurrency` closed-loop workers call `operation` back to back, first for
 * a warm-up (not recorded), then for a duration or a number of operations, recording every
 * latency in an HDR histogram. Closed loop means a slow operation delays the next one: the
 * percentiles are of service time, not of response time under a fixed arrival rate.
 */

export interface Workload {
  /** One operation; `worker` is 0…concurrency-1, `seq` counts that worker's operations. */
  operation: (worker: number, seq: number) => Promise<unknown>;
  concurrency: number;
  warmupMs: number;
  /** Measure for this long … */
  durationMs?: number;
  /** … or for this many operations (whichever is given; count wins when both are). */
  count?: number;
  signal?: AbortSignal;
  /** Called about every 250 ms with the fraction done (0…1) of the measured phase. */
  onProgress?: (fraction: number) => void;
}

export async function runWorkload(workload: Workload): Promise<LatencySummary> {
  const recorder = await createLatencyRecorder();
  const concurrency = Math.max(1, Math.floor(workload.concurrency));
  const seqs: number[] = Array.from({ length: concurrency }, () => 0);
  const next = (worker: number): number => {
    const seq = seqs[worker] ?? 0;
    seqs[worker] = seq + 1;
    return seq;
  };
  let errors = 0;
  let firstError: string | undefined;

  // Warm-up: same loop, nothing recorded.
  if (workload.warmupMs > 0) {
    const until = performance.now() + workload.warmupMs;
    await Promise.all(
      seqs.map(async (_, worker) => {
        while (performance.now() < until && workload.signal?.aborted !== true) {
          try {
            await workload.operation(worker, next(worker));
          } catch {
            // Errors in the warm-up show again in the measured phase.
          }
        }
      }),
    );
  }

  const total = workload.count;
  const durationMs = total === undefined ? (workload.durationMs ?? 10_000) : Number.POSITIVE_INFINITY;
  let started = 0;
  let issued = 0;
  let lastProgress = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    seqs.map(async (_, worker) => {
      for (;;) {
        if (workload.signal?.aborted === true) return;
        if (total !== undefined ? issued >= total : performance.now() >= deadline) return;
        issued += 1;
        const t0 = performance.now();
        try {
          await workload.operation(worker, next(worker));
          recorder.record(performance.now() - t0);
        } catch (error) {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
        started += 1;
        if (workload.onProgress !== undefined && (started & 63) === 0) {
          const now = performance.now();
          if (now - lastProgress > 250) {
            lastProgress = now;
            workload.onProgress(total !== undefined ? started / total : Math.min(1, (now - start) / durationMs));
          }
        }
      }
    }),
  );
  const elapsed = performance.now() - start;
  workload.onProgress?.(1);
  return recorder.summarize(elapsed, errors, firstError);
}

/** The harness's own cost per operation in microseconds: a no-op measured like any workload. */
export async function measureHarnessOverhead(count = 200_000): Promise<number> {
  const noop = (): Promise<void> => Promise.resolve();
  const summary = await runWorkload({ operation: noop, concurrency: 1, warmupMs: 200, count });
  return (summary.durationMs * 1000) / Math.max(1, summary.count);
}
