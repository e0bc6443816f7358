import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lintFiles, listMigrationFiles } from '../../src/services/migrations.service.js';
import type { Database } from '../../src/store/database.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { migrationFolder, openServer, sqlMigration } from '../support/stores.js';

/**
 * `migrate lint` against a database of the test's own: `busy` holds ~2 MB, `tiny` a few rows. For
 * each rule, a migration that must be flagged and its safe rewrite that must pass; then the gate
 * on `latest`, and a rule accepted with its reason.
 */

const lintOne = async (db: Database, up: string[], transactional = true): Promise<string[]> => {
  const dir = migrationFolder({ '20990101000000_probe.mjs': sqlMigration(up, [], transactional) });
  const files = listMigrationFiles({ directory: dir, compiledDirectory: dir });
  const result = await lintFiles(db, files);
  return result.findings.map((f) => f.rule);
};

describe.skipIf(!inject('postgresAvailable'))('migrate lint', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_lint');
    db = await openServer(testDb.url);
    await db.knex.raw(`create table owners (id bigint primary key)`);
    await db.knex.raw(`insert into owners select g from generate_series(1, 10) g`);
    await db.knex.raw(`create table busy (id bigint primary key, owner_id bigint, note text, n int)`);
    await db.knex.raw(`insert into busy select g, 1 + g % 10, repeat('x', 60), g from generate_series(1, 20000) g`);
    await db.knex.raw(`create table tiny (id bigint primary key, note text)`);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it.each([
    [
      'index-not-concurrent',
      ['create index busy_note_idx on busy (note)'],
      true,
      ['create index concurrently busy_note_idx on busy (note)'],
      false,
    ],
    [
      'concurrently-in-transaction',
      ['create index concurrently busy_n_idx on busy (n)'],
      true,
      ['create index concurrently busy_n_idx on busy (n)'],
      false,
    ],
    [
      'constraint-not-valid',
      ['alter table busy add constraint busy_owner_fk foreign key (owner_id) references owners (id)'],
      true,
      ['alter table busy add constraint busy_owner_fk foreign key (owner_id) references owners (id) not valid'],
      true,
    ],
    [
      'constraint-not-valid',
      ['alter table busy add constraint busy_n_positive check (n > 0)'],
      true,
      [
        'alter table busy add constraint busy_n_positive check (n > 0) not valid',
        'alter table busy validate constraint busy_n_positive',
      ],
      true,
    ],
    [
      'set-not-null',
      ['alter table busy alter column note set not null'],
      true,
      ['alter table busy add constraint busy_note_nn check (note is not null) not valid'],
      true,
    ],
    [
      'column-type-change',
      ['alter table busy alter column n type bigint'],
      true,
      ['alter table busy add column n_big bigint'],
      true,
    ],
    [
      'volatile-default',
      ['alter table busy add column token uuid default gen_random_uuid()'],
      true,
      ['alter table busy add column token uuid', 'alter table busy alter column token set default gen_random_uuid()'],
      true,
    ],
    [
      'lock-timeout-off',
      ['set lock_timeout = 0', 'alter table busy add column flag boolean'],
      true,
      ["set lock_timeout = '2s'", 'alter table busy add column flag boolean'],
      true,
    ],
    [
      'rename-or-drop',
      ['alter table busy rename column note to remark'],
      true,
      ['alter table busy add column remark text'],
      true,
    ],
    ['int-keys', ['create table fresh (id int primary key)'], true, ['create table fresh (id bigint primary key)'], true],
  ])('%s: flagged, and its safe rewrite passes', async (rule, bad, badTransactional, safe, safeTransactional) => {
    expect(await lintOne(db, bad, badTransactional)).toContain(rule);
    expect(await lintOne(db, safe, safeTransactional)).not.toContain(rule);
  });

  it('a table created earlier in the same run is new: nothing to lock', async () => {
    expect(
      await lintOne(db, [
        'create table fresh2 (id bigint primary key, n int)',
        'create index on fresh2 (n)',
        'alter table fresh2 alter column n set not null',
      ]),
    ).toEqual([]);
  });

  it('latest stops on a blocking finding and applies nothing; an accepted rule is applied and its reason recorded', async () => {
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    const dir = migrationFolder({
      '20990101000001_tiny_index.mjs': sqlMigration(['create index tiny_note_idx on tiny (note)'], ['drop index tiny_note_idx']),
      '20990101000002_busy_index.mjs': sqlMigration(['create index busy_note_idx on busy (note)'], ['drop index busy_note_idx']),
    });
    const refused = await runCli(['migrate', 'latest', '--dir', dir, '--json'], { env });
    expect(refused.code, refused.stderr).toBe(4);
    const { error } = JSON.parse(refused.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('migration_lint');
    expect(error.message).toMatch(/20990101000002_busy_index:\d+ index-not-concurrent: CREATE INDEX on existing table busy/);
    // The tiny table's finding is reported by lint, but does not block.
    expect(error.message).not.toMatch(/tiny/);
    const tables = await db.knex.raw<{ rows: { n: number }[] }>(
      `select count(*)::int as n from pg_indexes where indexname like '%_note_idx'`,
    );
    expect(tables.rows[0]?.n).toBe(0);
    const lint = await runCli(['migrate', 'lint', '--dir', dir, '--json'], { env });
    expect(lint.code).toBe(4);
    const findings = (JSON.parse(lint.stdout) as { findings: { migration: string; blocking: boolean; tableBytes: number }[] })
      .findings;
    expect(findings.map((f) => [f.migration, f.blocking])).toEqual([
      ['20990101000001_tiny_index', false],
      ['20990101000002_busy_index', true],
    ]);
    expect(findings[1]?.tableBytes).toBeGreaterThan(1024 * 1024);

    const reason = 'built at night, busy is read-only then';
    const accepted = migrationFolder({
      '20990101000002_busy_index.mjs': `export const lint = { accept: { 'index-not-concurrent': ${JSON.stringify(reason)} } };\n${sqlMigration(['create index busy_note_idx on busy (note)'], ['drop index busy_note_idx'])}`,
    });
    const applied = await runCli(['migrate', 'latest', '--dir', accepted, '--json'], { env });
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const history = await db.knex.raw<{ rows: { lint_accepted: Record<string, string> }[] }>(
      `select lint_accepted from shiptrack_migrations where name = '20990101000002_busy_index'`,
    );
    expect(history.rows[0]?.lint_accepted).toEqual({ 'index-not-concurrent': reason });
  });

  it("shiptrack's own migrations pass (on a fresh database, as CI lints them)", async () => {
    const result = await runCli(['migrate', 'lint', '--all', '--json'], {
      env: { SHIPTRACK_HOME: path.join(testDb.url.replace(/\W+/g, '_')) },
    });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const { findings } = JSON.parse(result.stdout) as { findings: { level: string }[] };
    expect(findings.filter((f) => f.level === 'error')).toEqual([]);
  });
});
