import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// What the package reports read, maintained as the data changes instead of recomputed per run
// (at the `large` profile, 10M packages, counting them took 0.5 s a report; looking up the last
// scan of 500k packages in flight longer).
//
// - package_status_counts: packages per current status, split by the metadata question asked
//   most (fragile). Append-only signed deltas, one row per (status, fragile) a statement changed,
//   summed when read: no hot counter row, so two sessions recording scans never wait for each
//   other here. Every 128th statement that writes deltas folds them into one row per key
//   (`package_status_counts_fold`), unless another fold is running.
// - in_flight_packages: one row per package not in a final status, with its status, the time of
//   its latest scan (quiet_since: that, or its label's creation before any scan) and, while it
//   is undelivered, its promised delivery (due). `report stale` and `report overdue` read only the
//   quiet or late few through their indexes; finished packages (95%) are not in it at all.
//
// Statement triggers on packages, shipments and tracking_events keep both exact for every
// writer (the library, a hand-written statement, a restore without --disable-triggers); `seed`
// switches them off while it loads and rebuilds both afterwards; `shiptrack check` proves them
// equal to the full queries. Installing them takes a SHARE ROW EXCLUSIVE lock on the three tables
// for this transaction: writes wait while the rollups are built from the data (seconds at large),
// reads go on.

export const config = { transaction: true };

const finals = `('delivered', 'returned', 'cancelled')`;
const fragile = `metadata @> '{"fragile": true}'`;

/** The latest event of a package (an index probe on tracking_events (package_id, event_timestamp, …)). */
const lastScan = (packageId: string): string =>
  `(select max(e.event_timestamp) from tracking_events e where e.package_id = ${packageId})`;
/** The promise a package's shipment still has to keep: its estimate, until it is delivered. */
const dueOf = (packageId: string): string =>
  `(select s.estimated_delivery from shipments s where s.package_id = ${packageId} and s.actual_delivery is null)`;
/** The packages a statement touched, from the transition tables its trigger names. */
const touched = {
  inserted: 'select distinct package_id from new_rows',
  updated: 'select package_id from old_rows union select package_id from new_rows',
  deleted: 'select distinct package_id from old_rows',
};

