import { formatBytes, formatNumber } from '../domain/units.js';
import type {
  BenchmarkRunResult,
  ExperimentFindings,
  ExperimentResult,
  Figure,
  Finding,
  LatencySummary,
  OpenLoopResult,
  ScenarioResult,
} from '../services/benchmark/types.js';
import type { Comparison, ComparisonRow, ComparisonVerdict } from '../services/benchmark/compare.js';
import { formatCell } from './report.render.js';
import type { Style } from './style.js';
import { renderTable, type Column } from './table.js';
import { fitProse } from './text.js';

/**
 * Benchmark runs as a terminal summary, a Markdown performance report with SVG plots, and a
 * comparison with a baseline run: pure functions of the run's data.
 */

export interface BenchmarkMarkdownOptions {
  title?: string;
  /** Plot file names start with this (e.g. `performance` → `performance-latency.svg`). */
  plotPrefix: string;
  comparison?: Comparison;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** Milliseconds as tables show them: 3 decimals below 1 ms, 2 below 10, 1 below 100, then whole (1,234). */
export function formatLatency(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  if (abs < 1) return ms.toFixed(3);
  if (abs < 10) return ms.toFixed(2);
  if (abs < 100) return ms.toFixed(1);
  return formatNumber(Math.round(ms));
}

function formatThroughput(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '—';
  if (perSecond >= 100) return formatNumber(Math.round(perSecond));
  return perSecond.toFixed(perSecond >= 10 ? 1 : 2);
}

/** An open-loop rate: `200/s`, `1,000/s`, `2.5/s`. */
function formatRate(perSecond: number): string {
  return `${formatNumber(perSecond, 3)}/s`;
}

function formatSpeedup(factor: number): string {
  if (!Number.isFinite(factor) || factor <= 0) return '—';
  if (factor >= 100) return `${formatNumber(Math.round(factor))}×`;
  return `${factor.toFixed(factor >= 10 ? 1 : 2)}×`;
}

function formatChange(pct: number): string {
  if (!Number.isFinite(pct)) return '—';
  const rounded = Number(pct.toFixed(1));
  return `${rounded > 0 ? '+' : rounded < 0 ? '-' : ''}${Math.abs(rounded).toFixed(1)} %`;
}

/** A p-value: two significant digits, `<0.001` below that. */
function formatP(p: number): string {
  if (!Number.isFinite(p)) return '—';
  if (p < 0.001) return '<0.001';
  return p < 0.01 ? p.toFixed(3) : p.toFixed(2);
}

function formatRatio(x: number): string {
  return Number.isFinite(x) ? x.toFixed(x >= 10 ? 1 : 2) : '—';
}

function formatMicros(us: number): string {
  return us < 10 ? us.toFixed(1) : formatNumber(Math.round(us));
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}

function overheadLine(run: BenchmarkRunResult): string {
  return Number.isFinite(run.harnessOverheadUs)
    ? `harness overhead: ${formatMicros(run.harnessOverheadUs)} µs per operation (no-op scenario)`
    : 'harness overhead: not measured';
}

function seriesLabel(s: ScenarioResult): string {
  return `${s.scenario} ×${s.concurrency}`;
}

/** The round p50s measured (runs stored before rounds have none), without rounds that completed nothing. */
function roundP50s(s: ScenarioResult): number[] {
  return (s.roundP50s ?? []).filter((p) => Number.isFinite(p));
}

/** The lowest and highest round p50: the spread beside the p50 of all rounds. */
function roundRange(s: ScenarioResult): string {
  const rounds = roundP50s(s);
  if (rounds.length < 2) return '—';
  return `${formatLatency(Math.min(...rounds))}–${formatLatency(Math.max(...rounds))}`;
}

function dataRows(run: BenchmarkRunResult): string {
  const entries = Object.entries(run.environment.data ?? {});
  if (entries.length === 0) return 'no row counts';
  return entries.map(([table, rows]) => `${formatCell('integer', rows)} ${table}`).join(', ');
}

function skippedScenarios(run: BenchmarkRunResult): { scenario: string; reason: string }[] {
  const skipped = run.parameters.skipped;
  if (!Array.isArray(skipped)) return [];
  return skipped.flatMap((s: unknown) => {
    if (typeof s !== 'object' || s === null) return [];
    const { scenario, reason } = s as Record<string, unknown>;
    return typeof scenario === 'string' ? [{ scenario, reason: typeof reason === 'string' ? reason : '' }] : [];
  });
}

function numberParameter(run: BenchmarkRunResult, key: string): number | undefined {
  const value = run.parameters[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A scenario measured open-loop too (`--rate`). */
type OpenLoopRow = ScenarioResult & { openLoop: OpenLoopResult };

const hasOpenLoop = (s: ScenarioResult): s is OpenLoopRow => typeof s.openLoop === 'object' && s.openLoop !== null;

/** The scenarios with an open-loop measurement (none in runs without --rate, or stored before it). */
function openLoopRows(run: BenchmarkRunResult): OpenLoopRow[] {
  return run.scenarios.filter(hasOpenLoop);
}

/** What the open-loop table is about: its rate and slack, and the scenarios measured closed-loop only. */
function openLoopFacts(run: BenchmarkRunResult, rows: readonly OpenLoopRow[]) {
  const first = rows[0]?.openLoop;
  return {
    rate: formatRate(first?.ratePerSecond ?? numberParameter(run, 'rate') ?? Number.NaN),
    slack: `${first?.slackMs ?? Number.NaN} ms`,
    closedOnly: [...new Set(run.scenarios.filter((s) => !hasOpenLoop(s)).map((s) => s.scenario))],
  };
}

/** Breaks text into lines of at most `width` characters at spaces (for terminal table cells). */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Findings: the experiments report codes and figures; these are their sentences (one place).

function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value < 10) return `${value.toFixed(2)} ms`;
  return `${formatNumber(Math.round(value))} ms`;
}

function seconds(valueMs: number): string {
  if (!Number.isFinite(valueMs)) return 'n/a';
  return valueMs < 10_000 ? `${(valueMs / 1000).toFixed(1)} s` : `${formatNumber(Math.round(valueMs / 1000))} s`;
}

function times(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 10) return `${formatNumber(Math.round(x))}×`;
  return x >= 1 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`;
}

function bytes(n: number): string {
  return Number.isFinite(n) ? formatBytes(Math.round(n)) : 'n/a';
}

const percent = (f: number): string => (Number.isFinite(f) ? `${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%` : 'n/a');
const count = (n: number): string => (Number.isFinite(n) ? formatNumber(Math.round(n)) : 'n/a');

/** "a", "a and b", "a, b and c". */
function joinAnd(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

/** A finding's figures, read defensively (stored runs pass through JSON) and formatted. */
function readFigures(figures: Record<string, Figure>) {
  const number = (key: string): number => {
    const value = figures[key];
    return typeof value === 'number' ? value : Number.NaN;
  };
  return {
    number,
    text: (key: string): string => {
      const value = figures[key];
      return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
    },
    flag: (key: string): boolean => figures[key] === true,
    list: (key: string): string[] => {
      const value = figures[key];
      return Array.isArray(value) ? value.map((v: string | number | null) => (v === null ? 'n/a' : String(v))) : [];
    },
    numbers: (key: string): number[] => {
      const value = figures[key];
      return Array.isArray(value) ? value.map((v: string | number | null) => (typeof v === 'number' ? v : Number.NaN)) : [];
    },
    ms: (key: string): string => ms(number(key)),
    seconds: (key: string): string => seconds(number(key)),
    times: (key: string): string => times(number(key)),
    bytes: (key: string): string => bytes(number(key)),
    percent: (key: string): string => percent(number(key)),
    count: (key: string): string => count(number(key)),
  };
}

type Figures = ReturnType<typeof readFigures>;

interface IndexFigures {
  decision: string;
  index: string;
  indexBytes: number;
  withMs: number;
  withoutMs: number;
  ratio: number;
  /** What the index serves, when it is not "this query". */
  query?: string;
  alsoUsedBy: readonly string[];
}

function indexSentence(i: IndexFigures): string {
  const what = i.query ?? 'this query';
  const others =
    i.alsoUsedBy.length === 0 ? 'check no other query needs it' : `check ${joinAnd(i.alsoUsedBy.map((c) => `\`${c}\``))} first`;
  const p50s = `p50 ${ms(i.withMs)} with, ${ms(i.withoutMs)} without: ${times(i.ratio)}`;
  switch (i.decision) {
    case 'keep_index':
      return `keep ${i.index} (${bytes(i.indexBytes)})${i.query === undefined ? '' : ` for ${i.query}`}: p50 ${ms(i.withMs)} with it vs ${ms(i.withoutMs)} without it (${times(i.ratio)})`;
    case 'drop_index':
      return `drop ${i.index}? ${what} is as fast without it (${p50s}, within the ±10% noise band) and it costs ${bytes(i.indexBytes)} plus upkeep on every write; ${others}`;
    default:
      return `drop ${i.index} or fix the plan: ${what} is slower with it (${p50s}); ${others}`;
  }
}

const singleIndex = (decision: string) => (f: Figures) =>
  indexSentence({
    decision,
    index: f.text('index'),
    indexBytes: f.number('indexBytes'),
    withMs: f.number('withMs'),
    withoutMs: f.number('withoutMs'),
    ratio: f.number('ratio'),
    alsoUsedBy: f.list('alsoUsedBy'),
  });

/** One of the two indexes of `metadata_indexes`, by the prefix of its figures. */
const metadataIndexSentence = (f: Figures, index: 'gin' | 'fragile', filter: 'selective' | 'fragile', query: string): string =>
  indexSentence({
    decision: f.text(`${index}Verdict`),
    index: f.text(index),
    indexBytes: f.number(`${index}Bytes`),
    withMs: f.number(`${filter}WithMs`),
    withoutMs: f.number(`${filter}WithoutMs`),
    ratio: f.number(`${filter}Ratio`),
    query,
    alsoUsedBy: [],
  });

function brinSizes(f: Figures): string {
  return `${f.bytes('brinBytes')} vs ${f.bytes('btreeBytes')}`;
}

/** The parts every cache verdict shares: the costs, the lookup rate, and what this run measured. */
function cacheParts(f: Figures) {
  return {
    ttl: `${f.number('ttlMs') / 1000}`,
    costs: `a hit typically (p50) costs ${f.ms('hitMs')}, a database read ${f.ms('databaseMs')}, a miss ${f.ms('missMs')} (Redis look-up, database, fill), so the cache pays (10% faster per lookup) above ${percent(Math.max(0, f.number('breakEvenHitRatio')))} hits`,
    atRate: `at this run's ${f.count('lookupsPerSecond')} lookups/s (model; the TTL needed scales with 1/rate)`,
    measured: `this ${f.seconds('runMs')} run started cold and hit ${f.percent('hitRatio')} (p50 ${f.ms('withMs')} with the cache vs ${f.ms('withoutMs')} without: ${f.times('ratio')})`,
  };
}

