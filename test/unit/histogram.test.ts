import { describe, expect, it } from 'vitest';
import { measureHarnessOverhead, measureInRounds, runWorkload } from '../../src/services/benchmark/harness.js';
import { createLatencyRecorder, plotPercentiles } from '../../src/services/benchmark/histogram.js';

// The percentile maths, against distributions whose percentiles are known exactly.
describe('the latency histogram', () => {
  it('a uniform 1…10,000 µs distribution: percentiles within the 3 significant digits', async () => {
    const recorder = await createLatencyRecorder();
    for (let us = 1; us <= 10_000; us += 1) recorder.record(us / 1000);
    const s = recorder.summarize(1000, 0);
    expect(s.count).toBe(10_000);
    expect(s.throughput).toBe(10_000);
    // Three significant digits: every percentile within 0.1 % of the exact one.
    const exact: [number, number][] = [
      [s.p50, 5],
      [s.p90, 9],
      [s.p99, 9.9],
      [s.p999, 9.99],
      [s.max, 10],
      [s.mean, 5.0005],
    ];
    for (const [measured, expected] of exact) expect(Math.abs(measured - expected) / expected).toBeLessThan(0.001);
  });

  it('an exponential distribution (mean 2 ms): p50 = 2 ln 2, p99 = 2 ln 100, within 1 %', async () => {
    const recorder = await createLatencyRecorder();
    const n = 200_000;
    // Deterministic quantiles of the distribution instead of random draws.
    for (let i = 0; i < n; i += 1) recorder.record(-2 * Math.log(1 - (i + 0.5) / n));
    const s = recorder.summarize(1000, 0);
    expect(s.p50).toBeGreaterThan(2 * Math.LN2 * 0.99);
    expect(s.p50).toBeLessThan(2 * Math.LN2 * 1.01);
    expect(s.p99).toBeGreaterThan(2 * Math.log(100) * 0.99);
    expect(s.p99).toBeLessThan(2 * Math.log(100) * 1.01);
    expect(s.mean).toBeGreaterThan(1.98);
    expect(s.mean).toBeLessThan(2.02);
  });

  it('a bimodal distribution: 99 % fast, 1 % slow, and the tail shows it', async () => {
    const recorder = await createLatencyRecorder();
    for (let i = 0; i < 9900; i += 1) recorder.record(0.2);
    for (let i = 0; i < 100; i += 1) recorder.record(50);
    const s = recorder.summarize(1000, 3, 'boom');
    expect(Math.abs(s.p50 - 0.2) / 0.2).toBeLessThan(0.001);
    expect(Math.abs(s.p99 - 0.2) / 0.2).toBeLessThan(0.001);
    expect(Math.abs(s.p999 - 50) / 50).toBeLessThan(0.001);
    expect(s.max).toBe(50);
    expect(s.errors).toBe(3);
    expect(s.firstError).toBe('boom');
    expect(s.distribution.map(([p]) => p)).toEqual(plotPercentiles);
    const values = s.distribution.map(([, v]) => v);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
  });

  it('an empty histogram has no percentiles rather than zeros', async () => {
    const s = (await createLatencyRecorder()).summarize(10, 0);
    expect(s.count).toBe(0);
    expect(Number.isNaN(s.p50)).toBe(true);
    expect(s.distribution).toEqual([]);
  });
});

describe('the harness', () => {
  it('runs a count of operations over its workers, counting errors apart', async () => {
    let calls = 0;
    const summary = await runWorkload({
      concurrency: 3,
      warmupMs: 0,
      count: 300,
      operation: (_worker, seq) => {
        calls += 1;
        return seq % 10 === 9 ? Promise.reject(new Error('every tenth fails')) : Promise.resolve();
      },
    });
    expect(calls).toBe(300);
    expect(summary.count + summary.errors).toBe(300);
    expect(summary.errors).toBe(30);
    expect(summary.firstError).toBe('every tenth fails');
  });

  it('measures what an operation takes', async () => {
    const summary = await runWorkload({
      concurrency: 1,
      warmupMs: 0,
      count: 20,
      operation: () => new Promise((resolve) => setTimeout(resolve, 5)),
    });
    expect(summary.p50).toBeGreaterThanOrEqual(4.5);
    expect(summary.p50).toBeLessThan(50);
  });

  it('measures in rounds: one warm-up before the first, sequence numbers running on, all rounds merged', async () => {
    const seqs: number[] = [];
    const rounds = await measureInRounds({
      concurrency: 1,
      warmupMs: 20,
      count: 10,
      operation: (_worker, seq) => {
        seqs.push(seq);
        return seq % 10 === 9 ? Promise.reject(new Error('tenth')) : new Promise((resolve) => setTimeout(resolve, 1));
      },
    });
    const calls: number[] = [];
    const summaries = [];
    for (let round = 0; round < 3; round += 1) {
      const before = seqs.length;
      summaries.push(await rounds.measureRound());
      calls.push(seqs.length - before);
    }
    // Warm-up operations before round 1 only; then 10 measured operations a round.
    expect(calls[0]).toBeGreaterThan(10);
    expect(calls.slice(1)).toEqual([10, 10]);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(summaries.map((s) => s.count + s.errors)).toEqual([10, 10, 10]);
    const merged = rounds.merged();
    expect(merged.count).toBe(summaries.reduce((a, s) => a + s.count, 0));
    expect(merged.errors).toBe(summaries.reduce((a, s) => a + s.errors, 0));
    expect(merged.errors).toBe(3);
    expect(merged.durationMs).toBeCloseTo(
      summaries.reduce((a, s) => a + s.durationMs, 0),
      6,
    );
    expect(merged.firstError).toBe('tenth');
  });

  it('costs well under 5 µs per operation', async () => {
    expect(await measureHarnessOverhead(100_000)).toBeLessThan(5);
  });
});