export async function up(knex: Knex): Promise<void> {
  const schema = (await knex.raw<{ rows: { name: string }[] }>('select current_schema() as name')).rows[0]?.name ?? 'public';
  // Run as their owner with this schema fixed (as migration 700's): a writing role needs no grant
  // on the rollups, and its search_path cannot point the maintenance elsewhere.
  const fixed = `security definer set search_path = pg_catalog, "${schema.replaceAll('"', '""')}"`;
  const trigger = (name: string, body: string): string =>
    `create function ${name}() returns trigger language plpgsql ${fixed} as $$
     declare
       written bigint;
     begin
       ${body}
       return null;
     end $$`;
  await runStatements(knex, [
    `lock table packages, shipments, tracking_events in share row exclusive mode`,
    `create table package_status_counts (
       current_status text not null,
       fragile boolean not null,
       packages bigint not null
     )`,
    `comment on table package_status_counts is
       'packages per (current_status, fragile): signed deltas, summed when read (maintained by triggers; proven by shiptrack check)'`,
    `create sequence package_status_counts_writes`,
    `create function package_status_counts_fold() returns void language plpgsql ${fixed} as $$
     begin
       -- One fold at a time; a statement that finds one running leaves the folding to it.
       if pg_try_advisory_xact_lock(hashtext('shiptrack package_status_counts'), 0) then
         with gone as (delete from package_status_counts returning current_status, fragile, packages)
         insert into package_status_counts (current_status, fragile, packages)
         select current_status, fragile, sum(packages) from gone group by 1, 2 having sum(packages) <> 0;
       end if;
     end $$`,
    `create function package_status_counts_note(deltas bigint) returns void language plpgsql ${fixed} as $$
     begin
       if deltas > 0 and nextval('package_status_counts_writes') % 128 = 0 then
         perform package_status_counts_fold();
       end if;
     end $$`,
    `create table in_flight_packages (
       package_id bigint primary key,
       current_status text not null,
       created_at timestamptz not null,
       last_scan_at timestamptz,
       quiet_since timestamptz not null,
       due timestamptz
     )`,
    `comment on table in_flight_packages is
       'packages not in a final status, with their latest scan and promised delivery (maintained by triggers; proven by shiptrack check)'`,
    `create index in_flight_packages_quiet_idx on in_flight_packages (quiet_since) include (current_status)`,
    `create index in_flight_packages_due_idx on in_flight_packages (due) where due is not null`,

    trigger(
      'rollups_packages_inserted',
      `with d as (
         insert into package_status_counts (current_status, fragile, packages)
         select current_status, ${fragile}, count(*) from inserted_rows group by 1, 2
         returning 1)
       select count(*) into written from d;
       perform package_status_counts_note(written);
       insert into in_flight_packages (package_id, current_status, created_at, last_scan_at, quiet_since, due)
       select n.package_id, n.current_status, n.created_at, l.at, coalesce(l.at, n.created_at), ${dueOf('n.package_id')}
         from inserted_rows n cross join lateral (select ${lastScan('n.package_id')} as at) l
        where n.current_status not in ${finals};`,
    ),
    trigger(
      'rollups_packages_updated',
      `with d as (
         insert into package_status_counts (current_status, fragile, packages)
         select current_status, fragile, sum(n) from (
           select current_status, ${fragile} as fragile, 1 as n from new_rows
           union all
           select current_status, ${fragile}, -1 from old_rows) d
          group by 1, 2 having sum(n) <> 0
         returning 1)
       select count(*) into written from d;
       perform package_status_counts_note(written);
       delete from in_flight_packages f using old_rows o
        where f.package_id = o.package_id and not exists (select 1 from new_rows n where n.package_id = o.package_id);
       delete from in_flight_packages f using new_rows n
        where f.package_id = n.package_id and n.current_status in ${finals};
       update in_flight_packages f set current_status = n.current_status, created_at = n.created_at,
              quiet_since = coalesce(f.last_scan_at, n.created_at)
         from new_rows n
        where f.package_id = n.package_id and n.current_status not in ${finals}
          and (f.current_status, f.created_at) is distinct from (n.current_status, n.created_at);
       insert into in_flight_packages (package_id, current_status, created_at, last_scan_at, quiet_since, due)
       select n.package_id, n.current_status, n.created_at, l.at, coalesce(l.at, n.created_at), ${dueOf('n.package_id')}
         from new_rows n cross join lateral (select ${lastScan('n.package_id')} as at) l
        where n.current_status not in ${finals}
          and not exists (select 1 from in_flight_packages f where f.package_id = n.package_id);`,
    ),
    trigger(
      'rollups_packages_deleted',
      `with d as (
         insert into package_status_counts (current_status, fragile, packages)
         select current_status, ${fragile}, -count(*) from deleted_rows group by 1, 2
         returning 1)
       select count(*) into written from d;
       perform package_status_counts_note(written);
       delete from in_flight_packages f using deleted_rows o where f.package_id = o.package_id;`,
    ),
    trigger('rollups_packages_truncated', `delete from package_status_counts; delete from in_flight_packages;`),
    trigger(
      'rollups_events_inserted',
      // A scan later than the package's latest is the common case: one probe of the primary key.
      `update in_flight_packages f set last_scan_at = n.at, quiet_since = n.at
         from (select package_id, max(event_timestamp) as at from inserted_rows group by 1) n
        where f.package_id = n.package_id and (f.last_scan_at is null or n.at > f.last_scan_at);`,
    ),
    // Events are not edited by shiptrack; by hand, the packages touched are recomputed.
    ...(['updated', 'deleted'] as const).map((kind) =>
      trigger(
        `rollups_events_${kind}`,
        `update in_flight_packages f set last_scan_at = l.at, quiet_since = coalesce(l.at, f.created_at)
           from (${touched[kind]}) c
           cross join lateral (select ${lastScan('c.package_id')} as at) l
          where f.package_id = c.package_id and f.last_scan_at is distinct from l.at;`,
      ),
    ),
    ...(['inserted', 'updated', 'deleted'] as const).map((kind) =>
      trigger(
        `rollups_shipments_${kind}`,
        `update in_flight_packages f set due = d.due
           from (${touched[kind]}) c
           cross join lateral (select ${dueOf('c.package_id')} as due) d
          where f.package_id = c.package_id and f.due is distinct from d.due;`,
      ),
    ),

    `create trigger packages_rollups_insert after insert on packages
       referencing new table as inserted_rows for each statement execute function rollups_packages_inserted()`,
    `create trigger packages_rollups_update after update on packages
       referencing old table as old_rows new table as new_rows for each statement execute function rollups_packages_updated()`,
    `create trigger packages_rollups_delete after delete on packages
       referencing old table as deleted_rows for each statement execute function rollups_packages_deleted()`,
    `create trigger packages_rollups_truncate after truncate on packages
       for each statement execute function rollups_packages_truncated()`,
    `create trigger tracking_events_rollups_insert after insert on tracking_events
       referencing new table as inserted_rows for each statement execute function rollups_events_inserted()`,
    `create trigger tracking_events_rollups_update after update on tracking_events
       referencing old table as old_rows new table as new_rows for each statement execute function rollups_events_updated()`,
    `create trigger tracking_events_rollups_delete after delete on tracking_events
       referencing old table as old_rows for each statement execute function rollups_events_deleted()`,
    `create trigger shipments_rollups_insert after insert on shipments
       referencing new table as new_rows for each statement execute function rollups_shipments_inserted()`,
    `create trigger shipments_rollups_update after update on shipments
       referencing old table as old_rows new table as new_rows for each statement execute function rollups_shipments_updated()`,
    `create trigger shipments_rollups_delete after delete on shipments
       referencing old table as old_rows for each statement execute function rollups_shipments_deleted()`,
  ]);
  await rebuildRollups(knex);
}