function partitionFigures(f: Figures): string {
  return `day query ${f.ms('dayPartedMs')} partitioned vs ${f.ms('daySingleMs')} one table (${f.times('dayRatio')}), 7-day exceptions ${f.ms('weekPartedMs')} vs ${f.ms('weekSingleMs')} (${f.times('weekRatio')}), load ${f.seconds('loadPartedMs')} vs ${f.seconds('loadSingleMs')} (${f.times('loadRatio')}); above 1× partitioned is faster`;
}

const used = (yes: boolean): string => (yes ? 'uses it' : 'does NOT use it');

const isolationSentences: Record<string, (f: Figures) => string> = {
  indexes_dropped_and_rolled_back: (f) =>
    `each arm ran in its own transaction on a dedicated pooled connection, always rolled back: the "without" arm ran DROP INDEX ${f.list('indexes').join(', ')} inside it ` +
    `(lock_timeout ${f.seconds('lockTimeoutMs')}), so nothing was committed and the index never left the catalog for other sessions; ` +
    `but DROP INDEX holds an ACCESS EXCLUSIVE lock on ${f.text('table')} until the rollback (${f.seconds('heldMs')} here), blocking every other reader and writer of ${f.text('table')}: ` +
    'run the tuning experiments against a benchmark database, not production',
  brin_built_and_rolled_back: (f) =>
    `each arm ran in its own transaction on a dedicated pooled connection, always rolled back: the BRIN arm built ${f.text('brinIndex')} (${f.seconds('buildMs')}, SHARE lock: writes blocked) ` +
    `and dropped ${f.text('btree')} (ACCESS EXCLUSIVE lock: all other readers and writers of tracking_events blocked for ${f.seconds('heldMs')} until the rollback); ` +
    'nothing was committed. Run the tuning experiments against a benchmark database, not production',
  cache_keys_under_prefix: (f) =>
    `cache keys under the run's own prefix ${f.text('prefix')} (deleted afterwards); the database is only read`,
  reads_only: () => 'reads only: both stores are queried, nothing is written',
  scratch_schema: (f) =>
    `scratch schema ${f.text('schema')} (created for this experiment under an advisory lock, dropped afterwards, also on error or interrupt${
      f.flag('leftoverDropped') ? '; a leftover from an earlier run was dropped first' : ''
    }); the user's tables were only read (one sequential scan of tracking_events)`,
  nothing_run: () => 'nothing was run',
  lock_attempt_rolled_back: () => 'the transaction that tried to take the lock was rolled back',
};

const skipSentences: Record<string, (f: Figures) => string> = {
  needs_server: (f) => `needs a PostgreSQL server (a dedicated connection${f.flag('perArm') ? ' per arm' : ''})`,
  indexes_missing: (f) =>
    `index ${f.list('indexes').join(', ')} is not in this database (apply the migrations: shiptrack migrate latest)`,
  no_packages: () => 'no packages: seed the database first',
  no_redis: () => 'no Redis configured (set SHIPTRACK_REDIS_URL)',
  no_mongodb: () => 'no MongoDB configured: both sides would be the same store',
  no_common_raw_scans: (f) =>
    `doc_raw_scans holds none of ${f.count('sampled')} tracking numbers sampled from MongoDB (the raw scans live in MongoDB only): there is nothing like-for-like to compare`,
  scratch_schema_busy: (f) => `another run's partitioning experiment is using ${f.text('schema')}`,
  no_tracking_events: () => 'no tracking events to copy: seed the database first',
  citus_layout: () =>
    'not tried on the Citus distributed layout: the experiment changes indexes and tables as one server has them (docs/SCALING.md)',
  lock_timeout: (f) =>
    `could not take the table lock within ${f.seconds('lockTimeoutMs')} (another session is using the table); nothing was changed`,
};

const verdictSentences: Record<string, (f: Figures) => string> = {
  not_measured: () => 'not measured',
  keep_index: singleIndex('keep_index'),
  drop_index: singleIndex('drop_index'),
  drop_index_or_fix_plan: singleIndex('drop_index_or_fix_plan'),
  metadata_indexes: (f) =>
    [
      metadataIndexSentence(f, 'gin', 'selective', `the selective filter (${f.list('selectiveTerms').join(', ')})`),
      metadataIndexSentence(f, 'fragile', 'fragile', f.list('fragileTerms').join(', ')),
    ].join('; '),
  replace_btree_with_brin: (f) =>
    `replace the B-tree with BRIN for this report: p50 ${f.ms('brinMs')} with BRIN vs ${f.ms('btreeMs')} with the B-tree (${f.times('ratio')}), at ${brinSizes(f)}; check the other time-range readers first`,
  brin_would_do: (f) =>
    `BRIN would do: p50 ${f.ms('brinMs')} with BRIN vs ${f.ms('btreeMs')} with the B-tree (${f.times('ratio')}, within ±10%), at ${brinSizes(f)}; replace it if the index size matters more than the other time-range readers`,
  keep_btree: (f) =>
    `keep the B-tree ${f.text('btree')}: p50 ${f.ms('btreeMs')} with it vs ${f.ms('brinMs')} with BRIN (BRIN ${times(1 / f.number('ratio'))} slower), even though BRIN is ${brinSizes(f)}`,
  cache_no_hits: (f) =>
    `not enough data: no lookup hit the cache in this run (p50 ${f.ms('withMs')} with it vs ${f.ms('withoutMs')} without); run longer`,
  cache_hit_not_faster: (f) =>
    `the cache does not pay: a hit (${f.ms('hitMs')}) is no faster than a database read (${f.ms('databaseMs')}); ${cacheParts(f).measured}`,
  keep_cache_ttl: (f) => {
    const { ttl, costs, atRate, measured } = cacheParts(f);
    return `keep the cache and its ${ttl}-s TTL: ${costs}; ${atRate} the TTL gives ≈${f.percent('steadyHitRatio')} hits once warm, ≈${f.ms('warmLookupMs')} per lookup vs ${f.ms('databaseMs')} (${f.times('warmRatio')}); ${measured}`;
  },
  cache_does_not_pay_at_rate: (f) => {
    const { ttl, costs, atRate, measured } = cacheParts(f);
    return `the cache does not pay at this rate: ${costs}, which even a 1-day TTL does not reach ${atRate} (${ttl} s gives ≈${f.percent('steadyHitRatio')}); ${measured}`;
  },
  cache_ttl_too_short: (f) => {
    const { ttl, costs, atRate, measured } = cacheParts(f);
    return `the ${ttl}-s TTL is too short to pay: ${costs}; ${atRate} ${ttl} s gives ≈${f.percent('steadyHitRatio')} hits once warm (≈${f.ms('warmLookupMs')} per lookup vs ${f.ms('databaseMs')}), a TTL of ~${f.seconds('suggestedTtlMs')} would give ${f.percent('breakEvenHitRatio')} (≈${f.bytes('suggestedTtlBytes')} of Redis); scans invalidate cached answers, so a longer TTL costs memory, not freshness; ${measured}`;
  },
  mongodb_faster: (f) =>
    `MongoDB answers this look-up faster: p50 ${f.ms('mongodbMs')} vs ${f.ms('postgresMs')} in PostgreSQL (${f.times('ratio')})`,
  no_measurable_difference: (f) =>
    `no measurable difference for this look-up (p50 ${f.ms('postgresMs')} PostgreSQL, ${f.ms('mongodbMs')} MongoDB: ${f.times('ratio')}): choose the store for operations, not speed`,
  postgres_faster: (f) =>
    `PostgreSQL answers this look-up faster: p50 ${f.ms('postgresMs')} vs ${f.ms('mongodbMs')} in MongoDB (${times(1 / f.number('ratio'))})`,
  partition_by_month: (f) => `partition tracking_events by month: ${partitionFigures(f)}; mind the unique keys (see notes)`,
  partitioning_helps_in_part: (f) => {
    const losses = f.number('losses');
    return `partitioning helps in part (${f.count('wins')} of 3 faster by 10% or more, ${losses > 0 ? `${count(losses)} slower` : 'none slower'}): ${partitionFigures(f)}; not enough on its own to pay for weaker unique keys and the migration — revisit when retention (dropping old months) is needed`;
  },
  keep_one_table: (f) => {
    const losses = f.number('losses');
    return `keep one table: partitioned by month it was ${losses > 0 ? `slower in ${count(losses)} of 3` : 'no faster'} (${partitionFigures(f)}); the time indexes already confine these queries to their window — revisit for retention (dropping a month at once) or a much larger table`;
  },
};

