import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from '../src/store/migration-helpers.js';

// Indexes for `shiptrack report`, each added for a plan measured on the `medium` profile
// (1M packages, 8M events, warm cache, PostgreSQL 15). Built CONCURRENTLY so that scans keep being
// recorded while they are built on a large table.
//
// - tracking_events_time_idx: `report facilities` groups one day of events by location. Without
//   it the day is a parallel sequential scan of all 8M events (~400 ms); with it an index-only
//   range scan of the day's ~136k entries (~15 ms). INCLUDE makes it covering (no heap visits).
// - tracking_events_problem_time_idx: `report exceptions` reads exception and attempt_fail
//   events of the last days: a partial index of ~2% of the events, against ~950k entries of the
//   time index for 7 days; covering (event_id too), since heap visits made it 105 ms for 9k rows.
// - shipments_undelivered_idx: `report overdue` reads shipments past their estimate and not yet
//   delivered, oldest first: a partial index of the ~7% without `actual_delivery` turns a
//   sort of 1M shipments (~90 ms) into an ordered index scan that stops after --limit (~30 ms;
//   cancelled and returned packages are in it too and are filtered by the join).
// - shipments_delivered_idx: `report lanes` reads the shipments delivered in a window with their
//   promise and both ends: covering, so the 30-day window (~490k rows) is an index-only scan
//   in place of a sequential scan of 1M shipments.
// - shipments_late_idx: the lateness percentiles of `report lanes` sort only the late deliveries
//   (~10%); this partial covering index hands them over without reading the on-time 90% of the
//   window (49k entries instead of 487k for 30 days).
// - packages_in_flight_idx: `report stale` and `report overdue` start from the ~5% of packages
//   not in a final status (50k of 1M) instead of reading all packages; covering, because
//   visiting 50k scattered heap pages was most of the stale report's time (84 of 286 ms).
// - packages_status_idx: `report status` counts packages per status. Without it, a parallel
//   sequential scan of the 240 MB packages heap (~150 ms); with it, an index-only scan of a 7 MB
//   index (~50 ms).
// - packages_metadata_idx: `report metadata --where k=v` is JSONB containment (`@>`). A
//   jsonb_path_ops GIN answers selective filters from the index (94 ms → under 1 ms for a 0.1%
//   match); for common values (fragile=true on ~10%) the planner still prefers a scan.
// - packages_fragile_idx: "which fragile packages are where" is the metadata question ops ask
//   most (DOMAIN §1's example). At 10% of packages the GIN index does not help; a partial index
//   on the status of fragile packages turns the count by status from a 200 ms scan of 1M rows
//   into a 9 ms index-only scan (the query's bound `@>` value matches the predicate).

// The cost, measured with `npm run bench:scan` on medium: packages_status_idx,
// packages_in_flight_idx and packages_fragile_idx all include current_status, so a scan that
// changes a package's status can no longer update it in place (HOT): the packages update of a
// 1,000-scan batch goes from 3.8 to 28 ms and `scan --file` from ~26k to ~21k scans/s. The
// write path still meets its 20k/s target; without these three, `report status`, `stale`
// and `metadata fragile=true` would each read the whole packages table.

export const config = { transaction: false };

const inFlight = `current_status not in ('delivered', 'returned', 'cancelled')`;

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, {
    name: 'tracking_events_time_idx',
    table: 'tracking_events',
    definition: '(event_timestamp) include (location_id, status, package_id)',
  });
  await createIndexConcurrently(knex, {
    name: 'tracking_events_problem_time_idx',
    table: 'tracking_events',
    definition: '(event_timestamp) include (location_id, status, package_id, event_id)',
    where: `status in ('exception', 'attempt_fail')`,
  });
  await createIndexConcurrently(knex, {
    name: 'shipments_undelivered_idx',
    table: 'shipments',
    definition: '(estimated_delivery) include (package_id)',
    where: 'actual_delivery is null',
  });
  await createIndexConcurrently(knex, {
    name: 'shipments_delivered_idx',
    table: 'shipments',
    definition: '(actual_delivery) include (origin_location_id, destination_location_id, estimated_delivery)',
    where: 'actual_delivery is not null',
  });
  await createIndexConcurrently(knex, {
    name: 'shipments_late_idx',
    table: 'shipments',
    definition: '(actual_delivery) include (origin_location_id, destination_location_id, estimated_delivery)',
    where: 'actual_delivery > estimated_delivery',
  });
  await createIndexConcurrently(knex, {
    name: 'packages_in_flight_idx',
    table: 'packages',
    definition: '(package_id) include (tracking_number, current_status, created_at)',
    where: inFlight,
  });
  await createIndexConcurrently(knex, {
    name: 'packages_status_idx',
    table: 'packages',
    definition: '(current_status)',
  });
  await createIndexConcurrently(knex, {
    name: 'packages_metadata_idx',
    table: 'packages',
    method: 'using gin',
    definition: '(metadata jsonb_path_ops)',
  });
  await createIndexConcurrently(knex, {
    name: 'packages_fragile_idx',
    table: 'packages',
    definition: '(current_status)',
    where: `metadata @> '{"fragile": true}'`,
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const name of [
    'packages_fragile_idx',
    'packages_metadata_idx',
    'packages_status_idx',
    'packages_in_flight_idx',
    'shipments_late_idx',
    'shipments_delivered_idx',
    'shipments_undelivered_idx',
    'tracking_events_problem_time_idx',
    'tracking_events_time_idx',
  ]) {
    await dropIndexConcurrently(knex, name);
  }
}
