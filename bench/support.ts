/** What the bench scripts share: a scratch database seeded through the CLI, and their statistics. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { median } from '../src/domain/statistics.js';

export { median };

/** Nearest-rank percentile `p` (0–100) of ascending `sorted` values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** "median (min–max)" of the values, each number written by `format`. */
export function medianAndSpread(values: readonly number[], format: (n: number) => string = (n) => n.toFixed(1)): string {
  return `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

export interface ScratchSeed {
  profile: string;
  /** The generated world's "now" (`seed --as-of`); the CLI's default otherwise. */
  asOf?: string;
  /** Share of events with a raw scan document (`seed --documents`). */
  documents?: number;
}

/**
 * Drops and creates `name` on the server of `adminUrl`, runs `migrate latest` and then `seed`
 * (seed 42, so every bench script sees the same world) through the built CLI, and returns the
 * new database's URL.
 */
export async function seedScratchDatabase(adminUrl: string, name: string, seed: ScratchSeed): Promise<string> {
  const seedArgs = [
    '--profile',
    seed.profile,
    '--seed',
    '42',
    ...(seed.asOf === undefined ? [] : ['--as-of', seed.asOf]),
    ...(seed.documents === undefined ? [] : ['--documents', String(seed.documents)]),
  ];
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const env = { ...process.env, SHIPTRACK_DATABASE_URL: url.toString() };
  const cli = path.resolve('bin/shiptrack.js');
  for (const command of [
    ['migrate', 'latest'],
    ['seed', ...seedArgs],
  ]) {
    const run = spawnSync(process.execPath, [cli, ...command], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) throw new Error(`${command.join(' ')} failed`);
  }
  return url.toString();
}

/** `count` tracking numbers spread over the whole table, the same ones every time. */
export async function sampleNumbers(client: pg.Client, count: number): Promise<string[]> {
  const result = await client.query<{ tracking_number: string }>(
    'select tracking_number from packages order by hashtext(tracking_number) limit $1',
    [count],
  );
  if (result.rows.length === 0) throw new Error('the database has no packages: seed it first');
  return result.rows.map((r) => r.tracking_number);
}

export interface Stats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Operations a second (all workers). */
  rate: number;
  /** This process's CPU time per operation, µs (user + system). */
  cpuUs: number;
}

/** `concurrency` loops over the numbers, each awaiting its lookup before the next. */
export async function measure(
  lookups: number,
  numbers: readonly string[],
  work: (n: string) => Promise<unknown>,
  concurrency = 1,
): Promise<Stats> {
  for (let i = 0; i < Math.min(2000, lookups); i += 1) await work(numbers[(i * 7919) % numbers.length] ?? ''); // warm-up
  const samples: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < lookups) {
        const i = next;
        next += 1;
        const n = numbers[(i * 104_729 + 13) % numbers.length] ?? '';
        const t0 = performance.now();
        await work(n);
        samples.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  samples.sort((a, b) => a - b);
  return {
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: samples.at(-1) ?? Number.NaN,
    rate: (lookups / elapsed) * 1000,
    cpuUs: (used.user + used.system) / lookups,
  };
}
