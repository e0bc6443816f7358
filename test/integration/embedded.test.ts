import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/errors.js';
import { defaultMigratorOptions, getMigrationStatus, migrateDown, migrateLatest } from '../../src/services/migrations.service.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { embeddedConfig, shippedMigrations } from '../support/stores.js';

// The embedded default is a real mode, not a demo: the same migrations, constraints and runner.
describe('the embedded database (PGlite)', () => {
  const config = embeddedConfig();
  let db: Database;

  beforeAll(async () => {
    db = await openDatabase(config);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('persists under SHIPTRACK_HOME and reports embedded mode', () => {
    expect(db.mode).toBe('embedded');
    expect(db.target).toBe(path.join(config.home, 'pgdata'));
    expect(existsSync(path.join(config.home, 'pgdata', 'PG_VERSION'))).toBe(true);
  });

  it('round-trips latest → rollback → latest', async () => {
    const options = defaultMigratorOptions();
    expect((await migrateLatest(db, options)).migrations).toHaveLength(shippedMigrations().length);
    expect((await migrateDown(db, options, { kind: 'all' })).migrations).toHaveLength(shippedMigrations().length);
    const tables = await db.knex.raw<{ rows: { t: string }[] }>(
      `select table_name as t from information_schema.tables where table_schema = 'public'`,
    );
    expect(tables.rows.map((r) => r.t)).toEqual(['shiptrack_migrations']);
    expect((await migrateLatest(db, options)).migrations).toHaveLength(shippedMigrations().length);
    const status = await getMigrationStatus(db, options);
    expect(status.pending).toBe(0);
  });

  it('enforces the same constraints as the server (weight > 0, metadata is an object)', async () => {
    const trx = await db.knex.transaction();
    try {
      const [c] = (await trx('customers')
        .insert({ name: 'A', email: 'a@x.io', address: 'x' })
        .returning('customer_id')) as unknown[];
      const id = (c as { customer_id: number }).customer_id;
      await trx.raw('savepoint s');
      await expect(
        trx('packages').insert({ tracking_number: 'RB123456785GB', sender_id: id, recipient_id: id, weight: 0, metadata: {} }),
      ).rejects.toMatchObject({ code: '23514' });
      await trx.raw('rollback to savepoint s');
      await expect(
        trx('packages').insert({ tracking_number: 'RB123456785GB', sender_id: id, recipient_id: id, weight: 1, metadata: '[1]' }),
      ).rejects.toMatchObject({ code: '23514' });
    } finally {
      await trx.rollback();
    }
  });

  it('refuses a second open of the same data directory, which would corrupt it', async () => {
    const error = await openDatabase(config, { embeddedLockWaitMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe('embedded_database_locked');
  });
});

describe('the embedded lock file', () => {
  it('refuses a second owner while the first is alive, and takes over a stale lock', async () => {
    const { writeFileSync } = await import('node:fs');
    const { spawn } = await import('node:child_process');
    const config = embeddedConfig();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(config.home, { recursive: true });
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    try {
      writeFileSync(path.join(config.home, 'pgdata.lock'), `${sleeper.pid}\nshiptrack seed\n`);
      const waits: string[] = [];
      const error = await openDatabase(config, { embeddedLockWaitMs: 300, onWait: (line) => waits.push(line) }).catch(
        (e: unknown) => e,
      );
      // The wait is said at once, naming who has the database, not after it ends.
      expect(waits).toEqual([`waiting for the embedded database: pid ${sleeper.pid} (shiptrack seed) has it open; up to 0 s`]);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).message).toBe(
        `the embedded database is in use by another shiptrack process (pid ${sleeper.pid})`,
      );
    } finally {
      sleeper.kill('SIGKILL');
    }
    await new Promise((resolve) => sleeper.once('exit', resolve));
    const db = await openDatabase(config, { embeddedLockWaitMs: 300 });
    await db.close();
    expect(existsSync(path.join(config.home, 'pgdata.lock'))).toBe(false);
  });
});
