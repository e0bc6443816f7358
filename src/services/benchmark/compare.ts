import type { BenchmarkRunResult, ScenarioResult } from './types.js';

/** How a run differs from a baseline, scenario by scenario (matched by scenario and concurrency). */
export interface Comparison {
  baselineId: string;
  baselineStartedAt: string;
  thresholdPct: number;
  rows: {
    scenario: string;
    concurrency: number;
    baselineP50: number;
    currentP50: number;
    changePct: number;
    baselineP99: number;
    currentP99: number;
    p99ChangePct: number;
    regression: boolean;
  }[];
  regressions: number;
}

function changePct(current: number, baseline: number): number {
  if (!(Number.isFinite(current) && Number.isFinite(baseline) && baseline > 0)) return Number.NaN;
  return ((current - baseline) / baseline) * 100;
}

/**
 * Compares two runs scenario by scenario, matched by (scenario, concurrency). A regression is a p50
 * slower than the baseline's by more than `thresholdPct` percent; the p99 change is reported only.
 * Scenarios that ran in only one of the runs are left out of `rows` (the Markdown report lists the
 * current run's unmatched ones); a p50 that cannot be compared (no completed operations) is no regression.
 */
export function compareRuns(current: BenchmarkRunResult, baseline: BenchmarkRunResult, thresholdPct: number): Comparison {
  const key = (s: ScenarioResult): string => `${s.scenario}\u0000${s.concurrency}`;
  const before = new Map<string, ScenarioResult>();
  for (const s of baseline.scenarios) if (!before.has(key(s))) before.set(key(s), s);
  const rows: Comparison['rows'] = [];
  for (const s of current.scenarios) {
    const b = before.get(key(s));
    if (b === undefined) continue;
    const p50Change = changePct(s.summary.p50, b.summary.p50);
    rows.push({
      scenario: s.scenario,
      concurrency: s.concurrency,
      baselineP50: b.summary.p50,
      currentP50: s.summary.p50,
      changePct: p50Change,
      baselineP99: b.summary.p99,
      currentP99: s.summary.p99,
      p99ChangePct: changePct(s.summary.p99, b.summary.p99),
      regression: Number.isFinite(p50Change) && p50Change > thresholdPct,
    });
  }
  return {
    baselineId: baseline.id,
    baselineStartedAt: baseline.startedAt,
    thresholdPct,
    rows,
    regressions: rows.filter((r) => r.regression).length,
  };
}
