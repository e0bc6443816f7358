import type { Client } from 'pg';
import type { Config } from '../config.js';
import { mapPostgresError } from '../errors.js';
import { describeServer } from './database.js';

/**
 * One plain `pg` connection, without knex, for the hot one-query commands (`track`): loading
 * knex costs about 50 ms of a 180 ms process. Same bounds and type parsing as the pool.
 */
export async function openPgClient(config: Config, url: string, applicationName = 'shiptrack'): Promise<Client> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: config.connectTimeoutMs,
    statement_timeout: config.statementTimeoutMs > 0 ? config.statementTimeoutMs : undefined,
    query_timeout: config.statementTimeoutMs > 0 ? config.statementTimeoutMs + config.connectTimeoutMs : undefined,
    lock_timeout: config.lockTimeoutMs,
    application_name: applicationName,
    types: {
      // int8 (counts, bigint keys) as numbers, as the pool does.
      getTypeParser: ((oid: number) =>
        oid === 20
          ? (value: string): number => Number(value)
          : (pg.types.getTypeParser(oid, 'text') as (value: string) => unknown)) as never,
    },
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw mapPostgresError(error, { store: `PostgreSQL at ${describeServer(url)}` });
  }
  return client;
}
