import { describe, expect, it } from 'vitest';
import {
  bootstrapRatioInterval,
  compareRuns,
  exactLimit,
  mannWhitneyU,
  median,
  significanceLevel,
  smallestPValue,
  type ComparisonRow,
} from '../../src/services/benchmark/compare.js';
import type { BenchmarkRunResult, LatencySummary } from '../../src/services/benchmark/types.js';

// The regression gate, fed distributions whose answer is known.

function summary(p50: number): LatencySummary {
  return {
    count: 1000,
    errors: 0,
    durationMs: 1000,
    throughput: 1000,
    mean: p50,
    p50,
    p90: p50 * 2,
    p99: p50 * 3,
    p999: p50 * 4,
    max: p50 * 5,
    distribution: [],
  };
}

/** A run of one scenario (track-db ×1) with these round p50s; `undefined`: a run stored before rounds, with this p50. */
function run(id: string, rounds: number[] | undefined, p50 = median(rounds ?? [])): BenchmarkRunResult {
  return {
    id,
    startedAt: '2026-11-24T10:00:00.000Z',
    finishedAt: '2026-11-24T10:01:00.000Z',
    suite: 'default',
    environment: {} as BenchmarkRunResult['environment'],
    parameters: rounds === undefined ? {} : { rounds: rounds.length },
    harnessOverheadUs: 1,
    scenarios: [
      {
        scenario: 'track-db',
        description: 'track',
        concurrency: 1,
        summary: summary(p50),
        ...(rounds === undefined ? {} : { roundP50s: rounds }),
      },
    ],
    experiments: [],
  };
}

function gate(baseline: number[] | undefined, current: number[], thresholdPct = 10, baselineP50?: number): ComparisonRow {
  const c = compareRuns(run('current', current), run('baseline', baseline, baselineP50), thresholdPct);
  expect(c.rows).toHaveLength(1);
  expect(c.regressions).toBe(c.rows[0]?.regression === true ? 1 : 0);
  return c.rows[0]!;
}

/** A deterministic generator for test data (the same LCG every run). */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** The exact two-sided p by brute force: every way to split the values into groups of m and n. */
function bruteForceP(x: readonly number[], y: readonly number[]): number {
  const all = [...x, ...y];
  const u = (a: readonly number[], b: readonly number[]): number =>
    a.reduce((sum, v) => sum + b.reduce((s, w) => s + (v > w ? 1 : v === w ? 0.5 : 0), 0), 0);
  const mean = (x.length * y.length) / 2;
  const observed = Math.abs(u(x, y) - mean);
  let extreme = 0;
  let total = 0;
  const choose = (start: number, picked: number[]): void => {
    if (picked.length === x.length) {
      const a = picked.map((i) => all[i]!);
      const b = all.filter((_, i) => !picked.includes(i));
      total += 1;
      if (Math.abs(u(a, b) - mean) >= observed - 1e-9) extreme += 1;
      return;
    }
    for (let i = start; i < all.length; i += 1) choose(i + 1, [...picked, i]);
  };
  choose(0, []);
  return extreme / total;
}

