import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { readStatement, withSession, type SessionTransaction } from '../../src/store/session.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { knexMessagesDuring } from '../support/knex-messages.js';

const postgres = inject('postgresAvailable');

/** A database of its own with a table `things` of two rows: dates, arrays, JSON, a quote, a null. */
async function thingsDatabase(prefix: string, poolMax: number): Promise<{ testDb: TestDatabase; db: Database }> {
  const testDb = await createTestDatabase(prefix);
  const db = await openDatabase(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }), { poolMax });
  await db.knex.raw(`create table things (id int primary key, at timestamptz, tags text[], doc jsonb, note text)`);
  await db.knex.raw(`insert into things values (1, '2026-11-24 12:00+00', '{a,b}', '{"fragile": true}', 'it''s'),
                                               (2, '2026-11-25 12:00+00', '{"c d",e}', '{"n": 2}', null)`);
  return { testDb, db };
}

/**
 * A single-statement session sends its transaction, settings, statement and commit in one simple
 * query, with the bindings written in as literals: the answers must be those of the same
 * statement sent with parameters, and a failure must leave nothing open on the pooled connection.
 */
describe.skipIf(!postgres)('withSession: one statement in one round trip', () => {
  let testDb: TestDatabase;
  let db: Database;
  const single: SessionTransaction = {
    mode: 'isolation level repeatable read read only',
    settings: { work_mem: '64MB' },
    single: true,
  };

  beforeAll(async () => {
    ({ testDb, db } = await thingsDatabase('st_session', 1));
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('answers as the same statement with parameters does: dates, arrays, JSON, quotes, nulls', async () => {
    const sql = `select id, at, tags, doc, note, current_setting('work_mem') as work_mem,
                        current_setting('transaction_read_only') as read_only
                   from things
                  where at >= ? and tags && ?::text[] and (doc @> ?::jsonb or note is not distinct from ?)
                    and coalesce(note, '') <> ? order by id limit ?`;
    const bindings = [new Date('2026-11-24T00:00:00Z'), ['b', 'c d'], JSON.stringify({ fragile: true }), null, "x'y\\z", 10];
    const once = await withSession(db, { transaction: single }, (session) => session.raw(sql, bindings));
    const usual = await withSession(db, { transaction: { ...single, single: false } }, (session) => session.raw(sql, bindings));
    expect(once.rows).toEqual(usual.rows);
    expect(once.rows.map((r) => (r as { id: number }).id)).toEqual([1, 2]);
    expect(once.rows[0]).toMatchObject({ work_mem: '64MB', read_only: 'on', note: "it's", tags: ['a', 'b'] });
  });

  it('leaves no transaction and no setting behind, after success and after a failure', async () => {
    await withSession(db, { transaction: single }, (session) => session.raw('select 1'));
    await expect(
      withSession(db, { transaction: single }, (session) => session.raw('select 1 / (id - id) from things')),
    ).rejects.toThrow(/division by zero/);
    // The pool has one connection: this is the one the failed statement ran on.
    const after = await db.knex.raw<{ rows: { state: string; work_mem: string; read_only: string }[] }>(
      `select current_setting('work_mem') as work_mem, current_setting('transaction_read_only') as read_only,
              (select state from pg_stat_activity where pid = pg_backend_pid()) as state`,
    );
    expect(after.rows[0]).toEqual({ work_mem: '4MB', read_only: 'off', state: 'active' });
    await db.knex.raw('insert into things values (3, now(), null, null, null)');
    expect((await db.knex.raw<{ rows: unknown[] }>('select * from things')).rows).toHaveLength(3);
  });

  it('an abort cancels the statement on the server (the pid comes from the connection) and leaves nothing open', async () => {
    // The cancel is sent from another pooled connection: this pool has more than one.
    const pooled = await openDatabase(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }), { poolMax: 2 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = performance.now();
    try {
      await expect(
        withSession(pooled, { transaction: single, signal: controller.signal }, (session) => session.raw('select pg_sleep(10)')),
      ).rejects.toThrow(/cancel/i);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await pooled.close();
    }
    const after = await db.knex.raw<{ rows: { read_only: string; sleeping: number }[] }>(
      `select current_setting('transaction_read_only') as read_only,
              (select count(*)::int from pg_stat_activity where query like 'select pg_sleep(10)%' and state = 'active') as sleeping`,
    );
    expect(after.rows[0]).toEqual({ read_only: 'off', sleeping: 0 });
  });

  it('refuses a second statement, and writes in it fail: the transaction is read only', async () => {
    await expect(
      withSession(db, { transaction: single }, async (session) => {
        await session.raw('select 1');
        await session.raw('select 2');
      }),
    ).rejects.toThrow(/second statement/);
    await expect(
      withSession(db, { transaction: single }, (session) =>
        session.raw('insert into things values (9, now(), null, null, null)'),
      ),
    ).rejects.toThrow(/read-only transaction/);
    expect((await db.knex.raw<{ rows: unknown[] }>('select * from things where id = 9')).rows).toHaveLength(0);
  });
});

/**
 * readStatement: one read alone in autocommit as a named prepared statement, on a pooled
 * connection whose JIT is off. Its answers must be those of the same statement through knex.
 */
describe.skipIf(!postgres)('readStatement: one read as a prepared statement in autocommit', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    ({ testDb, db } = await thingsDatabase('st_statement', 2));
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('answers as knex does, prepares once per connection, and runs with JIT off', async () => {
    const sql = `select id, at, tags, doc, note, current_setting('jit') as jit
                   from things
                  where at >= ? and tags && ?::text[] and (doc @> ?::jsonb or note is not distinct from ?)
                    and coalesce(note, '') <> ? order by id limit ?`;
    const bindings = [new Date('2026-11-24T00:00:00Z'), ['b', 'c d'], JSON.stringify({ fragile: true }), null, "x'y\\z", 10];
    const usual = (await db.knex.raw<{ rows: Record<string, unknown>[] }>(sql, bindings)).rows;
    for (let i = 0; i < 3; i += 1) {
      const rows = await readStatement<Record<string, unknown>>(db, undefined, 'st_test_things', sql, bindings);
      expect(rows).toEqual(usual);
      expect(rows[0]).toMatchObject({ id: 1, jit: 'off', tags: ['a', 'b'], note: "it's" });
    }
    const prepared = await readStatement<{ statements: number }>(
      db,
      undefined,
      'st_test_prepared',
      `select count(*)::int as statements from pg_prepared_statements where name = 'st_test_things'`,
    );
    // On whichever pooled connection answered: one statement there, or none on the other.
    expect(prepared[0]?.statements).toBeLessThanOrEqual(1);
  });

  it('a failure is reported and leaves the connection usable; an abort cancels the read on the server', async () => {
    await expect(readStatement(db, undefined, 'st_test_fail', 'select 1 / (id - id) from things')).rejects.toThrow(
      /division by zero/,
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = performance.now();
    await expect(readStatement(db, controller.signal, 'st_test_sleep', 'select pg_sleep(10)')).rejects.toThrow(/cancel/i);
    expect(performance.now() - started).toBeLessThan(5000);
    const after = await db.knex.raw<{ rows: { sleeping: number; state: string }[] }>(
      `select (select count(*)::int from pg_stat_activity where query like 'select pg_sleep(10)%' and state = 'active') as sleeping,
              (select state from pg_stat_activity where pid = pg_backend_pid()) as state`,
    );
    expect(after.rows[0]).toEqual({ sleeping: 0, state: 'active' });
  });
});

/**
 * A `rawOnly` transaction opens with the work's first statement, and `rawMany` sends several
 * statements in one message: the answers must be those of the same statements sent one by one in
 * a transaction opened on its own, in as many round trips as the knex `query` events count.
 */
describe.skipIf(!postgres)('withSession: a raw-only transaction and statements sent together', () => {
  let testDb: TestDatabase;
  let db: Database;
  /** Another session on the same database. */
  let other: Database;
  const rawOnly: SessionTransaction = {
    mode: 'isolation level repeatable read read only',
    settings: { work_mem: '64MB' },
    rawOnly: true,
  };
  const sent = <T>(work: () => Promise<T>): Promise<{ value: T; messages: string[] }> => knexMessagesDuring(db, work);
  const state = async (): Promise<unknown> =>
    (
      await db.knex.raw<{ rows: unknown[] }>(
        `select current_setting('work_mem') as work_mem, current_setting('transaction_read_only') as read_only,
                (select state from pg_stat_activity where pid = pg_backend_pid()) as state`,
      )
    ).rows[0];

  beforeAll(async () => {
    ({ testDb, db } = await thingsDatabase('st_rawonly', 1));
    other = await openDatabase(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }), { poolMax: 1 });
  });
  afterAll(async () => {
    await other?.close();
    await db?.close();
    await testDb?.drop();
  });

  it('sends the transaction with the first statement, bound or not, and answers as a transaction opened alone', async () => {
    const sql = `select id, at, tags, doc, note, current_setting('work_mem') as work_mem,
                        current_setting('transaction_isolation') as isolation, current_setting('transaction_read_only') as read_only
                   from things where at >= ? and tags && ?::text[] and coalesce(note, '') <> ? order by id`;
    const bindings = [new Date('2026-11-24T00:00:00Z'), ['b', 'c d'], "x'y\\z"];
    const usual = await withSession(db, { transaction: { ...rawOnly, rawOnly: false } }, (session) => session.raw(sql, bindings));
    for (const [first, firstBindings] of [
      [sql, bindings],
      ['select 1 as one', []],
    ] as const) {
      const { value, messages } = await sent(() =>
        withSession(db, { transaction: rawOnly }, async (session) => {
          await session.raw(first, firstBindings);
          return session.raw(sql, bindings);
        }),
      );
      expect(value.rows).toEqual(usual.rows);
      expect(value.rows[0]).toMatchObject({ work_mem: '64MB', isolation: 'repeatable read', read_only: 'on' });
      // The opening, the first statement and the commit: no round trip of the transaction's own.
      expect(messages).toHaveLength(3);
      expect(messages[0]).toMatch(/^begin isolation level repeatable read read only;/);
      expect(messages[2]).toBe('commit');
    }
    expect(await state()).toEqual({ work_mem: '4MB', read_only: 'off', state: 'active' });
  });

  it('sends statements together in one message, each answered as alone, in one snapshot', async () => {
    const { value, messages } = await sent(() =>
      withSession(db, { transaction: rawOnly }, async (session) => {
        const [before] = await session.rawMany(['select count(*)::int as n from things']);
        // Another session inserts a row: the transaction's snapshot does not see it.
        await other.knex.raw('insert into things values (10, now(), null, null, null)');
        return [
          before,
          ...(await session.rawMany(['select count(*)::int as n from things;', 'select 2 as two', 'select 3 as three'])),
        ];
      }),
    );
    expect(value.map((result) => result?.rows)).toEqual([[{ n: 2 }], [{ n: 2 }], [{ two: 2 }], [{ three: 3 }]]);
    // Opening with the first statement, the three together, the commit.
    expect(messages).toHaveLength(3);
    expect(messages[1]).toBe('select count(*)::int as n from things;\nselect 2 as two;\nselect 3 as three');
    await db.knex.raw('delete from things where id = 10');
  });

  it('a failing statement fails them all and leaves nothing open; a work that ran nothing sends nothing', async () => {
    await expect(
      withSession(db, { transaction: rawOnly }, (session) =>
        session.rawMany(['select 1', 'select 1 / (id - id) from things', 'select 3']),
      ),
    ).rejects.toThrow(/division by zero/);
    expect(await state()).toEqual({ work_mem: '4MB', read_only: 'off', state: 'active' });
    const { messages } = await sent(() => withSession(db, { transaction: rawOnly }, () => Promise.resolve('nothing read')));
    expect(messages).toEqual([]);
    await expect(
      withSession(db, { transaction: rawOnly }, (session) => session.transaction(() => Promise.resolve(1))),
    ).rejects.toThrow(/raw-only session has no transactions/);
  });
});
