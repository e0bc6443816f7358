import { runStaleReport } from '../../reports/packages.report.js';
import {
  compareReportWithoutIndexes,
  explainReport,
  finding,
  indexResult,
  requireIndexes,
  requireServer,
  type Definition,
} from './harness.js';

const index = 'packages_in_flight_idx';

/** `report stale` with and without its partial index. */
export const staleIndex: Definition = {
  name: 'stale-index',
  question: `What does the partial index ${index} buy \`report stale\`?`,
  async run(run) {
    const { db, now } = run.deps;
    requireServer(db);
    const size = (await requireIndexes(db, [index])).get(index) ?? 0;
    const options = { now, hours: 48, limit: 50 };
    const arms = await compareReportWithoutIndexes(
      run,
      [index],
      (session) => runStaleReport(session, options),
      (session) => explainReport(runStaleReport(session, { ...options, explain: true })),
    );
    // `report overdue` starts from the packages in flight too.
    return indexResult(
      'packages',
      index,
      size,
      arms,
      ['report overdue'],
      [finding('stale_workload', { hours: options.hours, asOf: now.toISOString() })],
    );
  },
};
