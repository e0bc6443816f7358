/**
 * Seed throughput against the tool-free limit, measured in the same run.
 *
 *   npm run bench:seed -- --profile medium --runs 3
 *
 * For each run: a fresh database, migrated; `shiptrack seed` as a child process (wall time and
 * peak RSS read from /proc); then the baseline: the same rows, exported as CSV beforehand, loaded
 * by `psql \copy` into a fresh database with the same keys, foreign keys and indexes built after
 * the load and the same ANALYZE, in one transaction. Reports medians with min–max and the ratio.
 * Needs a PostgreSQL server (SHIPTRACK_BENCH_DATABASE_URL, default the local `postgres` database,
 * as a role that may create databases) and psql on the PATH.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { admin, asOf, cli, copyLimit, exportRows, freshDatabase, runMeasured } from './seed-limit.js';
import { median, medianAndSpread } from './support.js';

interface Args {
  profile: string;
  runs: number;
  seed: number;
  adminUrl: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    profile: 'medium',
    runs: 3,
    seed: 42,
    adminUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--profile') args.profile = value;
    else if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--seed') args.seed = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

const spread = (values: number[], digits = 1): string => medianAndSpread(values, (n) => n.toFixed(digits));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(tmpdir(), 'shiptrack-bench-'));
  const seedDb = 'shiptrack_bench_seed';
  const baseDb = 'shiptrack_bench_baseline';
  const ours: { ms: number; peakMb: number; rows: number }[] = [];
  const baseline: number[] = [];
  try {
    for (let run = 1; run <= args.runs; run += 1) {
      const url = await freshDatabase(args.adminUrl, seedDb);
      const result = await runMeasured(
        process.execPath,
        [cli, 'seed', '--profile', args.profile, '--seed', String(args.seed), '--as-of', asOf, '--documents', '0', '--json'],
        { ...process.env, SHIPTRACK_DATABASE_URL: url },
      );
      if (result.code !== 0) throw new Error(`seed exited ${result.code}`);
      const summary = JSON.parse(result.stdout) as { rows: Record<string, number> };
      const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
      ours.push({ ms: result.ms, peakMb: result.peakMb, rows });
      process.stderr.write(
        `run ${run}: shiptrack seed ${(result.ms / 1000).toFixed(1)} s, peak ${result.peakMb.toFixed(0)} MB, ${rows} rows\n`,
      );

      // The same rows as CSV, for the baseline (written once, outside the timing).
      if (run === 1) exportRows(url, work);
      const baseMs = await copyLimit(args.adminUrl, baseDb, work);
      baseline.push(baseMs);
      process.stderr.write(`run ${run}: psql \\copy baseline ${(baseMs / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await admin(args.adminUrl, async (c) => {
      await c.query(`drop database if exists "${seedDb}" with (force)`);
      await c.query(`drop database if exists "${baseDb}" with (force)`);
    });
    rmSync(work, { recursive: true, force: true });
  }
  const seconds = ours.map((o) => o.ms / 1000);
  const ratios = ours.map((o, i) => o.ms / (baseline[i] ?? Number.NaN));
  const report = {
    profile: args.profile,
    runs: args.runs,
    rows: ours[0]?.rows ?? 0,
    seedSeconds: { median: median(seconds), min: Math.min(...seconds), max: Math.max(...seconds) },
    baselineSeconds: {
      median: median(baseline.map((b) => b / 1000)),
      min: Math.min(...baseline) / 1000,
      max: Math.max(...baseline) / 1000,
    },
    ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
    peakRssMb: { median: median(ours.map((o) => o.peakMb)), max: Math.max(...ours.map((o) => o.peakMb)) },
  };
  process.stdout.write(
    [
      `profile ${args.profile}, ${report.rows.toLocaleString('en-US')} rows, ${args.runs} runs (median (min–max))`,
      `  shiptrack seed (process wall, incl. start):    ${spread(seconds)} s`,
      `  psql \\copy of the same rows + same builds:    ${spread(baseline.map((b) => b / 1000))} s`,
      `  ratio shiptrack / psql, per run:              ${spread(ratios, 2)}`,
      `  peak RSS of the seed process:                 ${spread(
        ours.map((o) => o.peakMb),
        0,
      )} MB`,
      JSON.stringify(report),
      '',
    ].join('\n'),
  );
}

await main();
