import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultMigratorOptions, migrateLatest } from '../../src/services/migrations.service.js';
import { runDbReport } from '../../src/services/reports/db.report.js';
import { checkDb, dbThresholds } from '../../src/services/reports/db/rules.js';
import { readDbSnapshot } from '../../src/services/reports/db/snapshot.js';
import { readReport } from '../../src/services/reports/report.js';
import { findingSentence, noteSentence } from '../../src/render/report.render.js';
import type { Finding, ReportResult, ReportRow } from '../../src/services/reports/report.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import type { TestDatabase } from '../support/databases.js';
import { knexMessagesDuring } from '../support/knex-messages.js';
import { openSeededDatabase } from '../support/seeded.js';
import { embeddedConfig, openServer, shippedMigrations } from '../support/stores.js';

const now = new Date('2026-11-01T00:00:00Z');
const scratch = 'report_db_scratch';

function table(result: ReportResult, name: string): ReportRow[] {
  const found = result.tables.find((t) => t.name === name);
  if (found === undefined) throw new Error(`no table ${name}`);
  return found.rows;
}

function row(rows: ReportRow[], key: string, value: string): ReportRow {
  const found = rows.find((r) => r[key] === value);
  if (found === undefined) throw new Error(`no row with ${key} = ${value}`);
  return found;
}

function withCode(result: ReportResult, code: string): Finding[] {
  return result.findings.filter((f) => f.code === code);
}

async function scalar<T>(db: Database, sql: string, bindings: unknown[] = []): Promise<T> {
  const result = await db.knex.raw<{ rows: { v: T }[] }>(sql, bindings as never);
  return result.rows[0]?.v as T;
}