function metadataShare(f: Figures, key: string): string {
  const total = f.number('packages');
  return total > 0 ? percent(f.number(key) / total) : '0%';
}

function loadRate(f: Figures, rowsKey: string, msKey: string): string {
  return count(f.number(rowsKey) / (f.number(msKey) / 1000));
}

const noteSentences: Record<string, (f: Figures) => string> = {
  index_plan: (f) => `${f.text('index')}: ${f.bytes('indexBytes')}; the plan with it ${used(f.flag('used'))}`,
  operations_measured: (f) => `operations measured: ${f.count('without')} without, ${f.count('with')} with the index`,
  track_workload: (f) =>
    `track (createTracker, cache bypassed) over ${f.count('trackingNumbers')} random tracking numbers (TABLESAMPLE), the named prepared statement on one connection`,
  overdue_workload: (f) => `runOverdueReport --limit ${f.text('limit')} as of ${f.text('asOf')}`,
  stale_workload: (f) => `runStaleReport --hours ${f.text('hours')} as of ${f.text('asOf')}`,
  metadata_workload: (f) =>
    `one operation = report metadata --where ${f.list('selectiveTerms').join(',')} (${f.count('selectivePackages')} packages, ${metadataShare(f, 'selectivePackages')}) then --where ${f.list('fragileTerms').join(',')} (${f.count('fragilePackages')}, ${metadataShare(f, 'fragilePackages')}); the "without" arm drops the GIN index`,
  selective_filter_p50: (f) =>
    `selective filter: p50 ${f.ms('withoutMs')} without → ${f.ms('withMs')} with (${f.times('ratio')})`,
  fragile_filter_p50: (f) => `fragile=true: p50 ${f.ms('withoutMs')} without → ${f.ms('withMs')} with (${f.times('ratio')})`,
  metadata_index_plans: (f) =>
    `${f.text('gin')}: ${f.bytes('ginBytes')}, ${f.flag('ginUsed') ? 'used' : 'NOT used'} by the plans with it; ${f.text('fragile')}: ${f.bytes('fragileBytes')}, ${f.flag('fragileUsed') ? 'used' : 'NOT used'}`,
  metadata_counts_all_packages: () =>
    'each report also needs the number of all packages (for the share): it comes from the status rollup, which no index changes',
  facilities_workload: (f) => `report facilities --day ${f.text('day')} --limit ${f.text('limit')} (runFacilitiesReport)`,
  brin_sizes: (f) =>
    `sizes (pg_relation_size): BRIN ${f.bytes('brinBytes')}, B-tree ${f.bytes('btreeBytes')} (covering: INCLUDE location_id, status, package_id); BRIN built in ${f.seconds('buildMs')}`,
  time_correlation: (f) => {
    const correlation = f.number('correlation');
    return `physical correlation of event_timestamp (pg_stats): ${Number.isFinite(correlation) ? correlation.toFixed(3) : 'unknown (not analyzed)'}; BRIN only works when rows arrive in time order`;
  },
  brin_plans: (f) => `plan with BRIN ${used(f.flag('brinUsed'))}; the B-tree's plan ${used(f.flag('btreeUsed'))}`,
  cache_workload: (f) =>
    `workload: ${f.percent('hotShare')} of lookups over the ${f.count('hotPackages')} most recently created packages (5%), ${percent(1 - f.number('hotShare'))} over ${f.count('uniformPackages')} sampled uniformly from all ${f.count('packages')}; the same sequence in both arms`,
  cache_hit_ratio: (f) =>
    `hit ratio: ${f.percent('hitRatio')} of ${f.count('measured')} measured lookups (cache started empty at the warm-up, ${f.seconds('warmupMs')} before); the TTL never expired within the run`,
  cache_model_check: (f) =>
    `model check: for this run a Poisson TTL-cache model predicts ${f.percent('predictedHitRatio')} hits vs ${f.percent('hitRatio')} observed`,
  cache_latencies: (f) =>
    `cache hit p50 ${f.ms('hitMs')} (mean ${f.ms('hitMeanMs')}), miss (Redis miss + database + fill) p50 ${f.ms('missMs')} (mean ${f.ms('missMeanMs')}), database read p50 ${f.ms('databaseMs')} (mean ${f.ms('databaseMeanMs')}); cached answer ≈${f.bytes('entryBytes')}`,
  cache_steady_state: (f) =>
    `steady state at TTL ${f.number('ttlMs') / 1000} s (model, at ${f.count('lookupsPerSecond')} lookups/s, the hot 5% of ${f.count('packages')} packages): ≈${f.percent('steadyHitRatio')} hits overall, ${f.percent('hotHitRatio')} on the hot set, ≈${f.count('liveKeys')} keys (${f.bytes('liveBytes')}); at 10 s ≈${f.percent('hitRatioAt10s')}, at 600 s ≈${f.percent('hitRatioAt600s')}; 90% on the hot set needs ~${f.seconds('hot90TtlMs')} (≈${f.bytes('hot90Bytes')})`,
  cache_rate_scaling: (f) =>
    `rates scale: the TTL for a given hit ratio is inversely proportional to the lookup rate (90% on the hot set needs TTL ≈ 9 × hot keys / (${f.text('hotShare')} × lookups/s))`,
  documents_workload: (f) =>
    `findRawScans(trackingNumber) over ${f.count('trackingNumbers')} tracking numbers present in both stores (sampled from MongoDB)`,
  document_counts: (f) =>
    `documents: ${f.count('postgres')} in doc_raw_scans, ${f.count('mongodb')} in MongoDB — unequal sizes make the comparison less like-for-like`,
  documents_plan: () =>
    'the PostgreSQL plan is of the SQL the pg document store issues (knex-built, unprepared); MongoDB has no plan here',
  partition_sample: (f) =>
    `${f.count('rows')} events copied (every package with package_id % ${f.text('every')} = 0, whole timelines, ${f.count('months')} months); the same rows and indexes in both (${f.list('indexes').join(', ')}), CHECK constraints included, foreign keys not`,
  partition_load: (f) =>
    `load (INSERT … SELECT from an unlogged copy, indexes in place; twice each, ABBA order, mean): one table ${f.seconds('singleMs')} (${loadRate(f, 'rows', 'singleMs')} rows/s; runs ${f.numbers('singleRunsMs').map(seconds).join(', ')}), partitioned ${f.seconds('partedMs')} (${loadRate(f, 'rows', 'partedMs')} rows/s; runs ${f.numbers('partedRunsMs').map(seconds).join(', ')}): ${f.times('ratio')}`,
  partition_queries: (f) =>
    `one operation = scans per facility on ${f.text('day')} (the first query of report facilities; ${f.count('facilities')} facilities) then exceptions of the last 7 days (report exceptions' query; ${f.count('exceptions')} events), both on the copy; ${f.flag('sameRows') ? 'both tables returned the same rows' : 'the tables returned DIFFERENT row counts'}`,
  partition_p50: (f) =>
    `day query p50 ${f.ms('daySingleMs')} one table → ${f.ms('dayPartedMs')} partitioned (${f.times('dayRatio')}); 7-day exceptions ${f.ms('weekSingleMs')} → ${f.ms('weekPartedMs')} (${f.times('weekRatio')})`,
  partition_sizes: (f) => `size with indexes: one table ${f.bytes('singleBytes')}, partitions ${f.bytes('partedBytes')}`,
  partition_unique_keys: (f) =>
    `unique indexes (${f.list('uniques').join(', ') || 'none'}) must include event_timestamp on the partitioned table: uniqueness of event_id and of the scan idempotency key would only hold per timestamp`,
};

const findingSentences: Record<string, (f: Figures) => string> = {
  /** Runs stored before findings existed carry their sentences as text. */
  text: (f) => f.text('text'),
  ...isolationSentences,
  ...skipSentences,
  ...verdictSentences,
  ...noteSentences,
};

/** Every finding code that has a sentence. */
export const findingCodes: readonly string[] = Object.keys(findingSentences);

