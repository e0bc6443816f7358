import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently, hasCitus } from '../src/store/migration-helpers.js';

// The late deliveries of one lane, by (origin, destination, delivery time): `report lanes` reads
// the counts of a lane from lane_day_counts (migration 20261204000400) and only the lateness
// percentiles of the lanes it lists from the shipments, a few hundred index ranges instead of
// every late delivery of the window (490k at `large`: 0.3–0.4 s). Partial: about a tenth of the
// shipments are late. Built CONCURRENTLY: deliveries keep being recorded meanwhile. Not on a
// Citus coordinator, where the report counts the shards' deliveries as before.

export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  if (await hasCitus(knex)) return;
  await createIndexConcurrently(knex, {
    name: 'shipments_late_lane_idx',
    table: 'shipments',
    definition: '(origin_location_id, destination_location_id, actual_delivery) include (estimated_delivery)',
    where: 'actual_delivery > estimated_delivery',
  });
}

export async function down(knex: Knex): Promise<void> {
  await dropIndexConcurrently(knex, 'shipments_late_lane_idx');
}
