/**
 * What bench/seed.ts and bench/growth.ts share: a fresh migrated database, a child process
 * measured for wall time and peak memory, and the tool-free limit of a seed — the same rows,
 * exported as CSV, loaded by `psql \copy` with the same keys, foreign keys and indexes built
 * after the load and the same ANALYZE, in one transaction.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { rebuildRollups } from '../src/store/rollups.js';

export const cli = path.resolve('bin/shiptrack.js');
export const tables = ['customers', 'locations', 'packages', 'shipments', 'tracking_events'] as const;
export const asOf = '2026-11-01T00:00:00Z';

export async function admin<T>(adminUrl: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function urlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
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
export function runMeasured(
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

/** DDL to rebuild what the loader drops, read from the catalog of a migrated database. */
export async function constraintDdl(url: string): Promise<{ drop: string[]; create: string[] }> {
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

export const columns: Record<(typeof tables)[number], string> = {
  customers: 'customer_id, name, email, address',
  locations: 'location_id, location_name, city, state, location_type, time_zone',
  packages: 'package_id, tracking_number, sender_id, recipient_id, current_status, weight, metadata, created_at',
  shipments: 'shipment_id, package_id, origin_location_id, destination_location_id, estimated_delivery, actual_delivery',
  tracking_events: 'event_id, package_id, location_id, status, event_timestamp',
};

/** The user triggers with a transition table on the seeded tables (the ones a seed switches off). */
async function triggerNames(url: string): Promise<{ table: string; name: string }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const found = await client.query<{ table: string; name: string }>(
      `select tgrelid::regclass::text as table, tgname as name from pg_trigger
        where not tgisinternal and tgrelid = any ($1::regclass[]) and (tgoldtable is not null or tgnewtable is not null)`,
      [tables],
    );
    return found.rows;
  } finally {
    await client.end();
  }
}

/** Writes each seeded table of the database at `url` as CSV into `dir` (outside any timing). */
export function exportRows(url: string, dir: string): void {
  for (const table of tables) {
    const out = spawnSync(
      'psql',
      [url, '-qc', `\\copy (select ${columns[table]} from ${table}) to '${path.join(dir, `${table}.csv`)}' csv`],
      {
        encoding: 'utf8',
      },
    );
    if (out.status !== 0) throw new Error(`export of ${table} failed: ${out.stderr}`);
  }
}

/**
 * The limit: loads the CSVs of `dir` into a fresh migrated database `name` with `psql \copy`,
 * the loader's drops and builds around it, and returns the wall time (ms) of that psql process.
 */
export async function copyLimit(adminUrl: string, name: string, dir: string): Promise<number> {
  const baseUrl = await freshDatabase(adminUrl, name);
  const ddl = await constraintDdl(baseUrl);
  // As the seed does: the triggers that list changes and keep the rollups are off during the
  // load (a trigger's join over a million new rows with the indexes dropped never ends), and the
  // rollups are rebuilt from the data afterwards.
  const triggers = (await triggerNames(baseUrl)).map(({ table, name }) => [table, name] as const);
  // The seed's own rebuild of every rollup, statement by statement.
  const rollups: string[] = [];
  await rebuildRollups(
    (sql) => {
      rollups.push(`${sql};`);
      return Promise.resolve();
    },
    { truncate: true },
  );
  const script = [
    'begin;',
    ...triggers.map(([table, name]) => `alter table ${table} disable trigger ${name};`),
    ...ddl.drop,
    ...tables.map((t) => `\\copy ${t} (${columns[t]}) from '${path.join(dir, `${t}.csv`)}' csv`),
    ...ddl.create,
    ...triggers.map(([table, name]) => `alter table ${table} enable trigger ${name};`),
    ...rollups,
    `analyze ${tables.join(', ')};`,
    'commit;',
  ].join('\n');
  writeFileSync(path.join(dir, 'baseline.sql'), script);
  const base = await runMeasured(
    'psql',
    [baseUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-f', path.join(dir, 'baseline.sql')],
    process.env,
  );
  if (base.code !== 0) throw new Error('baseline psql failed');
  return base.ms;
}
