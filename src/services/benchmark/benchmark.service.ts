import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { NotFoundError, UsageError } from '../../errors.js';
import {
  asOfOption,
  countListOption,
  countOption,
  durationOption,
  percentOption,
  rateOption,
  type OptionValue,
} from '../../options.js';
import { readPackageVersion } from '../../package-root.js';
import type { BenchmarkRunDocument } from '../../store/documents/document-store.js';
import { openResources, type Resources } from '../../store/resources.js';
import { compareRuns, type Comparison } from './compare.js';
import { measureHarnessOverhead, measureInRounds, type RoundedWorkload } from './harness.js';
import type { PreparedScenario, ScenarioContext, ScenarioDefinition } from './scenarios.js';
import type { BenchmarkEnvironment, BenchmarkRunResult, ExperimentResult, ScenarioResult } from './types.js';

/**
 * Runs scenarios (each at each concurrency, in interleaved rounds) and experiments, and describes
 * where it ran.
 */

export interface BenchmarkOptions {
  suite: string;
  scenarios: readonly ScenarioDefinition[];
  concurrency: readonly number[];
  warmupMs: number;
  /** Per round. */
  durationMs: number;
  /** Per round, instead of durationMs. */
  count?: number | undefined;
  /** Measured rounds per scenario and concurrency level: round 1 of every one, then round 2, … */
  rounds: number;
  /**
   * Also measure open-loop at this many operations per second, after the closed loop in each
   * round (scenarios with a fixed count excepted): see `measureOpenLoopRound`.
   */
  ratePerSecond?: number | undefined;
  /** Runs the tuning experiments after the scenarios (undefined: none). */
  experiments?: (() => Promise<ExperimentResult[]>) | undefined;
  version: string;
  onProgress?: (label: string, fraction: number) => void;
  onSkip?: (scenario: string, reason: string) => void;
}

const isAborted = (ctx: ScenarioContext): boolean => ctx.signal?.aborted === true;

export interface SkippedScenario {
  scenario: string;
  reason: string;
}

async function describeEnvironment(ctx: ScenarioContext, version: string): Promise<BenchmarkEnvironment> {
  const knex = ctx.db.knex;
  const [server] = (await knex.raw<{ rows: { version: string }[] }>(`select current_setting('server_version') as version`)).rows;
  const settings = await knex.raw<{ rows: { name: string; setting: string; unit: string | null }[] }>(
    `select name, setting, unit from pg_settings
      where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit',
                     'max_parallel_workers_per_gather', 'synchronous_commit', 'max_connections')
      order by name`,
  );
  const counts = await knex.raw<{ rows: { table: string; rows: number }[] }>(
    `select c.relname as table, greatest(c.reltuples, 0)::bigint as rows
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'r'
        and c.relname in ('customers', 'locations', 'packages', 'shipments', 'tracking_events', 'doc_raw_scans')
      order by c.relname`,
  );
  let redis: string | null = null;
  if (ctx.redis !== undefined) {
    const info = await ctx.redis.info('server');
    redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  }
  const cpus = os.cpus();
  return {
    shiptrack: version,
    node: process.version,
    platform: `${os.type()} ${os.arch()}`,
    cpus: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    postgres: server?.version ?? 'unknown',
    databaseMode: ctx.db.mode,
    redis,
    documents: ctx.documents.kind,
    data: Object.fromEntries(counts.rows.map((r) => [r.table, r.rows])),
    settings: Object.fromEntries(settings.rows.map((s) => [s.name, s.unit === null ? s.setting : `${s.setting} ${s.unit}`])),
  };
}

/** The scenarios that can run in this context, and why the others cannot. */
export function availableScenarios(
  scenarios: readonly ScenarioDefinition[],
  ctx: ScenarioContext,
): { runnable: ScenarioDefinition[]; skipped: SkippedScenario[] } {
  const runnable: ScenarioDefinition[] = [];
  const skipped: SkippedScenario[] = [];
  for (const scenario of scenarios) {
    const reason = scenario.unavailable?.(ctx);
    if (reason === undefined) runnable.push(scenario);
    else skipped.push({ scenario: scenario.name, reason });
  }
  return { runnable, skipped };
}

/** One scenario at one concurrency level, prepared once and measured round after round. */
interface Measured {
  scenario: ScenarioDefinition;
  concurrency: number;
  prepared: PreparedScenario;
  workload: RoundedWorkload;
  roundP50s: number[];
}

