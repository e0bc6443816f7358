#!/usr/bin/env node
// Tracks a package (which fills the cache when Redis is configured), records an `exception` scan
// for it through the library, and tracks it again: the second answer must show the new status at
// once, with no stale cached answer in between. Prints that answer as JSON; exits 0 only if it
// shows the exception.
//
//   SHIPTRACK_DATABASE_URL=postgres://… SHIPTRACK_REDIS_URL=redis://… node track-and-scan.mjs RB123456785US
import { openShiptrack } from 'shiptrack';

const number = process.argv[2];
if (number === undefined) {
  console.error('usage: node track-and-scan.mjs <tracking-number>');
  process.exitCode = 2;
} else {
  await run(number);
}

async function run(number) {
  const shiptrack = await openShiptrack({ onNotice: (line) => console.error(line) });
  try {
    const before = await shiptrack.track(number);
    const pkg = before.results[0]?.package;
    if (pkg === null || pkg === undefined) {
      console.error(`${number}: no package has this number`);
      process.exitCode = 3;
    } else {
      // Any location will do: the one of its latest scan.
      const location = pkg.events.at(-1)?.location.name ?? pkg.origin.name;
      const { outcome, warnings } = await shiptrack.recordScan({
        trackingNumber: number,
        status: 'exception',
        location,
        payload: { reason: 'label damaged', device: 'example' },
        source: 'example',
      });
      for (const warning of [...before.warnings, ...warnings]) console.error(`warning: ${warning.code}: ${warning.reason}`);
      const after = await shiptrack.track(number);
      const answer = after.results[0];
      console.log(JSON.stringify({ recorded: outcome, answer }, null, 2));
      process.exitCode = answer?.package?.currentStatus === 'exception' ? 0 : 1;
    }
  } finally {
    await shiptrack.close();
  }
}
