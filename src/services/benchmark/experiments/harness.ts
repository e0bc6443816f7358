import { median } from '../../../domain/statistics.js';
import type { RedisClient } from '../../../store/redis.js';
import type { Knex } from 'knex';
import type { Client as PgClient } from 'pg';
import { ExitCode, ShiptrackError } from '../../../errors.js';
import type { Database } from '../../../store/database.js';
import type { DocumentStore } from '../../../store/documents/document-store.js';
import { forgetPreparedStatements } from '../../../store/prepared-read.js';
import { withSession } from '../../../store/session.js';
import type { ReportResult } from '../../reports/report.js';
import { runWorkload } from '../harness.js';
import type { ExperimentArm, ExperimentResult, Figure, Finding, LatencySummary } from '../types.js';

/**
 * What every tuning experiment shares: how it is run, how it measures an arm, how it changes the
 * schema only inside transactions that roll back, and how it turns numbers into findings.
 */

export interface ExperimentDeps {
  db: Database;
  redis?: RedisClient | undefined;
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

/** One experiment being run: its dependencies, options, and progress and abort hooks. */
export interface Run {
  deps: ExperimentDeps;
  options: ExperimentOptions;
  name: string;
  progress(fraction: number): void;
  checkAborted(): void;
}

export type Outcome = Omit<ExperimentResult, 'experiment' | 'question'>;

export interface Definition {
  name: string;
  question: string;
  run(run: Run): Promise<Outcome>;
}

/** A difference smaller than this factor is treated as noise (a shared machine). */
export const meaningful = 1.1;
/** DROP INDEX waits at most this long for its lock, instead of queueing behind other sessions. */
export const lockTimeoutMs = 5000;

// ---------------------------------------------------------------------------------------------
// Findings

function jsonSafe(value: Figure): Figure {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value))
    return value.map((v: string | number | null) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
  return value;
}

/** A finding with JSON-safe figures: NaN and infinities become null, as they would in a stored run. */
export function finding(code: string, figures: Record<string, Figure> = {}): Finding {
  return { code, figures: Object.fromEntries(Object.entries(figures).map(([key, value]) => [key, jsonSafe(value)])) };
}

/** Thrown when an experiment cannot run here; the result then says why, as a finding. */
export class Skip extends Error {
  readonly reason: Finding;

  constructor(code: string, figures: Record<string, Figure> = {}) {
    super(code);
    this.reason = finding(code, figures);
  }
}

export function requireServer(db: Database, connection: 'per_arm' | 'one' = 'per_arm'): void {
  if (db.mode !== 'server') throw new Skip('needs_server', { perArm: connection === 'per_arm' });
}

export { median };

export const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** Whether `ratio` (old ÷ new time) says faster, slower, or within the noise band. */
export function compareRatio(ratio: number): 'faster' | 'same' | 'slower' {
  if (ratio >= meaningful) return 'faster';
  return ratio > 1 / meaningful ? 'same' : 'slower';
}

/** Keep/drop advice for an index from the p50s of the same query with and without it. */
export function indexDecision(withMs: number, withoutMs: number): 'keep_index' | 'drop_index' | 'drop_index_or_fix_plan' {
  const verdict = compareRatio(withoutMs / withMs);
  return verdict === 'faster' ? 'keep_index' : verdict === 'same' ? 'drop_index' : 'drop_index_or_fix_plan';
}

/** Times the named parts of a composite operation, so notes can give each part's median. */
export function partTimer() {
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
    /** Median of the part over the last `n` operations (the measured phase). */
    take(part: string, n: number): number {
      const list = samples.get(part) ?? [];
      return median(list.slice(Math.max(0, list.length - n)));
    },
    reset(): void {
      samples.clear();
    },
  };
}

export type PartTimer = ReturnType<typeof partTimer>;

// ---------------------------------------------------------------------------------------------
// Sessions: every change happens inside a transaction that is rolled back, on one connection.

/**
 * Runs `work` in a transaction on one pooled connection and always rolls it back. The session is
 * a Database over the transaction, so the report functions run in it as they are (their own
 * transaction becomes a savepoint). Returns how long the transaction was open: the time any lock
 * taken by DDL in it was held.
 */