async function startMeasuring(
  ctx: ScenarioContext,
  options: BenchmarkOptions,
  scenario: ScenarioDefinition,
  concurrency: number,
): Promise<Measured> {
  const prepared = await scenario.prepare(ctx, concurrency);
  try {
    const workload = await measureInRounds({
      operation: prepared.operation,
      concurrency,
      warmupMs: scenario.fixedCount === undefined ? options.warmupMs : 0,
      durationMs: options.durationMs,
      count: scenario.fixedCount ?? options.count,
      signal: ctx.signal,
    });
    return { scenario, concurrency, prepared, workload, roundP50s: [] };
  } catch (error) {
    await prepared.close?.();
    throw error;
  }
}

/**
 * Round 1 of every (scenario, concurrency), then round 2 of every one, …: the slow drift of a
 * shared machine spreads over all scenarios instead of landing on the last ones. Each is prepared
 * (and warmed up) before its first round and closed after the last.
 */
async function measureScenarios(
  ctx: ScenarioContext,
  options: BenchmarkOptions,
  runnable: readonly ScenarioDefinition[],
): Promise<ScenarioResult[]> {
  const plan = runnable.flatMap((scenario) =>
    (scenario.fixedConcurrency === undefined ? options.concurrency : [scenario.fixedConcurrency]).map((concurrency) => ({
      scenario,
      concurrency,
    })),
  );
  const measured: Measured[] = [];
  try {
    rounds: for (let round = 1; round <= options.rounds; round += 1) {
      for (const [index, { scenario, concurrency }] of plan.entries()) {
        if (isAborted(ctx)) break rounds;
        const unit = measured[index] ?? (await startMeasuring(ctx, options, scenario, concurrency));
        measured[index] = unit;
        const label = `${scenario.name} ×${concurrency}${options.rounds > 1 ? ` round ${round}/${options.rounds}` : ''}`;
        const summary = await unit.workload.measureRound((f) => options.onProgress?.(label, f));
        unit.roundP50s.push(summary.p50);
        const rate = options.ratePerSecond;
        // A scenario that runs a fixed count (a full proof, a seed) takes seconds an operation: no rate fits it.
        if (rate === undefined || scenario.fixedCount !== undefined || isAborted(ctx)) continue;
        const openLabel = `${scenario.name} ×${concurrency} at ${rate}/s${options.rounds > 1 ? ` round ${round}/${options.rounds}` : ''}`;
        await unit.workload.measureOpenLoopRound(rate, (f) => options.onProgress?.(openLabel, f));
      }
    }
  } finally {
    for (const unit of measured.toReversed()) await unit.prepared.close?.();
  }
  return measured
    .filter((unit) => unit.roundP50s.length > 0)
    .map(({ scenario, concurrency, prepared, workload, roundP50s }) => {
      const openLoop = workload.mergedOpenLoop();
      return {
        scenario: scenario.name,
        description: prepared.note === undefined ? scenario.description : `${scenario.description} (${prepared.note})`,
        concurrency,
        summary: workload.merged(),
        roundP50s,
        ...(openLoop === undefined ? {} : { openLoop }),
      };
    });
}

