import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Client as PgClient } from 'pg';
import type { DocumentStore } from '../../store/documents/document-store.js';
import { createPgDocumentStore } from '../../store/documents/postgres.js';
import { parseDay, parseMetadataFilters, type MetadataFilter } from '../../domain/report-filters.js';
import { ExitCode, ShiptrackError, UsageError } from '../../errors.js';
import { withSession } from '../../store/session.js';
import type { Database } from '../../store/database.js';
import { forgetPreparedStatements } from '../../store/prepared-read.js';
import { createTrackCache } from '../../store/track-cache.js';
import { trackQuery } from '../../store/track-query.js';
import { runFacilitiesReport } from '../reports/network.report.js';
import { runMetadataReport, runOverdueReport, runStaleReport } from '../reports/packages.report.js';
import type { ReportResult } from '../reports/report.js';
import { createTracker } from '../track.service.js';
import { runWorkload } from './harness.js';
import type { ExperimentArm, ExperimentResult, LatencySummary } from './types.js';
import { deleteKeysWithPrefix } from '../../store/redis.js';

/**
 * The tuning experiments of `shiptrack benchmark --suite tuning`: each a before/after pair measured
 * in the same run, on the library's own functions where one exists. The user's schema is never
 * changed: indexes are dropped (or built) only inside transactions that are rolled back, and the
 * partitioning test lives in a scratch schema that is dropped afterwards, on error or interrupt too.
 */

export interface ExperimentDeps {
  db: Database;
  redis?: Redis | undefined;
  documents: DocumentStore;
  /** Relative report windows (overdue, stale, yesterday) are computed from here. */
  now: Date;
}

export interface ExperimentOptions {
  /** Measured time per arm. */
  durationMs: number;
  /** Unmeasured warm-up before each arm. */
  warmupMs: number;
  /** Aborting stops at once: transactions are rolled back, the scratch schema dropped, and the
   *  experiments finished so far are returned. */
  signal?: AbortSignal;
  /** Run only these experiments (names from experimentNames). */
  only?: readonly string[];
  onProgress?: (experiment: string, fraction: number) => void;
}

/** A difference smaller than this factor is treated as noise (a shared machine). */
const meaningful = 1.1;
/** DROP INDEX waits at most this long for its lock, instead of queueing behind other sessions. */
const lockTimeoutMs = 5000;
/** The TTLs `shiptrack track` gives the cache (src/cli/commands/track.ts). */
const configuredTtlMs = 60_000;
const configuredNegativeTtlMs = 10_000;
/** Events copied into the partitioning scratch tables (at most). */
const partitionSampleRows = 1_000_000;
const scratchSchema = 'shiptrack_bench_scratch';
/** pg_locks: classid 21781, objid 3 (migrations 1, seed 2): who owns the scratch schema. */
const scratchSchemaLock = [21781, 3] as const;
const brinIndex = 'shiptrack_bench_time_brin';

class Aborted extends Error {
  constructor() {
    super('experiment interrupted');
  }
}

class Skip extends Error {}

interface Run {
  deps: ExperimentDeps;
  options: ExperimentOptions;
  name: string;
  progress(fraction: number): void;
  checkAborted(): void;
}

interface Definition {
  name: string;
  question: string;
  run(run: Run): Promise<Omit<ExperimentResult, 'experiment' | 'question'>>;
}

// ---------------------------------------------------------------------------------------------
// Formatting: recommendations are sentences built from the measured numbers.

function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value < 10) return `${value.toFixed(2)} ms`;
  return `${Math.round(value).toLocaleString('en-US')} ms`;
}

function seconds(valueMs: number): string {
  return valueMs < 10_000 ? `${(valueMs / 1000).toFixed(1)} s` : `${Math.round(valueMs / 1000).toLocaleString('en-US')} s`;
}

