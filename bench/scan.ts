/**
 * Bulk ingest throughput of the write path (`shiptrack scan --file`).
 *
 *   npm run bench:scan -- --profile medium --scans 100000 --runs 3 [--batch 1000] [--parallel 2]
 *
 * --batch defaults to the CLI's own (scanLimits.defaultBatchScans, 5,000): what a user's
 * `scan --file` runs, and what --compare-sql holds against the hand-written SQL.
 *
 * Seeds a scratch database (unless --database-url names one already seeded). For each run, reads
 * the packages still in flight (minting new labels first when there are fewer than a third of
 * the scans, so runs can go on) and writes a fresh NDJSON file of new scans for them: later than
 * every stored event, following allowed transitions with rough real-world odds, in time order,
 * half with the scanner's own idempotency key and half with a derived one, each with a small raw
 * payload. Then runs `shiptrack scan --file … --json` as a child process and takes the scans/s it
 * reports (ingest time, after the connection is open). With --baseline-cli (another build's
 * bin/shiptrack.js), each run also measures that build on its own fresh scans, alternating which
 * goes first, so both see the same database and the same machine. --parallel goes to this build
 * only. Reports the median and min–max across runs.
 *
 *   npm run bench:scan -- --database-url postgres://…/db --generate scans.ndjson
 *
 * only writes a file of fresh scans (for profiling the ingest by hand) and exits.
 *
 *   npm run bench:scan -- --database-url postgres://…/db --runs 5 --compare-sql
 *
 * also records, in each run, fresh scans by hand-written SQL on two sessions (bench/scan-sql.ts:
 * the same checks and writes as one INSERT … SELECT per session), alternating with this build,
 * and prints the per-run ratio of the two rates.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { scanLimits } from '../src/domain/scan-input.js';
import { allowedTransitions, type PackageStatus } from '../src/domain/status.js';
import { formatS10 } from '../src/domain/tracking-number.js';
import { recordScansBySql, scansAsCsv } from './scan-sql.js';
import { medianAndSpread, seedScratchDatabase } from './support.js';

interface Args {
  profile: string;
  scans: number;
  runs: number;
  batch: number;
  adminUrl: string;
  databaseUrl: string | undefined;
  cli: string;
  baselineCli: string | undefined;
  generate: string | undefined;
  parallel: string | undefined;
  compareSql: boolean;
}

const handWritten = 'hand-written SQL (2 sessions)';

function parseArgs(argv: string[]): Args {
  const args: Args = {
    profile: 'medium',
    scans: 100_000,
    runs: 3,
    batch: scanLimits.defaultBatchScans,
    adminUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    databaseUrl: undefined,
    cli: path.resolve('bin/shiptrack.js'),
    baselineCli: undefined,
    generate: undefined,
    parallel: undefined,
    compareSql: false,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--compare-sql') {
      args.compareSql = true;
      i -= 1;
    } else if (flag === '--profile') args.profile = value;
    else if (flag === '--scans') args.scans = Number(value);
    else if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--batch') args.batch = Number(value);
    else if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--cli') args.cli = path.resolve(value);
    else if (flag === '--baseline-cli') args.baselineCli = path.resolve(value);
    else if (flag === '--generate') args.generate = path.resolve(value);
    else if (flag === '--parallel') args.parallel = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

/** mulberry32: the same run number gives the same file for the same database state. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The next status a real feed would send, with rough real-world odds; always an allowed transition. */
function nextStatus(from: PackageStatus, r: number): PackageStatus {
  const weighted: Partial<Record<PackageStatus, [PackageStatus, number][]>> = {
    pending: [['in_transit', 1]],
    in_transit: [
      ['in_transit', 0.6],
      ['out_for_delivery', 0.33],
      ['exception', 0.03],
      ['available_for_pickup', 0.03],
      ['return_to_sender', 0.01],
    ],
    out_for_delivery: [
      ['delivered', 0.92],
      ['attempt_fail', 0.05],
      ['available_for_pickup', 0.03],
    ],
    attempt_fail: [
      ['out_for_delivery', 0.8],
      ['available_for_pickup', 0.1],
      ['return_to_sender', 0.1],
    ],
    available_for_pickup: [
      ['delivered', 0.95],
      ['return_to_sender', 0.05],
    ],
    exception: [['in_transit', 1]],
    return_to_sender: [['returned', 1]],
  };
  let acc = 0;
  for (const [to, weight] of weighted[from] ?? []) {
    acc += weight;
    if (r < acc) return to;
  }
  return allowedTransitions[from][0] ?? from;
}

const terminal = new Set<PackageStatus>(['delivered', 'returned', 'cancelled']);

interface InFlight {
  tracking_number: string;
  current_status: PackageStatus;
  destination: string;
}

