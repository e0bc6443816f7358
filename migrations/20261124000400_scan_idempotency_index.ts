import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from '../src/store/migration-helpers.js';

// One event per (package, idempotency key): the backstop behind the write path's check, which
// also serves its lookup. Partial, so the seeded history (no keys) costs it nothing but the
// scan; built CONCURRENTLY so recording scans goes on while it is built on a large table.

export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, {
    name: 'tracking_events_idempotency_key',
    table: 'tracking_events',
    definition: '(package_id, idempotency_key)',
    unique: true,
    where: 'idempotency_key is not null',
  });
}

export async function down(knex: Knex): Promise<void> {
  await dropIndexConcurrently(knex, 'tracking_events_idempotency_key');
}
