import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// `shiptrack seed run` records each seed file it applied: its name, the checksum of the file as
// applied, and when it was first applied here. That first time is also the "now" the file's
// relative times are computed from, so running it again writes the same rows (and so nothing).
// A new, empty table: no lock on anything in use.

export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await runStatements(knex, [
    `create table shiptrack_seeds (
       name          text primary key check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
       checksum      char(64) not null,
       applied_at    timestamptz not null,
       -- when a changed file was applied again (its new checksum is the one above), else null
       reapplied_at  timestamptz
     )`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await runStatements(knex, [`drop table shiptrack_seeds`]);
}
