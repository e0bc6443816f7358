import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from '../src/store/migration-helpers.js';

// The three indexes on packages.current_status of migration 500 served `report status`,
// `report stale` / `overdue` and `report metadata fragile=true`. Those now read the rollups of
// migration 20261203000100 (package_status_counts, in_flight_packages), and with no index on the
// column a scan that moves a package's status updates its row in place (a HOT update: no new
// entry in any of the table's eight indexes, the GIN index on metadata among them). Dropped
// CONCURRENTLY: scans keep being recorded meanwhile. shipments_undelivered_idx served only
// `report overdue`, which now reads the rollup's due times: it goes too (one index less for every
// delivery to maintain).
//
// An update is HOT only when the new row version fits on the same page: packages leaves a tenth
// of each page free (fillfactor 90) for the status changes of the packages in flight. This
// applies to pages written from now on (a seed, new labels); existing pages get the room when
// the table is rewritten (VACUUM FULL, pg_repack), and meanwhile as pruning frees it.

export const config = { transaction: false };

const inFlight = `current_status not in ('delivered', 'returned', 'cancelled')`;

export async function up(knex: Knex): Promise<void> {
  for (const name of ['packages_status_idx', 'packages_in_flight_idx', 'packages_fragile_idx', 'shipments_undelivered_idx']) {
    await dropIndexConcurrently(knex, name);
  }
  await knex.raw('alter table packages set (fillfactor = 90)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table packages reset (fillfactor)');
  await createIndexConcurrently(knex, {
    name: 'shipments_undelivered_idx',
    table: 'shipments',
    definition: '(estimated_delivery) include (package_id)',
    where: 'actual_delivery is null',
  });
  await createIndexConcurrently(knex, {
    name: 'packages_in_flight_idx',
    table: 'packages',
    definition: '(package_id) include (tracking_number, current_status, created_at)',
    where: inFlight,
  });
  await createIndexConcurrently(knex, { name: 'packages_status_idx', table: 'packages', definition: '(current_status)' });
  await createIndexConcurrently(knex, {
    name: 'packages_fragile_idx',
    table: 'packages',
    definition: '(current_status)',
    where: `metadata @> '{"fragile": true}'`,
  });
}
