import { median } from '../../domain/statistics.js';
import type { BenchmarkRunResult, ScenarioResult } from './types.js';

export { median };

/**
 * The regression gate: two runs compared scenario by scenario on the p50s of their rounds. A
 * regression is a median slower by more than the threshold AND significantly so, by a two-sided
 * Mann-Whitney U test at `significanceLevel`; a bootstrap interval of the ratio of medians is
 * reported beside it. Pure: the bootstrap is seeded.
 */

/** The significance level of the gate: a two-sided p below it is significant. */
export const significanceLevel = 0.05;

/** Up to this many rounds in both runs together the p-value is exact (ties included); beyond, the normal approximation. */
export const exactLimit = 40;

/** The bootstrap interval: confidence, resamples and the seed that makes it deterministic. */
export const bootstrap = { confidence: 0.95, resamples: 4000, seed: 0x5eed } as const;

export interface MannWhitneyResult {
  /** U of the first sample: the pairs (x, y) with x > y, a tie counting one half. */
  u: number;
  /** Two-sided: the chance of a rank sum at least as far from its mean as this one if both samples came from one distribution. */
  pValue: number;
  /** exact: the permutation distribution of the (mid)rank sum; normal: with tie and continuity corrections. */
  method: 'exact' | 'normal';
}

/**
 * - regression: slower by more than the threshold, p < significanceLevel
 * - faster: faster by more than the threshold, p < significanceLevel
 * - ok: within the threshold either way
 * - not_significant: beyond the threshold, but within what the rounds' spread explains
 * - too_few_rounds: these round counts cannot reach the significance level whatever the values
 * - no_data: a side has no round with a completed operation
 */
export type ComparisonVerdict = 'regression' | 'faster' | 'ok' | 'not_significant' | 'too_few_rounds' | 'no_data';

export interface ComparisonRow {
  scenario: string;
  concurrency: number;
  /** The samples compared: each round's p50 (ms). A run stored before rounds has one, its p50. */
  baselineRounds: number[];
  currentRounds: number[];
  /** The baseline was stored before rounds existed: its one p50 is a single sample, a weak comparison. */
  baselineBeforeRounds: boolean;
  /** The medians of the round p50s (ms). */
  baselineP50: number;
  currentP50: number;
  /** Change of the median in percent; positive is slower. */
  changePct: number;
  baselineP99: number;
  currentP99: number;
  p99ChangePct: number;
  /** Current rounds against the baseline's; null when a side has no rounds. */
  test: MannWhitneyResult | null;
  /** The smallest p-value these round counts allow; at or above the significance level nothing can be judged. */
  smallestPValue: number;
  /** Bootstrap interval of current median ÷ baseline median; null with fewer than 2 rounds on a side. */
  ratioInterval: { low: number; high: number } | null;
  verdict: ComparisonVerdict;
  regression: boolean;
}

/** How a run differs from a baseline, scenario by scenario (matched by scenario and concurrency). */
export interface Comparison {
  baselineId: string;
  baselineStartedAt: string;
  thresholdPct: number;
  significanceLevel: number;
  test: 'mann-whitney-u';
  interval: { confidence: number; resamples: number; seed: number };
  rows: ComparisonRow[];
  regressions: number;
  /** Rows that could not be judged: too few rounds on a side. */
  unjudged: number;
}

/** The middle value; the mean of the middle two for an even count; NaN for none. */

/** 1-based ranks, the mean rank for ties, doubled so that they are whole numbers; and the tie group sizes. */
function doubledMidranks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const ranks: number[] = Array.from({ length: values.length }, () => 0);
  const ties: number[] = [];
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.v === order[start]?.v) end += 1;
    // Positions start+1 … end+1 share the rank (start + end + 2) / 2; doubled, start + end + 2.
    for (let k = start; k <= end; k += 1) ranks[order[k]?.i ?? 0] = start + end + 2;
    ties.push(end - start + 1);
    start = end + 1;
  }
  return { ranks, ties };
}