/**
 * New labels (pending packages with a shipment and a label event), so that runs do not run out of
 * packages in flight: a feed delivers packages and new ones enter it. Numbers use the service
 * letters BZ, which the seed does not issue.
 */
async function mintPackages(client: pg.Client, count: number, at: Date): Promise<void> {
  const last = await client.query<{ serial: number | null }>(
    `select max(substr(tracking_number, 3, 8)::int) as serial from packages where tracking_number like 'BZ%'`,
  );
  const first = (last.rows[0]?.serial ?? 0) + 1;
  const numbers = Array.from({ length: count }, (_, i) => formatS10('BZ', first + i, 'US'));
  await client.query(
    `with c as (select min(customer_id) lo, max(customer_id) - min(customer_id) + 1 n from customers),
          l as (select array_agg(location_id order by location_id) ids from locations where location_type <> 'delivery_station'),
          d as (select array_agg(location_id order by location_id) ids from locations where location_type = 'delivery_station'),
          p as (insert into packages (tracking_number, sender_id, recipient_id, current_status, weight)
                select t, c.lo + (i * 7919) % c.n, c.lo + (i * 104729) % c.n, 'pending', 0.5 + (i % 40) / 4.0
                  from unnest($1::text[]) with ordinality as v(t, i), c
                returning package_id),
          s as (insert into shipments (package_id, origin_location_id, destination_location_id, estimated_delivery)
                select p.package_id, l.ids[1 + (p.package_id % 97) % cardinality(l.ids)],
                       d.ids[1 + p.package_id % cardinality(d.ids)], $2::timestamptz + interval '3 days'
                  from p, l, d
                returning package_id, origin_location_id)
     insert into tracking_events (package_id, location_id, status, event_timestamp)
     select package_id, origin_location_id, 'pending', $2::timestamptz from s`,
    [numbers, at.toISOString()],
  );
  await client.query('analyze packages, shipments');
}

/** Fresh scans for packages in flight, as NDJSON in time order; returns the line count. */
async function writeScans(url: string, file: string, count: number, run: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let packages: InFlight[];
  let locations: string[];
  let base: number;
  try {
    const max = await client.query<{ latest: Date }>(`select max(event_timestamp) as latest from tracking_events`);
    // After every stored event, and no later than `scan` accepts (a day ahead): a run spans about
    // two and a half hours, starting a day and a half back when the data is older than that.
    base = Math.max(new Date(max.rows[0]?.latest ?? 0).getTime() + 60_000, Date.now() - 36 * 3_600_000);
    const inFlight = async (): Promise<InFlight[]> =>
      (
        await client.query<InFlight>(
          `select p.tracking_number, p.current_status, l.location_name as destination
             from packages p join shipments s using (package_id) join locations l on l.location_id = s.destination_location_id
            where p.current_status not in ('delivered', 'returned', 'cancelled') order by p.package_id`,
        )
      ).rows;
    packages = await inFlight();
    // About three scans per package and run, as a day of a real feed would have.
    const wanted = Math.ceil(count / 3);
    if (packages.length < wanted) {
      await mintPackages(client, wanted - packages.length, new Date(base - 1_800_000));
      packages = await inFlight();
    }
    locations = (
      await client.query<{ location_name: string }>(`select location_name from locations order by location_id`)
    ).rows.map((r) => r.location_name);
  } finally {
    await client.end();
  }
  const rnd = random(run * 7919 + 17);
  const windowMs = 2 * 3_600_000;
  const scans: { at: number; line: string }[] = [];
  const perPackage = Math.max(1, Math.ceil(count / packages.length));
  const lastAt = new Map<string, number>();
  let sequence = 0;
  for (let i = 0; scans.length < count; i += 1) {
    const pkg = packages[i % packages.length] as InFlight;
    if (i > packages.length * 20) throw new Error(`only ${scans.length} scans could be made`);
    let status = pkg.current_status;
    let at = lastAt.get(pkg.tracking_number) ?? base + Math.floor(rnd() * windowMs);
    for (let step = 0; step < perPackage && scans.length < count && !terminal.has(status); step += 1) {
      status = nextStatus(status, rnd());
      at += 10_000 + Math.floor(rnd() * 10 * 60_000);
      const device = Math.floor(rnd() * 5000);
      sequence += 1;
      const location =
        status === 'out_for_delivery' || status === 'delivered'
          ? pkg.destination
          : (locations[Math.floor(rnd() * locations.length)] ?? '1');
      scans.push({
        at,
        line: JSON.stringify({
          trackingNumber: pkg.tracking_number,
          status,
          location,
          at: new Date(at).toISOString(),
          ...(sequence % 2 === 0 ? { idempotencyKey: `hh-${device}:${run}:${sequence}` } : {}),
          payload: {
            device: `HH-${device}`,
            operator: `op-${Math.floor(rnd() * 900)}`,
            gps: [40 + rnd(), -74 - rnd()],
            battery: 80,
          },
        }),
      });
    }
    pkg.current_status = status;
    lastAt.set(pkg.tracking_number, at);
  }
  scans.sort((a, b) => a.at - b.at);
  writeFileSync(file, `${scans.map((s) => s.line).join('\n')}\n`);
  return scans.length;
}

