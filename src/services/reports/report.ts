import type { Knex } from 'knex';
import { InterruptedError, mapPostgresError } from '../../errors.js';
import type { Database } from '../../store/database.js';
import { readStatement, withSession, withSessions, type Session, type SessionOptions } from '../../store/session.js';
import type { StatementSource } from '../../store/statement-source.js';

/**
 * What every report returns: plain data that the renderers turn into a table, CSV, Markdown or
 * JSON. Units live in the column kinds, so JSON carries raw numbers (hours, bytes, fractions).
 */

export type CellValue = string | number | boolean | null | number[];
export type ReportRow = Record<string, CellValue>;

export type ColumnKind =
  | 'text'
  | 'integer'
  | 'decimal'
  /** A fraction 0…1, shown as a percentage. */
  | 'percent'
  /** Hours, shown as h or d. */
  | 'hours'
  | 'bytes'
  | 'ms'
  /** An ISO timestamp. */
  | 'timestamp'
  /** A bar for a number (relative to the column's largest value); left out of CSV. */
  | 'bar'
  /** A sparkline of a series of counts. */
  | 'spark';

export interface ReportColumn {
  key: string;
  header: string;
  kind: ColumnKind;
  /** For `bar`: which numeric key the bar draws (defaults to `key`). */
  of?: string;
  /**
   * How essential the column is in a terminal table too wide for the terminal: 1 (the default)
   * is always shown; 2, 3, … give way, the highest first. CSV, Markdown and JSON show every column.
   */
  priority?: number;
}

export interface ReportTable {
  name: string;
  title: string;
  columns: ReportColumn[];
  rows: ReportRow[];
  /** A totals row under the table, keyed like the rows. */
  totals?: ReportRow;
  /** e.g. "showing 50 of 2,756". */
  caption?: string;
}

export type FindingLevel = 'ok' | 'info' | 'warn' | 'problem';

/** The measured values a finding or a note is written from, keyed in snake_case like row keys. */
export type Figures = Record<string, CellValue>;

/**
 * Something a reader should act on, as data ("index X has 0 scans and 210 MB — consider dropping"
 * is `{code: 'unused_index', subject: 'X', figures: {idx_scan: 0, bytes: 220200960, …}}`): the
 * renderers write the sentence.
 */
export interface Finding {
  level: FindingLevel;
  /** What kind of finding: a stable snake_case code (`unused_index`, or a consistency check's name). */
  code: string;
  /** What it is about (an index, a table, a document, a check…), or null. */
  subject: string | null;
  /** Raw values: bytes as numbers, fractions 0…1, counts, the thresholds used, related names. */
  figures: Figures;
}

/** How to read a report ("bloat is estimated …"), as data like a finding: the renderers write it. */
export interface Note {
  code: string;
  figures: Figures;
}

export function note(code: string, figures: Figures = {}): Note {
  return { code, figures };
}

export interface QueryPlan {
  query: string;
  plan: string;
}

export interface ReportResult {
  report: string;
  title: string;
  /** The filters in force, as the user can re-type them. */
  parameters: Record<string, CellValue>;
  /** The "now" relative windows were computed from. */
  asOf: string;
  tables: ReportTable[];
  findings: Finding[];
  notes: Note[];
  /** False when a finding is a problem: `report consistency` and `report db` exit non-zero. */
  ok: boolean;
  elapsedMs: number;
  plans?: QueryPlan[];
}

export interface ReportOptions {
  /** Relative windows (`--since 30d`) are computed from here. */
  now: Date;
  /** Capture EXPLAIN (ANALYZE, BUFFERS) of every query (runs each query twice). */
  explain?: boolean;
  /** On abort the running query is cancelled on the server and the report ends interrupted. */
  signal?: AbortSignal | undefined;
  /** Names the report's sessions in pg_stat_activity (default: the connection's own). */
  applicationName?: string | undefined;
}

/** Runs one named, bound query and returns its rows. */
export type NamedQuery = <Row>(name: string, sql: string, bindings?: readonly unknown[]) => Promise<Row[]>;

/** How a report reads: every query named, bound and timed, optionally explained. */
export interface ReportReader {
  readonly rows: NamedQuery;
  readonly mode: Database['mode'];
  /** The Citus distributed layout (Database.distributed). */
  readonly distributed?: boolean;
  readonly plans: QueryPlan[];
  /**
   * Readers on other connections that see exactly this reader's snapshot, for work split across
   * connections: as many as asked for less one, on a server and without --explain; else none.
   */
  readonly siblings: readonly ReportReader[];
}