describe('the Mann-Whitney U test', () => {
  it('gives the hand-computed U and exact p of a small case', () => {
    // x = 1.1, 1.3, 1.6 against y = 1.0, 1.2: of the 6 pairs, x is larger in 1 + 2 + 2 = 5, so U = 5.
    // Of the C(5, 2) = 10 ways to place 2 y values among 5 ranks, U = 5 or 6 (one each) and U = 0 or 1
    // (one each) are as far from the mean 3 as 5 is: p = 4 / 10.
    expect(mannWhitneyU([1.1, 1.3, 1.6], [1.0, 1.2])).toEqual({ u: 5, pValue: 0.4, method: 'exact' });
    expect(mannWhitneyU([1.0, 1.2], [1.1, 1.3, 1.6])).toEqual({ u: 1, pValue: 0.4, method: 'exact' });
  });

  it('counts a tie as one half and gives the exact p of the midranks', () => {
    // x = 1, 2, 2 against y = 2, 3: U = 0 + 0 + ½ + ½ = 1 (1 loses to both; each 2 ties one 2, loses to 3).
    // Midranks 1, 3, 3, 3, 5; the sums of 3 of them: 7 (3 ways), 9 (3 + 1 ways), 11 (3 ways). The observed
    // 7 is 2 from the mean 9, as are the 3 + 3 ways to 7 and 11: p = 6 / 10.
    expect(mannWhitneyU([1, 2, 2], [2, 3])).toEqual({ u: 1, pValue: 0.6, method: 'exact' });
    expect(mannWhitneyU([2, 2], [2, 2]).pValue).toBe(1);
  });

  it('matches a brute-force enumeration, ties and all, for small samples', () => {
    const random = lcg(42);
    for (let trial = 0; trial < 60; trial += 1) {
      const m = 1 + Math.floor(random() * 6);
      const n = 1 + Math.floor(random() * 6);
      // Values on a coarse grid, so ties are common (as in HDR-rounded p50s).
      const draw = (): number => Math.round(random() * 8) / 4;
      const x = Array.from({ length: m }, draw);
      const y = Array.from({ length: n }, draw);
      expect(mannWhitneyU(x, y).pValue, `${x.join(',')} vs ${y.join(',')}`).toBeCloseTo(bruteForceP(x, y), 12);
    }
  });

  it('uses the normal approximation with the tie correction beyond the exact limit', () => {
    const x = [...Array.from({ length: 30 }, (_, i) => i), ...Array.from({ length: 10 }, () => 5)];
    const y = [...Array.from({ length: 35 }, (_, i) => i + 3), ...Array.from({ length: 6 }, () => 5)];
    expect(x.length + y.length).toBeGreaterThan(exactLimit);
    const result = mannWhitneyU(x, y);
    expect(result.method).toBe('normal');
    expect(result.u).toBe(566.5);
    // scipy.stats.mannwhitneyu(x, y, method='asymptotic', use_continuity=True).pvalue
    expect(result.pValue).toBeCloseTo(0.016241008362438327, 6);
  });

  it('knows the smallest p each pair of round counts allows', () => {
    expect(smallestPValue(1, 1)).toBe(1);
    expect(smallestPValue(1, 20)).toBeCloseTo(2 / 21, 12);
    expect(smallestPValue(3, 3)).toBeCloseTo(0.1, 12);
    expect(smallestPValue(4, 4)).toBeCloseTo(2 / 70, 12);
    expect(smallestPValue(5, 5)).toBeCloseTo(2 / 252, 12);
    expect(smallestPValue(0, 5)).toBe(1);
  });
});

describe('the bootstrap interval', () => {
  it('is deterministic, and brackets the ratio of the medians', () => {
    const baseline = [10, 10.4, 9.8, 10.1, 10.2];
    const current = baseline.map((v) => v * 1.3);
    const interval = bootstrapRatioInterval(current, baseline);
    expect(bootstrapRatioInterval(current, baseline)).toEqual(interval);
    expect(interval.low).toBeLessThanOrEqual(1.3);
    expect(interval.high).toBeGreaterThanOrEqual(1.3);
    expect(interval.low).toBeGreaterThan(1.2);
    const equal = bootstrapRatioInterval(baseline, baseline);
    expect(equal.low).toBeLessThan(1);
    expect(equal.high).toBeGreaterThan(1);
  });
});