/** A finding as a sentence; a code without one (a newer run read by an older shiptrack) shows its figures. */
export function renderFinding(finding: Finding): string {
  const sentence = Object.hasOwn(findingSentences, finding.code) ? findingSentences[finding.code] : undefined;
  if (sentence !== undefined) return sentence(readFigures(finding.figures ?? {}));
  const figures = Object.entries(finding.figures ?? {}).map(([key, value]) => `${key} ${JSON.stringify(value)}`);
  return figures.length === 0 ? finding.code : `${finding.code} (${figures.join(', ')})`;
}

/** An experiment's findings, also for runs stored before findings existed (sentences as strings). */
function findingsOf(e: ExperimentResult): ExperimentFindings {
  const stored = e as Partial<ExperimentResult> & {
    recommendation?: unknown;
    isolation?: unknown;
    notes?: unknown;
    skipped?: unknown;
  };
  if (stored.findings !== undefined) return stored.findings;
  const text = (value: unknown): Finding => ({ code: 'text', figures: { text: typeof value === 'string' ? value : '' } });
  return {
    isolation: text(stored.isolation),
    verdict: text(stored.recommendation),
    notes: Array.isArray(stored.notes) ? stored.notes.map(text) : [],
    ...(typeof stored.skipped === 'string' ? { skipped: text(stored.skipped) } : {}),
  };
}

/** The sentences of an experiment's findings. */
export interface ExperimentSentences {
  recommendation: string;
  isolation: string;
  notes: string[];
  /** Why it was not measured, when it was skipped. */
  skipped?: string;
}

export function experimentSentences(e: ExperimentResult): ExperimentSentences {
  const findings = findingsOf(e);
  const skipped = findings.skipped === undefined ? undefined : renderFinding(findings.skipped);
  const recommendation = renderFinding(findings.verdict);
  return {
    recommendation:
      findings.verdict.code === 'not_measured' && skipped !== undefined ? `${recommendation}: ${skipped}` : recommendation,
    isolation: renderFinding(findings.isolation),
    notes: findings.notes.map(renderFinding),
    ...(skipped === undefined ? {} : { skipped }),
  };
}

export type ExperimentWithSentences = ExperimentResult & ExperimentSentences;

/**
 * The run for JSON output: every experiment keeps its findings (codes and figures) and gains
 * their sentences beside them (`recommendation`, `isolation`, `notes`, `skipped`), as the text
 * and Markdown reports write them. Runs stored before findings existed come back with both too.
 */
export function withExperimentSentences(
  run: BenchmarkRunResult,
): Omit<BenchmarkRunResult, 'experiments'> & { experiments: ExperimentWithSentences[] } {
  return {
    ...run,
    experiments: run.experiments.map((e) => ({ ...e, findings: findingsOf(e), ...experimentSentences(e) })),
  };
}

const isSkipped = (e: ExperimentResult): boolean => findingsOf(e).skipped !== undefined;

// ---------------------------------------------------------------------------------------------
// Table columns shared by the terminal and the Markdown

interface BenchColumn<Row> {
  header: string;
  value: (row: Row) => string;
  numeric?: boolean;
  /** Ready-made Markdown for the cell, when it needs more than escaped text. */
  markdown?: (row: Row) => string;
  paint?: (row: Row, style: Style, text: string) => string;
  /** On a narrow terminal, columns with higher numbers give way first (1: always shown). */
  priority?: number;
}

const latencyColumns = (prefix: string): BenchColumn<{ summary: LatencySummary }>[] => [
  { header: `${prefix}p50 ms`, value: (r) => formatLatency(r.summary.p50), numeric: true },
  { header: `${prefix}p90 ms`, value: (r) => formatLatency(r.summary.p90), numeric: true },
  { header: `${prefix}p99 ms`, value: (r) => formatLatency(r.summary.p99), numeric: true },
];

const scenarioColumns: BenchColumn<ScenarioResult>[] = [
  { header: 'scenario', value: (s) => s.scenario },
  { header: 'concurrency', value: (s) => String(s.concurrency), numeric: true },
  { header: 'ops', value: (s) => formatCell('integer', s.summary.count), numeric: true, priority: 3 },
  { header: 'throughput/s', value: (s) => formatThroughput(s.summary.throughput), numeric: true, priority: 2 },
  { header: 'p50 ms', value: (s) => formatLatency(s.summary.p50), numeric: true },
  { header: 'round p50s ms', value: roundRange, numeric: true },
  { header: 'p90 ms', value: (s) => formatLatency(s.summary.p90), numeric: true, priority: 3 },
  { header: 'p99 ms', value: (s) => formatLatency(s.summary.p99), numeric: true, priority: 2 },
  { header: 'p99.9 ms', value: (s) => formatLatency(s.summary.p999), numeric: true, priority: 4 },
  { header: 'max ms', value: (s) => formatLatency(s.summary.max), numeric: true, priority: 4 },
  {
    header: 'errors',
    value: (s) => formatCell('integer', s.summary.errors),
    numeric: true,
    markdown: (s) => (s.summary.errors > 0 ? `**${formatCell('integer', s.summary.errors)}**` : '0'),
    paint: (s, style, text) => (s.summary.errors > 0 ? style.bad(text) : text),
  },
];

/** Closed-loop and open-loop percentiles side by side, and what the open loop could not start on time. */
const openLoopColumns: BenchColumn<OpenLoopRow>[] = [
  { header: 'scenario', value: (s) => s.scenario },
  { header: 'concurrency', value: (s) => String(s.concurrency), numeric: true },
  { header: 'scheduled', value: (s) => formatCell('integer', s.openLoop.scheduled), numeric: true, priority: 4 },
  { header: 'throughput/s', value: (s) => formatThroughput(s.openLoop.summary.throughput), numeric: true, priority: 4 },
  { header: 'closed p50 ms', value: (s) => formatLatency(s.summary.p50), numeric: true, priority: 3 },
  { header: 'open p50 ms', value: (s) => formatLatency(s.openLoop.summary.p50), numeric: true, priority: 2 },
  { header: 'closed p99 ms', value: (s) => formatLatency(s.summary.p99), numeric: true },
  { header: 'open p99 ms', value: (s) => formatLatency(s.openLoop.summary.p99), numeric: true },
  { header: 'closed p99.9 ms', value: (s) => formatLatency(s.summary.p999), numeric: true, priority: 3 },
  { header: 'open p99.9 ms', value: (s) => formatLatency(s.openLoop.summary.p999), numeric: true, priority: 2 },
  { header: 'open max ms', value: (s) => formatLatency(s.openLoop.summary.max), numeric: true, priority: 4 },
  {
    header: 'late',
    value: (s) => formatCell('integer', s.openLoop.late),
    numeric: true,
    markdown: (s) => (s.openLoop.late > 0 ? `**${formatCell('integer', s.openLoop.late)}**` : '0'),
    paint: (s, style, text) => (s.openLoop.late > 0 ? style.warn(text) : text),
  },
  {
    header: 'dropped',
    value: (s) => formatCell('integer', s.openLoop.dropped),
    numeric: true,
    markdown: (s) => (s.openLoop.dropped > 0 ? `**${formatCell('integer', s.openLoop.dropped)}**` : '0'),
    paint: (s, style, text) => (s.openLoop.dropped > 0 ? style.bad(text) : text),
  },
];

/** Failed open-loop operations, one line per scenario and level that had any. */
function openLoopErrors(rows: readonly OpenLoopRow[]): string[] {
  return rows
    .filter((s) => s.openLoop.summary.errors > 0)
    .map((s) => {
      const first = s.openLoop.summary.firstError === undefined ? '' : `; first: ${s.openLoop.summary.firstError}`;
      return `${seriesLabel(s)} open loop: ${formatCell('integer', s.openLoop.summary.errors)} errors${first}`;
    });
}

function speedupPaint(factor: number, style: Style, text: string): string {
  if (!Number.isFinite(factor)) return text;
  if (factor >= 1.2) return style.ok(text);
  if (factor < 0.9) return style.bad(text);
  return text;
}

const skippedText = (e: ExperimentResult): string => `skipped: ${experimentSentences(e).skipped ?? ''}`;

const experimentTextColumns: BenchColumn<ExperimentResult>[] = [
  { header: 'experiment', value: (e) => e.experiment },
  { header: 'before', value: (e) => (isSkipped(e) ? wrap(skippedText(e), 40) : wrap(e.before.label, 28)) },
  { header: 'p50 ms', value: (e) => (isSkipped(e) ? '—' : formatLatency(e.before.summary.p50)), numeric: true },
  { header: 'after', value: (e) => (isSkipped(e) ? '' : wrap(e.after.label, 28)) },
  { header: 'p50 ms', value: (e) => (isSkipped(e) ? '—' : formatLatency(e.after.summary.p50)), numeric: true },
  {
    header: 'speedup',
    value: (e) => (isSkipped(e) ? '—' : formatSpeedup(e.speedup)),
    numeric: true,
    paint: (e, style, text) => speedupPaint(e.speedup, style, text),
  },
  { header: 'recommendation', value: (e) => (isSkipped(e) ? '' : wrap(experimentSentences(e).recommendation, 48)) },
];

