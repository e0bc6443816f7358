/** The reports bench/reports.ts and bench/growth.ts time: each with the options ops use most. */
import { parseDay, parseMetadataFilters } from '../src/domain/report-filters.js';
import { runExceptionsReport, runFacilitiesReport, runLanesReport } from '../src/services/reports/network.report.js';
import {
  runCustomerReport,
  runMetadataReport,
  runOverdueReport,
  runStaleReport,
  runStatusReport,
} from '../src/services/reports/packages.report.js';
import { runDbReport } from '../src/services/reports/db.report.js';
import type { ReportResult } from '../src/services/reports/report.js';
import type { Database } from '../src/store/database.js';
import type { SqlContext } from './reports-sql.js';

/** A report, and what to do (untimed) before each run of it. */
export type Measured = [string, () => Promise<ReportResult>, (() => Promise<unknown>)?];

/** Every report as of `now`, and what its hand-written SQL (bench/reports-sql.ts) needs to know. */
export async function reportRuns(db: Database, now: Date): Promise<{ reports: Measured[]; context: SqlContext }> {
  const day = (ago: number): Date => new Date(now.getTime() - ago * 86_400_000);
  const [customer] = (
    await db.knex.raw<{ rows: { email: string }[] }>(`select email from customers order by customer_id limit 1 offset 41`)
  ).rows;
  const reports: Measured[] = [
    ['status', () => runStatusReport(db, { now })],
    ['overdue --limit 50', () => runOverdueReport(db, { now, limit: 50 })],
    ['lanes --since 30d', () => runLanesReport(db, { now, since: day(30), by: 'state', minShipments: 20, limit: 20 })],
    ['lanes --by city', () => runLanesReport(db, { now, since: day(30), by: 'city', minShipments: 20, limit: 20 })],
    [
      'facilities --day yesterday',
      () => runFacilitiesReport(db, { now, day: parseDay('yesterday', now), sort: 'scans', limit: 20 }),
    ],
    ['stale --hours 48', () => runStaleReport(db, { now, hours: 48, limit: 50 })],
    [
      'exceptions --since 7d',
      () =>
        runExceptionsReport(db, {
          now,
          since: day(7),
          limit: 20,
          // As the command reads them with the raw scans in PostgreSQL: in the same query.
          reasons: 'database',
        }),
    ],
    ['customer <email>', () => runCustomerReport(db, { now, customer: customer?.email ?? '1', limit: 50 })],
    ['metadata fragile=true', () => runMetadataReport(db, { now, filter: parseMetadataFilters(['fragile=true']), limit: 20 })],
    [
      'metadata service+signature',
      () =>
        runMetadataReport(db, { now, filter: parseMetadataFilters(['service=express', 'signature_required=true']), limit: 20 }),
    ],
    ['db', () => runDbReport(db, { now, limit: 20 })],
  ];
  const context: SqlContext = { now, customerEmail: customer?.email ?? '', yesterday: parseDay('yesterday', now).start };
  return { reports, context };
}
