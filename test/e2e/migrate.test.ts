import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { recordLoads, runCli, tempDir } from '../support/cli.js';
import { migrationFolder, shippedMigrations, sqlMigration } from '../support/stores.js';

interface StatusJson {
  migrations: { name: string; state: string; batch: number | null; checksum: string }[];
  pending: number;
  problems: number;
}

describe('migrate on the embedded default (no configuration at all)', () => {
  it('latest, status, rollback, latest — from an empty folder', async () => {
    const cwd = tempDir();
    const latest = await runCli(['migrate', 'latest'], { cwd });
    expect(latest.code).toBe(0);
    expect(latest.stdout).toContain(`applied ${shippedMigrations().length} migration(s) (batch 1)`);
    expect(existsSync(path.join(cwd, '.shiptrack', 'pgdata'))).toBe(true);

    const status = await runCli(['migrate', 'status', '--json'], { cwd });
    expect(status.code).toBe(0);
    const body = JSON.parse(status.stdout) as StatusJson;
    expect(body.migrations.map((m) => [m.name, m.state, m.batch])).toEqual(
      shippedMigrations().map((name) => [name, 'applied', 1]),
    );
    expect(body.migrations.every((m) => /^[0-9a-f]{64}$/.test(m.checksum))).toBe(true);

    const table = await runCli(['migrate', 'status'], { cwd });
    expect(table.stdout).toMatch(/migration\s+│\s+batch\s+│\s+applied at\s+│\s+checksum\s+│\s+state/);
    expect(table.stdout).toMatch(/database: embedded/);

    // Off a terminal a rollback needs --yes, and says what it would drop; --dry-run changes nothing.
    const refused = await runCli(['migrate', 'rollback', '--all'], { cwd });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(`this would revert ${shippedMigrations().length} migration\\(s\\) of batch 1; it drops .*packages \\(0 rows\\)`),
    );
    const dryRun = await runCli(['migrate', 'rollback', '--dry-run', '--json'], { cwd });
    expect(dryRun.code).toBe(0);
    const plan = JSON.parse(dryRun.stdout) as { batches: number[]; drops: { table: string }[]; migrations: unknown[] };
    expect(plan.batches).toEqual([1]);
    expect(plan.migrations).toHaveLength(shippedMigrations().length);
    expect(plan.drops.map((d) => d.table)).toEqual(expect.arrayContaining(['packages', 'tracking_events', 'customers']));
    expect((await runCli(['migrate', 'status', '--check'], { cwd })).code).toBe(0);
    const reverted = await runCli(['migrate', 'rollback', '--yes'], { cwd });
    expect(reverted.code).toBe(0);
    expect(reverted.stdout).toContain(`reverted ${shippedMigrations().length} migration(s) (batch 1)`);
    const pending = await runCli(['migrate', 'status', '--check'], { cwd });
    expect(pending.code).toBe(1);
    expect(pending.stdout).toContain(`${shippedMigrations().length} pending`);
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    expect((await runCli(['migrate', 'status', '--check'], { cwd })).code).toBe(0);
  });

  it('two processes running migrate latest at once apply each migration once', async () => {
    const cwd = tempDir();
    const [a, b] = await Promise.all([
      runCli(['migrate', 'latest', '--json'], { cwd }),
      runCli(['migrate', 'latest', '--json'], { cwd }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const applied = [a, b].flatMap((r) =>
      (JSON.parse(r.stdout) as { migrations: { name: string }[] }).migrations.map((m) => m.name),
    );
    expect(applied.sort()).toEqual(shippedMigrations());
  });

  it("migrate make writes a team's migration into ./migrations, valid as written, run after shiptrack's own", async () => {
    const cwd = tempDir('shiptrack-project-');
    const made = await runCli(['migrate', 'make', 'Add lane index!', '--json'], { cwd });
    expect(made.code).toBe(0);
    const { file, built } = JSON.parse(made.stdout) as { file: string; built: boolean };
    expect(built).toBe(false);
    expect(path.dirname(file)).toBe(path.join(cwd, 'migrations'));
    expect(path.basename(file)).toMatch(/^\d{14}_add_lane_index\.mjs$/);
    // Unedited, it does nothing, and it runs after every migration shiptrack ships.
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const status = JSON.parse((await runCli(['migrate', 'status', '--json'], { cwd })).stdout) as StatusJson;
    expect(status.migrations.map((m) => m.name)).toEqual([...shippedMigrations(), path.basename(file, '.mjs')]);
    expect(status.migrations.every((m) => m.state === 'applied')).toBe(true);
    const bad = await runCli(['migrate', 'make', '!!!'], { cwd });
    expect(bad.code).toBe(2);
    const elsewhere = tempDir('shiptrack-make-');
    expect((await runCli(['migrate', 'make', 'second', '--dir', elsewhere], { cwd })).code).toBe(0);
    expect(readdirSync(elsewhere)).toEqual([expect.stringMatching(/^\d{14}_second\.mjs$/)]);
  });
});

describe.skipIf(!inject('postgresAvailable'))('migrate on a PostgreSQL server', () => {
  let testDb: TestDatabase | undefined;
  afterEach(async () => {
    await testDb?.drop();
    testDb = undefined;
  });

  async function query<T>(sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: testDb?.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  it('--dry-run prints the SQL and changes nothing; two concurrent latest runs apply each migration once', async () => {
    testDb = await createTestDatabase('st_e2e');
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    const dry = await runCli(['migrate', 'latest', '--dry-run'], { env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/-- dry run: nothing was changed/);
    expect(dry.stdout).toMatch(/create table tracking_events/);
    expect(await query(`select 1 from information_schema.tables where table_name = 'customers'`)).toEqual([]);

    const runs = await Promise.all([1, 2, 3].map(() => runCli(['migrate', 'latest', '--json'], { env })));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    const rows = await query<{ name: string; batch: number }>(`select name, batch from shiptrack_migrations order by name`);
    expect(rows).toEqual(shippedMigrations().map((name) => ({ name, batch: 1 })));

    // Every statement trigger that keeps in_flight_packages (truncation apart) prices a key probe
    // as cached data (migration 20261205000400), including any a later migration replaced or added.
    const triggers = await query<{ name: string; config: string[] | null }>(
      `select distinct p.proname as name, p.proconfig as config
         from pg_trigger t join pg_proc p on p.oid = t.tgfoid
        where not t.tgisinternal and t.tgtype & 1 = 0 and t.tgtype & 32 = 0 and p.prosrc like '%in_flight_packages%'
        order by 1`,
    );
    expect(triggers.map((t) => t.name)).toEqual(
      ['events', 'packages', 'shipments'].flatMap((table) =>
        ['deleted', 'inserted', 'updated'].map((change) => `rollups_${table}_${change}`),
      ),
    );
    expect(triggers.filter((t) => !(t.config ?? []).includes('random_page_cost=1.1'))).toEqual([]);

    // `status` reads the history on one plain connection: it never loads knex (nor
    // store/knex-driver.ts, which imports it), which a run that applies migrations does.
    const knexLoaded = (name: string): boolean =>
      name === 'dist/src/store/knex-driver.js' || name.startsWith('node_modules/knex/');
    const statusLoads = recordLoads();
    const status = await runCli(['migrate', 'status', '--json'], { env: { ...env, ...statusLoads.env } });
    expect((JSON.parse(status.stdout) as StatusJson).migrations.every((m) => m.state === 'applied')).toBe(true);
    const statusLoaded = statusLoads.read();
    expect(statusLoaded).toContain('dist/src/store/pg-driver.js');
    expect(statusLoaded.filter(knexLoaded)).toEqual([]);
    const latestLoads = recordLoads();
    expect((await runCli(['migrate', 'latest'], { env: { ...env, ...latestLoads.env } })).code).toBe(0);
    expect(latestLoads.read().some(knexLoaded)).toBe(true);
  });

  it('Ctrl-C during a migration exits 130, rolls it back and leaves no lock', async () => {
    testDb = await createTestDatabase('st_e2e');
    const dir = migrationFolder({
      '20260701000000_slow.mjs': sqlMigration(
        ['create table interrupted (id int)', 'select pg_sleep(60)'],
        ['drop table interrupted'],
      ),
    });
    const result = await runCli(['migrate', 'latest', '--dir', dir], {
      env: { SHIPTRACK_DATABASE_URL: testDb.url },
      onSpawn: (child) => setTimeout(() => child.kill('SIGINT'), 1500),
    });
    expect(result.code).toBe(130);
    expect(result.ms).toBeLessThan(10_000);
    expect(result.stderr).toMatch(/interrupted while applying 20260701000000_slow; its changes were rolled back/);
    expect(await query(`select 1 from information_schema.tables where table_name = 'interrupted'`)).toEqual([]);
    expect(await query(`select 1 from shiptrack_migrations`)).toEqual([]);
    expect(await query(`select 1 from pg_locks where locktype = 'advisory' and classid = 21781`)).toEqual([]);
  });

  it('Ctrl-C during a team migration’s CREATE INDEX CONCURRENTLY exits 130 and says what to drop before the next run', async () => {
    testDb = await createTestDatabase('st_e2e');
    await query('create table t (id int)');
    // An uncommitted write to t: the build creates its (invalid) index, then waits for it.
    const writer = new pg.Client({ connectionString: testDb.url });
    await writer.connect();
    try {
      await writer.query('begin');
      await writer.query('insert into t values (1)');
      const dir = migrationFolder({
        '20260701000000_index.mjs': sqlMigration(
          ['create index concurrently t_id_idx on t (id)'],
          ['drop index t_id_idx'],
          false,
        ),
      });
      const result = await runCli(['migrate', 'latest', '--dir', dir], {
        env: { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_LOCK_TIMEOUT: '60s' },
        onSpawn: (child) => setTimeout(() => child.kill('SIGINT'), 1500),
      });
      expect(result.code, result.stderr).toBe(130);
      expect(result.ms).toBeLessThan(10_000);
      expect(result.stderr).toMatch(
        /interrupted while applying 20260701000000_index, which runs outside a transaction: .*an index build it interrupted is left invalid/,
      );
      expect(result.stderr).toMatch(
        /drop the invalid index \(`drop index concurrently <name>`\), then run `shiptrack migrate latest` again/,
      );
      expect(result.stderr).not.toMatch(/its changes were rolled back/);
      expect(await query(`select indisvalid from pg_index where indexrelid = 't_id_idx'::regclass`)).toEqual([
        { indisvalid: false },
      ]);
      expect(await query(`select 1 from shiptrack_migrations`)).toEqual([]);
      const status = await runCli(['migrate', 'status', '--dir', dir], { env: { SHIPTRACK_DATABASE_URL: testDb.url } });
      expect(status.stdout + status.stderr).toMatch(/t_id_idx/);
      // As the hint says: without the drop the same SQL stops on the invalid index; after it, it is built.
      await writer.query('rollback');
      const env = { SHIPTRACK_DATABASE_URL: testDb.url };
      const stuck = await runCli(['migrate', 'latest', '--dir', dir], { env });
      expect(stuck.stderr).toMatch(/relation "t_id_idx" already exists/);
      await query('drop index concurrently t_id_idx');
      const again = await runCli(['migrate', 'latest', '--dir', dir], { env });
      expect(again.code, again.stderr).toBe(0);
      expect(await query(`select indisvalid from pg_index where indexrelid = 't_id_idx'::regclass`)).toEqual([
        { indisvalid: true },
      ]);
    } finally {
      await writer.query('rollback').catch(() => undefined);
      await writer.end();
    }
  });

  it('a failing migration names the file and the SQL error, and exits 1', async () => {
    testDb = await createTestDatabase('st_e2e');
    const dir = migrationFolder({
      '20260801000000_bad.mjs': sqlMigration(['create table fine (id int)', 'create table oops (id int references nowhere)'], []),
    });
    const result = await runCli(['migrate', 'latest', '--dir', dir], { env: { SHIPTRACK_DATABASE_URL: testDb.url } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: migration 20260801000000_bad\.mjs failed: relation "nowhere" does not exist/);
    expect(result.stderr).toMatch(/statement: create table oops/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await query(`select 1 from information_schema.tables where table_name = 'fine'`)).toEqual([]);
  });

  it('a changed migration file blocks latest with exit 4', async () => {
    testDb = await createTestDatabase('st_e2e');
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    const dir = migrationFolder({ '20260901000000_one.mjs': sqlMigration(['create table one (id int)'], ['drop table one']) });
    expect((await runCli(['migrate', 'latest', '--dir', dir], { env })).code).toBe(0);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(dir, '20260901000000_one.mjs'), sqlMigration(['create table one (id bigint)'], ['drop table one']));
    const blocked = await runCli(['migrate', 'latest', '--dir', dir], { env });
    expect(blocked.code).toBe(4);
    expect(blocked.stderr).toMatch(/20260901000000_one: file changed after it was applied/);
    const status = await runCli(['migrate', 'status', '--dir', dir], { env });
    expect(status.code).toBe(4);
    expect(status.stdout).toMatch(/CHANGED/);
  });
});