export async function runBenchmark(
  ctx: ScenarioContext,
  options: BenchmarkOptions,
): Promise<{ run: BenchmarkRunResult; skipped: SkippedScenario[] }> {
  const startedAt = new Date();
  const environment = await describeEnvironment(ctx, options.version);
  const harnessOverheadUs = await measureHarnessOverhead();
  const { runnable, skipped } = availableScenarios(options.scenarios, ctx);
  for (const s of skipped) options.onSkip?.(s.scenario, s.reason);
  const results = await measureScenarios(ctx, options, runnable);
  const experiments = options.experiments === undefined || isAborted(ctx) ? [] : await options.experiments();
  return {
    run: {
      id: `${startedAt.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      suite: options.suite,
      environment,
      parameters: {
        scenarios: options.scenarios.map((s) => s.name),
        concurrency: options.concurrency,
        warmupMs: options.warmupMs,
        durationMs: options.count === undefined ? options.durationMs : null,
        count: options.count ?? null,
        rounds: options.rounds,
        rate: options.ratePerSecond ?? null,
        asOf: ctx.now.toISOString(),
        allowWrites: ctx.allowWrites,
        skipped,
      },
      harnessOverheadUs,
      scenarios: results,
      experiments,
    },
    skipped,
  };
}

/** The run as a document-store document (benchmark history). */
export function toRunDocument(run: BenchmarkRunResult): BenchmarkRunDocument {
  return {
    id: run.id,
    startedAt: new Date(run.startedAt),
    suite: run.suite,
    environment: { ...run.environment },
    parameters: run.parameters,
    results: {
      finishedAt: run.finishedAt,
      harnessOverheadUs: run.harnessOverheadUs,
      scenarios: run.scenarios,
      experiments: run.experiments,
    },
  };
}

/** The inverse of toRunDocument, for baselines and history read back from the store. */
export function fromRunDocument(doc: BenchmarkRunDocument): BenchmarkRunResult {
  const results = doc.results as {
    finishedAt?: string;
    harnessOverheadUs?: number;
    scenarios?: ScenarioResult[];
    experiments?: ExperimentResult[];
  };
  return {
    id: doc.id,
    startedAt: doc.startedAt.toISOString(),
    finishedAt: results.finishedAt ?? doc.startedAt.toISOString(),
    suite: doc.suite,
    environment: doc.environment as unknown as BenchmarkEnvironment,
    parameters: doc.parameters,
    harnessOverheadUs: results.harnessOverheadUs ?? Number.NaN,
    // A round with no completed operation has a NaN p50, which JSON stores as null.
    scenarios: (results.scenarios ?? []).map((s) =>
      s.roundP50s === undefined ? s : { ...s, roundP50s: s.roundP50s.map((p) => (typeof p === 'number' ? p : Number.NaN)) },
    ),
    experiments: results.experiments ?? [],
  };
}

export type BenchmarkSuite = 'default' | 'tuning' | 'all';

/** A benchmark run as a command or a program asks for it; values as typed or as numbers. */
export interface BenchmarkRequest {
  /** default: the scenarios; tuning: the before/after experiments; all: both. */
  suite?: BenchmarkSuite | undefined;
  /** Scenario names or groups (track, scan, report, seed, noop); default: all but noop. */
  scenarios?: readonly string[] | undefined;
  /** Measured time per round of each scenario and concurrency level (default 5s). */
  duration?: OptionValue | undefined;
  /** Measure this many operations per round instead of a duration. */
  count?: OptionValue | undefined;
  /**
   * Measured rounds per scenario and concurrency level, interleaved (1–20; default 3, or 5 with a
   * baseline: 3 rounds against 3 can never reach the gate's significance level).
   */
  rounds?: OptionValue | undefined;
  /** Unmeasured warm-up before the first round of each scenario and concurrency level (default 1s). */
  warmup?: OptionValue | undefined;
  /**
   * Closed-loop workers, one measurement per level (default 1,4); with `rate`, also the most
   * operations in flight in the open loop.
   */
  concurrency?: OptionValue | readonly number[] | undefined;
  /**
   * Also measure every scenario and concurrency level open-loop: operations started at this fixed
   * rate ("500/s" or 500; 1–1,000,000 per second), each latency from its scheduled start
   * (coordinated omission corrected), beside the closed loop; late and dropped operations counted.
   */
  rate?: OptionValue | undefined;
  /** Measured time per experiment arm (default 2s). */
  experimentDuration?: OptionValue | undefined;
  /** Only these experiments (names, or a comma-separated list). */
  experiments?: string | readonly string[] | undefined;
  /** Let scenarios write: scan scenarios record scans here; seed-small creates a scratch database. */
  allowWrites?: boolean | undefined;
  /** Compare with a stored run: its id, or "last" (the latest of the same suite). */
  baseline?: string | undefined;
  /**
   * With a baseline: `regression` is true when the median of a scenario's round p50s is slower by
   * more than this percentage AND significantly (two-sided Mann-Whitney U test, p < 0.05).
   */
  failIfSlower?: OptionValue | undefined;
  /** Keep the run in the document store (default true). */
  store?: boolean | undefined;
  /** The "now" of report scenarios (default: now). */
  asOf?: string | Date | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((label: string, fraction: number) => void) | undefined;
  onSkip?: ((scenario: string, reason: string) => void) | undefined;
}

export interface BenchmarkOutcome {
  run: BenchmarkRunResult;
  skipped: SkippedScenario[];
  comparison?: Comparison | undefined;
  /** Where the run was kept, or why it could not be (it was measured all the same). */
  stored: { id: string; store: string } | { error: string } | null;
  /** True when `failIfSlower` was given and a scenario regressed by more than it, significantly. */
  regression: boolean;
  /**
   * True when the run measured nothing: no scenario, and every experiment skipped (each says why
   * in its findings). Such a run is not stored; the command exits 2.
   */
  measuredNothing: boolean;
}

interface CheckedBenchmark {
  suite: BenchmarkSuite;
  scenarios: ScenarioDefinition[];
  levels: number[];
  durationMs: number;
  warmupMs: number;
  experimentMs: number;
  count: number | undefined;
  rounds: number;
  rate: number | undefined;
  experiments: string[] | undefined;
  threshold: number | undefined;
  now: Date;
}

/** Checks every option before any store is opened. */
async function checkBenchmark(request: BenchmarkRequest): Promise<CheckedBenchmark> {
  const { selectScenarios } = await import('./scenarios.js');
  const suite = request.suite ?? 'default';
  if (!['default', 'tuning', 'all'].includes(suite))
    throw new UsageError(`--suite: expected default, tuning or all, got "${suite}"`);
  const listed = typeof request.experiments === 'string' ? request.experiments.split(',') : request.experiments;
  // The experiments (and every report they import) load only when they are asked for.
  const experiments = listed === undefined ? undefined : (await import('./experiments.js')).checkExperimentNames(listed);
  if (experiments !== undefined && suite === 'default') throw new UsageError('--experiments needs --suite tuning or --suite all');
  const names = request.scenarios ?? [];
  const scenarios = suite === 'tuning' ? [] : selectScenarios(names);
  if (suite !== 'tuning' && scenarios.length === 0) {
    throw new UsageError(`no scenario is called ${names.map((n) => `"${n}"`).join(' or ')}; see \`shiptrack benchmark --list\``);
  }
  const threshold = request.failIfSlower === undefined ? undefined : percentOption(request.failIfSlower, '--fail-if-slower');
  if (threshold !== undefined && request.baseline === undefined) {
    throw new UsageError('--fail-if-slower needs --baseline (a run id, or last)');
  }
  if (request.rate !== undefined && suite === 'tuning') throw new UsageError('--rate needs scenarios: --suite default or all');
  const hour = { min: 0, max: 3_600_000 };
  return {
    suite,
    scenarios,
    levels: countListOption(request.concurrency ?? '1,4', '--concurrency', 1, 256),
    durationMs: durationOption(request.duration ?? '5s', '--duration', { min: 100, max: hour.max }),
    warmupMs: durationOption(request.warmup ?? '1s', '--warmup', hour),
    experimentMs: durationOption(request.experimentDuration ?? '2s', '--experiment-duration', { min: 100, max: hour.max }),
    count: request.count === undefined ? undefined : countOption(request.count, '--count', 1, 100_000_000),
    rounds: countOption(request.rounds ?? (request.baseline === undefined ? 3 : 5), '--rounds', 1, 20),
    rate: request.rate === undefined ? undefined : rateOption(request.rate, '--rate', 1, 1_000_000),
    experiments,
    threshold,
    now: asOfOption(request.asOf),
  };
}

