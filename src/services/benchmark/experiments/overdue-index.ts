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

const index = 'shipments_undelivered_idx';
const limit = 50;

/** `report overdue` with and without its partial index. */
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
    return indexResult('shipments', index, size, arms, [], [finding('overdue_workload', { limit, asOf: now.toISOString() })]);
  },
};
