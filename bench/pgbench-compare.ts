/**
 * Does the benchmark harness measure what pgbench measures? Both run the same SQL (the track
 * query, keyed by a random package_id so that pgbench can draw the keys) as a prepared statement
 * at the same concurrency, one after the other in the same run; percentiles are compared.
 *
 *   npm run bench:pgbench -- --database-url postgres://…/seeded_db --concurrency 1,4 --duration 10s --runs 3
 *
 * Needs `pgbench` on the PATH (Debian: postgresql-client). pgbench's per-transaction log (-l)
 * gives every latency, so both sides' percentiles come from complete samples.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runWorkload, parseDurationMs } from '../src/services/benchmark/harness.js';
import { trackQuery } from '../src/store/track.store.js';
import { medianAndSpread, percentile } from './support.js';

interface Args {
  databaseUrl: string;
  concurrency: number[];
  durationMs: number;
  runs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    databaseUrl: process.env.SHIPTRACK_DATABASE_URL ?? '',
    concurrency: [1, 4],
    durationMs: 10_000,
    runs: 3,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--concurrency') args.concurrency = value.split(',').map(Number);
    else if (flag === '--duration') args.durationMs = parseDurationMs(value) ?? 10_000;
    else if (flag === '--runs') args.runs = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (args.databaseUrl === '') throw new Error('give --database-url of a seeded database (or set SHIPTRACK_DATABASE_URL)');
  return args;
}

// pgbench reads `:name` as a variable, so the time format's `HH24:MI` is written `HH24":"MI`
// (the same output); both sides run this same text.
const sqlText = trackQuery.text
  .replace('where p.tracking_number = $1', 'where p.package_id = $1')
  .replaceAll('HH24:MI', 'HH24":"MI');

interface Stats {
  p50: number;
  p90: number;
  p99: number;
  tps: number;
}

function runPgbench(url: string, maxId: number, concurrency: number, durationMs: number): Stats {
  const dir = mkdtempSync(path.join(tmpdir(), 'shiptrack-pgbench-'));
  try {
    const script = path.join(dir, 'track.sql');
    writeFileSync(
      script,
      `\\set id random(1, ${maxId})\n${sqlText
        .replace('$1', ':id')
        .replace(/\s*\n\s*/g, ' ')
        .trim()};\n`,
    );
    const run = spawnSync(
      'pgbench',
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        String(concurrency),
        // One client thread, like the harness's one Node thread, so both measure clients that share a core.
        '-j',
        '1',
        // Two extra seconds, dropped below as the warm-up.
        '-T',
        String(Math.round(durationMs / 1000) + 2),
        '-l',
        '--log-prefix',
        path.join(dir, 'log'),
        '-f',
        script,
        url,
      ],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) throw new Error(`pgbench failed: ${run.stderr}`);
    // pgbench has no warm-up option: its first 2 s are dropped, like the harness's warm-up.
    // Log lines: client, transaction, latency µs, script, epoch s, µs.
    const entries: { latencyMs: number; at: number }[] = [];
    for (const file of readdirSync(dir).filter((f) => f.startsWith('log'))) {
      for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
        const fields = line.split(' ');
        if (fields.length >= 6)
          entries.push({ latencyMs: Number(fields[2]) / 1000, at: Number(fields[4]) + Number(fields[5]) / 1e6 });
      }
    }
    const first = entries.reduce((min, e) => Math.min(min, e.at), Number.POSITIVE_INFINITY);
    const measured = entries.filter((e) => e.at >= first + 2);
    const latencies = measured.map((e) => e.latencyMs);
    latencies.sort((a, b) => a - b);
    const span = measured.reduce((max, e) => Math.max(max, e.at), Number.NEGATIVE_INFINITY) - (first + 2);
    const tps = span > 0 ? measured.length / span : Number.NaN;
    return { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), tps };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runHarness(url: string, maxId: number, concurrency: number, durationMs: number): Promise<Stats> {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  try {
    const summary = await runWorkload({
      concurrency,
      warmupMs: 2000,
      durationMs,
      operation: (worker) =>
        (clients[worker] as pg.Client).query({
          name: 'bench_track_by_id',
          text: sqlText,
          values: [1 + Math.floor(Math.random() * maxId)],
          // pgbench does not decode rows; neither do we here (no JSON.parse of the timeline).
          rowMode: 'array',
          types: { getTypeParser: () => (value: string) => value },
        }),
    });
    return { p50: summary.p50, p90: summary.p90, p99: summary.p99, tps: summary.throughput };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const probe = new pg.Client({ connectionString: args.databaseUrl });
  await probe.connect();
  const maxId = Number((await probe.query<{ m: string }>('select max(package_id) as m from packages')).rows[0]?.m ?? 0);
  await probe.end();
  if (!(maxId > 0)) throw new Error('no packages: seed the database first');
  const lines = [
    `track query by random package_id, prepared; ${args.runs} runs × ${args.durationMs / 1000} s per side and level, ms`,
    'median of runs (min–max); ratio = harness / pgbench, per run, median (min–max)',
  ];
  for (const c of args.concurrency) {
    const ours: Stats[] = [];
    const theirs: Stats[] = [];
    for (let run = 0; run < args.runs; run += 1) {
      // Alternate who goes first, so drift in the machine's load does not favour one side.
      if (run % 2 === 0) {
        ours.push(await runHarness(args.databaseUrl, maxId, c, args.durationMs));
        theirs.push(runPgbench(args.databaseUrl, maxId, c, args.durationMs));
      } else {
        theirs.push(runPgbench(args.databaseUrl, maxId, c, args.durationMs));
        ours.push(await runHarness(args.databaseUrl, maxId, c, args.durationMs));
      }
      process.stderr.write(`concurrency ${c}: run ${run + 1} done\n`);
    }
    lines.push(`  concurrency ${c}`);
    for (const key of ['p50', 'p90', 'p99', 'tps'] as const) {
      const a = ours.map((s) => s[key]);
      const b = theirs.map((s) => s[key]);
      const ratios = a.map((v, i) => v / (b[i] ?? Number.NaN));
      const fmt = (v: number[]): string => medianAndSpread(v, (n) => n.toFixed(3));
      lines.push(
        `    ${key.padEnd(4)} harness ${fmt(a)}  pgbench ${fmt(b)}  ratio ${medianAndSpread(ratios, (n) => n.toFixed(2))}`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