const experimentMarkdownColumns: BenchColumn<ExperimentResult>[] = [
  { header: 'experiment', value: (e) => e.experiment, markdown: (e) => `[${mdText(e.experiment)}](#${anchorOf(e.experiment)})` },
  { header: 'before', value: (e) => (isSkipped(e) ? skippedText(e) : e.before.label) },
  { header: 'before p50 ms', value: (e) => (isSkipped(e) ? '—' : formatLatency(e.before.summary.p50)), numeric: true },
  { header: 'after', value: (e) => (isSkipped(e) ? '' : e.after.label) },
  { header: 'after p50 ms', value: (e) => (isSkipped(e) ? '—' : formatLatency(e.after.summary.p50)), numeric: true },
  { header: 'speedup', value: (e) => (isSkipped(e) ? '—' : formatSpeedup(e.speedup)), numeric: true },
  { header: 'recommendation', value: (e) => (isSkipped(e) ? '' : experimentSentences(e).recommendation) },
];

/** The verdict as a table cell; the terminal shouts a regression. */
const verdictLabels: Record<ComparisonVerdict, string> = {
  regression: 'regression',
  faster: 'faster',
  ok: 'ok',
  not_significant: 'not significant',
  too_few_rounds: 'too few rounds',
  no_data: 'no data',
};

function paintVerdict(verdict: ComparisonVerdict, style: Style, text: string): string {
  if (verdict === 'regression') return style.bad(text.toUpperCase());
  if (verdict === 'faster') return style.ok(text);
  return verdict === 'too_few_rounds' || verdict === 'no_data' ? style.dim(text) : text;
}

const comparisonHead: BenchColumn<ComparisonRow>[] = [
  { header: 'scenario', value: (r) => r.scenario },
  { header: 'concurrency', value: (r) => String(r.concurrency), numeric: true },
  { header: 'baseline p50 ms', value: (r) => formatLatency(r.baselineP50), numeric: true, priority: 3 },
  { header: 'p50 ms', value: (r) => formatLatency(r.currentP50), numeric: true, priority: 3 },
  {
    header: 'p50 change',
    value: (r) => formatChange(r.changePct),
    numeric: true,
    paint: (r, style, text) => (r.regression ? style.bad(text) : text),
  },
];

const roundsColumn: BenchColumn<ComparisonRow> = {
  header: 'rounds',
  value: (r) => `${r.baselineRounds.length} → ${r.currentRounds.length}`,
  numeric: true,
  priority: 2,
};
const pColumn: BenchColumn<ComparisonRow> = { header: 'p', value: (r) => formatP(r.test?.pValue ?? Number.NaN), numeric: true };
const p99ChangeColumn: BenchColumn<ComparisonRow> = {
  header: 'p99 change',
  value: (r) => formatChange(r.p99ChangePct),
  numeric: true,
  priority: 3,
};
const verdictColumn: BenchColumn<ComparisonRow> = {
  header: 'verdict',
  value: (r) => verdictLabels[r.verdict],
  markdown: (r) => (r.regression ? '**regression**' : verdictLabels[r.verdict]),
  paint: (r, style, text) => paintVerdict(r.verdict, style, text),
};

/** For a terminal: the medians, the test and the verdict; the absolute p99s are in the run's table. */
const comparisonTextColumns: BenchColumn<ComparisonRow>[] = [
  ...comparisonHead,
  roundsColumn,
  pColumn,
  p99ChangeColumn,
  verdictColumn,
];

const comparisonMarkdownColumns: BenchColumn<ComparisonRow>[] = [
  ...comparisonHead,
  {
    header: 'ratio, 95 % interval',
    value: (r) => (r.ratioInterval === null ? '—' : `${formatRatio(r.ratioInterval.low)}–${formatRatio(r.ratioInterval.high)}`),
    numeric: true,
  },
  pColumn,
  roundsColumn,
  { header: 'baseline p99 ms', value: (r) => formatLatency(r.baselineP99), numeric: true },
  { header: 'p99 ms', value: (r) => formatLatency(r.currentP99), numeric: true },
  p99ChangeColumn,
  verdictColumn,
];

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The gate's rule in words: shared by the terminal and the Markdown. */
function gateRule(c: Comparison): string {
  return (
    `a regression is a median of the round p50s more than ${c.thresholdPct} % slower than the baseline's, ` +
    `and significantly so: a two-sided Mann-Whitney U test of the round p50s with p < ${c.significanceLevel}`
  );
}

/**
 * Why rows were not judged: their round counts cannot reach the significance level, or the
 * baseline was stored before rounds (one p50 per scenario: a single sample).
 */
function unjudgedNotes(c: Comparison): string[] {
  const notes: string[] = [];
  if (c.rows.some((r) => r.baselineBeforeRounds)) {
    notes.push(
      `the baseline ${c.baselineId} was stored before rounds: each of its p50s is a single sample, so this comparison is weak`,
    );
  }
  const groups = new Map<string, ComparisonRow[]>();
  for (const r of c.rows.filter((row) => row.verdict === 'too_few_rounds')) {
    const key = `${r.baselineRounds.length}:${r.currentRounds.length}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const rows of groups.values()) {
    const [first] = rows;
    if (first === undefined) continue;
    notes.push(
      `not enough rounds to judge ${rows.map((r) => `${r.scenario} ×${r.concurrency}`).join(', ')}: ` +
        `${plural(first.baselineRounds.length, 'round')} in the baseline against ${first.currentRounds.length} here ` +
        `can at best give p = ${formatP(first.smallestPValue)}, not below ${c.significanceLevel} ` +
        (first.baselineBeforeRounds
          ? '(compare with a baseline measured in 5 rounds or more)'
          : '(measure both runs with --rounds 5 or more)'),
    );
  }
  return notes;
}

function verdictLine(c: Comparison): string {
  const unjudged = c.unjudged > 0 ? ` (${c.unjudged} of ${c.rows.length} not judged: too few rounds)` : '';
  return c.regressions === 0
    ? `no regressions${unjudged}`
    : `${plural(c.regressions, 'regression')} (p50 > +${c.thresholdPct} %, p < ${c.significanceLevel})${unjudged}`;
}

function textTable<Row>(columns: readonly BenchColumn<Row>[], rows: readonly Row[], style: Style): string {
  const cells: Column<Row>[] = columns.map((c) => ({
    header: c.header,
    align: c.numeric === true ? 'right' : 'left',
    value: (row) => (c.paint === undefined ? c.value(row) : c.paint(row, style, c.value(row))),
    priority: c.priority,
  }));
  return renderTable(cells, rows, style);
}

// ---------------------------------------------------------------------------------------------
// Markdown text

/** Text for Markdown prose and table cells: pipes, HTML and link/emphasis characters escaped. */
function mdText(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/([*`[\]])/g, '\\$1')
    .replace(/\r?\n/g, ' ');
}

/** An inline code span (identifiers such as table and setting names). */
function mdCode(text: string): string {
  const ticks = '`'.repeat(Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length)) + 1);
  const inner = text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  return ticks.length > 1 || inner.startsWith(' ') ? `${ticks} ${inner} ${ticks}` : `${ticks}${inner}${ticks}`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

function markdownTable<Row>(columns: readonly BenchColumn<Row>[], rows: readonly Row[]): string[] {
  return [
    `| ${columns.map((c) => mdText(c.header)).join(' | ')} |`,
    `|${columns.map((c) => (c.numeric === true ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map(
      (row) => `| ${columns.map((c) => (c.markdown === undefined ? mdText(c.value(row)) : c.markdown(row))).join(' | ')} |`,
    ),
  ];
}

function fenced(text: string, language = 'text'): string[] {
  const longest = Math.max(0, ...[...text.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}${language}`, text.replace(/\s+$/, ''), fence];
}

