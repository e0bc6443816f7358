import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openPgClient } from '../../src/store/pg-client.js';
import { forgetPreparedStatements, queryPrepared, type PreparedStatement } from '../../src/store/prepared-read.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

const postgres = inject('postgresAvailable');

describe.skipIf(!postgres)('queryPrepared: a prepared read in one write per execution', () => {
  let testDb: TestDatabase;
  let client: Client;
  const byId: PreparedStatement = {
    name: 'test_by_id',
    text: `select id, big, amount::text as amount, doc, at, note from things where id = $1`,
  };
  const prepared = async (): Promise<string[]> =>
    (await client.query<{ name: string }>('select name from pg_prepared_statements order by name')).rows.map((r) => r.name);

  beforeAll(async () => {
    testDb = await createTestDatabase('st_prepared');
    client = await openPgClient(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }));
    await client.query(`
      create table things (id int primary key, big bigint, amount numeric(8,2), doc jsonb, at timestamptz, note text);
      insert into things
      select g, g * 10000000000, g * 1.25, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g::text)),
             timestamptz '2026-11-24 12:00:00+00' + g * interval '1 hour', case when g % 2 = 0 then 'even' end
        from generate_series(1, 50) g`);
  });
  afterAll(async () => {
    await client?.end();
    await testDb?.drop();
  });

  it('returns what client.query returns, decoded with the client’s type parsers', async () => {
    for (const id of [1, 2, 50]) {
      const ours = await queryPrepared<Record<string, unknown>>(client, byId, [id]);
      const theirs = (await client.query(byId.text, [id])).rows;
      expect(ours).toEqual(theirs);
      expect(ours).toHaveLength(1);
    }
    const [row] = await queryPrepared<{ big: unknown; doc: unknown; at: unknown; note: unknown }>(client, byId, [3]);
    expect(row?.big).toBe(30_000_000_000); // int8 → number through the product's parser
    expect(row?.doc).toEqual({ n: 3, tags: ['a', '3'] });
    expect(row?.at).toEqual(new Date('2026-11-24T15:00:00Z'));
    expect(row?.note).toBeNull();
    expect(await queryPrepared(client, byId, [999])).toEqual([]);
  });

  it('prepares once per connection, and again after the server forgot the statement', async () => {
    await queryPrepared(client, byId, [1]);
    await queryPrepared(client, byId, [2]);
    expect((await prepared()).filter((n) => n === byId.name)).toHaveLength(1);

    await client.query(`deallocate ${byId.name}`);
    // Outside a transaction the read prepares it again and retries, unseen by the caller …
    expect(await queryPrepared<{ id: number }>(client, byId, [4])).toEqual([expect.objectContaining({ id: 4 })]);
    expect((await prepared()).filter((n) => n === byId.name)).toHaveLength(1);

    // … inside one, the error has aborted the transaction: the caller hears it.
    await client.query('deallocate all');
    await client.query('begin');
    await expect(queryPrepared(client, byId, [1])).rejects.toMatchObject({ code: '26000' });
    await client.query('rollback');
    expect(await queryPrepared<{ id: number }>(client, byId, [5])).toEqual([expect.objectContaining({ id: 5 })]);

    // A changed result type (PostgreSQL refuses the cached plan, 0A000) is prepared again too.
    const wide: PreparedStatement = { name: 'test_wide', text: 'select * from things where id = $1' };
    expect(Object.keys((await queryPrepared<object>(client, wide, [1]))[0] ?? {})).toHaveLength(6);
    await client.query('alter table things add column extra int default 7');
    try {
      expect(await queryPrepared<{ extra: number }>(client, wide, [1])).toEqual([expect.objectContaining({ extra: 7 })]);
    } finally {
      await client.query('alter table things drop column extra');
    }
  });

  it('fails cleanly, never hangs, when decoding a row throws or the statement is a COPY', async () => {
    const int4Oid = 23;
    const picky = await openPgClient(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }));
    try {
      const original = picky.getTypeParser.bind(picky) as (oid: number, format?: 'text') => (value: string) => unknown;
      picky.getTypeParser = ((oid: number, format?: 'text') =>
        oid === int4Oid
          ? (value: string) => {
              if (value === '13') throw new Error('unlucky 13');
              return Number(value);
            }
          : original(oid, format)) as typeof picky.getTypeParser;
      const ids: PreparedStatement = { name: 'test_ids', text: 'select id from things where id between $1 and $2 order by id' };
      await expect(queryPrepared(picky, ids, [12, 14])).rejects.toThrow('unlucky 13');
      expect(await queryPrepared(picky, ids, [14, 15])).toEqual([{ id: 14 }, { id: 15 }]);
      const copy: PreparedStatement = { name: 'test_copy', text: 'copy (select 1) to stdout' };
      await expect(queryPrepared(picky, copy, [])).rejects.toThrow(/COPY is not supported/);
      expect(await queryPrepared(picky, ids, [1, 1])).toEqual([{ id: 1 }]);
      const proto: PreparedStatement = { name: 'test_proto', text: 'select 1 as "__proto__"' };
      await expect(queryPrepared(picky, proto, [])).rejects.toThrow(/__proto__/);
    } finally {
      await picky.end();
    }
  });

  it('forgets what it prepared, so the next use starts a fresh plan history', async () => {
    const plans = async (): Promise<unknown> =>
      (
        await client.query<{ plans: number }>(
          'select generic_plans + custom_plans as plans from pg_prepared_statements where name = $1',
          [byId.name],
        )
      ).rows[0]?.plans;
    await forgetPreparedStatements(client);
    for (let id = 1; id <= 7; id += 1) await queryPrepared(client, byId, [id]);
    expect(await plans()).toBe(7);
    await forgetPreparedStatements(client);
    expect(await prepared()).not.toContain(byId.name);
    await queryPrepared(client, byId, [1]);
    expect(await plans()).toBe(1);
    // Forgetting a statement the server already dropped is not an error.
    await client.query(`deallocate ${byId.name}`);
    await forgetPreparedStatements(client);
    expect(await queryPrepared(client, byId, [2])).toHaveLength(1);
  });

  it('re-prepares a name whose text changed', async () => {
    const first = await queryPrepared<{ v: number }>(client, { name: 'test_changing', text: 'select $1::int + 1 as v' }, [1]);
    const second = await queryPrepared<{ v: number }>(client, { name: 'test_changing', text: 'select $1::int * 10 as v' }, [2]);
    expect([first, second]).toEqual([[{ v: 2 }], [{ v: 20 }]]);
  });

  it('rejects with the server’s error and leaves the connection usable', async () => {
    await expect(queryPrepared(client, { name: 'test_syntax', text: 'selec 1' }, [])).rejects.toMatchObject({ code: '42601' });
    expect(await prepared()).not.toContain('test_syntax');
    const divide: PreparedStatement = { name: 'test_divide', text: 'select 10 / $1::int as q' };
    expect(await queryPrepared(client, divide, [5])).toEqual([{ q: 2 }]);
    await expect(queryPrepared(client, divide, [0])).rejects.toMatchObject({ code: '22012' });
    expect(await queryPrepared(client, divide, [2])).toEqual([{ q: 5 }]);
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('sends null and text values, and takes turns with client.query on the same connection', async () => {
    const echo: PreparedStatement = { name: 'test_echo', text: 'select $1::text as t, $2::int as n' };
    expect(await queryPrepared(client, echo, [null, 7])).toEqual([{ t: null, n: 7 }]);
    // A value the types rule out but JavaScript lets through is sent as NULL, as pg does.
    expect(await queryPrepared(client, echo, [undefined as unknown as null, 8])).toEqual([{ t: null, n: 8 }]);
    expect(await queryPrepared(client, echo, ['O’Brien, "quoted"', null])).toEqual([{ t: 'O’Brien, "quoted"', n: null }]);
    const ids = Array.from({ length: 25 }, (_, i) => i + 1);
    const seen: (number | undefined)[] = [];
    for (const id of ids) {
      const rows =
        id % 3 === 0
          ? (await client.query<{ id: number }>('select id from things where id = $1', [id])).rows
          : await queryPrepared<{ id: number }>(client, byId, [id]);
      seen.push(rows[0]?.id);
    }
    expect(seen).toEqual(ids);
  });

  it('is bounded by the statement timeout like any other query', async () => {
    const config = loadConfig({
      env: { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_STATEMENT_TIMEOUT: '200ms' },
      envFile: null,
    });
    const short = await openPgClient(config);
    try {
      const sleep: PreparedStatement = { name: 'test_sleep', text: 'select pg_sleep($1::float8) as slept' };
      await expect(queryPrepared(short, sleep, [2])).rejects.toMatchObject({ code: '57014' });
      expect(await queryPrepared(short, sleep, [0])).toEqual([{ slept: '' }]);
    } finally {
      await short.end();
    }
  });
});
