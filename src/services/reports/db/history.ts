import { randomUUID } from 'node:crypto';
import type { DocumentStore, StatementCounters, StatementSnapshotDocument } from '../../../store/documents/document-store.js';
import { toIso, toNumber, type Finding, type ReportReader, type ReportTable } from '../report.js';
import { redactQuery } from './health.js';
import { statementTimeColumns, type DbSnapshot, type StatementsModule } from './snapshot.js';

/**
 * Statement history: each `report db` on a server keeps a snapshot of pg_stat_statements in the
 * document store, and `report db --since 24h` compares the counters now with the snapshot taken
 * at or just before that moment — what got slower (mean time per call in the window against the
 * mean before it), what started running, what stopped. Counters are cumulative, so the window's
 * figures are differences; a reset of pg_stat_statements in between makes them meaningless, and
 * the report says so instead.
 */

/** How many statements a snapshot keeps (the busiest by total time). */
export const snapshotStatements = 500;

/** Snapshots older than this are removed when a new one is stored. */
export const snapshotRetentionMs = 30 * 86_400_000;

/** When pg_stat_statements' counters were last reset, as the snapshot read it, or null. */
export function statementsSince(snapshot: DbSnapshot): Date | null {
  const since = snapshot.statements?.since ?? null;
  return since === null ? null : new Date(since);
}

export interface HistoryThresholds {
  /** Slower: the window's mean at least this many times the mean before it… */
  slowerFactor: number;
  /** …and at least this much slower per call, in ms… */
  slowerMinMs: number;
  /** …over at least this many calls in the window. */
  minCalls: number;
  /** Rows in each table. */
  rows: number;
}

export const historyThresholds: HistoryThresholds = { slowerFactor: 1.5, slowerMinMs: 0.5, minCalls: 5, rows: 10 };

/** The counters as read now, and whose they are. */
export interface StatementCountersNow {
  server: string;
  statsReset: Date | null;
  statements: StatementCounters[];
  truncated: boolean;
}

interface CounterRow {
  query_id: string | null;
  query: string | null;
  calls: unknown;
  total_ms: unknown;
  rows: unknown;
  tracked: unknown;
}

/**
 * This database's pg_stat_statements counters, the busiest `snapshotStatements` by total time;
 * null when the view cannot be read (the snapshot says why elsewhere). Both reads are asked for
 * at once; `statsReset` is the snapshot's (statementsSince).
 */
export async function readStatementCounters(
  reader: ReportReader,
  module: StatementsModule,
): Promise<Omit<StatementCountersNow, 'statsReset'> | null> {
  if (!module.loaded || module.schema === null || !module.readable) return null;
  const { total } = statementTimeColumns(module.version);
  const [rows, [server]] = await Promise.all([
    reader.rows<CounterRow>(
      'pg_stat_statements counters',
      `select s.queryid::text as query_id, left(s.query, 1000) as query, s.calls, s.${total} as total_ms, s.rows,
              count(*) over () as tracked
         from ${module.schema}.pg_stat_statements s
        where s.dbid = (select oid from pg_database where datname = current_database()) and s.queryid is not null
        order by s.${total} desc
        limit ${snapshotStatements}`,
    ),
    reader.rows<{ server: string }>(
      'server identity',
      `select current_database() || '@' || coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port') as server`,
    ),
  ]);
  return {
    server: server?.server ?? 'unknown',
    statements: rows.map((r) => ({
      queryId: r.query_id ?? '',
      query: redactQuery(r.query ?? '').slice(0, 200),
      calls: toNumber(r.calls),
      totalMs: toNumber(r.total_ms),
      rows: toNumber(r.rows),
    })),
    truncated: toNumber(rows[0]?.tracked) > rows.length,
  };
}

export interface SlowerStatement {
  query: string;
  calls: number;
  meanBeforeMs: number;
  meanMs: number;
  /** Time the slowdown added in the window: (mean − mean before) × calls. */
  addedMs: number;
}

export interface StartedStatement {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
}

export interface StoppedStatement {
  query: string;
  callsBefore: number;
  meanBeforeMs: number;
}