/** A relative link target for a file beside the report (spaces and parentheses encoded). */
function linkTarget(name: string): string {
  return encodeURIComponent(name).replace(/[()!'*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// ---------------------------------------------------------------------------------------------
// SVG

const palette = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#76b7b2', '#9c755f', '#ff9da7', '#edc948', '#17becf'];
const dashes = ['', '8 4', '2 3', '12 4 2 4'];
const fontFamily = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const ink = '#222222';
const gridInk = '#dddddd';
const muted = '#666666';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function px(value: number): string {
  return String(Number(value.toFixed(1)));
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(fontFamily)}" font-size="12" fill="${ink}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${px(x)}" y="${px(y)}"${attributes === '' ? '' : ` ${attributes}`}>${escapeXml(content)}</text>`;
}

interface LogAxis {
  lo: number;
  hi: number;
  ticks: number[];
}

/** Decades around the positive values; 2 and 5 in between when the range is narrow. */
function logAxis(values: readonly number[]): LogAxis {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = positive.length === 0 ? -1 : Math.floor(Math.log10(Math.min(...positive)));
  let hi = positive.length === 0 ? 0 : Math.ceil(Math.log10(Math.max(...positive)));
  if (hi <= lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d += 1) {
    const decade = Number((10 ** d).toPrecision(6));
    ticks.push(decade);
    if (hi - lo <= 2 && d < hi) ticks.push(Number((2 * decade).toPrecision(6)), Number((5 * decade).toPrecision(6)));
  }
  return { lo, hi, ticks };
}

function tickLabel(ms: number): string {
  return formatNumber(ms, 6);
}

interface PlotSeries {
  label: string;
  color: string;
  dash: string;
  /** Below 1 draws a faint line (the closed loop beside the open loop). */
  opacity?: number;
  /** [percentile, ms] */
  points: [number, number][];
}

const nineTicks: [number, string][] = [
  [0, '0'],
  [1, '90'],
  [2, '99'],
  [3, '99.9'],
  [4, '99.99'],
  [5, 'max'],
];
const maxNines = 5;

/** The x of an HDR percentile plot: how many nines (90 → 1, 99 → 2, …); the maximum sits at the right edge. */
function ninesOf(percentile: number): number {
  if (percentile >= 100) return maxNines;
  return Math.min(-Math.log10(1 - percentile / 100), maxNines - 0.4);
}

function strokeAttributes(s: { color: string; dash: string; opacity?: number }): string {
  const opacity = s.opacity === undefined || s.opacity >= 1 ? '' : ` stroke-opacity="${s.opacity}"`;
  return `stroke="${s.color}" stroke-width="2"${s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`}${opacity}`;
}

function renderPercentilePlot(title: string, series: readonly PlotSeries[]): string {
  const width = 800;
  const longest = Math.max(8, ...series.map((s) => s.label.length + (s.points.length === 0 ? 10 : 0)));
  const legendWidth = Math.min(260, 40 + longest * 7);
  const height = Math.max(400, 60 + series.length * 18 + 20);
  const left = 72;
  const right = width - legendWidth - 16;
  const top = 44;
  const bottom = height - 52;
  const axis = logAxis(series.flatMap((s) => s.points.map(([, ms]) => ms)));
  const xOf = (percentile: number): number => left + (ninesOf(percentile) / maxNines) * (right - left);
  const yOf = (ms: number): number => bottom - ((Math.log10(ms) - axis.lo) / (axis.hi - axis.lo)) * (bottom - top);
  const body: string[] = [];
  body.push(`<g stroke="${gridInk}" stroke-width="1">`);
  for (const [nines] of nineTicks) {
    const x = left + (nines / maxNines) * (right - left);
    body.push(`<line x1="${px(x)}" y1="${top}" x2="${px(x)}" y2="${bottom}"/>`);
  }
  for (const tick of axis.ticks) body.push(`<line x1="${left}" y1="${px(yOf(tick))}" x2="${px(right)}" y2="${px(yOf(tick))}"/>`);
  body.push('</g>');
  body.push(`<rect x="${left}" y="${top}" width="${px(right - left)}" height="${bottom - top}" fill="none" stroke="${muted}"/>`);
  for (const [nines, label] of nineTicks) {
    body.push(text(left + (nines / maxNines) * (right - left), bottom + 16, label, 'text-anchor="middle"'));
  }
  for (const tick of axis.ticks) body.push(text(left - 6, yOf(tick) + 4, tickLabel(tick), 'text-anchor="end"'));
  body.push(text((left + right) / 2, bottom + 38, 'percentile (log scale of nines: 90, 99, 99.9, …)', 'text-anchor="middle"'));
  body.push(
    text(
      18,
      (top + bottom) / 2,
      'latency, ms (log scale)',
      `text-anchor="middle" transform="rotate(-90 18 ${px((top + bottom) / 2)})"`,
    ),
  );
  for (const s of series) {
    const points = s.points.filter(([p, ms]) => Number.isFinite(p) && Number.isFinite(ms) && ms > 0);
    if (points.length === 0) continue;
    const coordinates = points.map(([p, ms]) => `${px(xOf(p))},${px(yOf(ms))}`).join(' ');
    body.push(
      `<polyline fill="none" ${strokeAttributes(s)} stroke-linejoin="round" points="${coordinates}"><title>${escapeXml(s.label)}</title></polyline>`,
    );
  }
  const legendX = right + 16;
  series.forEach((s, i) => {
    const y = top + 10 + i * 18;
    body.push(`<line x1="${legendX}" y1="${y}" x2="${legendX + 24}" y2="${y}" ${strokeAttributes(s)}/>`);
    body.push(text(legendX + 30, y + 4, s.points.length === 0 ? `${s.label} (no data)` : s.label));
  });
  return svgDocument(width, height, title, body);
}

function renderExperimentChart(title: string, experiments: readonly ExperimentResult[]): string {
  const width = 800;
  const labelRight = 240;
  const left = 250;
  const right = width - 110;
  const top = 64;
  const groupHeight = 62;
  const height = Math.max(200, top + experiments.length * groupHeight + 44);
  const bottom = height - 44;
  const beforeColor = palette[1] ?? ink;
  const afterColor = palette[0] ?? ink;
  const axis = logAxis(experiments.flatMap((e) => [e.before.summary.p50, e.after.summary.p50]));
  const xOf = (ms: number): number => left + ((Math.log10(ms) - axis.lo) / (axis.hi - axis.lo)) * (right - left);
  const body: string[] = [
    `<rect x="${left}" y="38" width="12" height="12" fill="${beforeColor}"/>`,
    text(left + 18, 48, 'before'),
    `<rect x="${left + 80}" y="38" width="12" height="12" fill="${afterColor}"/>`,
    text(left + 98, 48, 'after'),
    text(right, 48, 'p50 latency, ms (log scale)', `text-anchor="end" fill="${muted}"`),
    `<g stroke="${gridInk}" stroke-width="1">`,
    ...axis.ticks.map((t) => `<line x1="${px(xOf(t))}" y1="${top}" x2="${px(xOf(t))}" y2="${bottom}"/>`),
    '</g>',
    ...axis.ticks.map((t) => text(xOf(t), bottom + 16, tickLabel(t), 'text-anchor="middle"')),
  ];
  experiments.forEach((e, i) => {
    const y = top + i * groupHeight;
    const speedup = Number.isFinite(e.speedup) && e.speedup > 0 ? ` · speedup ${formatSpeedup(e.speedup)}` : '';
    body.push(text(16, y + 14, `${e.experiment}${speedup}`, 'font-weight="bold"'));
    const arms: [string, number, string, number][] = [
      [e.before.label, e.before.summary.p50, beforeColor, y + 22],
      [e.after.label, e.after.summary.p50, afterColor, y + 40],
    ];
    for (const [label, p50, color, barY] of arms) {
      body.push(text(labelRight, barY + 11, truncate(label, 34), 'text-anchor="end"'));
      if (!(Number.isFinite(p50) && p50 > 0)) {
        body.push(text(left + 4, barY + 11, 'no data', `fill="${muted}"`));
        continue;
      }
      const end = xOf(p50);
      body.push(
        `<rect x="${left}" y="${barY}" width="${px(Math.max(1, end - left))}" height="14" fill="${color}"><title>${escapeXml(`${label}: ${formatLatency(p50)} ms`)}</title></rect>`,
      );
      body.push(text(end + 4, barY + 11, `${formatLatency(p50)} ms`));
    }
  });
  body.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="${muted}"/>`);
  return svgDocument(width, height, title, body);
}

interface PlotGroup<S extends ScenarioResult> {
  suffix: string;
  title: string;
  scenarios: S[];
}

const maxSeriesPerPlot = 8;

/** One plot, or, when there are many lines, the fast paths and the reports (and seeding) apart. */
function plotGroups<S extends ScenarioResult>(scenarios: readonly S[], most = maxSeriesPerPlot): PlotGroup<S>[] {
  const all = { suffix: '', title: 'Latency by percentile', scenarios: [...scenarios] };
  if (scenarios.length <= most) return [all];
  const isSlow = (s: S): boolean => /^(report|seed)/.test(s.scenario);
  const fast = scenarios.filter((s) => !isSlow(s));
  const slow = scenarios.filter(isSlow);
  if (fast.length === 0 || slow.length === 0) return [all];
  return [
    { suffix: '-track-scan', title: 'Latency by percentile: track and scan', scenarios: fast },
    { suffix: '-reports', title: 'Latency by percentile: reports and seeding', scenarios: slow },
  ];
}

/** Each scenario and level twice: its closed loop faint, its open loop in full. */
function openLoopSeries(rows: readonly OpenLoopRow[], rate: string): PlotSeries[] {
  const closed = plotSeries(rows);
  return rows.flatMap((row, i) => {
    const line = closed[i] as PlotSeries;
    return [
      { ...line, label: `${line.label} closed`, opacity: 0.35 },
      { ...line, label: `${line.label} open ${rate}`, points: row.openLoop.summary.distribution ?? [] },
    ];
  });
}

function plotSeries(scenarios: readonly ScenarioResult[]): PlotSeries[] {
  const names = [...new Set(scenarios.map((s) => s.scenario))];
  const levels = [...new Set(scenarios.map((s) => s.concurrency))].sort((a, b) => a - b);
  return scenarios.map((s) => ({
    label: seriesLabel(s),
    color: palette[names.indexOf(s.scenario) % palette.length] ?? ink,
    dash: dashes[levels.indexOf(s.concurrency) % dashes.length] ?? '',
    points: s.summary.distribution,
  }));
}

// ---------------------------------------------------------------------------------------------
// Terminal

