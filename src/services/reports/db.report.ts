import type { Database } from '../../store/database.js';
import type { DocumentStore } from '../../store/documents/document-store.js';
import { adviceFindings, adviceTable, adviseIndexes, type AdviceResult } from './db/advice.js';
import { historyFindings, historyTables, keepStatementHistory, readStatementCounters, statementsSince } from './db/history.js';
import { checkDb, dbThresholds } from './db/rules.js';
import { readDbSnapshotWith, statementLimit, type DbSnapshot } from './db/snapshot.js';
import { dbTables } from './db/tables.js';
import { note, readReport, reportResult, type Finding, type Note, type ReportOptions, type ReportResult } from './report.js';

export { coverage, findDuplicateIndexes, type IndexShape } from './db/indexes.js';

/**
 * `report db`: what a DBA checks first, read from PostgreSQL's own statistics: sizes, unused,
 * duplicate and invalid indexes, dead tuples and bloat, cache hit ratios, the slowest statements
 * and the migration history. It reads one snapshot (db/snapshot.ts), runs small rules over it
 * (db/rules.ts) and lays it out as tables (db/tables.ts).
 */

function dbNotes(snapshot: DbSnapshot, findings: readonly Finding[]): Note[] {
  const notes = [
    note('scan_counters', {
      stats_reset: snapshot.server.statsReset,
      unused_found: findings.some((f) => f.code === 'unused_index'),
    }),
    note('bloat_estimated'),
    note('cache_shared_buffers'),
    note('pending_migrations'),
  ];
  if (snapshot.embedded) notes.push(note('embedded_counters'));
  return notes;
}

export interface DbReportOptions extends ReportOptions {
  limit?: number;
  /** Compare pg_stat_statements with the snapshot kept at or before this moment. */
  since?: Date | undefined;
  /** Try hypothetical indexes for the slowest statements (hypopg). */
  advise?: boolean;
}

/**
 * `report db`: sizes, index health, vacuum and bloat, caches, statements and migrations, with
 * actions. On a server with pg_stat_statements it keeps a snapshot of the statements' counters in
 * `documents` (when given) for `--since`.
 */
export async function runDbReport(
  db: Database,
  options: DbReportOptions,
  documents?: () => Promise<DocumentStore>,
): Promise<ReportResult> {
  // Checked before any query: it is written into the statements' SQL.
  const limit = statementLimit(options.limit ?? 20);
  const read = await readReport(db, options, async (reader) => {
    const { snapshot, alongside: counters } = await readDbSnapshotWith(reader, limit, (server) =>
      documents === undefined ? Promise.resolve(null) : readStatementCounters(reader, server.statementsModule),
    );
    return { snapshot, counters: counters === null ? null : { ...counters, statsReset: statementsSince(snapshot) } };
  });
  const { snapshot, counters } = read.value;
  const kept =
    counters === null || documents === undefined
      ? { history: null, notStored: null }
      : await keepStatementHistory(
          await documents(),
          counters,
          options.now,
          options.since === undefined ? undefined : options.now.getTime() - options.since.getTime(),
          limit,
        );
  const advice: AdviceResult | null =
    options.advise === true ? await adviseIndexes(db, snapshot.server.statementsModule, options) : null;
  const findings = [
    ...checkDb(snapshot, dbThresholds),
    ...historyFindings(options.since === undefined ? null : kept.history, kept.notStored),
    ...adviceFindings(advice),
  ];
  return reportResult(
    {
      report: 'db',
      title: `Database ${snapshot.server.database}`,
      parameters: {
        limit,
        ...(options.since === undefined ? {} : { since: options.since.toISOString() }),
        ...(options.advise === true ? { advise: true } : {}),
      },
      tables: [...dbTables(snapshot, limit), ...historyTables(kept.history), ...adviceTable(advice)],
      findings,
      notes: dbNotes(snapshot, findings),
    },
    options,
    read,
  );
}
