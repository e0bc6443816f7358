/**
 * In-process latency of the track read path, with baselines measured in the same run.
 *
 *   npm run bench:track -- --profile medium --lookups 20000 --runs 3
 *
 * Seeds a scratch database (unless --database-url names one already seeded), then for each run
 * looks up random seeded tracking numbers through the library: the database path (named prepared
 * statement on one pg connection), the same SQL unprepared, and the Redis cache-hit path.
 * Reports p50/p90/p99/max per run and the medians across runs.
 */
import { generatePackage } from '../src/domain/seed/generator.js';
import { profiles } from '../src/domain/seed/profiles.js';
import type { ProfileName, SeedParams } from '../src/domain/seed/types.js';
import { loadConfig } from '../src/config.js';
import { createTracker } from '../src/services/track.service.js';
import { openPgClient } from '../src/store/pg-client.js';
import { closeRedis, openRedis } from '../src/store/redis.js';
import { createTrackCache } from '../src/store/track-cache.js';
import { median, medianAndSpread, percentile, seedScratchDatabase } from './support.js';

interface Args {
  profile: ProfileName;
  lookups: number;
  runs: number;
  adminUrl: string;
  databaseUrl: string | undefined;
  redisUrl: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    profile: 'medium',
    lookups: 20_000,
    runs: 3,
    adminUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    databaseUrl: undefined,
    redisUrl: process.env.SHIPTRACK_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--profile') args.profile = value as ProfileName;
    else if (flag === '--lookups') args.lookups = Number(value);
    else if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--database-url') args.databaseUrl = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

interface Stats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

async function measure(lookups: number, numbers: string[], work: (n: string) => Promise<unknown>): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < Math.min(2000, lookups); i += 1) await work(numbers[(i * 7919) % numbers.length] ?? ''); // warm-up
  for (let i = 0; i < lookups; i += 1) {
    const n = numbers[(i * 104_729 + 13) % numbers.length] ?? '';
    const started = performance.now();
    await work(n);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return {
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: samples.at(-1) ?? Number.NaN,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sizes = profiles[args.profile];
  const url =
    args.databaseUrl ??
    (await seedScratchDatabase(args.adminUrl, 'shiptrack_bench_track', {
      profile: args.profile,
      asOf: '2026-11-01',
      documents: 0,
    }));
  const params: SeedParams = {
    ...sizes,
    seed: 42,
    asOf: new Date('2026-11-01T00:00:00Z'),
    offsets: { customer: 0, location: 0, package: 0 },
  };
  const numbers = Array.from(
    { length: 50_000 },
    (_, i) => generatePackage(params, (i * 7_919) % sizes.packages).pkg.tracking_number,
  );

  const config = loadConfig({ env: { SHIPTRACK_DATABASE_URL: url, SHIPTRACK_REDIS_URL: args.redisUrl }, envFile: null });
  const client = await openPgClient(config, 'shiptrack bench');
  const redis = await openRedis(config);
  const rows: Record<string, Stats[]> = { 'database (prepared)': [], 'database (unprepared)': [], 'cache hit': [] };
  try {
    const prepared = createTracker({ source: { kind: 'client', client } });
    // The same query, sent without a statement name: parsed and planned every time.
    const unprepared = createTracker({ source: { kind: 'client', client, prepare: false } });
    const cached = createTracker({
      source: { kind: 'client', client },
      cache: createTrackCache(redis, { ttlMs: 600_000, negativeTtlMs: 600_000, prefix: `shiptrack:bench:${Date.now()}:` }),
    });
    for (const n of numbers) await cached.track(n); // fill the cache
    for (let run = 1; run <= args.runs; run += 1) {
      rows['database (prepared)']?.push(await measure(args.lookups, numbers, (n) => prepared.track(n, { useCache: false })));
      rows['database (unprepared)']?.push(await measure(args.lookups, numbers, (n) => unprepared.track(n, { useCache: false })));
      rows['cache hit']?.push(await measure(args.lookups, numbers, (n) => cached.track(n)));
      process.stderr.write(`run ${run} done\n`);
    }
  } finally {
    await client.end();
    await closeRedis(redis);
  }
  const lines = [
    `track, profile ${args.profile}, ${args.lookups} lookups × ${args.runs} runs; ms, median of runs (min–max of runs)`,
  ];
  for (const [name, stats] of Object.entries(rows)) {
    const cell = (key: keyof Stats): string =>
      medianAndSpread(
        stats.map((s) => s[key]),
        (n) => n.toFixed(3),
      );
    lines.push(`  ${name.padEnd(22)} p50 ${cell('p50')}  p90 ${cell('p90')}  p99 ${cell('p99')}  max ${cell('max')}`);
  }
  const p50 = (name: string): number => median((rows[name] ?? []).map((s) => s.p50));
  lines.push(`  prepared / unprepared p50 ratio: ${(p50('database (prepared)') / p50('database (unprepared)')).toFixed(2)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
