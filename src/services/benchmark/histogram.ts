import type { LatencySummary } from './types.js';

/**
 * Latencies recorded in an HDR histogram (hdr-histogram-js): microsecond resolution, 3
 * significant digits, up to an hour. Recording costs ~65 ns, so the harness measures the work,
 * not itself.
 */

interface HdrHistogram {
  recordValue(value: number): void;
  getValueAtPercentile(percentile: number): number;
  readonly maxValue: number;
  readonly mean: number;
  readonly totalCount: number;
  add(other: HdrHistogram): void;
  reset(): void;
}

type Build = (options: {
  lowestDiscernibleValue: number;
  highestTrackableValue: number;
  numberOfSignificantValueDigits: 3;
}) => HdrHistogram;

let build: Build | undefined;

async function loadBuild(): Promise<Build> {
  if (build === undefined) {
    const hdr = (await import('hdr-histogram-js')) as unknown as { build: Build; default?: { build: Build } };
    build = hdr.build ?? hdr.default?.build;
  }
  return build;
}

/** Percentiles plotted: dense in the tail, where HDR plots earn their keep. */
export const plotPercentiles = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

export interface LatencyRecorder {
  /** Records one operation's latency in milliseconds. */
  record(ms: number): void;
  count(): number;
  summarize(durationMs: number, errors: number, firstError?: string): LatencySummary;
}

export async function createLatencyRecorder(): Promise<LatencyRecorder> {
  const histogram = (await loadBuild())({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  return {
    record(ms) {
      histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
    },
    count: () => histogram.totalCount,
    summarize(durationMs, errors, firstError) {
      // A percentile is reported as the highest value of its bucket; never above the true maximum.
      const at = (p: number): number =>
        histogram.totalCount === 0 ? Number.NaN : Math.min(histogram.getValueAtPercentile(p), histogram.maxValue) / 1000;
      const count = histogram.totalCount;
      return {
        count,
        errors,
        durationMs,
        throughput: durationMs > 0 ? (count / durationMs) * 1000 : 0,
        mean: count === 0 ? Number.NaN : histogram.mean / 1000,
        p50: at(50),
        p90: at(90),
        p99: at(99),
        p999: at(99.9),
        max: count === 0 ? Number.NaN : histogram.maxValue / 1000,
        distribution: count === 0 ? [] : plotPercentiles.map((p) => [p, p === 100 ? histogram.maxValue / 1000 : at(p)]),
        ...(firstError === undefined ? {} : { firstError }),
      };
    },
  };
}