describe('the regression gate', () => {
  const baseline = [10.0, 10.4, 9.7, 10.2, 9.9];

  it('finds no regression between equal distributions', () => {
    const row = gate(baseline, [9.9, 10.2, 10.0, 9.7, 10.4]);
    expect(row.changePct).toBe(0);
    expect(row.test?.pValue).toBe(1);
    expect(row.verdict).toBe('ok');
    expect(row.regression).toBe(false);
  });

  it('finds no regression in a slightly slower run within the noise', () => {
    // Median +3 %, rounds spread ±10 %: within the threshold, and not significant either.
    const row = gate([10, 11, 9, 10.5, 9.4], [10.3, 9.2, 11.1, 9.8, 10.8]);
    expect(row.changePct).toBeCloseTo(3, 6);
    expect(row.test?.pValue).toBeGreaterThan(significanceLevel);
    expect(row.verdict).toBe('ok');
    expect(row.regression).toBe(false);
  });

  it('finds no regression when the median is past the threshold but the spread explains it', () => {
    // Median +15 %, but the rounds overlap: one slow round is not a regression.
    const row = gate([10, 14, 8, 11, 9], [11.5, 8.5, 15, 9.5, 12]);
    expect(row.changePct).toBeCloseTo(15, 6);
    expect(row.test?.pValue).toBeGreaterThan(significanceLevel);
    expect(row.verdict).toBe('not_significant');
    expect(row.regression).toBe(false);
  });

  it('declares a clearly slower run (+30 %, small spread, 5 rounds each) a regression with p < 0.05', () => {
    const row = gate(
      baseline,
      baseline.map((v) => v * 1.3),
    );
    expect(row.changePct).toBeCloseTo(30, 6);
    expect(row.test).toEqual({ u: 25, pValue: 2 / 252, method: 'exact' });
    expect(row.test!.pValue).toBeLessThan(significanceLevel);
    expect(row.ratioInterval!.low).toBeGreaterThan(1.1);
    expect(row.verdict).toBe('regression');
    expect(row.regression).toBe(true);
  });

  it('needs the slowdown past the threshold too: a significant +8 % is no regression at 10 %, but is at 5 %', () => {
    const current = baseline.map((v) => v + 0.8);
    expect(gate(baseline, current, 10).changePct).toBeCloseTo(8, 6);
    expect(gate(baseline, current, 10).test?.pValue).toBeLessThan(significanceLevel);
    expect(gate(baseline, current, 10).verdict).toBe('ok');
    expect(gate(baseline, current, 5).verdict).toBe('regression');
  });

  it('marks a clearly faster run as faster, never as a regression', () => {
    const row = gate(
      baseline,
      baseline.map((v) => v * 0.6),
    );
    expect(row.changePct).toBeCloseTo(-40, 6);
    expect(row.verdict).toBe('faster');
    expect(row.regression).toBe(false);
  });

  it('never declares a regression with too few rounds to be significant: 1 against 1, 3 against 3', () => {
    // The coin toss this gate replaces: one 1-s run, +91.5 %.
    const single = gate([1.0], [1.915]);
    expect(single.changePct).toBeCloseTo(91.5, 6);
    expect(single.smallestPValue).toBe(1);
    expect(single.verdict).toBe('too_few_rounds');
    expect(single.regression).toBe(false);
    // Completely separated, but 3 against 3 can at best give p = 0.10.
    const three = gate([10, 10.1, 10.2], [20, 20.1, 20.2]);
    expect(three.test?.pValue).toBeCloseTo(0.1, 12);
    expect(three.verdict).toBe('too_few_rounds');
    expect(three.regression).toBe(false);
    // 5 against 3 can reach it.
    expect(gate([10, 10.1, 10.2], [20, 20.1, 20.2, 20.3, 20.4]).verdict).toBe('regression');
  });

  it('compares a baseline stored before rounds as one sample, and calls it weak', () => {
    const row = gate(undefined, [30, 30.5, 29.8, 30.2, 30.1], 10, 10);
    expect(row.baselineBeforeRounds).toBe(true);
    expect(row.baselineRounds).toEqual([10]);
    expect(row.baselineP50).toBe(10);
    expect(row.changePct).toBeCloseTo(201, 6);
    expect(row.smallestPValue).toBeCloseTo(2 / 6, 12);
    expect(row.ratioInterval).toBeNull();
    expect(row.verdict).toBe('too_few_rounds');
    expect(row.regression).toBe(false);
    expect(gate(baseline, baseline).baselineBeforeRounds).toBe(false);
  });

  it('leaves out rounds that completed nothing, and judges nothing without data', () => {
    const row = gate([...baseline, Number.NaN], [...baseline.map((v) => v * 1.3), Number.NaN]);
    expect(row.baselineRounds).toHaveLength(5);
    expect(row.verdict).toBe('regression');
    expect(gate([Number.NaN], [Number.NaN]).verdict).toBe('no_data');
  });

  it('counts the rows it could not judge', () => {
    const c = compareRuns(run('current', [1, 2, 3]), run('baseline', [1, 2, 3]), 10);
    expect(c.unjudged).toBe(1);
    expect(c.regressions).toBe(0);
    expect(c.significanceLevel).toBe(0.05);
    expect(c.test).toBe('mann-whitney-u');
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
