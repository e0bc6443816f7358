/**
 * Does the benchmark harness measure what pgbench measures? Both run the same SQL (the track
 * query, keyed by a random package_id so that pgbench can draw the keys) as a prepared statement
 * at the same concurrency, one after the other in the same run; percentiles are compared.
 *
 *   npm run bench:pgbench -- --database-url postgres://…/seeded_db --concurrency 1,4 --duration 10s --runs 3
 *
 * Needs `pgbench` on the PATH (Debian: postgresql-client). pgbench's per-transaction log (-l)
 * gives every latency, so both sides' percentiles come from complete samples.
 *
 * `--socket-floor` adds a third side: the same harness driving bare sockets (connected and
 * authenticated by pg, then written to directly, replies only framed, never decoded). It is the
 * least any Node client can cost here, so it separates the driver's cost from Node's own.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { durationOption } from '../src/options.js';
import { runWorkload } from '../src/services/benchmark/harness.js';
import { queryPrepared, type PreparedStatement } from '../src/store/prepared-read.js';
import { trackQuery } from '../src/store/track-query.js';
import { medianAndSpread, percentile } from './support.js';

interface Args {
  databaseUrl: string;
  concurrency: number[];
  durationMs: number;
  runs: number;
  socketFloor: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    databaseUrl: process.env.SHIPTRACK_DATABASE_URL ?? '',
    concurrency: [1, 4],
    durationMs: 10_000,
    runs: 3,
    socketFloor: false,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--socket-floor') {
      args.socketFloor = true;
      i -= 1;
    } else if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--concurrency') args.concurrency = value.split(',').map(Number);
    else if (flag === '--duration') args.durationMs = durationOption(value, '--duration', { min: 100, max: 3_600_000 });
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
const statement: PreparedStatement = { name: 'bench_track_by_id', text: sqlText };

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
      // pgbench does not decode rows; neither do we here (no JSON.parse of the timeline, no dates).
      const client = new pg.Client({ connectionString: url, types: { getTypeParser: () => (value: string) => value } });
      await client.connect();
      return client;
    }),
  );
  try {
    const summary = await runWorkload({
      concurrency,
      warmupMs: 2000,
      durationMs,
      // The read path `track` uses: one write of Bind/Execute/Sync per lookup.
      operation: (worker) => queryPrepared(clients[worker] as pg.Client, statement, [1 + Math.floor(Math.random() * maxId)]),
    });
    return { p50: summary.p50, p90: summary.p90, p99: summary.p99, tps: summary.throughput };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

interface RawSocket {
  write(chunk: Buffer): boolean;
  destroy(): void;
  removeAllListeners(event: string): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/** pg's Connection keeps its socket as `stream`. */
const socketOf = (client: pg.Client): RawSocket => (client as unknown as { connection: { stream: RawSocket } }).connection.stream;

/** Resolves at each ReadyForQuery ('Z') on the socket; errors are not expected on this read. */
function replyWaiter(socket: RawSocket): () => Promise<void> {
  let pending: Buffer | undefined;
  let waiting: (() => void) | undefined;
  socket.removeAllListeners('data');
  socket.on('data', (chunk) => {
    const data = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    let ready = false;
    while (data.length - offset >= 5) {
      const length = data.readInt32BE(offset + 1);
      if (data.length - offset < 1 + length) break;
      if (data[offset] === 0x5a) ready = true;
      offset += 1 + length;
    }
    pending = offset < data.length ? data.subarray(offset) : undefined;
    if (ready && waiting !== undefined) {
      const done = waiting;
      waiting = undefined;
      done();
    }
  });
  return () =>
    new Promise<void>((resolve) => {
      waiting = resolve;
    });
}

async function runSocketFloor(url: string, maxId: number, concurrency: number, durationMs: number): Promise<Stats> {
  const { serialize } = await import('pg-protocol');
  const tail = Buffer.concat([serialize.execute(), serialize.sync()]);
  const clients: pg.Client[] = [];
  try {
    const sockets: { socket: RawSocket; reply: () => Promise<void> }[] = [];
    for (let i = 0; i < concurrency; i += 1) {
      const client = new pg.Client({ connectionString: url });
      // Closing the taken-over socket below looks to pg like a lost connection.
      client.on('error', () => undefined);
      clients.push(client);
      await client.connect();
      await client.query(`prepare floor_track_by_id as ${sqlText}`);
      // From here on pg no longer reads the socket.
      const socket = socketOf(client);
      sockets.push({ socket, reply: replyWaiter(socket) });
    }
    const summary = await runWorkload({
      concurrency,
      warmupMs: 2000,
      durationMs,
      operation: (worker) => {
        const side = sockets[worker];
        if (side === undefined) throw new Error(`no socket for worker ${worker}`);
        const done = side.reply();
        const id = String(1 + Math.floor(Math.random() * maxId));
        side.socket.write(Buffer.concat([serialize.bind({ statement: 'floor_track_by_id', values: [id] }), tail]));
        return done;
      },
    });
    return { p50: summary.p50, p90: summary.p90, p99: summary.p99, tps: summary.throughput };
  } finally {
    // The sockets no longer speak pg's protocol state: close them without a goodbye.
    for (const client of clients) socketOf(client).destroy();
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
  const sides: { name: string; run: (c: number) => Promise<Stats> }[] = [
    { name: 'harness', run: (c) => runHarness(args.databaseUrl, maxId, c, args.durationMs) },
    ...(args.socketFloor
      ? [{ name: 'socket', run: (c: number) => runSocketFloor(args.databaseUrl, maxId, c, args.durationMs) }]
      : []),
    { name: 'pgbench', run: (c) => Promise.resolve(runPgbench(args.databaseUrl, maxId, c, args.durationMs)) },
  ];
  if (args.socketFloor) lines.push('socket = the same harness over bare sockets (no driver); its ratio is also to pgbench');
  for (const c of args.concurrency) {
    const stats = new Map<string, Stats[]>(sides.map((side) => [side.name, []]));
    for (let run = 0; run < args.runs; run += 1) {
      // Rotate who goes first, so drift in the machine's load does not favour one side.
      for (let k = 0; k < sides.length; k += 1) {
        const side = sides[(run + k) % sides.length];
        if (side !== undefined) stats.get(side.name)?.push(await side.run(c));
      }
      process.stderr.write(`concurrency ${c}: run ${run + 1} done\n`);
    }
    lines.push(`  concurrency ${c}`);
    const theirs = stats.get('pgbench') ?? [];
    const fmt = (v: number[]): string => medianAndSpread(v, (n) => n.toFixed(3));
    for (const key of ['p50', 'p90', 'p99', 'tps'] as const) {
      const b = theirs.map((s) => s[key]);
      const cells = sides
        .filter((side) => side.name !== 'pgbench')
        .map((side) => {
          const a = (stats.get(side.name) ?? []).map((s) => s[key]);
          const ratios = a.map((v, i) => v / (b[i] ?? Number.NaN));
          return `${side.name} ${fmt(a)} ratio ${medianAndSpread(ratios, (n) => n.toFixed(2))}`;
        });
      lines.push(`    ${key.padEnd(4)} ${cells.join('  ')}  pgbench ${fmt(b)}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
