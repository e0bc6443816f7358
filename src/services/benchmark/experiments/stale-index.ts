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

const index = 'in_flight_packages_quiet_idx';

/** `report stale` with and without the index of the in-flight rollup on the time since the last scan. */
export const staleIndex: Definition = {
  name: 'stale-index',
  question: `What does ${index} (the in-flight rollup by time since the last scan) buy \`report stale\`?`,
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
    return indexResult(
      'in_flight_packages',
      index,
      size,
      arms,
      [],
      [finding('stale_workload', { hours: options.hours, asOf: now.toISOString() })],
    );
  },
};
