import { runOverdueReport } from '../../reports/packages.report.js';
import {
  compareReportWithoutIndexes,
  explainReport,
  finding,
  indexResult,
  requireIndexes,
  requireServer,
  type Definition,
} from './harness.js';

// Until the in-flight rollup (migration 20261203000100), `report overdue` read
// shipments_undelivered_idx; now it reads the rollup's index of due times.
const index = 'in_flight_packages_due_idx';
const limit = 50;

/** `report overdue` with and without the partial index of the in-flight rollup on due times. */
export const overdueIndex: Definition = {
  name: 'overdue-index',
  question: `What does the partial index ${index} buy \`report overdue\`?`,
  async run(run) {
    const { db, now } = run.deps;
    requireServer(db);
    const size = (await requireIndexes(db, [index])).get(index) ?? 0;
    const arms = await compareReportWithoutIndexes(
      run,
      [index],
      (session) => runOverdueReport(session, { now, limit }),
      (session) => explainReport(runOverdueReport(session, { now, limit, explain: true })),
    );
    return indexResult(
      'in_flight_packages',
      index,
      size,
      arms,
      [],
      [finding('overdue_workload', { limit, asOf: now.toISOString() })],
    );
  },
};
