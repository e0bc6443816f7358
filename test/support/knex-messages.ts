import type { Database } from '../../src/store/database.js';

/**
 * What `work` sends through `db`'s knex, message by message (knex's `query` event: one per
 * round trip, its SQL as sent), with what the work returned.
 */
export async function knexMessagesDuring<T>(db: Database, work: () => Promise<T>): Promise<{ value: T; messages: string[] }> {
  const messages: string[] = [];
  const onQuery = (query: { sql: string }): void => {
    messages.push(query.sql);
  };
  db.knex.on('query', onQuery);
  try {
    return { value: await work(), messages };
  } finally {
    db.knex.removeListener('query', onQuery);
  }
}