/** The two-sided exact p: every way to pick m of the ranks as "x", counted by their sum (dynamic programming). */
function exactPValue(ranks: readonly number[], m: number, observed: number): number {
  const total = ranks.reduce((a, b) => a + b, 0);
  // ways[k][s]: the subsets of k of the ranks seen so far whose (doubled) ranks add up to s.
  const ways = Array.from({ length: m + 1 }, (_, k) => {
    const row = new Float64Array(total + 1);
    if (k === 0) row[0] = 1;
    return row;
  });
  let reach = 0;
  for (const rank of ranks) {
    reach += rank;
    for (let k = m; k >= 1; k -= 1) {
      const into = ways[k] ?? new Float64Array(0);
      const from = ways[k - 1] ?? new Float64Array(0);
      for (let s = reach; s >= rank; s -= 1) into[s] = (into[s] ?? 0) + (from[s - rank] ?? 0);
    }
  }
  // Doubled ranks add up to N(N+1), so the mean sum m(N+1) is a whole number: no rounding decides "as extreme".
  const mean = (m * total) / ranks.length;
  const distance = Math.abs(observed - mean);
  let extreme = 0;
  let all = 0;
  (ways[m] ?? new Float64Array(0)).forEach((count, sum) => {
    all += count;
    if (Math.abs(sum - mean) >= distance) extreme += count;
  });
  return Math.min(1, extreme / all);
}

/** Numerical Recipes' erfcc coefficients, constant term first. */
const erfcCoefficients = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
];

/** The complementary error function (Numerical Recipes' erfcc: relative error below 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly = erfcCoefficients.reduceRight((acc, c) => c + t * acc, 0);
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}

/**
 * The two-sided Mann-Whitney U test of `x` against `y`: exact (the permutation distribution of the
 * midrank sum, so ties are exact too) up to `exactLimit` values in all; beyond, the normal
 * approximation with the tie correction of the variance and a continuity correction.
 */
export function mannWhitneyU(x: readonly number[], y: readonly number[]): MannWhitneyResult {
  const m = x.length;
  const n = y.length;
  if (m === 0 || n === 0) return { u: Number.NaN, pValue: Number.NaN, method: 'exact' };
  const { ranks, ties } = doubledMidranks([...x, ...y]);
  const rankSum = ranks.slice(0, m).reduce((a, b) => a + b, 0);
  const u = rankSum / 2 - (m * (m + 1)) / 2;
  if (m + n <= exactLimit) return { u, pValue: exactPValue(ranks, m, rankSum), method: 'exact' };
  const size = m + n;
  const tieTerm = ties.reduce((a, t) => a + (t * t * t - t), 0);
  const variance = ((m * n) / 12) * (size + 1 - tieTerm / (size * (size - 1)));
  if (!(variance > 0)) return { u, pValue: 1, method: 'normal' };
  const z = Math.max(0, Math.abs(u - (m * n) / 2) - 0.5) / Math.sqrt(variance);
  return { u, pValue: Math.min(1, erfc(z / Math.SQRT2)), method: 'normal' };
}

/** The smallest two-sided p-value m against n values can give (all of one above all of the other): 2 / C(m+n, m). */
export function smallestPValue(m: number, n: number): number {
  if (m === 0 || n === 0) return 1;
  let combinations = 1;
  for (let k = 1; k <= Math.min(m, n); k += 1) combinations = (combinations * (m + n - k + 1)) / k;
  return Math.min(1, 2 / combinations);
}

/** A small seeded generator (mulberry32): the same interval on every run of the same data. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Percentile bootstrap interval of median(current) ÷ median(baseline), resampling each side with replacement. */
export function bootstrapRatioInterval(
  current: readonly number[],
  baseline: readonly number[],
  options: { confidence: number; resamples: number; seed: number } = bootstrap,
): { low: number; high: number } {
  const random = seededRandom(options.seed);
  const resample = (values: readonly number[]): number[] =>
    values.map(() => values[Math.floor(random() * values.length)] ?? Number.NaN);
  const ratios: number[] = [];
  for (let i = 0; i < options.resamples; i += 1) ratios.push(median(resample(current)) / median(resample(baseline)));
  ratios.sort((a, b) => a - b);
  const tail = (1 - options.confidence) / 2;
  const at = (q: number): number => ratios[Math.min(ratios.length - 1, Math.max(0, Math.floor(q * ratios.length)))] ?? Number.NaN;
  return { low: at(tail), high: at(1 - tail) };
}