export type StatementHistory =
  | { state: 'first'; asked: string }
  | { state: 'reset'; asked: string; since: string; reset: string | null }
  | {
      state: 'compared';
      asked: string;
      /** When the snapshot compared with was taken: at or before `asked`, else the oldest after it. */
      since: string;
      slower: SlowerStatement[];
      started: StartedStatement[];
      stopped: StoppedStatement[];
      /** The snapshot kept only the busiest statements: one missing from it may have run below the cut. */
      truncated: boolean;
    };

const mean = (totalMs: number, calls: number): number => (calls > 0 ? totalMs / calls : 0);

/** Compares the counters now with a snapshot taken earlier (pure). */
export function compareStatements(
  before: StatementSnapshotDocument,
  now: StatementCountersNow,
  asked: Date,
  t: HistoryThresholds = historyThresholds,
): StatementHistory {
  const since = before.takenAt.toISOString();
  if (now.statsReset !== null && now.statsReset.getTime() > before.takenAt.getTime()) {
    return { state: 'reset', asked: asked.toISOString(), since, reset: toIso(now.statsReset) };
  }
  const earlier = new Map(before.statements.map((s) => [s.queryId, s]));
  const current = new Map(now.statements.map((s) => [s.queryId, s]));
  // Below the cut of a truncated list, absence proves nothing: only totals above it count.
  const cutBefore = before.truncated ? Math.min(...before.statements.map((s) => s.totalMs)) : -Infinity;
  const cutNow = now.truncated ? Math.min(...now.statements.map((s) => s.totalMs)) : -Infinity;
  const slower: SlowerStatement[] = [];
  const started: StartedStatement[] = [];
  const stopped: StoppedStatement[] = [];
  for (const s of now.statements) {
    const b = earlier.get(s.queryId);
    // Fewer calls than before: the entry was evicted and came back; all it counts is recent.
    if (b === undefined || s.calls < b.calls) {
      if (b === undefined && s.totalMs <= cutBefore) continue;
      started.push({ query: s.query, calls: s.calls, totalMs: s.totalMs, meanMs: mean(s.totalMs, s.calls) });
      continue;
    }
    const calls = s.calls - b.calls;
    if (calls === 0) {
      stopped.push({ query: b.query, callsBefore: b.calls, meanBeforeMs: mean(b.totalMs, b.calls) });
      continue;
    }
    const meanMs = (s.totalMs - b.totalMs) / calls;
    const meanBeforeMs = mean(b.totalMs, b.calls);
    if (calls >= t.minCalls && meanMs >= meanBeforeMs * t.slowerFactor && meanMs - meanBeforeMs >= t.slowerMinMs) {
      slower.push({ query: s.query, calls, meanBeforeMs, meanMs, addedMs: (meanMs - meanBeforeMs) * calls });
    }
  }
  for (const b of before.statements) {
    if (current.has(b.queryId) || b.totalMs <= cutNow) continue;
    // Gone from the server's list: deallocated (it had not run for a while) or its text changed.
    stopped.push({ query: b.query, callsBefore: b.calls, meanBeforeMs: mean(b.totalMs, b.calls) });
  }
  slower.sort((x, y) => y.addedMs - x.addedMs);
  started.sort((x, y) => y.totalMs - x.totalMs);
  stopped.sort((x, y) => y.callsBefore * y.meanBeforeMs - x.callsBefore * x.meanBeforeMs);
  return {
    state: 'compared',
    asked: asked.toISOString(),
    since,
    slower: slower.slice(0, t.rows),
    started: started.slice(0, t.rows),
    stopped: stopped.slice(0, t.rows),
    truncated: before.truncated,
  };
}

/**
 * Stores the counters as a snapshot (and removes this server's snapshots past retention); when
 * `sinceMs` is given, first reads the snapshot to compare with. A snapshot that cannot be stored
 * (a read-only role, a standby) costs the history, not the report: the reason is returned.
 */