function times(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 10) return `${Math.round(x).toLocaleString('en-US')}×`;
  return x >= 1 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`;
  const mb = n / 2 ** 20;
  return mb < 10 ? `${mb.toFixed(1)} MB` : `${Math.round(mb).toLocaleString('en-US')} MB`;
}

const percent = (f: number): string => `${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%`;
const count = (n: number): string => n.toLocaleString('en-US');

function emptySummary(): LatencySummary {
  return {
    count: 0,
    errors: 0,
    durationMs: 0,
    throughput: 0,
    mean: Number.NaN,
    p50: Number.NaN,
    p90: Number.NaN,
    p99: Number.NaN,
    p999: Number.NaN,
    max: Number.NaN,
    distribution: [],
  };
}

function skippedResult(definition: Definition, reason: string, isolation = 'nothing was run'): ExperimentResult {
  return {
    experiment: definition.name,
    question: definition.question,
    isolation,
    before: { label: 'before', summary: emptySummary() },
    after: { label: 'after', summary: emptySummary() },
    speedup: Number.NaN,
    recommendation: `not measured: ${reason}`,
    notes: [],
    skipped: reason,
  };
}

/** Keep/drop advice for an index from the p50s of the same query with and without it. */
function indexVerdict(
  index: string,
  size: number,
  withMs: number,
  withoutMs: number,
  context: { query?: string; alsoUsedBy?: string | undefined } = {},
): string {
  const x = withoutMs / withMs;
  const what = context.query === undefined ? 'this query' : context.query;
  const forWhat = context.query === undefined ? '' : ` for ${context.query}`;
  if (x >= meaningful) {
    return `keep ${index} (${bytes(size)})${forWhat}: p50 ${ms(withMs)} with it vs ${ms(withoutMs)} without it (${times(x)})`;
  }
  const others = context.alsoUsedBy === undefined ? 'check no other query needs it' : `check ${context.alsoUsedBy} first`;
  if (x > 1 / meaningful) {
    return `drop ${index}? ${what} is as fast without it (p50 ${ms(withMs)} with, ${ms(withoutMs)} without: ${times(x)}, within the ±10% noise band) and it costs ${bytes(size)} plus upkeep on every write; ${others}`;
  }
  return `drop ${index} or fix the plan: ${what} is slower with it (p50 ${ms(withMs)} with, ${ms(withoutMs)} without: ${times(x)}); ${others}`;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

/** Times the named parts of a composite operation, so notes can give each part's median. */
function partTimer() {
  const samples = new Map<string, number[]>();
  return {
    async time<T>(part: string, work: () => Promise<T>): Promise<T> {
      const started = performance.now();
      const value = await work();
      const list = samples.get(part) ?? [];
      list.push(performance.now() - started);
      samples.set(part, list);
      return value;
    },
    /** Median of the part over the last `n` operations (the measured phase), then forget all. */
    take(part: string, n: number): number {
      const list = samples.get(part) ?? [];
      return median(list.slice(Math.max(0, list.length - n)));
    },
    reset(): void {
      samples.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Sessions: every change happens inside a transaction that is rolled back, on one connection.

function errorCode(error: unknown): string | undefined {
  if (error instanceof ShiptrackError) {
    if (error.code === 'lock_timeout') return '55P03';
    return errorCode(error.cause);
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs `work` in a transaction on one pooled connection and always rolls it back. The session is
 * a Database over the transaction, so the report functions run in it as they are (their own
 * transaction becomes a savepoint). Returns how long the transaction was open: the time any lock
 * taken by DDL in it was held.
 */
async function inRolledBackTransaction<T>(
  run: Run,
  work: (session: Database, trx: Knex.Transaction) => Promise<T>,
): Promise<{ value: T; heldMs: number }> {
  return withSession(run.deps.db, { signal: run.options.signal }, async (session) => {
    const started = performance.now();
    const trx = await run.deps.db.knex.transaction(undefined, { connection: session.connection });
    try {
      await trx.raw(`set local lock_timeout = ${lockTimeoutMs}`);
      const value = await work({ ...run.deps.db, knex: trx }, trx);
      return { value, heldMs: performance.now() - started };
    } finally {
      // A broken connection cannot roll back, but then the server has rolled back already.
      await trx.rollback().catch(() => undefined);
    }
  });
}

/**
 * Like inRolledBackTransaction, on a raw pg connection from the pool: the track path's named
 * prepared statement then works as in production.
 */
async function inRolledBackConnection<T>(
  run: Run,
  work: (client: PgClient) => Promise<T>,
): Promise<{ value: T; heldMs: number }> {
  return withSession(run.deps.db, { signal: run.options.signal }, async ({ connection }) => {
    const client = connection as PgClient;
    const started = performance.now();
    try {
      // Each arm prepares the track read afresh, and leaves no plan-cost history to the pool.
      await forgetPreparedStatements(client);
      await client.query('begin');
      await client.query(`set local lock_timeout = ${lockTimeoutMs}`);
      const value = await work(client);
      return { value, heldMs: performance.now() - started };
    } finally {
      try {
        await client.query('rollback');
        await forgetPreparedStatements(client);
      } catch {
        // Ending the session rolls back server-side; knex then drops the connection from the pool.
        await client.end().catch(() => undefined);
      }
    }
  });
}

async function measure(
  run: Run,
  operation: (seq: number) => Promise<unknown>,
  progressRange: [number, number],
): Promise<LatencySummary> {
  const [from, to] = progressRange;
  run.progress(from);
  const summary = await runWorkload({
    operation: (_worker, seq) => operation(seq),
    concurrency: 1,
    warmupMs: run.options.warmupMs,
    durationMs: run.options.durationMs,
    ...(run.options.signal === undefined ? {} : { signal: run.options.signal }),
    onProgress: (f) => run.progress(from + f * (to - from)),
  });
  run.checkAborted();
  if (summary.count === 0) {
    throw new ShiptrackError(
      'experiment_failed',
      ExitCode.internal,
      `${run.name}: no operation succeeded (${summary.firstError ?? 'none completed'})`,
    );
  }
  return summary;
}

// ---------------------------------------------------------------------------------------------
// Catalog look-ups.

async function indexSizes(db: Database, names: readonly string[]): Promise<Map<string, number>> {
  const result = await db.knex.raw<{ rows: { name: string; size: number | null }[] }>(
    `select n as name, pg_relation_size(to_regclass(n)) as size from unnest(?::text[]) n`,
    [[...names]],
  );
  const sizes = new Map<string, number>();
  for (const row of result.rows) if (row.size !== null) sizes.set(row.name, Number(row.size));
  return sizes;
}

async function requireIndexes(db: Database, names: readonly string[]): Promise<Map<string, number>> {
  const sizes = await indexSizes(db, names);
  const missing = names.filter((n) => !sizes.has(n));
  if (missing.length > 0) {
    throw new Skip(`index ${missing.join(', ')} is not in this database (apply the migrations: shiptrack migrate latest)`);
  }
  return sizes;
}

async function estimatedRows(db: Database, table: string): Promise<number> {
  const result = await db.knex.raw<{ rows: { n: number | null }[] }>(
    `select greatest(reltuples, 0)::bigint as n from pg_class where oid = to_regclass(?)`,
    [table],
  );
  const estimate = Number(result.rows[0]?.n ?? 0);
  if (estimate > 0) return estimate;
  const exact = await db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::bigint as n from ${table}`);
  return Number(exact.rows[0]?.n ?? 0);
}

/** Up to `size` random tracking numbers: a block sample, or a sort when the table is small. */
async function sampleTrackingNumbers(db: Database, size: number): Promise<string[]> {
  const rows = await estimatedRows(db, 'packages');
  if (rows === 0) throw new Skip('no packages: seed the database first');
  const share = Math.min(100, ((size * 1.5) / rows) * 100);
  let numbers: string[] = [];
  if (share < 50) {
    const sampled = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select tracking_number from packages tablesample system (?) limit ?`,
      [share, size],
    );
    numbers = sampled.rows.map((r) => r.tracking_number);
  }
  if (numbers.length < Math.min(size, rows) / 2) {
    const sorted = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select tracking_number from packages order by random() limit ?`,
      [size],
    );
    numbers = sorted.rows.map((r) => r.tracking_number);
  }
  return numbers;
}

