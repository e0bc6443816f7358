import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { closePgClient, openPgClient } from '../../src/store/pg-client.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

describe.skipIf(!inject('postgresAvailable'))('closePgClient: a plain connection ended without waiting for the server', () => {
  let testDb: TestDatabase;
  let observer: pg.Client;
  const sessionsNamed = async (name: string): Promise<number> =>
    Number(
      (await observer.query<{ n: string }>('select count(*) as n from pg_stat_activity where application_name = $1', [name]))
        .rows[0]?.n,
    );

  beforeAll(async () => {
    testDb = await createTestDatabase('st_pg_client');
    observer = new pg.Client({ connectionString: testDb.url });
    await observer.connect();
  });
  afterAll(async () => {
    await observer?.end();
    await testDb?.drop();
  });

  it('ends the session on the server: Terminate is sent before our side of the socket closes', async () => {
    const config = loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null });
    const client = await openPgClient(config, 'st close test');
    await client.query('select 1');
    expect(await sessionsNamed('st close test')).toBe(1);
    let ended = false;
    client.on('end', () => {
      ended = true;
    });
    await closePgClient(client);
    // The server ends the backend on Terminate; the client hears of the close afterwards.
    await expect.poll(() => sessionsNamed('st close test'), { timeout: 5000 }).toBe(0);
    await expect.poll(() => ended, { timeout: 5000 }).toBe(true);
  });

  it('returns at once for a connection already gone', async () => {
    const config = loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null });
    const client = await openPgClient(config, 'st close gone');
    await client.end();
    await closePgClient(client);
    const broken = await openPgClient(config, 'st close broken');
    (broken as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await closePgClient(broken);
    await expect.poll(() => sessionsNamed('st close broken'), { timeout: 5000 }).toBe(0);
  });
});