/** Every scenario asked for was skipped: say why, before anything is measured or stored. */
function nothingToMeasure(skipped: readonly SkippedScenario[]): UsageError {
  const byReason = new Map<string, string[]>();
  for (const { scenario, reason } of skipped) byReason.set(reason, [...(byReason.get(reason) ?? []), scenario]);
  const why = [...byReason].map(([reason, names]) => `skipped ${names.join(', ')}: ${reason}`).join('; ');
  return new UsageError(`nothing was measured: ${why}`, { details: { skipped: skipped.map((s) => ({ ...s })) } });
}

async function findBaseline(
  documents: ScenarioContext['documents'],
  baseline: string,
  suite: string,
): Promise<BenchmarkRunResult> {
  const found =
    baseline === 'last'
      ? (await documents.listBenchmarkRuns({ limit: 1, suite }))[0]
      : await documents.findBenchmarkRun(baseline);
  if (found === undefined || found === null) {
    throw new NotFoundError(
      baseline === 'last' ? `no stored run of suite "${suite}" to compare with` : `no stored benchmark run ${baseline}`,
      { hint: 'see `shiptrack report benchmarks`' },
    );
  }
  return fromRunDocument(found);
}

/**
 * `benchmark`, the whole use case: checks the request (a UsageError when every scenario asked for
 * would be skipped), measures the scenarios in interleaved rounds and the experiments on stores
 * sized for the concurrency asked for, keeps the run in the document store and compares it with a
 * baseline through the regression gate (compare.ts).
 */