/** The run for a terminal: header, scenario table, experiment table, harness overhead. */
export function renderBenchmarkText(run: BenchmarkRunResult, style: Style): string {
  const env = run.environment;
  // Prose wraps at the terminal's width, a dim line at a time.
  const prose = (text: string, paint: (t: string) => string = style.dim): string[] =>
    fitProse(text, style, '  ').map((line) => paint(line));
  const out: string[] = [
    ...prose(`Benchmark ${run.id} · suite ${run.suite}`, style.bold),
    ...prose(
      `node ${env.node} · PostgreSQL ${env.postgres} (${env.databaseMode}) · ${env.cpuCount} CPUs · data: ${dataRows(run)}`,
    ),
  ];
  if (run.scenarios.length > 0) out.push('', textTable(scenarioColumns, run.scenarios, style));
  for (const s of run.scenarios) {
    if (s.summary.errors > 0) {
      const first = s.summary.firstError === undefined ? '' : `; first: ${s.summary.firstError}`;
      out.push(...prose(`${seriesLabel(s)}: ${formatCell('integer', s.summary.errors)} errors${first}`, style.bad));
    }
  }
  for (const skipped of skippedScenarios(run)) out.push(...prose(`skipped ${skipped.scenario}: ${skipped.reason}`));
  const rounds = numberParameter(run, 'rounds');
  if (rounds !== undefined && run.scenarios.length > 0) {
    out.push(
      ...prose(`${plural(rounds, 'round')} per scenario, interleaved; p50 of all rounds, and the lowest–highest round p50`),
    );
  }
  out.push(...openLoopText(run, style));
  if (run.experiments.length > 0) out.push('', textTable(experimentTextColumns, run.experiments, style));
  out.push('', ...prose(overheadLine(run)));
  return out.join('\n');
}

/** The open-loop table for a terminal, with what its columns mean; nothing for a run without --rate. */
function openLoopText(run: BenchmarkRunResult, style: Style): string[] {
  const rows = openLoopRows(run);
  if (rows.length === 0) return [];
  const { rate, slack, closedOnly } = openLoopFacts(run, rows);
  const prose = (text: string, paint: (t: string) => string = style.dim): string[] =>
    fitProse(text, style, '  ').map((line) => paint(line));
  return [
    '',
    ...prose(`Open loop at ${rate}, beside the closed loop`, style.bold),
    ...prose(
      `latency from each operation's scheduled start (coordinated omission corrected); concurrency caps the operations in flight, ` +
        `and one due while all are busy waits for a slot, charged its wait. late: started more than ${slack} after its time; ` +
        `dropped: still waiting ${slack} after the schedule ended, never run`,
    ),
    textTable(openLoopColumns, rows, style),
    ...openLoopErrors(rows).flatMap((line) => prose(line, style.bad)),
    ...(closedOnly.length === 0 ? [] : prose(`closed loop only (a fixed count of operations): ${closedOnly.join(', ')}`)),
  ];
}