function changePct(current: number, baseline: number): number {
  if (!(Number.isFinite(current) && Number.isFinite(baseline) && baseline > 0)) return Number.NaN;
  return ((current - baseline) / baseline) * 100;
}

/** The round p50s of a scenario; a run stored before rounds has its one p50. Rounds with no completed operation are left out. */
function roundsOf(s: ScenarioResult): { rounds: number[]; beforeRounds: boolean } {
  const stored = s.roundP50s;
  const values = stored ?? [s.summary.p50];
  return { rounds: values.filter((v) => Number.isFinite(v)), beforeRounds: stored === undefined };
}

function judge(row: Omit<ComparisonRow, 'verdict' | 'regression'>, thresholdPct: number): ComparisonVerdict {
  if (!Number.isFinite(row.changePct) || row.test === null) return 'no_data';
  if (row.smallestPValue >= significanceLevel) return 'too_few_rounds';
  if (Math.abs(row.changePct) <= thresholdPct) return 'ok';
  // Significant, and the ranks lean the same way as the medians.
  const mean = (row.baselineRounds.length * row.currentRounds.length) / 2;
  const leansSlower = row.test.u > mean;
  const leansFaster = row.test.u < mean;
  if (row.test.pValue < significanceLevel && (row.changePct > 0 ? leansSlower : leansFaster)) {
    return row.changePct > 0 ? 'regression' : 'faster';
  }
  return 'not_significant';
}

function compareScenario(current: ScenarioResult, baseline: ScenarioResult, thresholdPct: number): ComparisonRow {
  const now = roundsOf(current);
  const before = roundsOf(baseline);
  const baselineP50 = median(before.rounds);
  const currentP50 = median(now.rounds);
  const enough = now.rounds.length >= 2 && before.rounds.length >= 2;
  const row = {
    scenario: current.scenario,
    concurrency: current.concurrency,
    baselineRounds: before.rounds,
    currentRounds: now.rounds,
    baselineBeforeRounds: before.beforeRounds,
    baselineP50,
    currentP50,
    changePct: changePct(currentP50, baselineP50),
    baselineP99: baseline.summary.p99,
    currentP99: current.summary.p99,
    p99ChangePct: changePct(current.summary.p99, baseline.summary.p99),
    test: now.rounds.length === 0 || before.rounds.length === 0 ? null : mannWhitneyU(now.rounds, before.rounds),
    smallestPValue: smallestPValue(now.rounds.length, before.rounds.length),
    ratioInterval: enough ? bootstrapRatioInterval(now.rounds, before.rounds) : null,
  };
  const verdict = judge(row, thresholdPct);
  return { ...row, verdict, regression: verdict === 'regression' };
}

/**
 * Compares two runs scenario by scenario, matched by (scenario, concurrency), on their round p50s.
 * A regression is a median slower than the baseline's by more than `thresholdPct` percent AND a
 * two-sided Mann-Whitney U test with p < `significanceLevel`; round counts that cannot reach that
 * level (1 against 1, 3 against 3, a baseline stored before rounds) are never a regression. The
 * p99 change is reported only. Scenarios that ran in only one of the runs are left out of `rows`.
 */
export function compareRuns(current: BenchmarkRunResult, baseline: BenchmarkRunResult, thresholdPct: number): Comparison {
  const key = (s: ScenarioResult): string => `${s.scenario}\u0000${s.concurrency}`;
  const before = new Map<string, ScenarioResult>();
  for (const s of baseline.scenarios) if (!before.has(key(s))) before.set(key(s), s);
  const rows: ComparisonRow[] = [];
  for (const s of current.scenarios) {
    const b = before.get(key(s));
    if (b !== undefined) rows.push(compareScenario(s, b, thresholdPct));
  }
  return {
    baselineId: baseline.id,
    baselineStartedAt: baseline.startedAt,
    thresholdPct,
    significanceLevel,
    test: 'mann-whitney-u',
    interval: { ...bootstrap },
    rows,
    regressions: rows.filter((r) => r.regression).length,
    unjudged: rows.filter((r) => r.verdict === 'too_few_rounds').length,
  };
}
