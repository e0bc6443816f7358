#!/usr/bin/env node
// Records a file of scans (one JSON object per line) the way `shiptrack scan --file` does: bad
// lines are rejected by number, good ones recorded in batches, the cache refreshed after each.
//
//   node scan-file.mjs scans.ndjson
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { openShiptrack } from 'shiptrack';

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node scan-file.mjs <scans.ndjson>');
  process.exitCode = 2;
} else {
  await run(file);
}

async function run(file) {
  const shiptrack = await openShiptrack();
  try {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    const summary = await shiptrack.recordScanLines(lines, { batchSize: 500 });
    console.log(`${summary.accepted} accepted, ${summary.duplicate} duplicate, ${summary.rejected} rejected`);
    for (const r of summary.rejections) console.log(`  line ${r.line}: ${r.reason}`);
    for (const w of summary.warnings) console.error(`warning: ${w.code}: ${w.reason}`);
    process.exitCode = summary.rejected > 0 ? 4 : 0;
  } finally {
    await shiptrack.close();
  }
}
