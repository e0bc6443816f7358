#!/usr/bin/env node
// The overdue report as data: the ten packages longest past their promised delivery, printed as
// one line each. Any report works the same way (`reportNames` lists them).
//
//   node overdue-report.mjs            (the embedded database under ./.shiptrack, or SHIPTRACK_DATABASE_URL)
import { openShiptrack } from 'shiptrack';

const shiptrack = await openShiptrack();
try {
  const report = await shiptrack.report('overdue', { limit: 10 });
  const detail = report.tables.at(-1);
  for (const row of detail?.rows ?? []) console.log(Object.values(row).join('  '));
  if (detail === undefined || detail.rows.length === 0) console.log('nothing is overdue');
} finally {
  await shiptrack.close();
}
