import { createLatencyRecorder } from './histogram.js';
import type { LatencySummary } from './types.js';

/**
 * The measuring loop: `concurrency` closed-loop workers call `operation` back to back, first for
 * a warm-up (not recorded), then for a duration or a number of operations, recording every
 * latency in an HDR histogram; `measureInRounds` repeats the measured phase after one warm-up.
 * Closed loop means a slow operation delays the next one: the percentiles are of service time,
 * not of response time under a fixed arrival rate.
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

/** One workload measured round after round: the warm-up before the first, each round its own summary. */
export interface RoundedWorkload {
  /** Measures one more round (`onProgress` overrides the workload's for it) and returns its summary. */
  measureRound(onProgress?: (fraction: number) => void): Promise<LatencySummary>;
  /** Every round measured so far as one distribution: counts, errors and durations added up. */
  merged(): LatencySummary;
}

/**
 * Rounds of one workload. The operation sequence numbers run on from round to round, so a
 * scenario that walks through its data (a cold cache, disjoint packages) keeps walking.
 */
export async function measureInRounds(workload: Workload): Promise<RoundedWorkload> {
  const all = await createLatencyRecorder();
  const concurrency = Math.max(1, Math.floor(workload.concurrency));
  const seqs: number[] = Array.from({ length: concurrency }, () => 0);
  const next = (worker: number): number => {
    const seq = seqs[worker] ?? 0;
    seqs[worker] = seq + 1;
    return seq;
  };
  let warmedUp = false;
  let durationMs = 0;
  let errors = 0;
  let firstError: string | undefined;
  return {
    async measureRound(onProgress = workload.onProgress) {
      if (!warmedUp) await warmUp(workload, seqs, next);
      warmedUp = true;
      const round = await createLatencyRecorder();
      const measured = await measure({ ...workload, onProgress }, seqs, next, (ms) => {
        round.record(ms);
        all.record(ms);
      });
      durationMs += measured.elapsed;
      errors += measured.errors;
      firstError ??= measured.firstError;
      return round.summarize(measured.elapsed, measured.errors, measured.firstError);
    },
    merged: () => all.summarize(durationMs, errors, firstError),
  };
}

/** One warm-up and one measured phase. */
export async function runWorkload(workload: Workload): Promise<LatencySummary> {
  return (await measureInRounds(workload)).measureRound();
}

/** Warm-up: the same loop, nothing recorded. */
async function warmUp(workload: Workload, seqs: readonly number[], next: (worker: number) => number): Promise<void> {
  if (workload.warmupMs <= 0) return;
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

async function measure(
  workload: Workload,
  seqs: readonly number[],
  next: (worker: number) => number,
  record: (ms: number) => void,
): Promise<{ elapsed: number; errors: number; firstError: string | undefined }> {
  let errors = 0;
  let firstError: string | undefined;
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
          record(performance.now() - t0);
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
  return { elapsed, errors, firstError };
}

/** The harness's own cost per operation in microseconds: a no-op measured like any workload. */
export async function measureHarnessOverhead(count = 200_000): Promise<number> {
  const noop = (): Promise<void> => Promise.resolve();
  const summary = await runWorkload({ operation: noop, concurrency: 1, warmupMs: 200, count });
  return (summary.durationMs * 1000) / Math.max(1, summary.count);
}