export async function inRolledBackTransaction<T>(
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
      await session.settled();
      await trx.rollback().catch(() => undefined);
    }
  });
}

/**
 * Like inRolledBackTransaction, on a raw pg connection from the pool: the track path's named
 * prepared statement then works as in production.
 */
export async function inRolledBackConnection<T>(
  run: Run,
  work: (client: PgClient) => Promise<T>,
): Promise<{ value: T; heldMs: number }> {
  return withSession(run.deps.db, { signal: run.options.signal }, async ({ connection, settled }) => {
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
        await settled();
        await client.query('rollback');
        await forgetPreparedStatements(client);
      } catch {
        // Ending the session rolls back server-side; knex then drops the connection from the pool.
        await client.end().catch(() => undefined);
      }
    }
  });
}

/** Measures one arm: warm-up, then the run's duration, one operation at a time. */
export async function measure(
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
// Catalog look-ups and plans.

async function indexSizes(db: Database, names: readonly string[]): Promise<Map<string, number>> {
  const result = await db.knex.raw<{ rows: { name: string; size: number | null }[] }>(
    `select n as name, pg_relation_size(to_regclass(n)) as size from unnest(?::text[]) n`,
    [[...names]],
  );
  const sizes = new Map<string, number>();
  for (const row of result.rows) if (row.size !== null) sizes.set(row.name, Number(row.size));
  return sizes;
}

/** The indexes' sizes in bytes; skips the experiment when one is missing. */
export async function requireIndexes(db: Database, names: readonly string[]): Promise<Map<string, number>> {
  const sizes = await indexSizes(db, names);
  const missing = names.filter((n) => !sizes.has(n));
  if (missing.length > 0) throw new Skip('indexes_missing', { indexes: missing });
  return sizes;
}

export async function estimatedRows(db: Database, table: string): Promise<number> {
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
export async function sampleTrackingNumbers(db: Database, size: number): Promise<string[]> {
  const rows = await estimatedRows(db, 'packages');
  if (rows === 0) throw new Skip('no_packages');
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

export function planText(rows: readonly { 'QUERY PLAN': string }[]): string {
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

export async function explainReport(report: Promise<ReportResult>): Promise<string> {
  const result = await report;
  return (result.plans ?? []).map((p) => `-- ${p.query}\n${p.plan}`).join('\n\n');
}

export function planUses(plan: string | undefined, index: string): boolean {
  return plan?.includes(index) === true;
}

// ---------------------------------------------------------------------------------------------
// Index experiments: the same work with the index (as is) and without it (dropped in a
// transaction that rolls back). Both arms run in such a transaction, so they pay the same
// savepoint overhead.

export interface IndexArms {
  without: ExperimentArm;
  with: ExperimentArm;
  /** How long the "without" arm held the lock its DROP INDEX took. */
  heldMs: number;
  parts?: { without: Map<string, number>; with: Map<string, number> };
}

export async function compareReportWithoutIndexes(
  run: Run,
  indexes: readonly string[],
  operation: (session: Database, time: PartTimer) => Promise<unknown>,
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

export function dropIsolation(table: string, indexes: readonly string[], heldMs: number): Finding {
  return finding('indexes_dropped_and_rolled_back', { table, indexes: [...indexes], lockTimeoutMs, heldMs });
}

/** The result of a one-index experiment: keep or drop, with the figures behind it. */
export function indexResult(
  table: string,
  index: string,
  indexBytes: number,
  arms: IndexArms,
  alsoUsedBy: readonly string[],
  notes: readonly Finding[],
): Outcome {
  const withMs = arms.with.summary.p50;
  const withoutMs = arms.without.summary.p50;
  return {
    before: arms.without,
    after: arms.with,
    speedup: withoutMs / withMs,
    findings: {
      isolation: dropIsolation(table, [index], arms.heldMs),
      verdict: finding(indexDecision(withMs, withoutMs), {
        index,
        indexBytes,
        withMs,
        withoutMs,
        ratio: withoutMs / withMs,
        alsoUsedBy: [...alsoUsedBy],
      }),
      notes: [
        finding('index_plan', { index, indexBytes, used: planUses(arms.with.plan, index) }),
        finding('operations_measured', { without: arms.without.summary.count, with: arms.with.summary.count }),
        ...notes,
      ],
    },
  };
}