/** A comparison for a terminal: one row per matched scenario, regressions marked, and a verdict. */
export function renderComparisonText(c: Comparison, style: Style): string {
  const out: string[] = [
    style.bold(`Compared with run ${c.baselineId} (${formatCell('timestamp', c.baselineStartedAt)})`),
    style.dim(wrap(`${gateRule(c)}; p99 is reported, not judged`, 80)),
  ];
  if (c.rows.length === 0) out.push(style.dim('(no scenario ran in both runs)'));
  else out.push(textTable(comparisonTextColumns, c.rows, style));
  for (const note of unjudgedNotes(c)) out.push(style.warn(wrap(note, 80)));
  out.push(c.regressions === 0 ? style.ok(verdictLine(c)) : style.bad(verdictLine(c)));
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Markdown report

function honesty(run: BenchmarkRunResult): string {
  const env = run.environment;
  return [
    `Every figure in this report comes from this one run (${mdCode(run.id)}) on one machine:`,
    `${mdText(env.cpus)} (${env.cpuCount} logical CPUs), ${env.memoryGb} GB memory, ${mdText(env.platform)},`,
    `Node.js ${mdText(env.node)}, PostgreSQL ${mdText(env.postgres)} (${env.databaseMode}),`,
    `with ${mdText(dataRows(run))}.`,
    'Absolute times depend on that machine, its load, its disks and its data, and will differ elsewhere;',
    'the before/after ratios of the experiments are what carry over.',
    'Workers are closed-loop: each starts its next operation only when the previous one has finished,',
    'so the latencies are service times, with no coordinated-omission correction; under overload the',
    'tail is understated, not queued.',
    ...(openLoopRows(run).length === 0
      ? []
      : [
          `The open-loop measurement at ${openLoopFacts(run, openLoopRows(run)).rate} corrects for that: each latency runs from the operation's`,
          'scheduled start, so a stall is charged to every operation that was due during it.',
        ]),
    Number.isFinite(run.harnessOverheadUs)
      ? `The harness itself costs ${formatMicros(run.harnessOverheadUs)} µs per operation (a no-op scenario), included in every latency.`
      : 'The harness overhead was not measured.',
  ].join('\n');
}

function environmentTable(run: BenchmarkRunResult): string[] {
  const env = run.environment;
  const rows: [string, string][] = [
    ['shiptrack', mdText(env.shiptrack)],
    ['Node.js', mdText(env.node)],
    ['platform', mdText(env.platform)],
    ['CPU', `${mdText(env.cpus)} × ${env.cpuCount}`],
    ['memory', `${env.memoryGb} GB`],
    ['PostgreSQL', `${mdText(env.postgres)} (${env.databaseMode})`],
    ['Redis', env.redis === null ? 'not configured' : mdText(env.redis)],
    ['document store', mdText(env.documents)],
    ...Object.entries(env.data ?? {}).map(([table, rows]): [string, string] => [
      `rows in ${mdCode(table)}`,
      formatCell('integer', rows),
    ]),
    ...Object.entries(env.settings ?? {}).map(([name, value]): [string, string] => [mdCode(name), mdText(value)]),
  ];
  return ['| | |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
}

function method(run: BenchmarkRunResult): string[] {
  const warmupMs = numberParameter(run, 'warmupMs');
  const durationMs = numberParameter(run, 'durationMs');
  const count = numberParameter(run, 'count');
  const rounds = numberParameter(run, 'rounds');
  const levels = [...new Set(run.scenarios.map((s) => s.concurrency))].sort((a, b) => a - b);
  const each =
    count !== undefined
      ? `${formatCell('integer', count)} operations`
      : durationMs !== undefined
        ? formatDuration(durationMs)
        : 'as configured';
  const lines =
    rounds === undefined
      ? [
          `- Warm-up: ${warmupMs === undefined ? 'as configured' : formatDuration(warmupMs)} of unmeasured operations before each measurement.`,
          `- Measurement: ${each} per scenario and concurrency level (slow scenarios such as seeding run a fixed count).`,
        ]
      : [
          `- Warm-up: ${warmupMs === undefined ? 'as configured' : formatDuration(warmupMs)} of unmeasured operations before the first round of each scenario and concurrency level.`,
          `- Measurement: ${plural(rounds, 'round')} of ${each} per scenario and concurrency level (slow scenarios such as seeding run a fixed count per round),`,
          '  interleaved: round 1 of every scenario, then round 2 of every one, and so on, so that a slow drift of the',
          '  machine spreads over all of them. The tables give the p50 of all rounds together and, beside it, the',
          '  lowest and highest round p50; a comparison with a baseline judges on the round p50s.',
        ];
  lines.push(
    `- Concurrency: ${levels.length === 0 ? '—' : levels.join(', ')} closed-loop workers sharing one connection pool.`,
    '- Every operation’s latency goes into an HDR histogram (microsecond resolution, 3 significant digits);',
    '  the tables give p50, p90, p99, p99.9 and the maximum, and the plots the distribution at',
    '  0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99 and 100 %.',
    '- Throughput is completed operations per second of the measured phase; failed operations are',
    '  counted as errors and left out of the latencies.',
    '- Experiments measure their before and after arms the same way, one after the other, isolated as',
    '  each section describes; speedup is before p50 ÷ after p50.',
  );
  const open = openLoopRows(run);
  if (open.length > 0) {
    lines.push(
      `- Open loop: after the closed loop, each round measures the same ${count === undefined ? 'duration' : 'count'} again with operations scheduled at`,
      `  ${openLoopFacts(run, open).rate}, at most the concurrency level in flight; see [${openLoopHeading(run, open)}](#${anchorOf(openLoopHeading(run, open))}).`,
    );
  }
  return lines;
}

function experimentSection(e: ExperimentResult): string[] {
  const sentences = experimentSentences(e);
  const out: string[] = [`### ${mdText(e.experiment)}`, '', `**Question.** ${mdText(e.question)}`, ''];
  out.push(`**Isolation.** ${mdText(sentences.isolation)}`, '');
  if (sentences.skipped !== undefined) {
    out.push(`_Skipped: ${mdText(sentences.skipped)}_`, '');
    for (const note of sentences.notes) out.push(`- ${mdText(note)}`);
    if (sentences.notes.length > 0) out.push('');
    return out;
  }
  const arms = [
    { arm: 'before', ...e.before },
    { arm: 'after', ...e.after },
  ];
  const columns: BenchColumn<(typeof arms)[number]>[] = [
    { header: 'arm', value: (a) => a.arm },
    { header: 'variant', value: (a) => a.label },
    ...latencyColumns(''),
    { header: 'throughput/s', value: (a) => formatThroughput(a.summary.throughput), numeric: true },
    { header: 'ops', value: (a) => formatCell('integer', a.summary.count), numeric: true },
    { header: 'errors', value: (a) => formatCell('integer', a.summary.errors), numeric: true },
  ];
  out.push(...markdownTable(columns, arms), '');
  out.push(`**Speedup:** ${formatSpeedup(e.speedup)} (before p50 ÷ after p50; above 1 means the change is faster).`, '');
  out.push(`**Recommendation:** ${mdText(sentences.recommendation)}`, '');
  if (sentences.notes.length > 0) out.push('Notes:', '', ...sentences.notes.map((n) => `- ${mdText(n)}`), '');
  for (const a of arms) {
    if (a.summary.firstError !== undefined) out.push(`> ${a.arm}: first error: ${mdText(a.summary.firstError)}`, '');
    if (a.plan === undefined) continue;
    out.push(`<details><summary>plan ${a.arm}: ${escapeHtml(a.label)}</summary>`, '', ...fenced(a.plan), '', '</details>', '');
  }
  return out;
}

function comparisonSection(run: BenchmarkRunResult, c: Comparison): string[] {
  const out: string[] = [
    `## Compared with run ${mdText(c.baselineId)}`,
    '',
    `Baseline ${mdCode(c.baselineId)} started ${formatCell('timestamp', c.baselineStartedAt)}. Each scenario is compared on its`,
    'round p50s: the p50 columns give their medians, and a **regression** is a median more than',
    `${c.thresholdPct} % slower than the baseline's that is also significant: a two-sided Mann-Whitney U test of the`,
    `round p50s (exact for small samples, ties included) gives p < ${c.significanceLevel}. Round counts that cannot`,
    `reach that (3 against 3 gives at best p = 0.10) are not judged. The interval is a ${Math.round(c.interval.confidence * 100)} % bootstrap`,
    `interval of the ratio of the medians, current ÷ baseline (${formatCell('integer', c.interval.resamples)} seeded resamples): it shows the`,
    'size of the change; the test decides. The p99 change is reported but does not decide.',
    'Absolute times only compare when both runs used the same machine and data.',
    '',
  ];
  if (c.rows.length === 0) out.push('_No scenario ran in both runs._', '');
  else out.push(...markdownTable(comparisonMarkdownColumns, c.rows), '');
  for (const note of unjudgedNotes(c)) out.push(`_${mdText(note.charAt(0).toUpperCase() + note.slice(1))}._`, '');
  out.push(
    c.regressions === 0
      ? `No regressions${c.unjudged > 0 ? ` (${c.unjudged} of ${c.rows.length} not judged: too few rounds)` : ''}.`
      : `**${plural(c.regressions, 'regression')}** (p50 more than ${c.thresholdPct} % slower, p < ${c.significanceLevel}).`,
    '',
  );
  const matched = new Set(c.rows.map((r) => `${r.scenario}\u0000${r.concurrency}`));
  const unmatched = run.scenarios.filter((s) => !matched.has(`${s.scenario}\u0000${s.concurrency}`));
  if (unmatched.length > 0) {
    out.push(`Not in the baseline, so not compared: ${unmatched.map((s) => mdText(seriesLabel(s))).join(', ')}.`, '');
  }
  return out;
}

function openLoopHeading(run: BenchmarkRunResult, rows: readonly OpenLoopRow[]): string {
  return `Open loop at ${openLoopFacts(run, rows).rate}`;
}

/** The open-loop results: what they mean, the table beside the closed loop's, and the plot of both. */
function openLoopSection(
  run: BenchmarkRunResult,
  plotPrefix: string,
): { lines: string[]; files: { name: string; content: string }[] } {
  const rows = openLoopRows(run);
  if (rows.length === 0) return { lines: [], files: [] };
  const { rate, slack, closedOnly } = openLoopFacts(run, rows);
  const heading = openLoopHeading(run, rows);
  const lines = [
    `### ${mdText(heading)}`,
    '',
    `Each scenario and concurrency level was also measured open-loop, after the closed loop in each round: operations were`,
    `scheduled at ${rate} (a constant arrival rate, as wrk2 and k6's constant-arrival-rate executor do), and each latency`,
    "runs from the operation's **scheduled** start to its end, so a stall is charged to every operation that was due",
    'during it (coordinated omission corrected). The concurrency level caps the operations in flight: an operation due',
    'while all are busy waits for the first free slot, and that wait is in its latency. **Late**: started more than',
    `${slack} after its scheduled time. **Dropped**: still waiting ${slack} after the schedule ended; never run, and not in`,
    'the latencies. The closed-loop columns repeat the table above. The scheduler is a timer, so operations start up to',
    "about a millisecond late even on an idle machine (the noop scenario's open-loop percentiles show that floor).",
    '',
    ...markdownTable(openLoopColumns, rows),
    '',
  ];
  for (const error of openLoopErrors(rows)) lines.push(`> ${mdText(error)}`, '');
  if (closedOnly.length > 0) {
    lines.push(`Measured closed-loop only (a fixed count of operations): ${closedOnly.map(mdText).join(', ')}.`, '');
  }
  const files: { name: string; content: string }[] = [];
  // Two lines a scenario and level: the closed loop and the open loop.
  for (const group of plotGroups(rows, maxSeriesPerPlot / 2)) {
    const name = `${plotPrefix}-latency-open-loop${group.suffix}.svg`;
    const title = `${group.title}: closed loop (faint) and open loop at ${rate}`;
    files.push({ name, content: renderPercentilePlot(title, openLoopSeries(group.scenarios, rate)) });
    lines.push(`![${mdText(title)}](${linkTarget(name)})`, '');
  }
  return { lines, files };
}

/**
 * The Performance Tuning Report: honesty statement, environment, method, results with HDR percentile
 * plots, one section per experiment (tables, recommendation, query plans) and, given a comparison, the
 * change against a baseline. The SVG plots come back in `files`, to be written beside the Markdown.
 */
export function renderBenchmarkMarkdown(
  run: BenchmarkRunResult,
  options: BenchmarkMarkdownOptions,
): { markdown: string; files: { name: string; content: string }[] } {
  const files: { name: string; content: string }[] = [];
  const started = formatCell('timestamp', run.startedAt);
  const elapsedMs = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  const out: string[] = [
    `# ${mdText(options.title ?? 'Performance Tuning Report')}`,
    '',
    `Run ${mdCode(run.id)} · suite ${mdCode(run.suite)} · started ${started}${
      Number.isFinite(elapsedMs) && elapsedMs >= 0 ? ` · took ${formatDuration(elapsedMs)}` : ''
    }.`,
    '',
    '## Honesty',
    '',
    honesty(run),
    '',
    '## Environment',
    '',
    ...environmentTable(run),
    '',
    '## Method',
    '',
    ...method(run),
    '',
    '## Results',
    '',
  ];

  if (run.scenarios.length === 0) out.push('_No scenarios were measured in this run._', '');
  else {
    out.push(...markdownTable(scenarioColumns, run.scenarios), '');
    const errors = run.scenarios.filter((s) => s.summary.errors > 0);
    for (const s of errors) {
      out.push(
        `> **${mdText(seriesLabel(s))}**: ${formatCell('integer', s.summary.errors)} errors${
          s.summary.firstError === undefined ? '' : `; first: ${mdText(s.summary.firstError)}`
        }`,
        '',
      );
    }
    const described = [...new Map(run.scenarios.map((s) => [s.scenario, s.description])).entries()];
    out.push(...described.map(([name, description]) => `- **${mdText(name)}**: ${mdText(description)}`), '');
  }
  const skipped = skippedScenarios(run);
  if (skipped.length > 0) {
    out.push('Not run:', '', ...skipped.map((s) => `- ${mdText(s.scenario)}: ${mdText(s.reason)}`), '');
  }
  out.push(`_${overheadLine(run).replace(/^h/, 'H')}._`, '');

  if (run.scenarios.length > 0) {
    out.push('### Latency distribution', '');
    out.push(
      'Latency (log scale) against percentile on a scale of nines: 90 % of operations finish left of the',
      '“90” line, 99 % left of “99”, and so on; the right edge is the slowest operation. Line styles',
      'distinguish concurrency levels.',
      '',
    );
    for (const group of plotGroups(run.scenarios)) {
      const name = `${options.plotPrefix}-latency${group.suffix}.svg`;
      files.push({ name, content: renderPercentilePlot(group.title, plotSeries(group.scenarios)) });
      out.push(`![${mdText(group.title)}](${linkTarget(name)})`, '');
    }
  }

  const openLoop = openLoopSection(run, options.plotPrefix);
  out.push(...openLoop.lines);
  files.push(...openLoop.files);

  if (run.experiments.length > 0) {
    out.push('## Experiments', '', ...markdownTable(experimentMarkdownColumns, run.experiments), '');
    const measured = run.experiments.filter((e) => !isSkipped(e));
    if (measured.length > 0) {
      const name = `${options.plotPrefix}-experiments.svg`;
      files.push({ name, content: renderExperimentChart('Experiments: p50 before and after', measured) });
      out.push(`![Experiments: p50 before and after (log scale)](${linkTarget(name)})`, '');
    }
    for (const e of run.experiments) out.push(...experimentSection(e));
  }

  if (options.comparison !== undefined) out.push(...comparisonSection(run, options.comparison));
  return { markdown: `${out.join('\n').trimEnd()}\n`, files };
}
