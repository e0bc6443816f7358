import { createLatencyRecorder, type LatencyRecorder } from './histogram.js';
import type { LatencySummary, OpenLoopResult } from './types.js';

/**
 * The measuring loop: `concurrency` closed-loop workers call `operation` back to back, first for
 * a warm-up (not recorded), then for a duration or a number of operations, recording every
 * latency in an HDR histogram; `measureInRounds` repeats the measured phase after one warm-up.
 * Closed loop means a slow operation delays the next one: the percentiles are of service time,
 * not of response time under a fixed arrival rate.
 *
 * The open loop (`measureOpenLoopRound`, `runOpenLoop`) schedules operations at a fixed rate
 * instead, as wrk2 and k6's constant-arrival-rate executor do, and measures each latency from
 * the operation's scheduled start: a stall is charged to every operation that had to wait for it
 * (coordinated omission corrected).
 */

/**
 * An open-loop operation that starts more than this after its scheduled time counts as late:
 * Node's timers wake up to a few milliseconds late on a busy machine, which is not a stall.
 */
export const lateSlackMs = 10;

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
  /**
   * Measures one more round open-loop: `durationMs × rate` operations (or `count`) scheduled at
   * `ratePerSecond`, at most `concurrency` in flight (see `runOpenLoop`).
   */
  measureOpenLoopRound(ratePerSecond: number, onProgress?: (fraction: number) => void): Promise<OpenLoopResult>;
  /** Every open-loop round so far as one result; undefined when none was measured. */
  mergedOpenLoop(): OpenLoopResult | undefined;
}

/**
 * Rounds of one workload. The operation sequence numbers run on from round to round, so a
 * scenario that walks through its data (a cold cache, disjoint packages) keeps walking.
 */
export async function measureInRounds(workload: Workload): Promise<RoundedWorkload> {
  const concurrency = Math.max(1, Math.floor(workload.concurrency));
  const seqs: number[] = Array.from({ length: concurrency }, () => 0);
  const next = (worker: number): number => {
    const seq = seqs[worker] ?? 0;
    seqs[worker] = seq + 1;
    return seq;
  };
  let warmedUp = false;
  const warmUpOnce = async (): Promise<void> => {
    if (!warmedUp) await warmUp(workload, seqs, next);
    warmedUp = true;
  };
  const closed = tally(await createLatencyRecorder());
  const open = tally(await createLatencyRecorder());
  const openCounts = { ratePerSecond: Number.NaN, slackMs: lateSlackMs, scheduled: 0, late: 0, dropped: 0 };
  /**
   * One measured round of either loop: after the one warm-up, each latency goes into this round's
   * recorder and the loop's running tally; returns the phase and this round's summary.
   */
  const round = async <P extends Phase>(
    into: Tally,
    run: (record: (ms: number) => void) => Promise<P>,
  ): Promise<{ phase: P; summary: LatencySummary }> => {
    await warmUpOnce();
    const recorder = await createLatencyRecorder();
    const phase = await run((ms) => {
      recorder.record(ms);
      into.recorder.record(ms);
    });
    into.add(phase);
    return { phase, summary: recorder.summarize(phase.elapsed, phase.errors, phase.firstError) };
  };
  return {
    async measureRound(onProgress = workload.onProgress) {
      return (await round(closed, (record) => measure({ ...workload, onProgress }, seqs, next, record))).summary;
    },
    merged: () => closed.summarize(),
    async measureOpenLoopRound(ratePerSecond, onProgress = workload.onProgress) {
      const { phase, summary } = await round(open, (record) =>
        measureOpenLoop({ ...workload, onProgress }, ratePerSecond, next, record),
      );
      const { scheduled, late, dropped } = phase;
      openCounts.ratePerSecond = ratePerSecond;
      openCounts.scheduled += scheduled;
      openCounts.late += late;
      openCounts.dropped += dropped;
      return { ratePerSecond, slackMs: lateSlackMs, scheduled, late, dropped, summary };
    },
    mergedOpenLoop: () => (openCounts.scheduled === 0 ? undefined : { ...openCounts, summary: open.summarize() }),
  };
}

interface Phase {
  elapsed: number;
  errors: number;
  firstError: string | undefined;
}

interface Tally {
  recorder: LatencyRecorder;
  add(phase: Phase): void;
  summarize(): LatencySummary;
}

/** Rounds added up: one recorder, durations and errors summed, the first error kept. */
function tally(recorder: LatencyRecorder): Tally {
  let durationMs = 0;
  let errors = 0;
  let firstError: string | undefined;
  return {
    recorder,
    add(phase) {
      durationMs += phase.elapsed;
      errors += phase.errors;
      firstError ??= phase.firstError;
    },
    summarize: () => recorder.summarize(durationMs, errors, firstError),
  };
}

