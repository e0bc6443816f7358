import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { runCli, tempDir } from '../support/cli.js';
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

    expect((await runCli(['migrate', 'rollback'], { cwd })).code).toBe(0);
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

  it('migrate make writes a timestamped migration file', async () => {
    const dir = tempDir('shiptrack-make-');
    const result = await runCli(['migrate', 'make', 'Add lane index!', '--dir', dir]);
    expect(result.code).toBe(0);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{14}_add_lane_index\.ts$/);
    const bad = await runCli(['migrate', 'make', '!!!', '--dir', dir]);
    expect(bad.code).toBe(2);
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
