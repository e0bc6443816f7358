/**
 * In-process latency of the track read path, with baselines measured in the same run.
 *
 *   npm run bench:track -- --profile medium --database-url <seeded db> --redis-url redis://127.0.0.1:6379/14 \
 *     --lookups 20000 --runs 3 [--baseline <another checkout, built>]
 *
 * Seeds a scratch database (unless --database-url names one already seeded), samples tracking
 * numbers from it, then in each run looks them up through the library: the database path (named
 * prepared statement on one pg connection), the same SQL unprepared, and the Redis cache hit, one
 * at a time and four at a time (with the Node CPU each hit costs). `redis-benchmark` GETs a
 * cached answer of the median size in the same run: the floor a cache hit is compared with; beside
 * it, Node's floors: a GET of the same key alone through ioredis (the cache's client) and through
 * node-redis (`@redis/client`, measured before choosing a client), and over a bare socket. With
 * --baseline, the other build's tracker and cache run the same loops, alternating with this one.
 * Reports p50/p90/p99/max per run and the medians across runs, with min–max.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient as createNodeRedis } from '@redis/client';
import type { RedisClient } from '../src/store/redis.js';
import { loadConfig } from '../src/config.js';
import * as trackService from '../src/services/track.service.js';
import { openPgClient } from '../src/store/pg-client.js';
import { closeRedis, deleteKeysWithPrefix, openRedis } from '../src/store/redis.js';
import * as trackCache from '../src/store/track-cache.js';
import { measure, median, medianAndSpread, sampleNumbers, seedScratchDatabase, type Stats } from './support.js';

interface Args {
  profile: string;
  lookups: number;
  runs: number;
  adminUrl: string;
  databaseUrl: string | undefined;
  redisUrl: string;
  baseline: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    profile: 'medium',
    lookups: 20_000,
    runs: 3,
    adminUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    databaseUrl: undefined,
    redisUrl: process.env.SHIPTRACK_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14',
    baseline: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--profile') args.profile = value;
    else if (flag === '--lookups') args.lookups = Number(value);
    else if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--redis-url') args.redisUrl = value;
    else if (flag === '--baseline') args.baseline = path.resolve(value);
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

/** What a build offers the loops: its tracker and its cache (this checkout's, or --baseline's). */
interface Build {
  name: string;
  createTracker: typeof trackService.createTracker;
  createTrackCache: typeof trackCache.createTrackCache;
}

async function loadBuild(dir: string): Promise<Build> {
  const load = (file: string): Promise<unknown> => import(pathToFileURL(path.join(dir, 'dist', 'src', file)).href);
  const service = (await load('services/track.service.js')) as typeof trackService;
  const cache = (await load('store/track-cache.js')) as typeof trackCache;
  return { name: 'baseline', createTracker: service.createTracker, createTrackCache: cache.createTrackCache };
}