/** One warm-up and one measured phase. */
export async function runWorkload(workload: Workload): Promise<LatencySummary> {
  return (await measureInRounds(workload)).measureRound();
}

/**
 * One warm-up (closed-loop, as always) and one open-loop phase: operation i is scheduled at
 * start + i / rate, for `durationMs` (or `count` operations). At most `concurrency` operations are
 * in flight: one that falls due while they all are waits for the first free slot, and is charged
 * that wait (it counts as late when it starts more than `lateSlackMs` after its time); one still
 * waiting `lateSlackMs` after the schedule ends is dropped, never run and not in the latencies. Each latency
 * runs from the scheduled start to the end of the operation.
 */
export async function runOpenLoop(workload: Workload, ratePerSecond: number): Promise<OpenLoopResult> {
  return (await measureInRounds(workload)).measureOpenLoopRound(ratePerSecond);
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
): Promise<Phase> {
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

interface OpenLoopPhase extends Phase {
  scheduled: number;
  late: number;
  dropped: number;
}

/** Resolves after `ms` (a timer), or at once on the next turn of the event loop when less than 1 ms. */
function pause(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    if (ms >= 1) timer = setTimeout(resolve, ms);
    else setImmediate(resolve);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * The open-loop phase (see `runOpenLoop`). One dispatcher starts every operation that is due while
 * a slot is free, then sleeps until the next is due or, with every slot taken, until one frees or
 * the schedule ends. A timer, not a busy loop: a busy loop would take a core from the system under
 * test, so starts are up to about a millisecond late (charged, as all lateness is).
 */
async function measureOpenLoop(
  workload: Workload,
  ratePerSecond: number,
  next: (worker: number) => number,
  record: (ms: number) => void,
): Promise<OpenLoopPhase> {
  const interval = 1000 / ratePerSecond;
  const scheduled = workload.count ?? Math.max(1, Math.floor(((workload.durationMs ?? 10_000) * ratePerSecond) / 1000));
  const concurrency = Math.max(1, Math.floor(workload.concurrency));
  // Slot 0 is taken first: a slot plays the part of a closed-loop worker (its own sequence numbers).
  const free = Array.from({ length: concurrency }, (_, i) => concurrency - 1 - i);
  const phase: OpenLoopPhase = { elapsed: 0, errors: 0, firstError: undefined, scheduled, late: 0, dropped: 0 };
  let inFlight = 0;
  let slotFreed: (() => void) | undefined;
  const start = performance.now();
  const end = start + scheduled * interval;
  // Timers wake late: the schedule's end gets the same slack as each start before anything drops.
  const dropAt = end + lateSlackMs;
  const launch = (index: number): void => {
    const slot = free.pop() ?? 0;
    const scheduledAt = start + index * interval;
    if (performance.now() - scheduledAt > lateSlackMs) phase.late += 1;
    inFlight += 1;
    void (async () => {
      try {
        await workload.operation(slot, next(slot));
        record(performance.now() - scheduledAt);
      } catch (error) {
        phase.errors += 1;
        phase.firstError ??= error instanceof Error ? error.message : String(error);
      } finally {
        inFlight -= 1;
        free.push(slot);
        slotFreed?.();
      }
    })();
  };
  const waitForSlot = async (ms: number): Promise<void> => {
    const timer = pause(ms);
    await Promise.race([timer.promise, new Promise<void>((resolve) => (slotFreed = resolve))]);
    timer.cancel();
    slotFreed = undefined;
  };
  let issued = 0;
  let lastProgress = start;
  while (workload.signal?.aborted !== true) {
    const now = performance.now();
    const due = Math.min(scheduled, Math.floor((now - start) / interval) + 1);
    while (issued < due && free.length > 0) launch(issued++);
    if (issued >= scheduled) break;
    if (now >= dropAt) {
      phase.dropped = scheduled - issued;
      break;
    }
    if (workload.onProgress !== undefined && now - lastProgress > 250) {
      lastProgress = now;
      workload.onProgress(Math.min(1, (now - start) / (end - start)));
    }
    if (issued < due) await waitForSlot(dropAt - now);
    else await pause(start + issued * interval - now).promise;
  }
  while (inFlight > 0) await waitForSlot(60_000);
  phase.elapsed = performance.now() - start;
  workload.onProgress?.(1);
  return phase;
}

/** The harness's own cost per operation in microseconds: a no-op measured like any workload. */
export async function measureHarnessOverhead(count = 200_000): Promise<number> {
  const noop = (): Promise<void> => Promise.resolve();
  const summary = await runWorkload({ operation: noop, concurrency: 1, warmupMs: 200, count });
  return (summary.durationMs * 1000) / Math.max(1, summary.count);
}
