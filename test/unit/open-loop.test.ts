import { describe, expect, it } from 'vitest';
import { lateSlackMs, measureInRounds, runOpenLoop, runWorkload } from '../../src/services/benchmark/harness.js';

/**
 * The open loop against injected stalls. Timings on a shared machine wobble by milliseconds, so
 * the schedules use 10 ms intervals and the bounds leave room for that; the stalls are hundreds
 * of milliseconds, far beyond the slack.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * When each operation started, by the test's own clock: operation i is due i intervals after
 * operation 0 (which starts as the schedule does, at most a millisecond or so after it on a busy
 * machine), so the ones that started more than the slack after that are the late ones, whatever
 * else the machine was doing.
 */
function startTimes(): { mark(): number; lateOnes(intervalMs: number, slackMs?: number): number[] } {
  const starts: number[] = [];
  return {
    mark: () => starts.push(performance.now()) - 1,
    lateOnes: (intervalMs, slackMs = lateSlackMs) =>
      starts.flatMap((t, i) => (t - (starts[0] ?? 0) - i * intervalMs > slackMs ? [i] : [])),
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Blocks the event loop, as a long GC pause or synchronous work would. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe('the open loop', () => {
  it('charges a stall to every operation scheduled during it, which the closed loop hides', async () => {
    // Every operation is one turn of the event loop, except one that takes 495 ms.
    const closedCalls = { n: 0 };
    const closed = await runWorkload({
      concurrency: 1,
      warmupMs: 0,
      count: 1000,
      operation: () => (closedCalls.n++ === 100 ? sleep(495) : nextTurn()),
    });
    // 100/s for 200 operations (2 s), one slot: operation 50 (due at 500 ms) stalls until ~996 ms,
    // so operations 51…99 (due at 510…990 ms) wait for it and all start at ~996 ms.
    const starts = startTimes();
    const open = await runOpenLoop(
      { concurrency: 1, warmupMs: 0, count: 200, operation: () => (starts.mark() === 50 ? sleep(495) : nextTurn()) },
      100,
    );

    // Closed loop: one slow operation in a thousand; p99 never sees it, only the maximum does.
    expect(closed.count).toBe(1000);
    expect(closed.p99).toBeLessThan(50);
    expect(closed.max).toBeGreaterThan(450);

    // Open loop: ~49 of 200 operations waited 5…485 ms for the stall, so p90 and above show it.
    expect(open.ratePerSecond).toBe(100);
    expect(open.scheduled).toBe(200);
    expect(open.summary.count).toBe(200);
    expect(open.dropped).toBe(0);
    expect(open.summary.p50).toBeLessThan(50);
    expect(open.summary.p90).toBeGreaterThan(200);
    expect(open.summary.p99).toBeGreaterThan(400);
    expect(open.summary.p999).toBeGreaterThan(450);
    expect(open.summary.p99).toBeGreaterThan(closed.p99 * 10);

    // Late: those due more than the slack (10 ms) before the stall ended, 51…98, and any other
    // operation a busy machine started late: the ones that did start late (to within 2 ms of timing).
    const late = starts.lateOnes(10);
    expect(late).toEqual(expect.arrayContaining(range(51, 98)));
    expect(open.late).toBeGreaterThanOrEqual(starts.lateOnes(10, lateSlackMs + 2).length);
    expect(open.late).toBeLessThanOrEqual(starts.lateOnes(10, lateSlackMs - 2).length);
    expect(open.late).toBeGreaterThanOrEqual(48);
    // Paced, not back to back: 200 operations at 100/s take about 2 s.
    expect(open.summary.durationMs).toBeGreaterThan(1900);
    expect(open.summary.durationMs).toBeLessThan(3000);
  });

  it('counts operations a blocked event loop started late, though slots were free', async () => {
    const starts = startTimes();
    // Enough slots that everything blocked starts at once when the loop is free again.
    const open = await runOpenLoop(
      {
        concurrency: 50,
        warmupMs: 0,
        count: 100,
        operation: () => {
          // Operation 30 (due at 300 ms) blocks everything for 295 ms: 31…58 (due at 310…580 ms) start late.
          if (starts.mark() === 30) busyWait(295);
          return nextTurn();
        },
      },
      100,
    );
    expect(open.scheduled).toBe(100);
    expect(open.summary.count).toBe(100);
    expect(open.dropped).toBe(0);
    const late = starts.lateOnes(10);
    expect(late).toEqual(expect.arrayContaining(range(31, 58)));
    expect(open.late).toBeGreaterThanOrEqual(starts.lateOnes(10, lateSlackMs + 2).length);
    expect(open.late).toBeLessThanOrEqual(starts.lateOnes(10, lateSlackMs - 2).length);
    expect(open.late).toBeGreaterThanOrEqual(28);
    expect(open.summary.p90).toBeGreaterThan(100);
    expect(open.summary.max).toBeGreaterThan(250);
  });

  it('keeps at most `concurrency` in flight, and drops what is still waiting when the schedule ends', async () => {
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    const open = await runOpenLoop(
      {
        concurrency: 2,
        warmupMs: 0,
        count: 100,
        operation: async () => {
          calls += 1;
          inFlight += 1;
          most = Math.max(most, inFlight);
          await sleep(50);
          inFlight -= 1;
        },
      },
      200,
    );
    // 200/s for 500 ms, but two slots of 50 ms serve only ~40/s: ~22 start, the rest are dropped.
    expect(most).toBe(2);
    expect(open.scheduled).toBe(100);
    expect(calls + open.dropped).toBe(100);
    expect(open.summary.count + open.summary.errors).toBe(calls);
    expect(open.dropped).toBeGreaterThanOrEqual(60);
    expect(open.dropped).toBeLessThanOrEqual(85);
    expect(open.late).toBeGreaterThan(0);
    // Those that did start waited for a slot, and that wait is in their latency.
    expect(open.summary.max).toBeGreaterThan(200);
  });

  it('runs on from the closed loop: slots are workers, sequence numbers continue, rounds add up', async () => {
    const seen: [number, number][] = [];
    const rounds = await measureInRounds({
      concurrency: 3,
      warmupMs: 0,
      count: 30,
      operation: (worker, seq) => {
        seen.push([worker, seq]);
        return seq % 10 === 9 ? Promise.reject(new Error('tenth')) : nextTurn();
      },
    });
    await rounds.measureRound();
    expect(rounds.mergedOpenLoop()).toBeUndefined();
    const first = await rounds.measureOpenLoopRound(300);
    const second = await rounds.measureOpenLoopRound(300);
    // A busy machine may drop an operation or two at the end of a 100 ms schedule; none ran.
    expect(seen).toHaveLength(90 - first.dropped - second.dropped);
    for (const [worker] of seen) expect([0, 1, 2]).toContain(worker);
    // Each worker's sequence numbers run 0, 1, 2, … without a gap or a repeat, across both loops.
    for (const worker of [0, 1, 2]) {
      const seqs = seen.filter(([w]) => w === worker).map(([, seq]) => seq);
      expect(seqs).toEqual(seqs.map((_, i) => i));
    }
    expect(first.scheduled).toBe(30);
    expect(first.summary.count + first.summary.errors + first.dropped).toBe(30);
    const merged = rounds.mergedOpenLoop();
    expect(merged?.ratePerSecond).toBe(300);
    expect(merged?.slackMs).toBe(lateSlackMs);
    expect(merged?.scheduled).toBe(60);
    expect(merged?.dropped).toBe(first.dropped + second.dropped);
    expect(merged?.late).toBe(first.late + second.late);
    expect(merged?.summary.count).toBe(first.summary.count + second.summary.count);
    expect(merged?.summary.errors).toBe(first.summary.errors + second.summary.errors);
    expect(merged?.summary.errors).toBeGreaterThan(0);
    expect(merged?.summary.firstError).toBe('tenth');
    // The closed loop's summary is its own: the open-loop rounds are not in it.
    expect(rounds.merged().count + rounds.merged().errors).toBe(30);
  });

  it('schedules a duration at the rate: 200/s for 500 ms is 100 operations, over about 500 ms', async () => {
    const open = await runOpenLoop({ concurrency: 1, warmupMs: 0, durationMs: 500, operation: () => Promise.resolve() }, 200);
    expect(open.scheduled).toBe(100);
    expect(open.summary.count + open.dropped).toBe(100);
    expect(open.summary.durationMs).toBeGreaterThan(490);
    expect(open.summary.durationMs).toBeLessThan(1000);
  });
});