export async function keepStatementHistory(
  documents: DocumentStore,
  now: StatementCountersNow,
  takenAt: Date,
  sinceMs: number | undefined,
  rows: number = historyThresholds.rows,
): Promise<{ history: StatementHistory | null; notStored: string | null }> {
  let history: StatementHistory | null = null;
  if (sinceMs !== undefined) {
    const asked = new Date(takenAt.getTime() - sinceMs);
    const before = await documents.findStatementSnapshot(now.server, asked);
    history =
      before === null
        ? { state: 'first', asked: asked.toISOString() }
        : compareStatements(before, now, asked, { ...historyThresholds, rows });
  }
  try {
    await documents.insertStatementSnapshot({ id: randomUUID(), takenAt, ...now });
    await documents.deleteStatementSnapshots(now.server, new Date(takenAt.getTime() - snapshotRetentionMs));
    return { history, notStored: null };
  } catch (error) {
    return { history, notStored: error instanceof Error ? error.message : String(error) };
  }
}

export function historyFindings(history: StatementHistory | null, notStored: string | null): Finding[] {
  const findings: Finding[] = [];
  if (notStored !== null) {
    findings.push({ level: 'info', code: 'statement_snapshot_not_stored', subject: null, figures: { reason: notStored } });
  }
  if (history === null) return findings;
  if (history.state === 'first') {
    findings.push({ level: 'info', code: 'statement_history_empty', subject: null, figures: { asked: history.asked } });
  } else if (history.state === 'reset') {
    findings.push({
      level: 'info',
      code: 'statement_history_reset',
      subject: null,
      figures: { since: history.since, reset: history.reset },
    });
  } else {
    for (const s of history.slower.slice(0, 3)) {
      findings.push({
        level: 'warn',
        code: 'statement_slower',
        subject: s.query,
        figures: { since: history.since, calls: s.calls, mean_before_ms: s.meanBeforeMs, mean_ms: s.meanMs, added_ms: s.addedMs },
      });
    }
  }
  return findings;
}

export function historyTables(history: StatementHistory | null): ReportTable[] {
  if (history?.state !== 'compared') return [];
  const since = `since ${history.since}`;
  const cut = history.truncated ? ' (the snapshot kept only the busiest statements: some may have run below its cut)' : '';
  return [
    {
      name: 'statements_slower',
      title: `Statements slower ${since}`,
      columns: [
        { key: 'query', header: 'statement', kind: 'text' },
        { key: 'calls', header: 'calls', kind: 'integer', priority: 2 },
        { key: 'mean_before_ms', header: 'mean before', kind: 'ms' },
        { key: 'mean_ms', header: 'mean since', kind: 'ms' },
        { key: 'added_ms', header: 'added', kind: 'ms', priority: 3 },
      ],
      rows: history.slower.map((s) => ({
        query: s.query,
        calls: s.calls,
        mean_before_ms: s.meanBeforeMs,
        mean_ms: s.meanMs,
        added_ms: s.addedMs,
      })),
      caption: `mean per call in the window against the mean before it; slower = ×${historyThresholds.slowerFactor} and +${historyThresholds.slowerMinMs} ms, ${historyThresholds.minCalls}+ calls`,
    },
    {
      name: 'statements_started',
      title: `Statements started ${since}`,
      columns: [
        { key: 'query', header: 'statement', kind: 'text' },
        { key: 'calls', header: 'calls', kind: 'integer' },
        { key: 'total_ms', header: 'total', kind: 'ms' },
        { key: 'mean_ms', header: 'mean', kind: 'ms', priority: 2 },
      ],
      rows: history.started.map((s) => ({ query: s.query, calls: s.calls, total_ms: s.totalMs, mean_ms: s.meanMs })),
      caption: `not in the snapshot${cut}`,
    },
    {
      name: 'statements_stopped',
      title: `Statements stopped ${since}`,
      columns: [
        { key: 'query', header: 'statement', kind: 'text' },
        { key: 'calls_before', header: 'calls before', kind: 'integer' },
        { key: 'mean_before_ms', header: 'mean before', kind: 'ms', priority: 2 },
      ],
      rows: history.stopped.map((s) => ({ query: s.query, calls_before: s.callsBefore, mean_before_ms: s.meanBeforeMs })),
      caption: 'no call since the snapshot, or no longer tracked by pg_stat_statements',
    },
  ];
}
