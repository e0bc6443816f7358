import type { Database } from '../../store/database.js';
import { checkDb, dbThresholds } from './db/rules.js';
import { readDbSnapshot, type DbSnapshot } from './db/snapshot.js';
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

/** `report db`: sizes, index health, vacuum and bloat, caches, statements and migrations, with actions. */
export async function runDbReport(db: Database, options: ReportOptions & { limit?: number }): Promise<ReportResult> {
  const limit = options.limit ?? 20;
  const read = await readReport(db, options, (reader) => readDbSnapshot(reader, limit));
  const snapshot = read.value;
  const findings = checkDb(snapshot, dbThresholds);
  return reportResult(
    {
      report: 'db',
      title: `Database ${snapshot.server.database}`,
      parameters: { limit },
      tables: dbTables(snapshot, limit),
      findings,
      notes: dbNotes(snapshot, findings),
    },
    options,
    read,
  );
}
