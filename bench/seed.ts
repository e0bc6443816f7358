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
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
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

const cli = path.resolve('bin/shiptrack.js');
const tables = ['customers', 'locations', 'packages', 'shipments', 'tracking_events'] as const;
const asOf = '2026-11-01T00:00:00Z';

async function admin<T>(adminUrl: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function urlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  await admin(adminUrl, async (c) => {
    await c.query(`drop database if exists "${name}" with (force)`);
    await c.query(`create database "${name}"`);
  });
  const url = urlFor(adminUrl, name);
  const migrate = spawnSync(process.execPath, [cli, 'migrate', 'latest'], {
    env: { ...process.env, SHIPTRACK_DATABASE_URL: url },
    encoding: 'utf8',
  });
  if (migrate.status !== 0) throw new Error(`migrate failed: ${migrate.stderr}`);
  return url;
}

/** Runs a command, polling /proc for its peak resident memory (VmHWM). */
function runMeasured(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; peakMb: number; stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let peakKb = 0;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const poll = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakKb = Math.max(peakKb, kb);
      } catch {
        // exited
      }
    }, 50);
    child.once('error', reject);
    child.once('close', (code) => {
      clearInterval(poll);
      resolve({ ms: performance.now() - started, peakMb: peakKb / 1024, stdout, code });
    });
  });
}

const spread = (values: number[], digits = 1): string => medianAndSpread(values, (n) => n.toFixed(digits));

/** DDL to rebuild what the loader drops, read from the catalog of a migrated database. */
async function constraintDdl(url: string): Promise<{ drop: string[]; create: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const regclasses = `'{${tables.join(',')}}'::regclass[]`;
    const cons = await client.query<{ t: string; name: string; type: string; def: string }>(
      `select conrelid::regclass::text t, conname name, contype type, pg_get_constraintdef(oid) def
         from pg_constraint where conrelid = any (${regclasses}) and contype in ('p','u','f')`,
    );
    const idx = await client.query<{ name: string; def: string }>(
      `select x.relname name, pg_get_indexdef(i.indexrelid) def from pg_index i join pg_class x on x.oid = i.indexrelid
        where i.indrelid = any (${regclasses})
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.contype in ('p','u','x'))`,
    );
    const byType = (type: string) => cons.rows.filter((r) => r.type === type);
    return {
      drop: [
        ...byType('f').map((r) => `alter table ${r.t} drop constraint ${r.name};`),
        ...[...byType('p'), ...byType('u')].map((r) => `alter table ${r.t} drop constraint ${r.name};`),
        ...idx.rows.map((r) => `drop index ${r.name};`),
      ],
      create: [
        ...byType('p').map((r) => `alter table ${r.t} add constraint ${r.name} ${r.def};`),
        ...byType('u').map((r) => `alter table ${r.t} add constraint ${r.name} ${r.def};`),
        ...byType('f').map((r) => `alter table ${r.t} add constraint ${r.name} ${r.def};`),
        ...idx.rows.map((r) => `${r.def};`),
      ],
    };
  } finally {
    await client.end();
  }
}

const columns: Record<(typeof tables)[number], string> = {
  customers: 'customer_id, name, email, address',
  locations: 'location_id, location_name, city, state, location_type, time_zone',
  packages: 'package_id, tracking_number, sender_id, recipient_id, current_status, weight, metadata, created_at',
  shipments: 'shipment_id, package_id, origin_location_id, destination_location_id, estimated_delivery, actual_delivery',
  tracking_events: 'event_id, package_id, location_id, status, event_timestamp',
};

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

      if (run === 1) {
        // The same rows as CSV, for the baseline (written once, outside the timing).
        for (const table of tables) {
          const out = spawnSync(
            'psql',
            [url, '-qc', `\\copy (select ${columns[table]} from ${table}) to '${path.join(work, `${table}.csv`)}' csv`],
            {
              encoding: 'utf8',
            },
          );
          if (out.status !== 0) throw new Error(`export of ${table} failed: ${out.stderr}`);
        }
      }

      const baseUrl = await freshDatabase(args.adminUrl, baseDb);
      const ddl = await constraintDdl(baseUrl);
      const script = [
        'begin;',
        ...ddl.drop,
        ...tables.map((t) => `\\copy ${t} (${columns[t]}) from '${path.join(work, `${t}.csv`)}' csv`),
        ...ddl.create,
        `analyze ${tables.join(', ')};`,
        'commit;',
      ].join('\n');
      writeFileSync(path.join(work, 'baseline.sql'), script);
      const base = await runMeasured(
        'psql',
        [baseUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-f', path.join(work, 'baseline.sql')],
        process.env,
      );
      if (base.code !== 0) throw new Error('baseline psql failed');
      baseline.push(base.ms);
      process.stderr.write(`run ${run}: psql \\copy baseline ${(base.ms / 1000).toFixed(1)} s\n`);
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
