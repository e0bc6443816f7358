import { utimesSync, writeFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ConflictError, MigrationError, InterruptedError } from '../../src/errors.js';
import {
  baselineMigrations,
  defaultMigratorOptions,
  dryRunLatest,
  getMigrationStatus,
  migrateDown,
  migrateLatest,
  migrateUp,
  repairMigrations,
  unlockMigrations,
  writeBuildChecksums,
  type MigratorOptions,
} from '../../src/services/migrations.service.js';
import { sessionPool, type Database } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { builtModuleUrl, migrationFolder, openServer, shippedMigrations, sqlMigration } from '../support/stores.js';

const shipped = defaultMigratorOptions();

function folderOptions(dir: string, extra: Partial<MigratorOptions> = {}): MigratorOptions {
  return { directory: dir, compiledDirectory: dir, lockWaitMs: 10_000, ...extra };
}

async function tableNames(db: Database): Promise<string[]> {
  const result = await db.knex.raw<{ rows: { table_name: string }[] }>(
    `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
  );
  return result.rows.map((r) => r.table_name);
}

describe.skipIf(!inject('postgresAvailable'))('migrations on a PostgreSQL server', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_migrate');
    db = await openServer(testDb.url);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('latest → rollback → latest round-trips and leaves only the history table behind', async () => {
    const first = await migrateLatest(db, shipped);
    expect(first.migrations.map((m) => m.name)).toEqual(shippedMigrations());
    expect(first.batch).toBe(1);
    const again = await migrateLatest(db, shipped);
    expect(again.migrations).toEqual([]);

    const down = await migrateDown(db, shipped, { kind: 'all' });
    expect(down.migrations.map((m) => m.name)).toEqual([...shippedMigrations()].reverse());
    expect(await tableNames(db)).toEqual(['shiptrack_migrations']);

    await migrateLatest(db, shipped);
    const status = await getMigrationStatus(db, shipped);
    expect(status.pending).toBe(0);
    expect(status.problems).toBe(0);
    expect(status.migrations.every((m) => m.state === 'applied' && m.checksum.length === 64)).toBe(true);
  });

  it('creates exactly the tables of DOMAIN §1 (read back from information_schema)', async () => {
    const columns = await db.knex.raw<{
      rows: { table_name: string; column_name: string; data_type: string; is_nullable: string }[];
    }>(
      `select table_name, column_name, data_type, is_nullable
         from information_schema.columns
        where table_schema = 'public' and table_name in ('customers','locations','packages','shipments','tracking_events')
        order by table_name, ordinal_position`,
    );
    const byTable = new Map<string, Record<string, string>>();
    for (const c of columns.rows) {
      const entry = byTable.get(c.table_name) ?? {};
      entry[c.column_name] = c.data_type;
      byTable.set(c.table_name, entry);
    }
    expect(byTable.get('customers')).toMatchObject({ customer_id: 'bigint', name: 'text', email: 'text', address: 'text' });
    expect(byTable.get('locations')).toMatchObject({
      location_id: 'integer',
      location_name: 'text',
      city: 'text',
      state: 'text',
      location_type: 'text',
    });
    expect(byTable.get('packages')).toMatchObject({
      package_id: 'bigint',
      tracking_number: 'text',
      sender_id: 'bigint',
      recipient_id: 'bigint',
      current_status: 'text',
      weight: 'numeric',
      metadata: 'jsonb',
    });
    expect(byTable.get('shipments')).toMatchObject({
      shipment_id: 'bigint',
      package_id: 'bigint',
      origin_location_id: 'integer',
      destination_location_id: 'integer',
      estimated_delivery: 'timestamp with time zone',
      actual_delivery: 'timestamp with time zone',
    });
    expect(byTable.get('tracking_events')).toMatchObject({
      event_id: 'bigint',
      package_id: 'bigint',
      location_id: 'integer',
      status: 'text',
      event_timestamp: 'timestamp with time zone',
    });
  });

  it('has every key: identity primary keys by default, foreign keys, unique constraints (read from pg_catalog)', async () => {
    const identities = await db.knex.raw<{ rows: { table_name: string; column_name: string; identity_generation: string }[] }>(
      `select table_name, column_name, identity_generation from information_schema.columns
        where table_schema = 'public' and is_identity = 'YES' and table_name <> 'shiptrack_migrations' order by 1`,
    );
    expect(identities.rows.filter((r) => !r.table_name.startsWith('doc') && r.table_name !== 'document_outbox')).toEqual([
      { table_name: 'customers', column_name: 'customer_id', identity_generation: 'BY DEFAULT' },
      { table_name: 'locations', column_name: 'location_id', identity_generation: 'BY DEFAULT' },
      { table_name: 'packages', column_name: 'package_id', identity_generation: 'BY DEFAULT' },
      { table_name: 'shipments', column_name: 'shipment_id', identity_generation: 'BY DEFAULT' },
      { table_name: 'tracking_events', column_name: 'event_id', identity_generation: 'BY DEFAULT' },
    ]);

    const fks = await db.knex.raw<{ rows: { fk: string }[] }>(
      `select format('%s(%s) -> %s(%s)', c.conrelid::regclass, a.attname, c.confrelid::regclass, af.attname) as fk
         from pg_constraint c
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
         join pg_attribute af on af.attrelid = c.confrelid and af.attnum = c.confkey[1]
        where c.contype = 'f' and c.connamespace = 'public'::regnamespace
        order by 1`,
    );
    expect(fks.rows.map((r) => r.fk)).toEqual([
      'packages(recipient_id) -> customers(customer_id)',
      'packages(sender_id) -> customers(customer_id)',
      'shipments(destination_location_id) -> locations(location_id)',
      'shipments(origin_location_id) -> locations(location_id)',
      'shipments(package_id) -> packages(package_id)',
      'tracking_events(location_id) -> locations(location_id)',
      'tracking_events(package_id) -> packages(package_id)',
    ]);

    const uniques = await db.knex.raw<{ rows: { def: string }[] }>(
      `select pg_get_indexdef(i.indexrelid) as def from pg_index i
        where i.indisunique and not i.indisprimary
          and i.indrelid in ('customers'::regclass, 'packages'::regclass, 'shipments'::regclass, 'locations'::regclass)
        order by 1`,
    );
    const defs = uniques.rows.map((r) => r.def).join('\n');
    expect(defs).toMatch(/UNIQUE INDEX \S+ ON public\.customers USING btree \(lower\(email\)\)/);
    expect(defs).toMatch(/ON public\.packages USING btree \(tracking_number\)/);
    expect(defs).toMatch(/ON public\.shipments USING btree \(package_id\)/);

    const trackIndex = await db.knex.raw<{ rows: { def: string }[] }>(
      `select pg_get_indexdef(indexrelid) as def from pg_index where indrelid = 'tracking_events'::regclass and not indisprimary`,
    );
    expect(trackIndex.rows.map((r) => r.def)).toContainEqual(expect.stringMatching(/\(package_id, event_timestamp/));
  });

  it('enforces the rules of DOMAIN §1–2 (statuses, location types, weight, metadata object, origin ≠ destination, email case)', async () => {
    const trx = await db.knex.transaction();
    try {
      const [alice] = (await trx('customers')
        .insert({ name: 'Alice', email: 'Alice@Example.com', address: '1 Main St' })
        .returning('customer_id')) as unknown[];
      await expect(
        trx.raw(`savepoint s; insert into customers (name, email, address) values ('A2', 'alice@example.COM', 'x')`),
      ).rejects.toMatchObject({
        code: '23505',
      });
      await trx.raw('rollback to savepoint s');
      const [hub] = (await trx('locations')
        .insert([
          { location_name: 'Denver Hub', city: 'Denver', state: 'CO', location_type: 'hub' },
          { location_name: 'Austin Station', city: 'Austin', state: 'TX', location_type: 'delivery_station' },
        ])
        .returning('location_id')) as unknown[];
      const expectViolation = async (sql: string, bindings: unknown[], code: string): Promise<void> => {
        await trx.raw('savepoint v');
        await expect(trx.raw(sql, bindings as never)).rejects.toMatchObject({ code });
        await trx.raw('rollback to savepoint v');
      };
      const senderId = (alice as { customer_id: number }).customer_id;
      const pkg = `insert into packages (tracking_number, sender_id, recipient_id, current_status, weight, metadata) values (?, ?, ?, ?, ?, ?::jsonb)`;
      await expectViolation(
        `insert into locations (location_name, city, state, location_type) values ('X', 'c', 's', 'spaceport')`,
        [],
        '23514',
      );
      await expectViolation(pkg, ['RB123456785GB', senderId, senderId, 'lost', 1, '{}'], '23514');
      await expectViolation(pkg, ['RB123456785GB', senderId, senderId, 'pending', 0, '{}'], '23514');
      await expectViolation(pkg, ['RB123456785GB', senderId, senderId, 'pending', 1, '[1,2]'], '23514');
      await expectViolation(pkg, ['RB123456785GB', senderId, 999_999, 'pending', 1, '{}'], '23503');
      await trx.raw(pkg, ['RB123456785GB', senderId, senderId, 'pending', 1.5, '{"fragile": true}']);
      await expectViolation(pkg, ['RB123456785GB', senderId, senderId, 'pending', 1, '{}'], '23505');
      const hubId = (hub as { location_id: number }).location_id;
      await expectViolation(
        `insert into shipments (package_id, origin_location_id, destination_location_id, estimated_delivery)
         select package_id, ?, ?, now() from packages`,
        [hubId, hubId],
        '23514',
      );
      await expectViolation(
        `insert into tracking_events (package_id, location_id, status, event_timestamp) select package_id, ?, 'teleported', now() from packages`,
        [hubId],
        '23514',
      );
    } finally {
      await trx.rollback();
    }
  });

  it('dry run prints the SQL of pending migrations and changes nothing', async () => {
    const fresh = await createTestDatabase('st_dry');
    const other = await openServer(fresh.url);
    try {
      const result = await dryRunLatest(other, shipped);
      expect(result.migrations.map((m) => [m.name, m.transactional, m.executed])).toEqual(
        shippedMigrations().map((name) => {
          // Migrations that build indexes CONCURRENTLY cannot run in a transaction: printed, not executed.
          const transactional = !/_index(es)?$/.test(name);
          return [name, transactional, transactional];
        }),
      );
      const concurrent = result.migrations.find((m) => m.name.endsWith('_scan_idempotency_index'));
      expect(concurrent?.statements.join('\n')).toMatch(/create unique index concurrently/);
      expect(result.migrations[0]?.statements.join('\n')).toMatch(/create table customers/);
      expect(await tableNames(other)).toEqual([]);
    } finally {
      await other.close();
      await fresh.drop();
    }
  });
});

describe.skipIf(!inject('postgresAvailable'))('migration runner guarantees', () => {
  let testDb: TestDatabase;
  let db: Database;

  // Each test gets an empty database of its own.
  beforeEach(async () => {
    testDb = await createTestDatabase('st_guard');
    db = await openServer(testDb.url);
  });
  afterEach(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('a failing migration leaves nothing half-applied and names the file and the SQL error', async () => {
    const dir = migrationFolder({
      '20260101000000_ok.mjs': sqlMigration(['create table a (id int)'], ['drop table a']),
      '20260101000001_broken.mjs': sqlMigration(
        ['create table b (id int)', 'insert into b values (1)', 'alter table b add constraint b_positive check (id < 0)'],
        ['drop table b'],
      ),
    });
    const error = await migrateLatest(db, folderOptions(dir)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    const message = (error as MigrationError).message;
    expect(message).toContain('20260101000001_broken.mjs');
    expect(message).toMatch(/check constraint "b_positive" .*violated/);
    expect((error as MigrationError).details).toMatchObject({ file: '20260101000001_broken.mjs', sqlstate: '23514' });
    expect(String((error as MigrationError).details?.sql)).toMatch(/add constraint b_positive/);

    const tables = await tableNames(db);
    expect(tables).toContain('a');
    expect(tables).not.toContain('b');
    const status = await getMigrationStatus(db, folderOptions(dir));
    expect(status.migrations.map((m) => [m.name, m.state])).toEqual([
      ['20260101000000_ok', 'applied'],
      ['20260101000001_broken', 'pending'],
    ]);
  });

  it('an applied migration whose file changed or vanished is reported and blocks latest', async () => {
    const dir = migrationFolder({
      '20260201000000_one.mjs': sqlMigration(['create table guarded (id int)'], ['drop table guarded']),
    });
    await migrateLatest(db, folderOptions(dir));
    writeFileSync(
      path.join(dir, '20260201000000_one.mjs'),
      sqlMigration(['create table guarded (id bigint)'], ['drop table guarded']),
    );
    writeFileSync(path.join(dir, '20260201000001_two.mjs'), sqlMigration(['create table two (id int)'], ['drop table two']));

    const changed = await getMigrationStatus(db, folderOptions(dir));
    expect(changed.migrations.map((m) => m.state)).toEqual(['changed', 'pending']);
    const blocked = await migrateLatest(db, folderOptions(dir)).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(ConflictError);
    expect((blocked as ConflictError).code).toBe('migration_checksum_mismatch');
    expect((blocked as ConflictError).message).toContain('20260201000000_one: file changed after it was applied');
    expect(await tableNames(db)).not.toContain('two');

    unlinkSync(path.join(dir, '20260201000000_one.mjs'));
    const missing = await getMigrationStatus(db, folderOptions(dir));
    expect(missing.migrations.map((m) => [m.name, m.state])).toEqual([
      ['20260201000000_one', 'missing'],
      ['20260201000001_two', 'pending'],
    ]);
    await expect(migrateLatest(db, folderOptions(dir))).rejects.toThrow(/applied, but its file is gone/);
  });

  it('repair re-records a deliberately changed file with its reason; a vanished file it refuses', async () => {
    const dir = migrationFolder({
      '20260201000000_one.mjs': sqlMigration(['create table guarded (id int)'], ['drop table guarded']),
      '20260201000001_two.mjs': sqlMigration(['create table two (id int)'], ['drop table two']),
    });
    await migrateLatest(db, folderOptions(dir));
    const before = await getMigrationStatus(db, folderOptions(dir));
    // A reviewed edit that changes nothing in the schema: a comment.
    writeFileSync(
      path.join(dir, '20260201000000_one.mjs'),
      `// why: the table guards the lanes\n${sqlMigration(['create table guarded (id int)'], ['drop table guarded'])}`,
    );
    await expect(repairMigrations(db, folderOptions(dir), { reason: '  ' })).rejects.toThrow(/--reason: say why/);
    await expect(migrateLatest(db, folderOptions(dir))).rejects.toThrow(/file changed after it was applied/);
    const { repaired } = await repairMigrations(db, folderOptions(dir), { reason: 'comment added, reviewed in PR 231' });
    const after = await getMigrationStatus(db, folderOptions(dir));
    expect(repaired).toEqual([
      { name: '20260201000000_one', from: before.migrations[0]?.checksum, to: after.migrations[0]?.checksum },
    ]);
    expect(after.migrations.map((m) => m.state)).toEqual(['applied', 'applied']);
    const log = await db.knex.raw<{ rows: { kind: string; name: string; reason: string; done_by: string }[] }>(
      'select kind, name, reason, done_by from shiptrack_migration_repairs',
    );
    expect(log.rows).toEqual([
      { kind: 'repair', name: '20260201000000_one', reason: 'comment added, reviewed in PR 231', done_by: 'postgres' },
    ]);
    expect((await migrateLatest(db, folderOptions(dir))).migrations).toEqual([]);
    unlinkSync(path.join(dir, '20260201000001_two.mjs'));
    await expect(repairMigrations(db, folderOptions(dir), { names: ['20260201000001_two'], reason: 'gone' })).rejects.toThrow(
      /file is gone: restore the file/,
    );
  });

  it('baseline records a hand-made schema as migrated through a given migration; latest applies the rest', async () => {
    const dir = migrationFolder({
      '20260301000000_a.mjs': sqlMigration(['create table made_a (id int)'], ['drop table made_a']),
      '20260301000001_b.mjs': sqlMigration(['create table made_b (id int)'], ['drop table made_b']),
      '20260301000002_c.mjs': sqlMigration(['create table made_c (id int)'], ['drop table made_c']),
    });
    // The first two were made by hand.
    await db.knex.raw('create table made_a (id int)');
    await db.knex.raw('create table made_b (id int)');
    await expect(baselineMigrations(db, folderOptions(dir), { through: '20260301000009_nope', reason: 'x' })).rejects.toThrow(
      /--through: no migration/,
    );
    const { baselined } = await baselineMigrations(db, folderOptions(dir), {
      through: '20260301000001_b',
      reason: 'restored from the November dump',
    });
    expect(baselined.map((b) => b.name)).toEqual(['20260301000000_a', '20260301000001_b']);
    const status = await getMigrationStatus(db, folderOptions(dir));
    expect(status.migrations.map((m) => [m.name, m.state, m.batch])).toEqual([
      ['20260301000000_a', 'applied', 0],
      ['20260301000001_b', 'applied', 0],
      ['20260301000002_c', 'pending', null],
    ]);
    const result = await migrateLatest(db, folderOptions(dir));
    expect(result.migrations.map((m) => m.name)).toEqual(['20260301000002_c']);
    await expect(baselineMigrations(db, folderOptions(dir), { reason: 'again' })).rejects.toThrow(
      /has migrations recorded already/,
    );
  });

  it('two concurrent runs apply each migration once', async () => {
    const dir = migrationFolder({
      '20260301000000_slow.mjs': sqlMigration(['select pg_sleep(0.5)', 'create table slow (id int)'], ['drop table slow']),
      '20260301000001_next.mjs': sqlMigration(['create table next_one (id int)'], ['drop table next_one']),
    });
    const second = await openServer(testDb.url);
    try {
      const [a, b] = await Promise.all([migrateLatest(db, folderOptions(dir)), migrateLatest(second, folderOptions(dir))]);
      const applied = [...a.migrations, ...b.migrations].map((m) => m.name).sort();
      expect(applied).toEqual(['20260301000000_slow', '20260301000001_next']);
      const rows = await db.knex.raw<{ rows: { n: number }[] }>(
        `select count(*)::int as n from shiptrack_migrations where name like '202603%'`,
      );
      expect(rows.rows[0]?.n).toBe(2);
    } finally {
      await second.close();
    }
  });

  it('non-transactional migrations run CREATE INDEX CONCURRENTLY; an invalid index left by a failure is rebuilt', async () => {
    await db.knex.raw(`create table cic (id int); insert into cic values (1), (1), (2)`);
    const helpers = builtModuleUrl('src/store/migration-helpers.js');
    const dir = migrationFolder({
      '20260401000000_cic.mjs': `import { createIndexConcurrently, dropIndexConcurrently } from ${JSON.stringify(helpers)};
export const config = { transaction: false };
export async function up(knex) { await createIndexConcurrently(knex, { name: 'cic_id_key', table: 'cic', definition: '(id)', unique: true }); }
export async function down(knex) { await dropIndexConcurrently(knex, 'cic_id_key'); }
`,
    });
    await expect(migrateLatest(db, folderOptions(dir))).rejects.toThrow(
      /20260401000000_cic\.mjs failed: could not create unique index/,
    );
    const afterFailure = await getMigrationStatus(db, folderOptions(dir));
    expect(afterFailure.invalidIndexes).toEqual([{ schema: 'public', table: 'cic', index: 'cic_id_key' }]);
    expect(afterFailure.pending).toBe(1);

    await db.knex.raw(`delete from cic where ctid = (select max(ctid) from cic where id = 1)`);
    const run = await migrateLatest(db, folderOptions(dir));
    expect(run.migrations).toEqual([expect.objectContaining({ name: '20260401000000_cic', transactional: false })]);
    const valid = await db.knex.raw<{ rows: { valid: boolean }[] }>(
      `select indisvalid as valid from pg_index where indexrelid = 'cic_id_key'::regclass`,
    );
    expect(valid.rows[0]?.valid).toBe(true);
    expect((await getMigrationStatus(db, folderOptions(dir))).invalidIndexes).toEqual([]);
    await migrateDown(db, folderOptions(dir), { kind: 'all' });
    expect((await db.knex.raw<{ rows: unknown[] }>(`select 1 from pg_class where relname = 'cic_id_key'`)).rows).toEqual([]);
  });

  it('non-transactional migrations wait on locks only as long as lock_timeout', async () => {
    await db.knex.raw(`create table locked_t (id int)`);
    const helpers = builtModuleUrl('src/store/migration-helpers.js');
    const dir = migrationFolder({
      '20260501000000_idx.mjs': `import { createIndexConcurrently, dropIndexConcurrently } from ${JSON.stringify(helpers)};
export const config = { transaction: false };
export async function up(knex) { await knex.raw("set lock_timeout = '300ms'"); await createIndexConcurrently(knex, { name: 'locked_t_idx', table: 'locked_t', definition: '(id)' }); }
export async function down(knex) { await dropIndexConcurrently(knex, 'locked_t_idx'); }
`,
    });
    const holder = await openServer(testDb.url);
    const trx = await holder.knex.transaction();
    try {
      await trx.raw('lock table locked_t in access exclusive mode');
      const started = Date.now();
      await expect(migrateLatest(db, folderOptions(dir))).rejects.toThrow(/lock/i);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await trx.rollback();
      await holder.close();
    }
    expect((await migrateLatest(db, folderOptions(dir))).migrations).toHaveLength(1);
  });

  it('an interrupted migration rolls back and releases the lock', async () => {
    const dir = migrationFolder({
      '20260601000000_long.mjs': sqlMigration(['create table long_one (id int)', 'select pg_sleep(30)'], ['drop table long_one']),
    });
    const controller = new AbortController();
    const started = Date.now();
    const run = migrateLatest(db, folderOptions(dir, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 500);
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await tableNames(db)).not.toContain('long_one');
    expect((await unlockMigrations(db, false)).holder).toBeNull();
  });

  it('unlock names the session holding the lock and --force ends it', async () => {
    const holder = await openServer(testDb.url);
    const conn = await sessionPool(holder.knex).acquireConnection();
    try {
      await holder.knex.raw(`set application_name = 'stuck migrator'`).connection(conn);
      await holder.knex.raw('select pg_advisory_lock(21781, 1)').connection(conn);
      const seen = await unlockMigrations(db, false);
      expect(seen.holder).toMatchObject({ applicationName: 'stuck migrator' });
      const blocked = await migrateUp(db, { ...shipped, lockWaitMs: 300 }).catch((e: unknown) => e);
      expect(blocked).toBeInstanceOf(ConflictError);
      expect((blocked as ConflictError).code).toBe('migration_locked');
      const forced = await unlockMigrations(db, true);
      expect(forced.terminated).toBe(true);
      await expect.poll(async () => (await unlockMigrations(db, false)).holder).toBeNull();
    } finally {
      await sessionPool(holder.knex)
        .releaseConnection(conn)
        .catch(() => undefined);
      await holder.close().catch(() => undefined);
    }
  });

  it('a built migration is current when its source has the same content, whatever the file times say', async () => {
    const sources = migrationFolder({});
    const built = migrationFolder({});
    const name = '20990101000000_built_check';
    const source = `export const config = { transaction: true };\n// compiled from TypeScript\n`;
    writeFileSync(path.join(sources, `${name}.ts`), source);
    writeFileSync(
      path.join(built, `${name}.js`),
      sqlMigration(['create table built_check (id int)'], ['drop table built_check']),
    );
    writeBuildChecksums({ directory: sources, compiledDirectory: built });
    // The source is newer than its build, as after a checkout or an install from a package.
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(sources, `${name}.ts`), later, later);
    const options = { directory: sources, compiledDirectory: built, lockWaitMs: 10_000 };
    expect((await migrateLatest(db, options)).migrations.map((m) => m.name)).toEqual([name]);
    await migrateDown(db, options, { kind: 'count', count: 1 });

    writeFileSync(path.join(sources, `${name}.ts`), `${source}// edited after the build\n`);
    const stale = await migrateLatest(db, options).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(MigrationError);
    expect((stale as MigrationError).message).toBe(`migration ${name} changed since it was built`);
  });

  it('a rollback of everything reports every batch it reverted', async () => {
    const dir = migrationFolder({
      '20990101000001_a.mjs': sqlMigration(['create table a (id int)'], ['drop table a']),
    });
    const options = folderOptions(dir);
    await migrateLatest(db, options);
    writeFileSync(path.join(dir, '20990101000002_b.mjs'), sqlMigration(['create table b (id int)'], ['drop table b']));
    expect((await migrateLatest(db, options)).batch).toBe(2);
    const reverted = await migrateDown(db, options, { kind: 'all' });
    expect(reverted.batches).toEqual([1, 2]);
    expect(reverted.migrations.map((m) => m.name)).toEqual(['20990101000002_b', '20990101000001_a']);
  });
});