function planText(rows: readonly { 'QUERY PLAN': string }[]): string {
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

async function explainReport(report: Promise<ReportResult>): Promise<string> {
  const result = await report;
  return (result.plans ?? []).map((p) => `-- ${p.query}\n${p.plan}`).join('\n\n');
}

// ---------------------------------------------------------------------------------------------
// Index experiments on reports: the same report with the index (as is) and without it (dropped in
// a transaction that rolls back). Both arms run in such a transaction, so they pay the same
// savepoint overhead.

interface IndexArms {
  without: ExperimentArm;
  with: ExperimentArm;
  heldMs: number;
  parts?: { without: Map<string, number>; with: Map<string, number> };
}

async function compareReportWithoutIndexes(
  run: Run,
  indexes: readonly string[],
  operation: (session: Database, time: ReturnType<typeof partTimer>) => Promise<unknown>,
  explain: (session: Database) => Promise<string>,
  parts: readonly string[] = [],
): Promise<IndexArms> {
  const label = indexes.join(' + ');
  const timer = partTimer();
  const arm = async (drop: boolean, range: [number, number]) =>
    inRolledBackTransaction(run, async (session, trx) => {
      if (drop) for (const index of indexes) await trx.raw(`drop index ${index}`);
      timer.reset();
      const summary = await measure(run, () => operation(session, timer), range);
      const medians = new Map(parts.map((p) => [p, timer.take(p, summary.count)]));
      const plan = await explain(session);
      run.checkAborted();
      return { arm: { label: `${drop ? 'without' : 'with'} ${label}`, summary, plan }, medians };
    });
  const without = await arm(true, [0, 0.5]);
  const withIndex = await arm(false, [0.5, 1]);
  return {
    without: without.value.arm,
    with: withIndex.value.arm,
    heldMs: without.heldMs,
    ...(parts.length === 0 ? {} : { parts: { without: without.value.medians, with: withIndex.value.medians } }),
  };
}

function dropIsolation(table: string, indexes: readonly string[], heldMs: number): string {
  return (
    `each arm ran in its own transaction on a dedicated pooled connection, always rolled back: the "without" arm ran DROP INDEX ${indexes.join(', ')} inside it ` +
    `(lock_timeout ${seconds(lockTimeoutMs)}), so nothing was committed and the index never left the catalog for other sessions; ` +
    `but DROP INDEX holds an ACCESS EXCLUSIVE lock on ${table} until the rollback (${seconds(heldMs)} here), blocking every other reader and writer of ${table}: ` +
    `run the tuning experiments against a benchmark database, not production`
  );
}

function planUses(plan: string | undefined, index: string): boolean {
  return plan?.includes(index) === true;
}

function indexResult(
  table: string,
  index: string,
  size: number,
  arms: IndexArms,
  alsoUsedBy: string | undefined,
  notes: string[],
): Omit<ExperimentResult, 'experiment' | 'question'> {
  return {
    isolation: dropIsolation(table, [index], arms.heldMs),
    before: arms.without,
    after: arms.with,
    speedup: arms.without.summary.p50 / arms.with.summary.p50,
    recommendation: indexVerdict(index, size, arms.with.summary.p50, arms.without.summary.p50, { alsoUsedBy }),
    notes: [
      `${index}: ${bytes(size)}; the plan with it ${planUses(arms.with.plan, index) ? 'uses it' : 'does NOT use it'}`,
      `operations measured: ${count(arms.without.summary.count)} without, ${count(arms.with.summary.count)} with the index`,
      ...notes,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The experiments.

const trackIndex: Definition = {
  name: 'track-index',
  question: 'What does tracking_events_package_time_idx buy the track read path?',
  async run(run) {
    const { db } = run.deps;
    if (db.mode !== 'server') throw new Skip('needs a PostgreSQL server (a dedicated connection per arm)');
    const index = 'tracking_events_package_time_idx';
    const size = (await requireIndexes(db, [index])).get(index) ?? 0;
    const numbers = await sampleTrackingNumbers(db, 1000);
    run.checkAborted();
    const arm = (drop: boolean, range: [number, number]) =>
      inRolledBackConnection(run, async (client) => {
        if (drop) await client.query(`drop index ${index}`);
        const tracker = createTracker({ source: { kind: 'client', client } });
        const summary = await measure(
          run,
          (seq) => tracker.track(numbers[(seq * 7919) % numbers.length] ?? '', { useCache: false }),
          range,
        );
        const explained = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${trackQuery.text}`, [
          numbers[0],
        ]);
        run.checkAborted();
        return { label: `${drop ? 'without' : 'with'} ${index}`, summary, plan: planText(explained.rows) };
      });
    const without = await arm(true, [0, 0.5]);
    const withIndex = await arm(false, [0.5, 1]);
    return indexResult(
      'tracking_events',
      index,
      size,
      { without: without.value, with: withIndex.value, heldMs: without.heldMs },
      'the stale and overdue reports’ last-scan look-ups',
      [
        `track (createTracker, cache bypassed) over ${count(numbers.length)} random tracking numbers (TABLESAMPLE), the named prepared statement on one connection`,
      ],
    );
  },
};

const overdueIndex: Definition = {
  name: 'overdue-index',
  question: 'What does the partial index shipments_undelivered_idx buy `report overdue`?',
  async run(run) {
    const { db, now } = run.deps;
    if (db.mode !== 'server') throw new Skip('needs a PostgreSQL server (a dedicated connection per arm)');
    const index = 'shipments_undelivered_idx';
    const size = (await requireIndexes(db, [index])).get(index) ?? 0;
    const arms = await compareReportWithoutIndexes(
      run,
      [index],
      (session) => runOverdueReport(session, { now, limit: 50 }),
      (session) => explainReport(runOverdueReport(session, { now, limit: 50, explain: true })),
    );
    return indexResult('shipments', index, size, arms, undefined, [`runOverdueReport --limit 50 as of ${now.toISOString()}`]);
  },
};

const staleIndex: Definition = {
  name: 'stale-index',
  question: 'What does the partial index packages_in_flight_idx buy `report stale`?',
  async run(run) {
    const { db, now } = run.deps;
    if (db.mode !== 'server') throw new Skip('needs a PostgreSQL server (a dedicated connection per arm)');
    const index = 'packages_in_flight_idx';
    const size = (await requireIndexes(db, [index])).get(index) ?? 0;
    const options = { now, hours: 48, limit: 50 };
    const arms = await compareReportWithoutIndexes(
      run,
      [index],
      (session) => runStaleReport(session, options),
      (session) => explainReport(runStaleReport(session, { ...options, explain: true })),
    );
    return indexResult('packages', index, size, arms, '`report overdue` (it starts from the packages in flight too)', [
      `runStaleReport --hours 48 as of ${now.toISOString()}`,
    ]);
  },
};

const metadataIndex: Definition = {
  name: 'metadata-index',
  question: 'What do packages_metadata_idx (GIN) and packages_fragile_idx (partial) buy `report metadata`?',
  async run(run) {
    const { db, now } = run.deps;
    if (db.mode !== 'server') throw new Skip('needs a PostgreSQL server (a dedicated connection per arm)');
    const gin = 'packages_metadata_idx';
    const fragile = 'packages_fragile_idx';
    const sizes = await requireIndexes(db, [gin, fragile]);
    const selective: MetadataFilter = parseMetadataFilters(['service=express', 'signature_required=true']);
    const fragileFilter: MetadataFilter = parseMetadataFilters(['fragile=true']);
    const parts = ['selective', 'fragile'];
    const report = (session: Database, filter: MetadataFilter, explain = false) =>
      runMetadataReport(session, { now, filter, limit: 20, explain });
    const matches = await db.knex.raw<{ rows: { selective: number; fragile: number; total: number }[] }>(
      `select count(*) filter (where metadata @> ?::jsonb)::bigint as selective,
              count(*) filter (where metadata @> ?::jsonb)::bigint as fragile, count(*)::bigint as total from packages`,
      [JSON.stringify(selective.containment), JSON.stringify(fragileFilter.containment)],
    );
    const m = matches.rows[0] ?? { selective: 0, fragile: 0, total: 0 };
    const share = (n: number): string => (m.total === 0 ? '0%' : percent(n / m.total));
    const arms = await compareReportWithoutIndexes(
      run,
      [gin, fragile],
      async (session, time) => {
        await time.time('selective', () => report(session, selective));
        await time.time('fragile', () => report(session, fragileFilter));
      },
      async (session) =>
        [
          `-- report metadata --where ${selective.terms.join(' --where ')}`,
          await explainReport(report(session, selective, true)),
          `\n-- report metadata --where ${fragileFilter.terms.join(' --where ')}`,
          await explainReport(report(session, fragileFilter, true)),
        ].join('\n'),
      parts,
    );
    const part = (arm: 'with' | 'without', name: string): number => arms.parts?.[arm].get(name) ?? Number.NaN;
    const ginSize = sizes.get(gin) ?? 0;
    const fragileSize = sizes.get(fragile) ?? 0;
    return {
      isolation: dropIsolation('packages', [gin, fragile], arms.heldMs),
      before: arms.without,
      after: arms.with,
      speedup: arms.without.summary.p50 / arms.with.summary.p50,
      recommendation: [
        indexVerdict(gin, ginSize, part('with', 'selective'), part('without', 'selective'), {
          query: `the selective filter (${selective.terms.join(', ')})`,
        }),
        indexVerdict(fragile, fragileSize, part('with', 'fragile'), part('without', 'fragile'), { query: 'fragile=true' }),
      ].join('; '),
      notes: [
        `one operation = report metadata --where ${selective.terms.join(',')} (${count(m.selective)} packages, ${share(m.selective)}) then --where fragile=true (${count(m.fragile)}, ${share(m.fragile)}); the "without" arm drops both indexes`,
        `selective filter: p50 ${ms(part('without', 'selective'))} without → ${ms(part('with', 'selective'))} with (${times(part('without', 'selective') / part('with', 'selective'))})`,
        `fragile=true: p50 ${ms(part('without', 'fragile'))} without → ${ms(part('with', 'fragile'))} with (${times(part('without', 'fragile') / part('with', 'fragile'))})`,
        `${gin}: ${bytes(ginSize)}, ${planUses(arms.with.plan, gin) ? 'used' : 'NOT used'} by the plans with it; ${fragile}: ${bytes(fragileSize)}, ${planUses(arms.with.plan, fragile) ? 'used' : 'NOT used'}`,
        'each report also counts all packages (for the share), which neither index serves',
      ],
    };
  },
};

const brinVersusBtree: Definition = {
  name: 'brin-vs-btree',
  question:
    'Could a BRIN index on tracking_events(event_timestamp) replace the B-tree tracking_events_time_idx for `report facilities`?',
  async run(run) {
    const { db, now } = run.deps;
    if (db.mode !== 'server') throw new Skip('needs a PostgreSQL server (a dedicated connection per arm)');
    const btree = 'tracking_events_time_idx';
    const btreeSize = (await requireIndexes(db, [btree])).get(btree) ?? 0;
    const day = parseDay('yesterday', now);
    const options = { now, day, sort: 'scans' as const, limit: 20 };
    const correlation = await db.knex.raw<{ rows: { correlation: number | null }[] }>(
      `select correlation from pg_stats where schemaname = current_schema() and tablename = 'tracking_events' and attname = 'event_timestamp'`,
    );
    run.checkAborted();
    const withBtree = await inRolledBackTransaction(run, async (session) => {
      const summary = await measure(run, () => runFacilitiesReport(session, options), [0, 0.45]);
      const plan = await explainReport(runFacilitiesReport(session, { ...options, explain: true }));
      return { label: `B-tree ${btree}`, summary, plan };
    });
    run.checkAborted();
    const withBrin = await inRolledBackTransaction(run, async (session, trx) => {
      const started = performance.now();
      await trx.raw(`create index ${brinIndex} on tracking_events using brin (event_timestamp)`);
      const buildMs = performance.now() - started;
      await trx.raw(`drop index ${btree}`);
      const size = await trx.raw<{ rows: { size: number }[] }>(`select pg_relation_size(?::regclass) as size`, [brinIndex]);
      run.progress(0.55);
      const summary = await measure(run, () => runFacilitiesReport(session, options), [0.55, 1]);
      const plan = await explainReport(runFacilitiesReport(session, { ...options, explain: true }));
      return {
        arm: { label: `BRIN on event_timestamp (pages_per_range 128), B-tree dropped`, summary, plan },
        buildMs,
        size: Number(size.rows[0]?.size ?? 0),
      };
    });
    const before = withBtree.value;
    const after = withBrin.value.arm;
    const brinSize = withBrin.value.size;
    const x = before.summary.p50 / after.summary.p50;
    const sizes = `${bytes(brinSize)} vs ${bytes(btreeSize)}`;
    let recommendation: string;
    if (x >= meaningful) {
      recommendation = `replace the B-tree with BRIN for this report: p50 ${ms(after.summary.p50)} with BRIN vs ${ms(before.summary.p50)} with the B-tree (${times(x)}), at ${sizes}; check the other time-range readers first`;
    } else if (x > 1 / meaningful) {
      recommendation = `BRIN would do: p50 ${ms(after.summary.p50)} with BRIN vs ${ms(before.summary.p50)} with the B-tree (${times(x)}, within ±10%), at ${sizes}; replace it if the index size matters more than the other time-range readers`;
    } else {
      recommendation = `keep the B-tree ${btree}: p50 ${ms(before.summary.p50)} with it vs ${ms(after.summary.p50)} with BRIN (BRIN ${times(1 / x)} slower), even though BRIN is ${sizes}`;
    }
    const corr = correlation.rows[0]?.correlation;
    return {
      isolation:
        `each arm ran in its own transaction on a dedicated pooled connection, always rolled back: the BRIN arm built ${brinIndex} (${seconds(withBrin.value.buildMs)}, SHARE lock: writes blocked) ` +
        `and dropped ${btree} (ACCESS EXCLUSIVE lock: all other readers and writers of tracking_events blocked for ${seconds(withBrin.heldMs)} until the rollback); ` +
        `nothing was committed. Run the tuning experiments against a benchmark database, not production`,
      before,
      after,
      speedup: x,
      recommendation,
      notes: [
        `report facilities --day ${day.label} --limit 20 (runFacilitiesReport)`,
        `sizes (pg_relation_size): BRIN ${bytes(brinSize)}, B-tree ${bytes(btreeSize)} (covering: INCLUDE location_id, status, package_id); BRIN built in ${seconds(withBrin.value.buildMs)}`,
        `physical correlation of event_timestamp (pg_stats): ${corr === null || corr === undefined ? 'unknown (not analyzed)' : Number(corr).toFixed(3)}; BRIN only works when rows arrive in time order`,
        `plan with BRIN ${planUses(after.plan, brinIndex) ? 'uses it' : 'does NOT use it'}; the B-tree's plan ${planUses(before.plan, btree) ? 'uses it' : 'does NOT use it'}`,
      ],
    };
  },
};

/** Deterministic uniform [0, 1) from an integer (splitmix32): both arms draw the same lookups. */
function uniformAt(n: number): number {
  let z = (n + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return (z >>> 0) / 4_294_967_296;
}

/** Share of lookups a TTL cache answers at steady state, per key class of Poisson lookups:
 *  each miss fills the key for `ttl`, during which its λ·ttl lookups (on average) hit. */
function steadyHitRatio(classes: readonly { share: number; keys: number }[], rate: number, ttlSec: number): number {
  return classes.reduce((sum, c) => {
    const lambdaT = ((c.share * rate) / c.keys) * ttlSec;
    return sum + (c.share * lambdaT) / (1 + lambdaT);
  }, 0);
}

const cache: Definition = {
  name: 'cache',
  question: 'How much does the Redis cache save on a skewed track workload, and is its TTL right?',
  async run(run) {
    const { db, redis } = run.deps;
    if (redis === undefined) throw new Skip('no Redis configured (set SHIPTRACK_REDIS_URL)');
    const packages = await estimatedRows(db, 'packages');
    if (packages === 0) throw new Skip('no packages: seed the database first');
    const hotShare = 0.8;
    const hotSize = Math.max(1, Math.min(100_000, Math.ceil(packages * 0.05)));
    const hotRows = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select tracking_number from packages order by created_at desc, package_id desc limit ?`,
      [hotSize],
    );
    const hot = hotRows.rows.map((r) => r.tracking_number);
    const uniform = await sampleTrackingNumbers(db, 50_000);
    run.checkAborted();
    const pick = (seq: number): string => {
      const list = uniformAt(seq * 2) < hotShare ? hot : uniform;
      return list[Math.floor(uniformAt(seq * 2 + 1) * list.length)] ?? '';
    };
    const prefix = `shiptrack:bench:experiment:${randomBytes(6).toString('hex')}:`;
    let cacheError: unknown;
    try {
      const source = { kind: 'database' as const, db };
      const off = createTracker({ source });
      const before = await measure(run, (seq) => off.track(pick(seq), { useCache: false }), [0, 0.45]);
      const explained = await db.knex.raw<{ rows: { 'QUERY PLAN': string }[] }>(
        `explain (analyze, buffers) ${trackQuery.text.replace('$1', '?')}`,
        [hot[0] ?? ''],
      );
      const trackCache = createTrackCache(redis, { ttlMs: configuredTtlMs, negativeTtlMs: configuredNegativeTtlMs, prefix });
      const on = createTracker({ source, cache: trackCache, onCacheError: (e) => (cacheError = e) });
      const fromCache: boolean[] = [];
      const latency: number[] = [];
      const started = performance.now();
      const after = await measure(
        run,
        async (seq) => {
          const t0 = performance.now();
          const result = await on.track(pick(seq));
          latency[seq] = performance.now() - t0;
          fromCache[seq] = result.source === 'cache';
        },
        [0.5, 1],
      );
      if (cacheError !== undefined) {
        throw new ShiptrackError(
          'experiment_failed',
          ExitCode.unavailable,
          `cache: Redis failed during the run (${cacheError instanceof Error ? cacheError.message : 'unknown error'})`,
        );
      }
      const totalMs = performance.now() - started;
      const measuredFrom = Math.max(0, fromCache.length - after.count - after.errors);
      const hits = fromCache.slice(measuredFrom).filter(Boolean).length;
      const measured = fromCache.length - measuredFrom;
      const hitRatio = measured === 0 ? 0 : hits / measured;
      const hitLatencies = latency.slice(measuredFrom).filter((_, i) => fromCache[measuredFrom + i] === true);
      const missLatencies = latency.slice(measuredFrom).filter((_, i) => fromCache[measuredFrom + i] === false);
      const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
      const hitMs = median(hitLatencies);
      const missMs = median(missLatencies);
      const hitSeqs = fromCache.flatMap((hit, seq) => (hit ? [seq] : [])).slice(-20);
      const lengths = await Promise.all(hitSeqs.map((seq) => redis.strlen(`${prefix}${pick(seq)}`)));
      const entryBytes = lengths.length === 0 ? 0 : lengths.reduce((a, b) => a + b, 0) / lengths.length;
      // The model, checked against this run: it started cold at the warm-up; per key class the
      // expected hits in the measured window are λD − e^(−λW)(1 − e^(−λD)).
      const rate = after.throughput;
      const warmSec = (totalMs - after.durationMs) / 1000;
      const runSec = after.durationMs / 1000;
      const runClasses = [
        { share: hotShare, keys: hot.length },
        { share: 1 - hotShare, keys: uniform.length },
      ];
      const predictedRun =
        runClasses.reduce((sum, c) => {
          const lambda = (c.share * rate) / c.keys;
          return sum + c.keys * (lambda * runSec - Math.exp(-lambda * warmSec) * (1 - Math.exp(-lambda * runSec)));
        }, 0) / Math.max(1, rate * runSec);
      // Production shape: the hot 5% of all packages, and uniform over all of them.
      const prodClasses = [
        { share: hotShare, keys: Math.max(1, Math.ceil(packages * 0.05)) },
        { share: 1 - hotShare, keys: packages },
      ];
      const ttlSec = configuredTtlMs / 1000;
      const steady = steadyHitRatio(prodClasses, rate, ttlSec);
      const hotLambda = (hotShare * rate) / (prodClasses[0]?.keys ?? 1);
      const hotSteady = (hotLambda * ttlSec) / (1 + hotLambda * ttlSec);
      const ttl90 = 9 / hotLambda;
      const liveKeys = (ttl: number): number =>
        prodClasses.reduce((sum, c) => {
          const lambdaT = ((c.share * rate) / c.keys) * ttl;
          return sum + (c.keys * lambdaT) / (1 + lambdaT);
        }, 0);
      const x = before.p50 / after.p50;
      // A short run from cold says little about a warm cache: judge from what a hit, a miss and a
      // plain database read typically (p50) cost, weighted by the modelled steady-state hit
      // ratio. Medians rather than means: on a shared machine a few stalls swamp the means.
      const hit = hitMs;
      const miss = Number.isFinite(missMs) ? missMs : after.p50;
      const database = before.p50;
      const warmMean = (h: number): number => h * hit + (1 - h) * miss;
      const needed = (miss - database / meaningful) / (miss - hit);
      const ttlFor = (target: number): number | undefined => {
        if (!(target > 0 && target < 1) || steadyHitRatio(prodClasses, rate, 86_400) < target) return undefined;
        let [low, high] = [0.1, 86_400];
        for (let i = 0; i < 60; i += 1) {
          const mid = Math.sqrt(low * high);
          if (steadyHitRatio(prodClasses, rate, mid) >= target) high = mid;
          else low = mid;
        }
        return high;
      };
      const costs = `a hit typically (p50) costs ${ms(hit)}, a database read ${ms(database)}, a miss ${ms(miss)} (Redis look-up, database, fill), so the cache pays (10% faster per lookup) above ${percent(Math.max(0, needed))} hits`;
      const measuredPart = `this ${seconds(after.durationMs)} run started cold and hit ${percent(hitRatio)} (p50 ${ms(after.p50)} with the cache vs ${ms(before.p50)} without: ${times(x)})`;
      const atRate = `at this run's ${count(Math.round(rate))} lookups/s (model; the TTL needed scales with 1/rate)`;
      let recommendation: string;
      if (hitLatencies.length === 0) {
        recommendation = `not enough data: no lookup hit the cache in this run (p50 ${ms(after.p50)} with it vs ${ms(before.p50)} without); run longer`;
      } else if (hit * meaningful >= database) {
        recommendation = `the cache does not pay: a hit (${ms(hit)}) is no faster than a database read (${ms(database)}); ${measuredPart}`;
      } else if (steady >= needed) {
        recommendation = `keep the cache and its ${ttlSec}-s TTL: ${costs}; ${atRate} the TTL gives ≈${percent(steady)} hits once warm, ≈${ms(warmMean(steady))} per lookup vs ${ms(database)} (${times(database / warmMean(steady))}); ${measuredPart}`;
      } else {
        const ttl = ttlFor(needed);
        recommendation =
          ttl === undefined
            ? `the cache does not pay at this rate: ${costs}, which even a 1-day TTL does not reach ${atRate} (${ttlSec} s gives ≈${percent(steady)}); ${measuredPart}`
            : `the ${ttlSec}-s TTL is too short to pay: ${costs}; ${atRate} ${ttlSec} s gives ≈${percent(steady)} hits once warm (≈${ms(warmMean(steady))} per lookup vs ${ms(database)}), a TTL of ~${seconds(ttl * 1000)} would give ${percent(needed)} (≈${bytes(liveKeys(ttl) * entryBytes)} of Redis); scans invalidate cached answers, so a longer TTL costs memory, not freshness; ${measuredPart}`;
      }
      return {
        isolation: `cache keys under the run's own prefix ${prefix} (deleted afterwards); the database is only read`,
        before: { label: 'cache off (database only)', summary: before, plan: planText(explained.rows) },
        after: { label: `cache on (TTL ${ttlSec} s, started cold)`, summary: after },
        speedup: x,
        recommendation,
        notes: [
          `workload: ${percent(hotShare)} of lookups over the ${count(hot.length)} most recently created packages (5%), ${percent(1 - hotShare)} over ${count(uniform.length)} sampled uniformly from all ${count(packages)}; the same sequence in both arms`,
          `hit ratio: ${percent(hitRatio)} of ${count(measured)} measured lookups (cache started empty at the warm-up, ${seconds(warmSec * 1000)} before); the TTL never expired within the run`,
          `model check: for this run a Poisson TTL-cache model predicts ${percent(predictedRun)} hits vs ${percent(hitRatio)} observed`,
          `cache hit p50 ${ms(hitMs)} (mean ${ms(mean(hitLatencies))}), miss (Redis miss + database + fill) p50 ${ms(missMs)} (mean ${ms(mean(missLatencies))}), database read p50 ${ms(before.p50)} (mean ${ms(before.mean)}); cached answer ≈${bytes(entryBytes)}`,
          `steady state at TTL ${ttlSec} s (model, at ${count(Math.round(rate))} lookups/s, the hot 5% of ${count(packages)} packages): ≈${percent(steady)} hits overall, ${percent(hotSteady)} on the hot set, ≈${count(Math.round(liveKeys(ttlSec)))} keys (${bytes(liveKeys(ttlSec) * entryBytes)}); at 10 s ≈${percent(steadyHitRatio(prodClasses, rate, 10))}, at 600 s ≈${percent(steadyHitRatio(prodClasses, rate, 600))}; 90% on the hot set needs ~${seconds(ttl90 * 1000)} (≈${bytes(liveKeys(ttl90) * entryBytes)})`,
          `rates scale: the TTL for a given hit ratio is inversely proportional to the lookup rate (90% on the hot set needs TTL ≈ 9 × hot keys / (0.8 × lookups/s))`,
        ],
      };
    } finally {
      await deleteKeysWithPrefix(redis, prefix).catch(() => undefined);
    }
  },
};

const documents: Definition = {
  name: 'documents',
  question: 'Raw scans of one tracking number: PostgreSQL JSONB table or MongoDB?',
  async run(run) {
    const { db, documents: store } = run.deps;
    if (store.kind === 'postgres') throw new Skip('no MongoDB configured: both sides would be the same store');
    const pgStore = createPgDocumentStore(db.knex);
    const sampled = [...new Set((await store.sampleRawScans(500)).map((d) => d.trackingNumber))];
    const present = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select distinct tracking_number from doc_raw_scans where tracking_number = any(?::text[])`,
      [sampled],
    );
    const numbers = present.rows.map((r) => r.tracking_number).sort();
    if (numbers.length === 0) {
      throw new Skip(
        `doc_raw_scans holds none of ${sampled.length} tracking numbers sampled from MongoDB (the raw scans live in MongoDB only): there is nothing like-for-like to compare`,
      );
    }
    const [pgCount, mongoCount] = await Promise.all([pgStore.countRawScans(), store.countRawScans()]);
    run.checkAborted();
    const at = (seq: number): string => numbers[(seq * 7919) % numbers.length] ?? '';
    const before = await measure(run, (seq) => pgStore.findRawScans(at(seq)), [0, 0.5]);
    const explained = await db.knex.raw<{ rows: { 'QUERY PLAN': string }[] }>(
      `explain (analyze, buffers) select id, tracking_number, event_id, scanned_at, source, payload
         from doc_raw_scans where tracking_number = ? order by scanned_at asc, id asc`,
      [numbers[0] ?? ''],
    );
    const after = await measure(run, (seq) => store.findRawScans(at(seq)), [0.5, 1]);
    const x = before.p50 / after.p50;
    const recommendation =
      x >= meaningful
        ? `MongoDB answers this look-up faster: p50 ${ms(after.p50)} vs ${ms(before.p50)} in PostgreSQL (${times(x)})`
        : x > 1 / meaningful
          ? `no measurable difference for this look-up (p50 ${ms(before.p50)} PostgreSQL, ${ms(after.p50)} MongoDB: ${times(x)}): choose the store for operations, not speed`
          : `PostgreSQL answers this look-up faster: p50 ${ms(before.p50)} vs ${ms(after.p50)} in MongoDB (${times(1 / x)})`;
    return {
      isolation: 'reads only: both stores are queried, nothing is written',
      before: { label: 'PostgreSQL JSONB (doc_raw_scans)', summary: before, plan: planText(explained.rows) },
      after: { label: 'MongoDB (raw_scans)', summary: after },
      speedup: x,
      recommendation,
      notes: [
        `findRawScans(trackingNumber) over ${count(numbers.length)} tracking numbers present in both stores (sampled from MongoDB)`,
        `documents: ${count(pgCount)} in doc_raw_scans, ${count(mongoCount)} in MongoDB — unequal sizes make the comparison less like-for-like`,
        'the PostgreSQL plan is of the SQL the pg document store issues (knex-built, unprepared); MongoDB has no plan here',
      ],
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Partitioning: in a scratch schema, never touching the user's tables except to read them.

interface IndexDefinition {
  name: string;
  unique: boolean;
  definition: string;
}

/** Splits "CREATE [UNIQUE] INDEX n ON t USING m (keys) rest" into the parts we rebuild. */
function rebuildIndex(def: IndexDefinition, table: string, name: string, partitioned: boolean): string {
  const using = def.definition.indexOf(' USING ');
  const tail = def.definition.slice(using + ' USING '.length);
  const open = tail.indexOf('(');
  let depth = 0;
  let close = -1;
  for (let i = open; i < tail.length; i += 1) {
    if (tail[i] === '(') depth += 1;
    else if (tail[i] === ')') {
      depth -= 1;
      if (depth === 0) {
        close = i;
        break;
      }
    }
  }
  const method = tail.slice(0, open).trim();
  let keys = tail.slice(open + 1, close);
  // A unique index on a partitioned table must contain the partition key.
  if (partitioned && def.unique && !/\bevent_timestamp\b/.test(keys)) keys = `${keys}, event_timestamp`;
  return `create ${def.unique ? 'unique ' : ''}index ${name} on ${table} using ${method} (${keys})${tail.slice(close + 1)}`;
}

const dayQuery = (table: string): string =>
  `select location_id, count(*)::bigint as scans,
          count(*) filter (where status = 'exception')::bigint as exceptions,
          count(*) filter (where status = 'attempt_fail')::bigint as failed_attempts
     from ${table}
    where event_timestamp >= $1 and event_timestamp < $2
    group by location_id`;

const exceptionsQuery = (table: string): string =>
  `select e.event_id, e.location_id, e.status, e.package_id
     from ${table} e
    where e.status in ('exception', 'attempt_fail') and e.event_timestamp >= $1 and e.event_timestamp < $2`;

const partitioning: Definition = {
  name: 'partitioning',
  question: 'Would partitioning tracking_events by month (declarative) help loading and event-time reports?',
  async run(run) {
    const { db, now } = run.deps;
    if (db.mode !== 'server') throw new Skip('needs a PostgreSQL server (a dedicated connection)');
    const single = `${scratchSchema}.events_single`;
    const parted = `${scratchSchema}.events_partitioned`;
    // One run at a time owns the scratch schema; a leftover of a killed run is dropped here.
    const session = {
      signal: run.options.signal,
      advisoryLock: {
        key: scratchSchemaLock,
        waitMs: 0,
        busy: () => new Skip(`another run's partitioning experiment is using ${scratchSchema}`),
      },
    };
    return withSession(db, session, async ({ connection }) => {
      const client = connection as PgClient;
      let created = false;
      try {
        const leftover = await client.query<{ n: number }>(`select count(*)::int as n from pg_namespace where nspname = $1`, [
          scratchSchema,
        ]);
        created = true;
        await client.query(`drop schema if exists ${scratchSchema} cascade`);
        await client.query(`create schema ${scratchSchema}`);
        run.checkAborted();

        const total = await estimatedRows(db, 'tracking_events');
        const every = Math.max(1, Math.ceil(total / partitionSampleRows));
        await client.query(
          `create unlogged table ${scratchSchema}.source as select * from tracking_events where package_id % ${every} = 0`,
        );
        const range = await client.query<{ rows: number; months: { suffix: string; from: string; to: string }[] | null }>(
          `select (select count(*)::int from ${scratchSchema}.source) as rows,
                (select json_agg(json_build_object('suffix', to_char(m, 'YYYY_MM'), 'from', m::text, 'to', (m + interval '1 month')::text) order by m)
                   from generate_series(date_trunc('month', (select min(event_timestamp) from ${scratchSchema}.source) at time zone 'UTC'),
                                        date_trunc('month', (select max(event_timestamp) from ${scratchSchema}.source) at time zone 'UTC'),
                                        interval '1 month') m) as months`,
        );
        const rows = range.rows[0]?.rows ?? 0;
        const months = range.rows[0]?.months ?? [];
        if (rows === 0) throw new Skip('no tracking events to copy: seed the database first');
        run.progress(0.1);
        run.checkAborted();

        await client.query(`create table ${single} (like tracking_events including defaults including constraints)`);
        await client.query(
          `create table ${parted} (like tracking_events including defaults including constraints) partition by range (event_timestamp)`,
        );
        for (const m of months) {
          await client.query(
            `create table ${parted}_${m.suffix} partition of ${parted}
             for values from ('${m.from} UTC') to ('${m.to} UTC')`,
          );
        }
        const indexes = await client.query<IndexDefinition>(
          `select c.relname as name, i.indisunique as unique, pg_get_indexdef(i.indexrelid) as definition
           from pg_index i join pg_class c on c.oid = i.indexrelid
          where i.indrelid = 'tracking_events'::regclass order by c.relname`,
        );
        for (const def of indexes.rows) {
          await client.query(rebuildIndex(def, single, `s_${def.name}`.slice(0, 63), false));
          await client.query(rebuildIndex(def, parted, `p_${def.name}`.slice(0, 63), true));
        }
        run.checkAborted();

        // ABBA: one table, partitioned, then (emptied) partitioned, one table; means of each, so
        // that drift (caches, write-back of the previous load) does not favour either.
        const load = async (table: string): Promise<number> => {
          const started = performance.now();
          await client.query(`insert into ${table} select * from ${scratchSchema}.source`);
          const elapsed = performance.now() - started;
          run.checkAborted();
          return elapsed;
        };
        const singleLoads = [await load(single)];
        run.progress(0.17);
        const partedLoads = [await load(parted)];
        run.progress(0.24);
        await client.query(`truncate ${single}, ${parted}`);
        partedLoads.push(await load(parted));
        run.progress(0.31);
        singleLoads.push(await load(single));
        run.progress(0.38);
        const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
        const singleLoadMs = mean(singleLoads);
        const partedLoadMs = mean(partedLoads);
        await client.query(`vacuum (analyze) ${single}`);
        await client.query(`vacuum (analyze) ${parted}`);
        const sizes = await client.query<{ single: number; parted: number }>(
          `select pg_total_relation_size($1::regclass) as single,
                (select sum(pg_total_relation_size(inhrelid))::bigint from pg_inherits where inhparent = $2::regclass) as parted`,
          [single, parted],
        );
        run.checkAborted();

        const day = parseDay('yesterday', now);
        const weekStart = new Date(now.getTime() - 7 * 86_400_000);
        const timer = partTimer();
        const arm = async (table: string, label: string, progressRange: [number, number]) => {
          timer.reset();
          let dayRows = 0;
          let weekRows = 0;
          const summary = await measure(
            run,
            async () => {
              dayRows = (await timer.time('day', () => client.query(dayQuery(table), [day.start, day.end]))).rows.length;
              weekRows = (await timer.time('week', () => client.query(exceptionsQuery(table), [weekStart, now]))).rows.length;
            },
            progressRange,
          );
          const explain = (sql: string, values: unknown[]) =>
            client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${sql}`, values);
          const dayPlan = await explain(dayQuery(table), [day.start, day.end]);
          const weekPlan = await explain(exceptionsQuery(table), [weekStart, now]);
          const plan = `-- scans per facility, ${day.label}\n${planText(dayPlan.rows)}\n\n-- exceptions, 7 days\n${planText(weekPlan.rows)}`;
          return {
            arm: { label, summary, plan } satisfies ExperimentArm,
            day: timer.take('day', summary.count),
            week: timer.take('week', summary.count),
            dayRows,
            weekRows,
          };
        };
        const one = await arm(single, `one table (${count(rows)} events)`, [0.45, 0.7]);
        const many = await arm(parted, `partitioned by month (${months.length} partitions, ${count(rows)} events)`, [0.7, 0.95]);
        const before = one.arm;
        const after = many.arm;
        const dayX = one.day / many.day;
        const weekX = one.week / many.week;
        const loadX = singleLoadMs / partedLoadMs;
        const ratios = [dayX, weekX, loadX];
        const wins = ratios.filter((x) => x >= meaningful).length;
        const losses = ratios.filter((x) => x <= 1 / meaningful).length;
        const figures = `day query ${ms(many.day)} partitioned vs ${ms(one.day)} one table (${times(dayX)}), 7-day exceptions ${ms(many.week)} vs ${ms(one.week)} (${times(weekX)}), load ${seconds(partedLoadMs)} vs ${seconds(singleLoadMs)} (${times(loadX)}); above 1× partitioned is faster`;
        let recommendation: string;
        if (wins >= 2 && losses === 0) {
          recommendation = `partition tracking_events by month: ${figures}; mind the unique keys (see notes)`;
        } else if (wins > losses) {
          recommendation = `partitioning helps in part (${wins} of 3 faster by 10% or more, none slower): ${figures}; not enough on its own to pay for weaker unique keys and the migration — revisit when retention (dropping old months) is needed`;
        } else {
          recommendation = `keep one table: partitioned by month it was ${losses > 0 ? `slower in ${losses} of 3` : 'no faster'} (${figures}); the time indexes already confine these queries to their window — revisit for retention (dropping a month at once) or a much larger table`;
        }
        const uniques = indexes.rows.filter((d) => d.unique).map((d) => d.name);
        return {
          isolation: `scratch schema ${scratchSchema} (created for this experiment under an advisory lock, dropped afterwards, also on error or interrupt${(leftover.rows[0]?.n ?? 0) > 0 ? '; a leftover from an earlier run was dropped first' : ''}); the user's tables were only read (one sequential scan of tracking_events)`,
          before,
          after,
          speedup: before.summary.p50 / after.summary.p50,
          recommendation,
          notes: [
            `${count(rows)} events copied (every package with package_id % ${every} = 0, whole timelines, ${months.length} months); the same rows and indexes in both (${indexes.rows.map((d) => d.name).join(', ')}), CHECK constraints included, foreign keys not`,
            `load (INSERT … SELECT from an unlogged copy, indexes in place; twice each, ABBA order, mean): one table ${seconds(singleLoadMs)} (${count(Math.round(rows / (singleLoadMs / 1000)))} rows/s; runs ${singleLoads.map((t) => seconds(t)).join(', ')}), partitioned ${seconds(partedLoadMs)} (${count(Math.round(rows / (partedLoadMs / 1000)))} rows/s; runs ${partedLoads.map((t) => seconds(t)).join(', ')}): ${times(loadX)}`,
            `one operation = scans per facility on ${day.label} (the first query of report facilities; ${count(one.dayRows)} facilities) then exceptions of the last 7 days (report exceptions' query; ${count(one.weekRows)} events), both on the copy; ${one.dayRows === many.dayRows && one.weekRows === many.weekRows ? 'both tables returned the same rows' : 'the tables returned DIFFERENT row counts'}`,
            `day query p50 ${ms(one.day)} one table → ${ms(many.day)} partitioned (${times(dayX)}); 7-day exceptions ${ms(one.week)} → ${ms(many.week)} (${times(weekX)})`,
            `size with indexes: one table ${bytes(Number(sizes.rows[0]?.single ?? 0))}, partitions ${bytes(Number(sizes.rows[0]?.parted ?? 0))}`,
            `unique indexes (${uniques.join(', ') || 'none'}) must include event_timestamp on the partitioned table: uniqueness of event_id and of the scan idempotency key would only hold per timestamp`,
          ],
        };
      } finally {
        if (created) await client.query(`drop schema if exists ${scratchSchema} cascade`).catch(() => undefined);
      }
    });
  },
};

const definitions: readonly Definition[] = [
  trackIndex,
  overdueIndex,
  staleIndex,
  metadataIndex,
  brinVersusBtree,
  cache,
  documents,
  partitioning,
];

/** The experiments, in the order they run. */
export const experimentNames: readonly string[] = definitions.map((d) => d.name);

/**
 * Runs the tuning experiments (all, or `options.only`) one after another. An experiment that
 * cannot run here (no Redis, no MongoDB, a table lock it could not get within 5 s) comes back with
 * `skipped` set. On abort, whatever was changed is rolled back or dropped and the experiments
 * completed so far are returned.
 */
export async function runExperiments(deps: ExperimentDeps, options: ExperimentOptions): Promise<ExperimentResult[]> {
  const only = options.only;
  if (only !== undefined) {
    const unknown = only.filter((n) => !experimentNames.includes(n));
    if (unknown.length > 0) {
      throw new UsageError(
        `no experiment is called ${unknown.map((n) => `"${n}"`).join(' or ')}; experiments: ${experimentNames.join(', ')}`,
      );
    }
  }
  const selected = only === undefined ? definitions : definitions.filter((d) => only.includes(d.name));
  const aborted = (): boolean => options.signal?.aborted === true;
  const results: ExperimentResult[] = [];
  for (const definition of selected) {
    if (aborted()) break;
    const run: Run = {
      deps,
      options,
      name: definition.name,
      progress: (f) => options.onProgress?.(definition.name, Math.max(0, Math.min(1, f))),
      checkAborted: () => {
        if (aborted()) throw new Aborted();
      },
    };
    try {
      const result = await definition.run(run);
      if (aborted()) break;
      results.push({ experiment: definition.name, question: definition.question, ...result });
      run.progress(1);
    } catch (error) {
      if (aborted() || error instanceof Aborted) break;
      if (error instanceof Skip) results.push(skippedResult(definition, error.message));
      else if (errorCode(error) === '55P03') {
        results.push(
          skippedResult(
            definition,
            `could not take the table lock within ${seconds(lockTimeoutMs)} (another session is using the table); nothing was changed`,
            'the transaction that tried to take the lock was rolled back',
          ),
        );
      } else throw error;
    }
  }
  return results;
}