export async function runBenchmarkSuite(resources: Resources, request: BenchmarkRequest = {}): Promise<BenchmarkOutcome> {
  const checked = await checkBenchmark(request);
  // Workers must never queue for a connection: the stores are sized for the highest level.
  const poolSize = Math.max(...checked.levels) + 4;
  const own = poolSize > resources.config.poolSize ? openResources({ ...resources.config, poolSize }) : undefined;
  try {
    // Scenarios such as the full consistency proof and the seed read for minutes: no statement timeout.
    return await measureSuite((own ?? resources).forLongWork(), checked, request);
  } finally {
    await own?.close();
  }
}

async function measureSuite(
  resources: Resources,
  checked: CheckedBenchmark,
  request: BenchmarkRequest,
): Promise<BenchmarkOutcome> {
  const db = await resources.database();
  // The cache scenarios and the experiments (cache on vs off) use Redis; nothing else does.
  const needsRedis = checked.suite !== 'default' || checked.scenarios.some((s) => s.usesRedis === true);
  const redis = needsRedis ? await resources.redis() : undefined;
  const documents = await resources.documents();
  await documents.ensureSchema();
  const ctx: ScenarioContext = {
    resources,
    db,
    config: resources.config,
    redis,
    documents,
    now: checked.now,
    allowWrites: request.allowWrites === true,
    signal: request.signal,
  };
  const { runnable, skipped: unavailable } = availableScenarios(checked.scenarios, ctx);
  if (checked.suite === 'default' && runnable.length === 0) throw nothingToMeasure(unavailable);
  const baseline = request.baseline === undefined ? undefined : await findBaseline(documents, request.baseline, checked.suite);
  const { run, skipped } = await runBenchmark(ctx, {
    suite: checked.suite,
    scenarios: checked.scenarios,
    concurrency: checked.levels,
    warmupMs: checked.warmupMs,
    durationMs: checked.durationMs,
    count: checked.count,
    rounds: checked.rounds,
    ratePerSecond: checked.rate,
    version: readPackageVersion(),
    experiments:
      checked.suite === 'default'
        ? undefined
        : async () => {
            const { runExperiments } = await import('./experiments.js');
            return runExperiments(
              { db, redis, documents, now: checked.now },
              {
                durationMs: checked.experimentMs,
                warmupMs: Math.min(checked.warmupMs, 1000),
                ...(checked.experiments === undefined ? {} : { only: checked.experiments }),
                signal: request.signal,
                onProgress: (name, f) => request.onProgress?.(`experiment ${name}`, f),
              },
            );
          },
    onProgress: request.onProgress,
    onSkip: request.onSkip,
  });
  const measuredNothing = run.scenarios.length === 0 && run.experiments.every((e) => e.findings.skipped !== undefined);
  let stored: BenchmarkOutcome['stored'] = null;
  if (request.store !== false && request.signal?.aborted !== true && !measuredNothing) {
    try {
      await documents.insertBenchmarkRun(toRunDocument(run));
      stored = { id: run.id, store: documents.kind };
    } catch (error) {
      stored = { error: error instanceof Error ? error.message : String(error) };
    }
  }
  const comparison = baseline === undefined ? undefined : compareRuns(run, baseline, checked.threshold ?? 10);
  const regression = checked.threshold !== undefined && comparison !== undefined && comparison.regressions > 0;
  return { run, skipped, comparison, stored, regression, measuredNothing };
}

/** The scenarios and experiments there are, for `benchmark --list`. */
export async function listBenchmarks(): Promise<{
  scenarios: { name: string; group: string; description: string }[];
  experiments: readonly string[];
}> {
  const [{ scenarios }, { experimentNames }] = await Promise.all([import('./scenarios.js'), import('./experiments.js')]);
  return {
    scenarios: scenarios.map((s) => ({ name: s.name, group: s.group, description: s.description })),
    experiments: experimentNames,
  };
}
