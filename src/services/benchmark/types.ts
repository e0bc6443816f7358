/** The data of a benchmark run: what is stored in the document store and rendered as the report. */

/** Latency distribution of one measured workload; times in milliseconds. */
export interface LatencySummary {
  /** Completed operations (errors excluded). */
  count: number;
  errors: number;
  /** Wall time of the measured phase. */
  durationMs: number;
  /** Completed operations per second. */
  throughput: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** [percentile, ms] points of the distribution, for plots (0 … 100, denser towards the tail). */
  distribution: [number, number][];
  /** The first error message, when any operation failed. */
  firstError?: string;
}

/**
 * One scenario and concurrency level measured open-loop (`--rate`): operations scheduled at a
 * constant arrival rate, at most `concurrency` in flight, each latency from the operation's
 * scheduled start (coordinated omission corrected). Every round's open-loop phase added up.
 */
export interface OpenLoopResult {
  /** Operations scheduled per second. */
  ratePerSecond: number;
  /** An operation that started more than this after its scheduled time counts as late (ms). */
  slackMs: number;
  /** Operations the schedule held (rate × duration, or the count, per round). */
  scheduled: number;
  /**
   * Started more than `slackMs` after their scheduled time: they waited for a free slot (every
   * one of `concurrency` in flight) or for a busy event loop. Their latencies include the wait.
   */
  late: number;
  /** Never started: still waiting for a free slot when the schedule ended. Not in the latencies. */
  dropped: number;
  /** From each operation's scheduled start to its end; `count` excludes errors and dropped. */
  summary: LatencySummary;
}

export interface ScenarioResult {
  scenario: string;
  description: string;
  concurrency: number;
  /** Every round's operations as one distribution (closed loop). */
  summary: LatencySummary;
  /**
   * The p50 of each round (ms), in the order measured (NaN, stored as null, for a round with no
   * completed operation). Absent from runs stored before rounds existed: their p50 is one sample.
   */
  roundP50s?: number[];
  /**
   * The same scenario and level open-loop, measured after the closed loop in each round. Absent
   * without `--rate`, from runs stored before it existed, and for scenarios that run a fixed count
   * of operations (the full consistency proof, the seed).
   */
  openLoop?: OpenLoopResult;
}

export interface ExperimentArm {
  label: string;
  summary: LatencySummary;
  /** EXPLAIN (ANALYZE, BUFFERS) of the query, where the arm is one query. */
  plan?: string;
}

/** A figure of a finding: JSON-safe, so a number that is not finite is stored as null. */
export type Figure = string | number | boolean | null | readonly (string | number | null)[];

/**
 * What an experiment found, as data: a stable snake_case code and the raw figures (ms, bytes,
 * ratios, counts, names) behind it. The sentences are written by src/render/benchmark.render.ts.
 */
export interface Finding {
  code: string;
  figures: Record<string, Figure>;
}

export interface ExperimentFindings {
  /** How the user's schema was kept intact: rolled-back transaction, scratch schema, … */
  isolation: Finding;
  /** The recommendation drawn from the measurements. */
  verdict: Finding;
  notes: Finding[];
  /** Why the experiment could not run (e.g. no MongoDB configured); the arms are then empty. */
  skipped?: Finding;
}

export interface ExperimentResult {
  experiment: string;
  question: string;
  before: ExperimentArm;
  after: ExperimentArm;
  /** before p50 / after p50: above 1 means `after` is faster. */
  speedup: number;
  findings: ExperimentFindings;
}

export interface BenchmarkEnvironment {
  shiptrack: string;
  node: string;
  platform: string;
  cpus: string;
  cpuCount: number;
  memoryGb: number;
  postgres: string;
  databaseMode: 'server' | 'embedded';
  redis: string | null;
  documents: 'mongodb' | 'postgres';
  /** Rows per table when the run started. */
  data: Record<string, number>;
  settings: Record<string, string>;
}

export interface BenchmarkRunResult {
  id: string;
  startedAt: string;
  finishedAt: string;
  suite: string;
  environment: BenchmarkEnvironment;
  parameters: Record<string, unknown>;
  /** The harness's own cost per operation (a no-op scenario), in microseconds. */
  harnessOverheadUs: number;
  scenarios: ScenarioResult[];
  experiments: ExperimentResult[];
}