/** Fills both rollups from the data (as a seed does after a load with the triggers off). */
async function rebuildRollups(knex: Knex): Promise<void> {
  await runStatements(knex, [
    `insert into package_status_counts (current_status, fragile, packages)
     select current_status, ${fragile}, count(*) from packages group by 1, 2`,
    `insert into in_flight_packages (package_id, current_status, created_at, last_scan_at, quiet_since, due)
     select p.package_id, p.current_status, p.created_at, l.at, coalesce(l.at, p.created_at), ${dueOf('p.package_id')}
       from packages p cross join lateral (select ${lastScan('p.package_id')} as at) l
      where p.current_status not in ${finals}`,
    `analyze package_status_counts, in_flight_packages`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await runStatements(knex, [
    ...['insert', 'update', 'delete', 'truncate'].map((event) => `drop trigger packages_rollups_${event} on packages`),
    ...['insert', 'update', 'delete'].map((event) => `drop trigger tracking_events_rollups_${event} on tracking_events`),
    ...['insert', 'update', 'delete'].map((event) => `drop trigger shipments_rollups_${event} on shipments`),
    `drop function rollups_packages_inserted(), rollups_packages_updated(), rollups_packages_deleted(),
       rollups_packages_truncated(), rollups_events_inserted(), rollups_events_updated(), rollups_events_deleted(),
       rollups_shipments_inserted(), rollups_shipments_updated(), rollups_shipments_deleted()`,
    `drop function package_status_counts_note(bigint), package_status_counts_fold()`,
    `drop table in_flight_packages`,
    `drop table package_status_counts`,
    `drop sequence package_status_counts_writes`,
  ]);
}
