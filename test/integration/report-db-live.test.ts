import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findingSentence } from '../../src/render/report.render.js';
import { healthThresholds } from '../../src/services/reports/db/health.js';
import { checkDb, dbThresholds } from '../../src/services/reports/db/rules.js';
import { readDbSnapshot } from '../../src/services/reports/db/snapshot.js';
import { readReport, type Finding } from '../../src/services/reports/report.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { serverConfig } from '../support/stores.js';

/**
 * `report db` on the server's live state, each finding from a real condition on a database of the
 * test's own: a transaction blocking another, a session idle in a transaction, sequences near
 * their end, a foreign key without an index. Thresholds are lowered so a test need not wait
 * minutes; what is checked is that each condition is found, named, and its text redacted.
 */

const literal = 'a-secret-literal-never-shown';

describe.skipIf(!inject('postgresAvailable'))('report db: the live state', () => {
  let testDb: TestDatabase;
  let db: Database;
  const clients: pg.Client[] = [];
  const client = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: testDb.url });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    testDb = await createTestDatabase('st_db_live');
    db = await openDatabase(serverConfig(testDb.url), { statementTimeoutMs: 0 });
    await db.knex.raw(`create table parcels (id int primary key, note text)`);
    await db.knex.raw(`insert into parcels select g, 'n' from generate_series(1, 100) g`);
    await db.knex.raw(`create table holders (id int primary key)`);
    await db.knex.raw(`create table held (holder_id int not null references holders (id))`);
    await db.knex.raw(`create table indexed (holder_id int not null references holders (id))`);
    await db.knex.raw(`create index on indexed (holder_id)`);
    await db.knex.raw(`create sequence nearly_done maxvalue 100`);
    await db.knex.raw(`select setval('nearly_done', 90)`);
    await db.knex.raw(`create table counters (id serial primary key)`);
    await db.knex.raw(`select setval('counters_id_seq', 2000000000)`);
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await db?.close();
    await testDb?.drop();
  });

  const findings = async (): Promise<Finding[]> => {
    const read = await readReport(db, { now: new Date() }, (reader) => readDbSnapshot(reader, 20));
    return checkDb(read.value, {
      ...dbThresholds,
      health: { ...healthThresholds, blockedMs: 200, idleInTransactionMs: 200, foreignKeyMinBytes: 0 },
    });
  };

  it('names who blocks whom (both queries, literals redacted), and a session idle in a transaction', async () => {
    const holder = await client();
    const waiter = await client();
    const idle = await client();
    await holder.query('begin');
    await holder.query(`update parcels set note = '${literal}' where id = 7`);
    const waiting = waiter.query(`update parcels set note = '${literal}' where id = 7`);
    await idle.query('begin');
    await idle.query(`select '${literal}' as x`);
    await sleep(600);
    try {
      const found = await findings();
      const [holderPid, waiterPid, idlePid] = [holder, waiter, idle].map(
        (c) => (c as unknown as { processID: number }).processID,
      );
      const blocked = found.find((f) => f.code === 'blocked_session' && f.subject === `pid ${waiterPid}`);
      expect(blocked?.figures).toMatchObject({ blocked_by: [holderPid], blocker_state: 'idle in transaction' });
      expect(blocked?.figures.query).toBe('update parcels set note = ? where id = ?');
      expect(blocked?.figures.blocker_query).toBe('update parcels set note = ? where id = ?');
      const idleFinding = found.find((f) => f.code === 'idle_in_transaction' && f.subject === `pid ${idlePid}`);
      expect(idleFinding?.figures.query).toBe('select ? as x');
      expect(found.some((f) => f.code === 'idle_in_transaction' && f.subject === `pid ${holderPid}`)).toBe(true);
      const text = found.map((f) => findingSentence(f)).join('\n');
      expect(text).not.toContain(literal);
      expect(text).toMatch(new RegExp(`pg_terminate_backend\\(${idlePid}\\)`));
    } finally {
      await holder.query('rollback');
      await waiting.catch(() => undefined);
      await idle.query('rollback');
    }
    const after = await findings();
    expect(after.filter((f) => f.code === 'blocked_session' || f.code === 'idle_in_transaction')).toEqual([]);
  });

  it('sequences near their end, counting what the column can hold; a foreign key without an index, with the DDL', async () => {
    const found = await findings();
    const sequences = found.filter((f) => f.code === 'sequence_exhaustion');
    expect(sequences.find((f) => f.subject === 'public.nearly_done')).toMatchObject({
      level: 'problem',
      figures: { limit: 100 },
    });
    expect(sequences.find((f) => f.subject === 'public.counters_id_seq')).toMatchObject({
      level: 'problem',
      figures: { limit: 2_147_483_647, column: 'counters.id', column_type: 'integer' },
    });
    const keys = found.filter((f) => f.code === 'foreign_key_without_index');
    expect(keys.map((f) => f.figures.table)).toEqual(['held']);
    expect(findingSentence(keys[0] as Finding)).toMatch(/create index concurrently on held \(holder_id\)/);
  });
});
