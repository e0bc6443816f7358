import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// The write path (`shiptrack scan`): every recorded scan carries an idempotency key (given by
// the scanner, or derived from package, status, location and time) and a fingerprint of its
// content, so the same scan delivered twice creates one event and the same key with different
// content is refused. A forced transition keeps its reason. Adding nullable columns is a
// catalog-only change, even on a table of 80M events.

export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await runStatements(knex, [
    `alter table tracking_events add column idempotency_key text, add column scan_hash text, add column forced_reason text`,
    `alter table tracking_events add constraint tracking_events_key_has_hash check ((idempotency_key is null) = (scan_hash is null))`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await runStatements(knex, [
    `alter table tracking_events drop constraint tracking_events_key_has_hash`,
    `alter table tracking_events drop column forced_reason, drop column scan_hash, drop column idempotency_key`,
  ]);
}
