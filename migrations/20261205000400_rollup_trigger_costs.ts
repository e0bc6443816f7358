import type { Knex } from 'knex';
import { hasCitus, runStatements } from '../src/store/migration-helpers.js';

// The statement triggers that keep in_flight_packages (migrations 20261203000100 and
// 20261205000100) join the rows a statement changed with that table by its key. PostgreSQL
// prices each key probe as if it read from disk (random_page_cost 4), so for a batch of a few
// hundred packages it chose to read and hash all of in_flight_packages instead (50k rows at
// `medium`): 8–17 ms a statement, four statements a scan batch, whatever the batch's size. The
// table and its key are small and read all the time, so in memory: these functions price a probe
// at 1.1 (the usual value for SSDs and cached data), and then probe for a batch of a thousand
// scans, and still hash for one of five thousand, where that is as fast.
// `bench:scan`, `medium`, 100,000 scans, fresh copies of one seed, 3 alternating rounds: 11,602
// → 12,244 scans/s with --batch 1000, 14,349 → 14,789 with the default 5000.
//
// Each function keeps its code and its other settings (search_path); a migration that replaces
// one of them (`create or replace function` resets its settings) must set this again. Nothing on a
// Citus coordinator, where these statement triggers do not run.

export const config = { transaction: true };

const functions = [
  'rollups_packages_inserted',
  'rollups_packages_updated',
  'rollups_packages_deleted',
  'rollups_events_inserted',
  'rollups_events_updated',
  'rollups_events_deleted',
  'rollups_shipments_inserted',
  'rollups_shipments_updated',
  'rollups_shipments_deleted',
] as const;

export async function up(knex: Knex): Promise<void> {
  if (await hasCitus(knex)) return;
  await runStatements(
    knex,
    functions.map((name) => `alter function ${name}() set random_page_cost = 1.1`),
  );
}

export async function down(knex: Knex): Promise<void> {
  if (await hasCitus(knex)) return;
  await runStatements(
    knex,
    functions.map((name) => `alter function ${name}() reset random_page_cost`),
  );
}