// The statistics views are the input here, so the data is built to give known answers: a table
// two thirds dead with autovacuum off, an index nobody scans, two redundant indexes, an invalid one.
describe.skipIf(!inject('postgresAvailable'))('report db', () => {
  let testDb: TestDatabase;
  let db: Database;
  const roles: string[] = [];
  const roleDbs: Database[] = [];
  let report: ReportResult;
  let pssLoaded = false;

  async function openAsRole(grants: string[]): Promise<Database> {
    const role = `r_dbrep_${randomBytes(4).toString('hex')}`;
    await db.knex.raw(`create role ${role} login`);
    roles.push(role);
    for (const grant of grants) await db.knex.raw(`grant ${grant} to ${role}`);
    const url = new URL(testDb.url);
    url.username = role;
    url.password = '';
    const roleDb = await openServer(url.toString());
    roleDbs.push(roleDb);
    return roleDb;
  }

  beforeAll(async () => {
    ({ testDb, db } = await openSeededDatabase('st_reportdb', {
      sizes: { customers: 50, locations: 20, packages: 300 },
      seed: 11,
    }));
    // One transaction on one session: ANALYZE inside it accounts for the transaction's own inserts
    // and deletes, so the counters end at 50,000 live and 100,000 dead once its stats are flushed.
    await db.knex.transaction(async (trx) => {
      await trx.raw(`create table ${scratch} (id integer primary key, payload text not null) with (autovacuum_enabled = false)`);
      await trx.raw(`insert into ${scratch} select g, repeat(md5(g::text), 4) from generate_series(1, 150000) g`);
      await trx.raw(`delete from ${scratch} where id % 3 <> 0`);
      await trx.raw(`analyze ${scratch}`);
      await trx.raw('select pg_stat_force_next_flush()');
    });
    for (let attempt = 0; ; attempt += 1) {
      const dead = await scalar<number>(db, `select n_dead_tup as v from pg_stat_user_tables where relid = ?::regclass`, [
        scratch,
      ]);
      if (dead >= 100_000) break;
      if (attempt > 150) throw new Error(`the statistics of ${scratch} never showed its dead tuples (${dead})`);
      await sleep(100);
    }
    await db.knex.raw(`create index report_db_payload_idx on ${scratch} (payload)`);
    await db.knex.raw('create index report_db_tracking_dup_idx on packages (tracking_number)');
    await db.knex.raw('create index report_db_events_package_idx on tracking_events (package_id)');
    pssLoaded = await scalar<boolean>(db, `select exists (select 1 from pg_settings where name = 'pg_stat_statements.max') as v`);
    report = await runDbReport(db, { now, limit: 1000 });
  });
  afterAll(async () => {
    for (const roleDb of roleDbs) await roleDb.close();
    for (const role of roles) await db?.knex.raw(`drop role if exists ${role}`);
    await db?.close();
    await testDb?.drop();
  });

  it('reports table sizes as pg_table_size and pg_indexes_size give them', async () => {
    const expected = await db.knex.raw<{ rows: { t: number; i: number; total: number; dead: number }[] }>(
      `select pg_table_size(?::regclass) as t, pg_indexes_size(?::regclass) as i, pg_total_relation_size(?::regclass) as total,
              n_dead_tup as dead from pg_stat_user_tables where relid = ?::regclass`,
      [scratch, scratch, scratch, scratch],
    );
    const sizes = expected.rows[0];
    const r = row(table(report, 'tables'), 'table', scratch);
    expect(r.table_bytes).toBe(sizes?.t);
    expect(r.index_bytes).toBe(sizes?.i);
    expect(r.total_bytes).toBe(sizes?.total);
    expect(r.dead_rows).toBe(sizes?.dead);
    expect(r.live_rows).toBe(50_000);
    expect(r.dead_share).toBeCloseTo(2 / 3, 2);
  });

  it('reports index sizes as pg_relation_size gives them, with scans and what each enforces', async () => {
    const sizes = await db.knex.raw<{ rows: { name: string; bytes: number }[] }>(
      `select c.relname as name, pg_relation_size(c.oid) as bytes from pg_class c
        where c.relname = any (?) and c.relkind = 'i'`,
      [['report_db_payload_idx', 'packages_tracking_number_key', 'packages_pkey']],
    );
    const indexes = table(report, 'indexes');
    for (const size of sizes.rows) expect(row(indexes, 'index', size.name).bytes).toBe(size.bytes);
    const payload = row(indexes, 'index', 'report_db_payload_idx');
    expect(payload).toMatchObject({ table: scratch, idx_scan: 0, unused: true, enforces: null, valid: true, duplicate_of: null });
    expect(row(indexes, 'index', 'packages_pkey').enforces).toBe('primary key');
    expect(row(indexes, 'index', 'packages_tracking_number_key').enforces).toBe('unique');
    expect(row(indexes, 'index', 'customers_email_lower_key').enforces).toBe('unique index');
    const bytes = indexes.map((r) => Number(r.bytes));
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
  });

  it('shows the largest 20 tables and indexes by default, and says how many there are', async () => {
    const result = await runDbReport(db, { now });
    expect(result.parameters).toEqual({ limit: 20 });
    const names = (r: ReportResult, name: string, key: string): unknown[] => table(r, name).map((x) => x[key]);
    expect(names(result, 'indexes', 'index')).toEqual(names(report, 'indexes', 'index').slice(0, 20));
    expect(names(result, 'tables', 'table')).toEqual(names(report, 'tables', 'table').slice(0, 20));
    const caption = result.tables.find((t) => t.name === 'indexes')?.caption;
    expect(caption).toContain(`showing 20 of ${table(report, 'indexes').length} indexes`);
  });

  it('says which table has dead tuples and that autovacuum is disabled on it', () => {
    const dead = withCode(report, 'dead_tuples');
    expect(dead).toHaveLength(1);
    const r = row(table(report, 'tables'), 'table', scratch);
    expect(dead[0]).toMatchObject({
      level: 'warn',
      subject: scratch,
      figures: { dead_rows: r.dead_rows, live_rows: 50_000, dead_share: r.dead_share, table_autovacuum: false },
    });
    expect(dead[0]?.figures.dead_share).toBeCloseTo(2 / 3, 3);
    expect(typeof dead[0]?.figures.server_autovacuum).toBe('boolean');
    expect(dead[0]?.figures).toMatchObject({ min_dead_rows: 10_000, min_dead_share: 0.2 });
  });

  it('estimates the bloat left by the deletes', () => {
    const r = row(table(report, 'tables'), 'table', scratch);
    // Two thirds of the rows are gone since the pages were written; the estimate is rough.
    expect(r.bloat_share).toBeGreaterThan(0.55);
    expect(r.bloat_share).toBeLessThan(0.75);
    const bloat = withCode(report, 'table_bloat');
    expect(bloat.map((f) => f.subject)).toEqual([scratch]);
    expect(bloat[0]?.figures).toMatchObject({ bloat_bytes: r.bloat_bytes, bloat_share: r.bloat_share });
    expect(bloat[0]?.level).toBe('warn');
    // The seeded tables were loaded and analyzed once: no estimate says they are bloated.
    for (const t of ['packages', 'tracking_events', 'shipments']) {
      expect(row(table(report, 'tables'), 'table', t).bloat_share).toBeLessThan(0.2);
    }
  });

  it('estimates the bloat of a B-tree the deletes emptied, and names it only above the size floor', async () => {
    // 150,000 keys were written, 50,000 remain: two thirds of the primary key's pages are spare.
    const bloat = Number(row(table(report, 'indexes'), 'index', `${scratch}_pkey`).bloat_bytes);
    const bytes = Number(row(table(report, 'indexes'), 'index', `${scratch}_pkey`).bytes);
    expect(bloat / bytes).toBeGreaterThan(0.55);
    expect(bloat / bytes).toBeLessThan(0.75);
    // About 2 MB: under the 10 MB floor, so no finding…
    expect(withCode(report, 'index_bloat')).toEqual([]);
    // …until the floor is lowered; the indexes built after their rows were loaded stay quiet.
    const read = await readReport(db, { now }, (reader) => readDbSnapshot(reader, 1000));
    const findings = checkDb(read.value, { ...dbThresholds, bloatBytes: 512 * 1024 }).filter((f) => f.code === 'index_bloat');
    expect(findings.map((f) => f.subject)).toEqual([`${scratch}_pkey`]);
    expect(findingSentence(findings[0] as Finding)).toContain(`reindex index concurrently ${scratch}_pkey`);
  });

  it('names the unused index, and not the constraint-backed or small ones', () => {
    const unused = withCode(report, 'unused_index');
    expect(unused.map((f) => f.subject)).toEqual(['report_db_payload_idx']);
    const payload = row(table(report, 'indexes'), 'index', 'report_db_payload_idx');
    expect(unused[0]).toMatchObject({
      level: 'warn',
      figures: { table: scratch, idx_scan: 0, bytes: payload.bytes, min_bytes: 1024 * 1024 },
    });
    expect(Number(unused[0]?.figures.bytes)).toBeGreaterThan(1024 * 1024);
    expect(findingSentence(unused[0]!)).toMatch(
      /^index report_db_payload_idx on report_db_scratch has 0 scans since .+ and is [\d.]+ MB — consider dropping it$/,
    );
    const counters = report.notes.find((n) => n.code === 'scan_counters');
    expect(counters?.figures.unused_found).toBe(true);
    expect(noteSentence(counters!)).toContain('representative period');
  });

  it('names both duplicate indexes and what covers them, keeping the constraint', () => {
    const duplicates = withCode(report, 'duplicate_index');
    expect(duplicates.map((f) => f.subject).sort()).toEqual(['report_db_events_package_idx', 'report_db_tracking_dup_idx']);
    expect(duplicates.find((f) => f.subject === 'report_db_tracking_dup_idx')).toMatchObject({
      level: 'warn',
      figures: { table: 'packages', kind: 'same', covered_by: 'packages_tracking_number_key' },
    });
    expect(duplicates.find((f) => f.subject === 'report_db_events_package_idx')).toMatchObject({
      level: 'warn',
      figures: { table: 'tracking_events', kind: 'prefix', covered_by: 'tracking_events_package_time_idx' },
    });
    expect(withCode(report, 'duplicate_constraint_index')).toEqual([]);
    const indexes = table(report, 'indexes');
    expect(row(indexes, 'index', 'report_db_tracking_dup_idx').duplicate_of).toBe('packages_tracking_number_key');
    expect(row(indexes, 'index', 'report_db_events_package_idx').duplicate_of).toBe('tracking_events_package_time_idx');
    expect(
      indexes
        .filter((r) => r.duplicate_of !== null)
        .map((r) => r.index)
        .sort(),
    ).toEqual(['report_db_events_package_idx', 'report_db_tracking_dup_idx']);
  });

  it('reads the migration history', () => {
    const shipped = shippedMigrations();
    expect(table(report, 'migrations')).toEqual([
      expect.objectContaining({ applied: shipped.length, latest: shipped[shipped.length - 1], batch: 1 }),
    ]);
    expect(withCode(report, 'migrations_missing')).toEqual([]);
  });

  it('says how to enable pg_stat_statements, also when the extension exists but is not preloaded', async () => {
    const [missing] = withCode(report, 'pg_stat_statements_missing');
    expect(missing?.level).toBe('info');
    if (pssLoaded) {
      // A server that preloads the module: only this database lacks the extension.
      expect(missing?.figures).toEqual({ state: 'not_installed' });
      await db.knex.raw('create extension pg_stat_statements');
      try {
        const again = await runDbReport(db, { now });
        expect(withCode(again, 'pg_stat_statements_missing')).toEqual([]);
        expect(table(again, 'statements').length).toBeGreaterThan(0);
        const [slowest] = table(again, 'statements');
        expect(typeof slowest?.calls).toBe('number');
        expect(typeof slowest?.total_ms).toBe('number');
      } finally {
        await db.knex.raw('drop extension pg_stat_statements');
      }
      return;
    }
    const available = await scalar<boolean>(
      db,
      `select exists (select 1 from pg_available_extensions where name = 'pg_stat_statements') as v`,
    );
    expect(missing?.figures.state).toBe(available ? 'not_enabled' : 'not_available');
    expect(findingSentence(missing!)).toContain(`shared_preload_libraries = 'pg_stat_statements'`);
    expect(findingSentence(missing!)).toContain('create extension pg_stat_statements;');
    expect(table(report, 'statements')).toEqual([]);
    if (!available) return;
    // Selecting from the view now raises "must be loaded via shared_preload_libraries": the report
    // must see that coming rather than abort its transaction.
    await db.knex.raw('create extension if not exists pg_stat_statements');
    try {
      const again = await runDbReport(db, { now });
      const [installed] = withCode(again, 'pg_stat_statements_missing');
      expect(installed?.figures.state).toBe('not_loaded');
      expect(findingSentence(installed!)).toContain('installed but the module is not loaded');
      expect(findingSentence(installed!)).toContain(`shared_preload_libraries = 'pg_stat_statements'`);
      expect(table(again, 'statements')).toEqual([]);
    } finally {
      await db.knex.raw('drop extension pg_stat_statements');
    }
  });

  it('runs under a read-only role and finds the same things', async () => {
    const reader = await openAsRole(['pg_read_all_data', 'pg_read_all_stats']);
    const result = await runDbReport(reader, { now });
    const stable = (r: ReportResult): Finding[] => r.findings.filter((f) => f.code !== 'cache_hit_ratio');
    expect(stable(result)).toEqual(stable(report));
    expect(row(table(result, 'tables'), 'table', scratch).table_bytes).toBe(
      row(table(report, 'tables'), 'table', scratch).table_bytes,
    );
    expect(table(result, 'migrations')).toEqual(table(report, 'migrations'));
    expect(result.ok).toBe(true);
  });

  it('runs under a role granted nothing, and says what it could not read', async () => {
    const nobody = await openAsRole([]);
    const result = await runDbReport(nobody, { now });
    expect(withCode(result, 'migrations_unreadable')).toHaveLength(1);
    expect(table(result, 'migrations')).toEqual([]);
    // Statistics views are public; pg_stats shows only readable columns, so there is no estimate.
    expect(withCode(result, 'dead_tuples')).toHaveLength(1);
    expect(row(table(result, 'tables'), 'table', scratch).bloat_bytes).toBeNull();
    expect(withCode(result, 'duplicate_index')).toHaveLength(2);
  });

  it('reports an invalid index as a problem, and the report is then not ok', async () => {
    expect(report.ok).toBe(true);
    expect(withCode(report, 'invalid_index')).toEqual([]);
    await expect(
      db.knex.raw(`create unique index concurrently report_db_invalid_idx on ${scratch} ((id % 2))`),
    ).rejects.toMatchObject({
      code: '23505',
    });
    try {
      const result = await runDbReport(db, { now });
      const invalid = withCode(result, 'invalid_index');
      expect(invalid).toHaveLength(1);
      expect(invalid[0]).toMatchObject({ level: 'problem', subject: 'report_db_invalid_idx', figures: { table: scratch } });
      expect(findingSentence(invalid[0]!)).toContain('index report_db_invalid_idx on report_db_scratch is INVALID');
      expect(findingSentence(invalid[0]!)).toContain('drop it and create it again');
      expect(result.findings[0]?.code).toBe('invalid_index');
      expect(result.ok).toBe(false);
      expect(withCode(result, 'unused_index').map((f) => f.subject)).toEqual(['report_db_payload_idx']);
    } finally {
      await db.knex.raw('drop index report_db_invalid_idx');
    }
  });

  it('reads in three round trips: the transaction with the server row, the rest together, the commit', async () => {
    const { value: together, messages } = await knexMessagesDuring(db, () => runDbReport(db, { now, limit: 1000 }));
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(/^begin isolation level repeatable read read only;[\s\S]*pg_stat_database/);
    expect(messages[1]).toMatch(/pg_class[\s\S]*pg_index[\s\S]*shiptrack_migrations[\s\S]*pg_stat_activity[\s\S]*pg_sequences/);
    expect(messages[2]).toBe('commit');
    // Read one at a time (--explain sends each alone), the same tables, indexes and history.
    const alone = await runDbReport(db, { now, limit: 1000, explain: true });
    const names = (result: ReportResult, name: string, key: string): unknown[] =>
      table(result, name)
        .map((r) => r[key])
        .sort();
    expect(names(together, 'tables', 'table')).toEqual(names(alone, 'tables', 'table'));
    expect(names(together, 'indexes', 'index')).toEqual(names(alone, 'indexes', 'index'));
    expect(table(together, 'migrations')).toEqual(table(alone, 'migrations'));
  });

  it('refuses a limit that is not a whole number of 1 or more, before any query', async () => {
    const { messages } = await knexMessagesDuring(db, async () => {
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await expect(runDbReport(db, { now, limit })).rejects.toThrow(/limit: expected a whole number of 1 or more/);
      }
    });
    expect(messages).toEqual([]);
  });

  it('captures a plan per query with explain, and every query stays fast', async () => {
    const result = await runDbReport(db, { now, explain: true });
    expect(result.plans?.map((p) => p.query)).toEqual(
      expect.arrayContaining(['server, settings and extensions', 'tables and bloat estimate', 'indexes', 'migrations']),
    );
    for (const plan of result.plans ?? []) {
      const ms = Number(/Execution Time: ([\d.]+) ms/.exec(plan.plan)?.[1]);
      expect(ms, plan.query).toBeLessThan(500);
    }
  });
});