/**
 * Where a report reads: the database (knex and its pool), or, for a report of one prepared
 * statement in a short-lived process, one plain connection (registry.ts decides; a report given
 * one must read through its prepared statement).
 */
export type ReportSource = Database | StatementSource;

const isStatementSource = (source: ReportSource): source is StatementSource => 'statement' in source;

/** Snapshot ids as PostgreSQL exports them (`00000003-0000001B-1`): safe to put in SQL. */
const snapshotId = /^[0-9A-F]+(-[0-9A-F]+)+$/i;

/**
 * Runs a report's queries in one REPEATABLE READ, READ ONLY transaction: every query sees the
 * same snapshot, and no report can write even by mistake, so reports work under a role granted
 * only reads. With `connections` > 1 (on a server), sibling transactions import that snapshot.
 * Each connection is a session (store/session.ts): Ctrl-C cancels its query on the server.
 */
export async function readReport<T>(
  source: ReportSource,
  options: ReportOptions,
  work: (reader: ReportReader) => Promise<T>,
  settings: {
    connections?: number;
    statementTimeoutMs?: number;
    /**
     * The report reads with exactly one query: on a server (without --explain) its transaction,
     * settings, query and commit then take one round trip instead of three.
     */
    single?: boolean;
    /**
     * With `single`, for a statement that reads maintained tables and index ranges only (it needs
     * no larger work_mem): on a server, without --explain and a statement timeout of its own, it
     * runs alone in autocommit as the prepared statement of this name (store/session.ts
     * readStatement), its own snapshot being the report's. It runs under the connection's
     * application name (a setting would cost a round trip of its own, for a read under a ms).
     */
    prepared?: string;
  } = {},
): Promise<{ value: T; plans: QueryPlan[]; elapsedMs: number }> {
  const started = performance.now();
  const plans: QueryPlan[] = [];
  const signal = options.signal;
  const session: SessionOptions = {
    signal,
    statementTimeoutMs: settings.statementTimeoutMs,
    applicationName: options.applicationName,
  };
  // Sorting a few hundred thousand rows for percentiles must not spill to disk; no report query
  // is worth compiling.
  const reportSettings = { work_mem: '64MB', jit: 'off' };

  function reader(raw: Session['raw'], siblings: ReportReader[], many?: Session['rawMany']): ReportReader {
    // One read at a time on the connection, in the order asked for: reads asked for at once (a
    // Promise.all) would otherwise pile up in pg's queue, which pg 9 refuses.
    let previous: Promise<unknown> = Promise.resolve();
    const inTurn = <R>(read: () => Promise<R>): Promise<R> => {
      const next = previous.then(async () => {
        // A cancel reaches only a query in flight: after Ctrl-C no new one starts.
        if (signal?.aborted) throw new InterruptedError('report interrupted');
        return read();
      });
      previous = next.catch(() => undefined);
      return next;
    };
    // Reads without bindings asked for in the same tick go to the server together, in one round
    // trip (Session.rawMany). Not with --explain: each is explained alone.
    const batching = many !== undefined && options.explain !== true ? many : undefined;
    let queued: { sql: string; resolve: (rows: unknown[]) => void; reject: (error: unknown) => void }[] = [];
    const flush = (send: Session['rawMany']): void => {
      const batch = queued;
      queued = [];
      inTurn(() => send(batch.map((q) => q.sql))).then(
        (results) => {
          for (const [i, q] of batch.entries()) {
            const result = results[i];
            if (result === undefined) q.reject(new Error(`${batch.length} statements sent, ${results.length} results read`));
            else q.resolve(result.rows);
          }
        },
        (error: unknown) => {
          for (const q of batch) q.reject(error);
        },
      );
    };
    return {
      mode: source.mode,
      distributed: source.distributed === true,
      plans,
      siblings,
      rows: async <Row>(name: string, sql: string, bindings: readonly unknown[] = []): Promise<Row[]> => {
        if (signal?.aborted) throw new InterruptedError('report interrupted');
        if (batching !== undefined && bindings.length === 0) {
          return new Promise<Row[]>((resolve, reject) => {
            queued.push({ sql, resolve: resolve as (rows: unknown[]) => void, reject });
            if (queued.length === 1) process.nextTick(flush, batching);
          });
        }
        return inTurn(async () => {
          if (options.explain === true) {
            const explained = await raw<{ 'QUERY PLAN': string }>(
              `explain (analyze, buffers) ${sql}`,
              bindings as Knex.RawBinding[],
            );
            plans.push({ query: name, plan: explained.rows.map((r) => r['QUERY PLAN']).join('\n') });
          }
          return (await raw<Row>(sql, bindings as Knex.RawBinding[])).rows;
        });
      },
    };
  }

  // The session opens the transaction, with the settings, with the work's first statement
  // (`rawOnly`) and commits it after the work: a report of several queries costs one round trip
  // more than its queries (queries asked for together share one), one of a single query
  // (`single`) none.
  const readInSnapshot = async (db: Database, main: Session): Promise<T> => {
    const siblings: ReportReader[] = [];
    const first = reader(main.raw, siblings, main.rawMany);
    const wanted = Math.max(1, settings.connections ?? 1);
    if (wanted === 1 || db.mode !== 'server' || options.explain === true) return work(first);
    const exported = await main.raw<{ snapshot: string }>('select pg_export_snapshot() as snapshot');
    const snapshot = exported.rows[0]?.snapshot ?? '';
    if (!snapshotId.test(snapshot)) throw new Error(`unexpected snapshot id ${JSON.stringify(snapshot)}`);
    return withSessions(db, wanted - 1, session, async (others) => {
      try {
        for (const other of others) {
          await other.raw('begin isolation level repeatable read read only');
          await other.raw(`set transaction snapshot '${snapshot}'`);
          await other.raw(`select set_config('work_mem', ?, true), set_config('jit', ?, true)`, [
            reportSettings.work_mem,
            reportSettings.jit,
          ]);
          siblings.push(reader(other.raw, [], other.rawMany));
        }
        return await work(first);
      } finally {
        await Promise.all(others.map((other) => other.raw('rollback').catch(() => undefined)));
      }
    });
  };

  const prepared =
    settings.single === true &&
    settings.prepared !== undefined &&
    source.mode === 'server' &&
    options.explain !== true &&
    settings.statementTimeoutMs === undefined &&
    (settings.connections ?? 1) <= 1
      ? settings.prepared
      : undefined;
  try {
    if (signal?.aborted) throw new InterruptedError('report interrupted');
    if (prepared !== undefined) {
      let sent = false;
      const raw: Session['raw'] = async <R>(sql: string, bindings: readonly Knex.RawBinding[] = []) => {
        if (sent) throw new Error('a single-statement report ran a second statement');
        sent = true;
        const rows = isStatementSource(source)
          ? await source.statement<R>(prepared, sql, bindings)
          : await readStatement<R>(source, signal, prepared, sql, bindings);
        return { rows };
      };
      const value = await work(reader(raw, []));
      return { value, plans, elapsedMs: performance.now() - started };
    }
    if (isStatementSource(source))
      throw new Error('a report read over a plain connection needs more than its prepared statement');
    const value = await withSession(
      source,
      {
        ...session,
        transaction: {
          mode: 'isolation level repeatable read read only',
          settings: reportSettings,
          single: settings.single === true && options.explain !== true && (settings.connections ?? 1) <= 1,
          rawOnly: true,
        },
      },
      (main) => readInSnapshot(source, main),
    );
    return { value, plans, elapsedMs: performance.now() - started };
  } catch (error) {
    if (signal?.aborted) throw new InterruptedError('report interrupted', { cause: error });
    throw mapPostgresError(error);
  }
}

export function reportResult(
  base: Omit<ReportResult, 'elapsedMs' | 'plans' | 'ok' | 'findings' | 'notes' | 'asOf'> &
    Partial<Pick<ReportResult, 'findings' | 'notes' | 'ok'>>,
  options: ReportOptions,
  read: { plans: QueryPlan[]; elapsedMs: number },
): ReportResult {
  const findings = base.findings ?? [];
  return {
    ...base,
    asOf: options.now.toISOString(),
    findings,
    notes: base.notes ?? [],
    ok: base.ok ?? !findings.some((f) => f.level === 'problem'),
    elapsedMs: read.elapsedMs,
    ...(options.explain === true ? { plans: read.plans } : {}),
  };
}

/** pg returns numeric and some aggregates as strings; reports want numbers. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value !== '') return Number(value);
  return 0;
}

export function toNullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : toNumber(value);
}

export function toIso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const date =
    value instanceof Date
      ? value
      : typeof value === 'string' || typeof value === 'number'
        ? new Date(value)
        : new Date(Number.NaN);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
