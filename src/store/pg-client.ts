import type { Client } from 'pg';
import type { Config } from '../config.js';
import { mapPostgresError } from '../errors.js';
import { describeServer, pgConnectionConfig, requireServerUrl } from './database.js';

/**
 * One plain `pg` connection, without knex, for the hot one-query commands (`track`): loading
 * knex costs about 50 ms of a 180 ms process. Same settings as the pool.
 */
export async function openPgClient(config: Config, applicationName = 'shiptrack'): Promise<Client> {
  const url = requireServerUrl(config);
  const pg = (await import('pg')).default;
  const client = new pg.Client(pgConnectionConfig(config, pg.types, { applicationName }));
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw mapPostgresError(error, { store: `PostgreSQL at ${describeServer(url)}` });
  }
  return client;
}