describe('report db on the embedded database (PGlite)', () => {
  const config = embeddedConfig();
  let db: Database;

  beforeAll(async () => {
    db = await openDatabase(config);
    await migrateLatest(db, defaultMigratorOptions());
  });
  afterAll(async () => {
    await db?.close();
    rmSync(config.home, { recursive: true, force: true });
  });

  it('runs, reads the migrations, and explains that statement timings need a server', async () => {
    const result = await runDbReport(db, { now });
    expect(result.tables.map((t) => t.name)).toEqual(['tables', 'indexes', 'cache', 'statements', 'migrations']);
    expect(table(result, 'tables').length).toBeGreaterThan(0);
    expect(table(result, 'migrations')[0]?.applied).toBe(shippedMigrations().length);
    expect(withCode(result, 'pg_stat_statements_missing')[0]?.figures).toEqual({ state: 'embedded' });
    expect(findingSentence(withCode(result, 'pg_stat_statements_missing')[0]!)).toContain('PGlite');
    expect(result.notes.map((n) => n.code)).toContain('embedded_counters');
    // No autovacuum worker to blame for dead tuples there, nor to turn on.
    expect(withCode(result, 'autovacuum_off')).toEqual([]);
    expect(result.findings.filter((f) => f.level === 'problem')).toEqual([]);
    expect(result.ok).toBe(true);
  });
});
