import type { Writable } from 'node:stream';
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
  const pg = (await import('./pg-driver.js')).default;
  const settings = pgConnectionConfig(config, pg.types, { applicationName });
  // One client, one query at a time (track): a server that does not answer within the liveness
  // bound is gone, whatever the statement timeout allows a report.
  if (typeof settings.query_timeout === 'number')
    settings.query_timeout = Math.min(settings.query_timeout, config.livenessTimeoutMs);
  const client = new pg.Client(settings);
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw mapPostgresError(error, { store: `PostgreSQL at ${describeServer(url)}` });
  }
  return client;
}

/**
 * Ends a plain connection once Terminate is sent and our side of the socket is closed, without
 * waiting for the server to close its side after its backend exits (~3 ms, on the way out of every
 * `track`). The client still hears of the close as usual, later.
 */
export async function closePgClient(client: Client): Promise<void> {
  const ended = client.end().catch(() => undefined);
  const socket = (client as unknown as { connection?: { stream?: Writable } }).connection?.stream;
  if (socket === undefined || socket.writableFinished || socket.destroyed) return ended;
  const sent = new Promise<void>((resolve) => {
    socket.once('finish', resolve).once('close', resolve);
  });
  await Promise.race([ended, sent]);
}