interface Summary {
  lines: number;
  accepted: number;
  duplicate: number;
  outOfOrder: number;
  afterFinal: number;
  rejected: number;
  seconds: number;
  scansPerSecond: number;
}

function ingest(cli: string, url: string, file: string, options: string[]): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'scan', '--file', file, ...options, '--json'], {
      env: { ...process.env, SHIPTRACK_DATABASE_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString())); // progress, and any error
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`scan exited ${code}: ${stdout}${stderr}`));
      else resolve(JSON.parse(stdout) as Summary);
    });
  });
}

const spread = (values: number[]): string => medianAndSpread(values, (n) => Math.round(n).toLocaleString('en-US'));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const url =
    args.databaseUrl ??
    (await seedScratchDatabase(args.adminUrl, 'shiptrack_bench_scan', { profile: args.profile, documents: 0 }));
  if (args.generate !== undefined) {
    const lines = await writeScans(url, args.generate, args.scans, Date.now() % 100_000);
    process.stderr.write(`wrote ${lines} scans to ${args.generate}\n`);
    return;
  }
  /** A side of the comparison: records the scans of `file` (`lines` of them), returns scans/s and what to log. */
  interface Side {
    name: string;
    record(file: string, lines: number): Promise<{ rate: number; log: string }>;
  }
  const cliSide = (name: string, cli: string, extra: string[] = []): Side => ({
    name,
    async record(file, lines) {
      const summary = await ingest(cli, url, file, ['--batch', String(args.batch), ...extra]);
      if (summary.lines !== lines || summary.rejected > 0 || summary.duplicate > 0)
        throw new Error(`${name}: unexpected outcome ${JSON.stringify(summary)}`);
      return {
        rate: summary.scansPerSecond,
        log:
          `${lines} scans in ${summary.seconds.toFixed(2)} s = ${Math.round(summary.scansPerSecond)}/s ` +
          `(${summary.accepted} accepted, ${summary.outOfOrder} out of order, ${summary.afterFinal} after a final status)`,
      };
    },
  });
  const sides: Side[] = [cliSide('this build', args.cli, args.parallel === undefined ? [] : ['--parallel', args.parallel])];
  if (args.baselineCli !== undefined) sides.push(cliSide('baseline', args.baselineCli));
  // The hand-written limit: the same work in SQL on two sessions (bench/scan-sql.ts).
  if (args.compareSql) {
    sides.push({
      name: handWritten,
      async record(file, lines) {
        const { ms, recorded } = await recordScansBySql(url, scansAsCsv(file, 2));
        if (recorded !== lines) throw new Error(`${handWritten}: recorded ${recorded} of ${lines} scans`);
        const rate = (lines / ms) * 1000;
        return { rate, log: `${lines} scans in ${(ms / 1000).toFixed(2)} s = ${Math.round(rate)}/s` };
      },
    });
  }
  const results = new Map<string, number[]>(sides.map(({ name }) => [name, []]));
  const work = mkdtempSync(path.join(tmpdir(), 'shiptrack-bench-scan-'));
  try {
    for (let run = 1; run <= args.runs; run += 1) {
      // Alternate which side goes first, so none always meets the warmer cache.
      const order = run % 2 === 1 ? sides : [...sides].reverse();
      for (const side of order) {
        const file = path.join(work, 'scans.ndjson');
        const lines = await writeScans(url, file, args.scans, run * 3 + sides.indexOf(side));
        const { rate, log } = await side.record(file, lines);
        results.get(side.name)?.push(rate);
        process.stderr.write(`run ${run} ${side.name}: ${log}\n`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const lines = [
    `scan --file, profile ${args.profile}, ${args.scans} scans × ${args.runs} runs, --batch ${args.batch}` +
      `${args.parallel === undefined ? '' : ` (this build --parallel ${args.parallel})`}; scans/s, median (min–max)`,
  ];
  for (const [name, values] of results) lines.push(`  ${name.padEnd(24)} ${spread(values)}`);
  const ours = results.get('this build') ?? [];
  const limit = results.get(handWritten) ?? [];
  if (limit.length === ours.length && limit.length > 0) {
    const ratios = ours.map((o, i) => o / (limit[i] ?? Number.NaN));
    lines.push(`  this build / SQL, per run: ${medianAndSpread(ratios, (n) => n.toFixed(2))} (≥ 1.00: as fast as the SQL)`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
