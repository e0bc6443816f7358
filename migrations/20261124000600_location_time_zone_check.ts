import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// `track` shows each scan in its location's local time, computed by PostgreSQL from
// locations.time_zone (its own time zone database: Node then needs no ICU time zone data, whose
// first use costs ~10 ms of every `track` process). An unknown zone would make that query fail,
// so a zone must be one PostgreSQL knows: converting any instant to it raises an error otherwise.

export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await runStatements(knex, [
    `alter table locations add constraint locations_time_zone_known
       check ((timestamptz '2000-01-01 00:00:00+00' at time zone time_zone) is not null)`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await runStatements(knex, [`alter table locations drop constraint locations_time_zone_known`]);
}
