import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// On a Citus coordinator only (elsewhere this migration changes nothing): the layout chosen for
// the access pattern, where a `track` and a `scan` each touch one shard group (docs/SCALING.md).
//
// - customers and locations become reference tables (small, joined by everything).
// - packages, shipments, tracking_events and in_flight_packages are distributed on package_id and
//   co-located: a package's row, shipment, events and rollup row live in one shard group.
// - A unique key must contain the distribution column, so unique (tracking_number) moves to
//   package_numbers (tracking_number primary key → package_id), distributed on the number and
//   written in the same transaction as the package: uniqueness holds across shards, and `track`
//   finds the package with two router queries. tracking_events' key becomes
//   (package_id, event_id), shipments' (package_id, shipment_id).
// - Statement triggers with transition tables do not run on distributed tables: the rollup of
//   packages in flight is kept by row triggers instead (run on the shard's node, they write the
//   co-located in_flight_packages row). The per-status counts and the consistency change list are
//   not kept here: `report status` counts packages across the shards in parallel, and
//   `report consistency` proves every package each run.
//
// The dropped triggers' definitions and the identity columns turned into sequences are kept in
// citus_layout_saved so `down` restores them. Citus requires foreign keys to reference tables to be added over one connection
// per node, hence the sequential mode.

export const config = { transaction: true };

const finals = `('delivered', 'returned', 'cancelled')`;
const distributed = ['packages', 'shipments', 'tracking_events', 'in_flight_packages'] as const;

async function isCitus(knex: Knex): Promise<boolean> {
  const found = await knex.raw<{ rows: { citus: boolean }[] }>(
    `select exists (select 1 from pg_extension where extname = 'citus') as citus`,
  );
  return found.rows[0]?.citus === true;
}

const referenceKeys = [
  ['packages', 'packages_sender_id_fkey', 'sender_id', 'customers'],
  ['packages', 'packages_recipient_id_fkey', 'recipient_id', 'customers'],
  ['shipments', 'shipments_origin_location_id_fkey', 'origin_location_id', 'locations'],
  ['shipments', 'shipments_destination_location_id_fkey', 'destination_location_id', 'locations'],
  ['tracking_events', 'tracking_events_location_id_fkey', 'location_id', 'locations'],
] as const;