/** `redis-benchmark` GETting one key, `concurrency` clients: the C client's floor for the same reply. */
function redisBenchmarkGet(redisUrl: string, key: string, concurrency: number, requests: number): Stats {
  const url = new URL(redisUrl);
  const db = url.pathname.replace('/', '');
  const args = ['-h', url.hostname || '127.0.0.1', '-p', url.port || '6379', '-c', String(concurrency), '-n', String(requests)];
  if (url.password !== '') args.push('-a', decodeURIComponent(url.password));
  if (url.username !== '') args.push('--user', decodeURIComponent(url.username));
  if (db !== '') args.push('--dbnum', db);
  const run = spawnSync('redis-benchmark', [...args, '--csv', 'GET', key], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`redis-benchmark failed: ${run.stderr || run.error?.message || ''}`);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const fields = (run.stdout.trim().split('\n').at(-1) ?? '').split(',').map((f) => Number(f.replace(/"/g, '')));
  return {
    p50: fields[4] ?? Number.NaN,
    p90: fields[5] ?? Number.NaN, // its p95: redis-benchmark prints no p90
    p99: fields[6] ?? Number.NaN,
    max: fields[7] ?? Number.NaN,
    rate: fields[1] ?? Number.NaN,
    cpuUs: Number.NaN,
  };
}

/**
 * GET of one key over a bare socket, no client library: RESP written by hand, the reply's length
 * read from its header. What any Node client pays at least for a round trip (the event loop, the
 * socket read, a Buffer): the floor of a cache hit in Node, beside the C client's.
 */
async function openBareGet(redisUrl: string, key: string): Promise<{ get: () => Promise<number>; close: () => void }> {
  const url = new URL(redisUrl);
  const socket = net.connect({ host: url.hostname || '127.0.0.1', port: Number(url.port || 6379), noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const command = (...parts: string[]): Buffer =>
    Buffer.from(`*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`);
  let pending: ((bytes: number) => void) | undefined;
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n');
    if (end < 0) return;
    const header = buffered.toString('latin1', 0, end);
    const length = header.startsWith('$') ? Math.max(0, Number(header.slice(1))) + 2 : 0;
    if (buffered.length < end + 2 + length) return;
    buffered = Buffer.alloc(0);
    const done = pending;
    pending = undefined;
    done?.(length);
  });
  const send = (payload: Buffer): Promise<number> =>
    new Promise<number>((resolve) => {
      pending = resolve;
      socket.write(payload);
    });
  if (url.password !== '') {
    const user = url.username === '' ? [] : [decodeURIComponent(url.username)];
    await send(command('AUTH', ...user, decodeURIComponent(url.password)));
  }
  const db = url.pathname.replace('/', '');
  if (db !== '') await send(command('SELECT', db));
  const get = command('GET', key);
  return { get: () => send(get), close: () => socket.destroy() };
}

/** The cached key whose answer has the median length among a sample. */
async function medianKey(
  redis: RedisClient,
  prefix: string,
  numbers: readonly string[],
): Promise<{ key: string; bytes: number }> {
  const keys = numbers.slice(0, 201).map((n) => trackCache.trackCacheKey(prefix, n));
  const sized = await Promise.all(keys.map(async (key) => ({ key, bytes: await redis.strlen(key) })));
  sized.sort((a, b) => a.bytes - b.bytes);
  return sized[sized.length >> 1] ?? { key: keys[0] ?? '', bytes: 0 };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const url =
    args.databaseUrl ??
    (await seedScratchDatabase(args.adminUrl, 'shiptrack_bench_track', {
      profile: args.profile,
      asOf: '2026-11-01',
      documents: 0,
    }));
  const config = loadConfig({ env: { SHIPTRACK_DATABASE_URL: url, SHIPTRACK_REDIS_URL: args.redisUrl }, envFile: null });
  const client = await openPgClient(config, 'shiptrack bench');
  const redis = await openRedis(config);
  const nodeRedis = createNodeRedis({ url: args.redisUrl });
  await nodeRedis.connect();
  const builds: Build[] = [
    { name: 'this build', createTracker: trackService.createTracker, createTrackCache: trackCache.createTrackCache },
  ];
  if (args.baseline !== undefined) builds.push(await loadBuild(args.baseline));
  const rows = new Map<string, Stats[]>();
  const record = (name: string, stats: Stats): void => {
    rows.set(name, [...(rows.get(name) ?? []), stats]);
  };
  const prefixes: string[] = [];
  try {
    const numbers = await sampleNumbers(client, 50_000);
    const hitters = [];
    for (const build of builds) {
      const prefix = `shiptrack:bench:${Date.now()}:${build.name.replace(/ /g, '-')}:`;
      prefixes.push(prefix);
      const cached = build.createTracker({
        source: { kind: 'client', client },
        cache: build.createTrackCache(redis, { ttlMs: 3_600_000, negativeTtlMs: 3_600_000, prefix }),
      });
      for (const n of numbers) await cached.track(n); // fill the cache
      if ((await cached.track(numbers[0] ?? '')).source !== 'cache') throw new Error(`${build.name}: the cache did not answer`);
      hitters.push({ build, cached, ...(await medianKey(redis, prefix, numbers)) });
    }
    const prepared = trackService.createTracker({ source: { kind: 'client', client } });
    // The same query, sent without a statement name: parsed and planned every time.
    const unprepared = trackService.createTracker({ source: { kind: 'client', client, prepare: false } });
    for (let run = 1; run <= args.runs; run += 1) {
      record('database (prepared)', await measure(args.lookups, numbers, (n) => prepared.track(n, { useCache: false })));
      record('database (unprepared)', await measure(args.lookups, numbers, (n) => unprepared.track(n, { useCache: false })));
      // Alternating builds, and each against redis-benchmark right beside it.
      const order = run % 2 === 1 ? hitters : [...hitters].reverse();
      for (const { build, cached, key, bytes } of order) {
        for (const concurrency of [1, 4]) {
          const label = `${concurrency === 1 ? '' : `c=${concurrency} `}`;
          record(`${label}cache hit, ${build.name}`, await measure(args.lookups, numbers, (n) => cached.track(n), concurrency));
          record(
            `${label}redis-benchmark GET ${bytes} B (beside ${build.name})`,
            redisBenchmarkGet(args.redisUrl, key, concurrency, args.lookups * concurrency),
          );
        }
      }
      // Node's own floor for the same GET: each client library alone (ioredis, which the cache
      // uses, and node-redis, alternating which goes first), then a bare socket.
      const { key } = hitters[0] ?? { key: '' };
      const clients = [
        { name: 'ioredis', get: (): Promise<unknown> => redis.get(key) },
        { name: 'node-redis', get: (): Promise<unknown> => nodeRedis.get(key) },
      ];
      for (const { name, get } of run % 2 === 1 ? clients : [...clients].reverse()) {
        for (const concurrency of [1, 4]) {
          const label = concurrency === 1 ? '' : `c=${concurrency} `;
          record(`${label}${name} GET alone (Node floor)`, await measure(args.lookups, numbers, get, concurrency));
        }
      }
      const bare = await openBareGet(args.redisUrl, key);
      try {
        record('bare socket GET (Node floor)', await measure(args.lookups, numbers, () => bare.get()));
      } finally {
        bare.close();
      }
      record('redis-benchmark GET (beside the floors)', redisBenchmarkGet(args.redisUrl, key, 1, args.lookups));
      process.stderr.write(`run ${run} done\n`);
    }
  } finally {
    for (const prefix of prefixes) await deleteKeysWithPrefix(redis, prefix);
    await client.end();
    await closeRedis(redis);
    nodeRedis.destroy();
  }
  const lines = [
    `track, ${args.lookups} lookups × ${args.runs} runs; ms, median of runs (min–max of runs); rate in lookups/s, cpu in µs of this process per lookup`,
  ];
  const cell = (stats: Stats[], key: keyof Stats, digits = 3): string =>
    medianAndSpread(
      stats.map((s) => s[key]),
      (n) => (Number.isNaN(n) ? '–' : n.toFixed(digits)),
    );
  for (const [name, stats] of rows) {
    lines.push(
      `  ${name.padEnd(36)} p50 ${cell(stats, 'p50')}  p90 ${cell(stats, 'p90')}  p99 ${cell(stats, 'p99')}  rate ${cell(stats, 'rate', 0)}  cpu ${cell(stats, 'cpuUs', 1)}`,
    );
  }
  const p50 = (name: string): number => median((rows.get(name) ?? []).map((s) => s.p50));
  lines.push(`  prepared / unprepared p50 ratio: ${(p50('database (prepared)') / p50('database (unprepared)')).toFixed(2)}`);
  // Each hit against the redis-benchmark GET measured right after it, run by run.
  for (const concurrency of [1, 4]) {
    const label = concurrency === 1 ? '' : `c=${concurrency} `;
    const names = [...rows.keys()];
    for (const hitName of names.filter((n) => n.startsWith(`${label}cache hit, `))) {
      const index = names.indexOf(hitName);
      const getName = names.slice(index + 1).find((n) => n.startsWith(`${label}redis-benchmark GET`)) ?? '';
      const hits = rows.get(hitName) ?? [];
      const gets = rows.get(getName) ?? [];
      const ratios = hits.map((h, i) => h.p50 / (gets[i]?.p50 ?? Number.NaN));
      lines.push(`  ${hitName} / ${getName}, p50: ${medianAndSpread(ratios, (n) => n.toFixed(2))}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