export async function up(knex: Knex): Promise<void> {
  if (!(await isCitus(knex))) return;
  const schema = (await knex.raw<{ rows: { name: string }[] }>('select current_schema() as name')).rows[0]?.name ?? 'public';
  const fixed = `security definer set search_path = pg_catalog, "${schema.replaceAll('"', '""')}"`;
  const lastScan = (id: string): string => `(select max(e.event_timestamp) from tracking_events e where e.package_id = ${id})`;
  const dueOf = (id: string): string =>
    `(select s.estimated_delivery from shipments s where s.package_id = ${id} and s.actual_delivery is null)`;
  await runStatements(knex, [
    `set local citus.multi_shard_modify_mode to 'sequential'`,
    `set local citus.enable_unsafe_triggers to on`,
    `create table citus_layout_saved (
       kind text not null check (kind in ('trigger', 'identity')),
       table_name text not null,
       name text not null,
       definition text
     )`,
    `insert into citus_layout_saved (kind, table_name, name, definition)
     select 'trigger', c.relname, t.tgname, pg_get_triggerdef(t.oid)
       from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where not t.tgisinternal and c.relname in ('packages', 'shipments', 'tracking_events') and pg_table_is_visible(c.oid)`,
    `do $$ declare r record; begin
       for r in select table_name, name from citus_layout_saved where kind = 'trigger' loop
         execute format('drop trigger %I on %I', r.name, r.table_name);
       end loop;
     end $$`,
    // Identity columns: kept as plain sequences (a table with one cannot be undistributed again).
    `insert into citus_layout_saved (kind, table_name, name)
     select 'identity', c.relname, a.attname
       from pg_attribute a join pg_class c on c.oid = a.attrelid
      where a.attidentity <> '' and c.relname in ('customers', 'locations', 'packages', 'shipments', 'tracking_events')
        and pg_table_is_visible(c.oid)`,
    `do $$ declare r record; next bigint; begin
       for r in select table_name, name from citus_layout_saved where kind = 'identity' loop
         execute format('select greatest(coalesce(max(%I), 0), coalesce(pg_sequence_last_value(pg_get_serial_sequence(%L, %L)), 0)) + 1 from %I',
                        r.name, r.table_name, r.name, r.table_name) into next;
         execute format('alter table %I alter column %I drop identity', r.table_name, r.name);
         execute format('create sequence %I owned by %I.%I start with %s', r.table_name || '_' || r.name || '_seq', r.table_name, r.name, next);
         execute format('alter table %I alter column %I set default nextval(%L)', r.table_name, r.name, r.table_name || '_' || r.name || '_seq');
       end loop;
     end $$`,
    ...referenceKeys.map(([table, name]) => `alter table ${table} drop constraint ${name}`),
    `alter table packages drop constraint packages_tracking_number_key`,
    `alter table tracking_events drop constraint tracking_events_pkey`,
    `alter table tracking_events add primary key (package_id, event_id)`,
    `alter table shipments drop constraint shipments_pkey`,
    `alter table shipments add primary key (package_id, shipment_id)`,
    `create table package_numbers (
       tracking_number text primary key,
       package_id bigint not null
     )`,
    `comment on table package_numbers is
       'tracking number → package (Citus: the unique key packages cannot carry; written with the package)'`,
    `insert into package_numbers (tracking_number, package_id) select tracking_number, package_id from packages`,
    `select create_distributed_table('packages', 'package_id')`,
    ...distributed
      .slice(1)
      .map((table) => `select create_distributed_table('${table}', 'package_id', colocate_with => 'packages')`),
    `select create_distributed_table('package_numbers', 'tracking_number')`,
    `select create_reference_table('customers')`,
    `select create_reference_table('locations')`,
    ...referenceKeys.map(
      ([table, name, column, referenced]) =>
        `alter table ${table} add constraint ${name} foreign key (${column}) references ${referenced}`,
    ),
    // The rollup of packages in flight, row by row (migration 20261203000100 keeps it per statement).
    `create function citus_rollups_package_row() returns trigger language plpgsql ${fixed} as $$
     begin
       if tg_op = 'DELETE' or (tg_op = 'UPDATE' and new.current_status in ${finals}) then
         delete from in_flight_packages where package_id = old.package_id;
       end if;
       if tg_op in ('INSERT', 'UPDATE') and new.current_status not in ${finals} then
         insert into in_flight_packages as f (package_id, current_status, created_at, last_scan_at, quiet_since, due)
         select new.package_id, new.current_status, new.created_at, l.at, coalesce(l.at, new.created_at), ${dueOf('new.package_id')}
           from (select ${lastScan('new.package_id')} as at) l
         on conflict (package_id) do update
           set current_status = excluded.current_status, created_at = excluded.created_at,
               quiet_since = coalesce(f.last_scan_at, excluded.created_at)
         where (f.current_status, f.created_at) is distinct from (excluded.current_status, excluded.created_at);
       end if;
       return null;
     end $$`,
    `create function citus_rollups_event_row() returns trigger language plpgsql ${fixed} as $$
     declare
       id bigint := case when tg_op = 'DELETE' then old.package_id else new.package_id end;
     begin
       if tg_op = 'INSERT' then
         update in_flight_packages set last_scan_at = new.event_timestamp, quiet_since = new.event_timestamp
          where package_id = id and (last_scan_at is null or new.event_timestamp > last_scan_at);
       else
         update in_flight_packages f set last_scan_at = l.at, quiet_since = coalesce(l.at, f.created_at)
           from (select ${lastScan('id')} as at) l
          where f.package_id = id and f.last_scan_at is distinct from l.at;
       end if;
       return null;
     end $$`,
    `create function citus_rollups_shipment_row() returns trigger language plpgsql ${fixed} as $$
     declare
       id bigint := case when tg_op = 'DELETE' then old.package_id else new.package_id end;
     begin
       update in_flight_packages f set due = d.due
         from (select ${dueOf('id')} as due) d
        where f.package_id = id and f.due is distinct from d.due;
       return null;
     end $$`,
    `create trigger packages_rollups_row after insert or update or delete on packages
       for each row execute function citus_rollups_package_row()`,
    `create trigger tracking_events_rollups_row after insert or update or delete on tracking_events
       for each row execute function citus_rollups_event_row()`,
    `create trigger shipments_rollups_row after insert or update or delete on shipments
       for each row execute function citus_rollups_shipment_row()`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  if (!(await isCitus(knex))) return;
  await runStatements(knex, [
    `set local citus.multi_shard_modify_mode to 'sequential'`,
    `set local citus.enable_unsafe_triggers to on`,
    `drop trigger packages_rollups_row on packages`,
    `drop trigger tracking_events_rollups_row on tracking_events`,
    `drop trigger shipments_rollups_row on shipments`,
    `drop function citus_rollups_package_row(), citus_rollups_event_row(), citus_rollups_shipment_row()`,
    ...referenceKeys.map(([table, name]) => `alter table ${table} drop constraint ${name}`),
    // One call undistributes what foreign keys connect: each table only if it is still distributed.
    `do $$ declare t text; begin
       foreach t in array array['packages', 'shipments', 'tracking_events', 'in_flight_packages', 'package_numbers',
                                'customers', 'locations'] loop
         if exists (select 1 from pg_dist_partition where logicalrelid = t::regclass) then
           perform undistribute_table(t, cascade_via_foreign_keys => true);
         end if;
       end loop;
     end $$`,
    `drop table package_numbers`,
    `alter table shipments drop constraint shipments_pkey`,
    `alter table shipments add primary key (shipment_id)`,
    `alter table tracking_events drop constraint tracking_events_pkey`,
    `alter table tracking_events add primary key (event_id)`,
    `alter table packages add constraint packages_tracking_number_key unique (tracking_number)`,
    ...referenceKeys.map(
      ([table, name, column, referenced]) =>
        `alter table ${table} add constraint ${name} foreign key (${column}) references ${referenced}`,
    ),
    `do $$ declare r record; next bigint; begin
       for r in select table_name, name from citus_layout_saved where kind = 'identity' loop
         execute format('select coalesce(max(%I), 0) + 1 from %I', r.name, r.table_name) into next;
         execute format('alter table %I alter column %I drop default', r.table_name, r.name);
         execute format('drop sequence %I', r.table_name || '_' || r.name || '_seq');
         execute format('alter table %I alter column %I add generated by default as identity (start with %s)', r.table_name, r.name, next);
       end loop;
       for r in select definition from citus_layout_saved where kind = 'trigger' loop
         execute r.definition;
       end loop;
     end $$`,
    `drop table citus_layout_saved`,
  ]);
}
