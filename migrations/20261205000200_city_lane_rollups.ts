import type { Knex } from 'knex';
import { hasCitus, runStatements } from '../src/store/migration-helpers.js';

// Deliveries per city lane and day, maintained as shipments change, for `report lanes --by city`.
// At the `large` profile (10M packages) a 30-day window holds 4.9M deliveries: counting them per
// city lane took 0.99 s of the report's 1.14 s; the same window is 821k rows of this table, which
// sum to its 32k lanes in 0.19 s on two cores.
//
// - city_lane_day_counts: per (UTC day of the delivery, origin "city, state", destination
//   "city, state") the deliveries, those on time and the late ones in the report's six lateness
//   buckets: the layout of lane_day_counts (migration 20261204000400), keyed by city instead of
//   state. Append-only signed deltas, one row per key a statement changed, summed when read;
//   every 128th statement that writes deltas folds the rows not yet folded, unless another fold
//   is running.
// - Statement triggers on shipments keep it exact for every writer; one on locations moves a
//   location's deliveries to its new city lanes when its city or state is edited. `seed` switches
//   the shipments triggers off while it loads and rebuilds the table afterwards; `shiptrack
//   check` proves it equal to the full count (city_lane_counts_rollup); `check --repair-rollups`
//   rebuilds it.
// - On a Citus coordinator this migration changes nothing: statement triggers with transition
//   tables do not run on distributed tables, and the report counts the shards' deliveries there.
//
// Installing it takes a SHARE ROW EXCLUSIVE lock on shipments and locations for this transaction:
// writes wait while the table is built from the data (15 s at `large`), reads go on.

export const config = { transaction: true };

/** The columns summed per key, in order. */
const measures = ['delivered', 'on_time', 'late_6h', 'late_12h', 'late_24h', 'late_48h', 'late_72h', 'late_over_72h'] as const;

/** The measures after `delivered`: on time, and the report's six lateness buckets (hours late). */
const lateness: [string, string][] = [
  ['on_time', 'late_h <= 0'],
  ['late_6h', 'late_h > 0 and late_h <= 6'],
  ['late_12h', 'late_h > 6 and late_h <= 12'],
  ['late_24h', 'late_h > 12 and late_h <= 24'],
  ['late_48h', 'late_h > 24 and late_h <= 48'],
  ['late_72h', 'late_h > 48 and late_h <= 72'],
  ['late_over_72h', 'late_h > 72'],
];

const lateHours = `date_part('epoch', s.actual_delivery - s.estimated_delivery) / 3600.0`;

/** A location's (alias a) city lane end: "city, state". */
const city = (a: string): string => `${a}.city || ', ' || ${a}.state`;

/**
 * Each location's city as a number (the cities in order), and each city with its number: the
 * backfill counts per pair of numbers and names them after, as migration 20261204000400 does.
 */
const numbered = `select location_id, dense_rank() over (order by ${city('l')})::int as n from locations l`;
const cities = `select distinct ${city('l')} as city, dense_rank() over (order by ${city('l')})::int as n from locations l`;

/**
 * The deltas of the deliveries in `source` — columns sign, actual_delivery, estimated_delivery,
 * origin, destination — one row per key, keys whose deltas cancel left out.
 */
const deltasFrom = (source: string): string => `
  select * from (
    select (s.actual_delivery at time zone 'UTC')::date as day, s.origin, s.destination,
           sum(s.sign) as delivered,
           ${lateness.map(([name, range]) => `coalesce(sum(s.sign) filter (where ${range}), 0) as ${name}`).join(', ')}
      from (select s.*, ${lateHours} as late_h from (${source}) s) s
     group by 1, 2, 3) k
   where ${measures.map((m) => `${m} <> 0`).join(' or ')}`;

/** The delivered shipments of the table `rows` (alias s) with their origin's and destination's cities. */
const withCities = (rows: string, sign: number): string => `
  select ${sign} as sign, s.actual_delivery, s.estimated_delivery, ${city('o')} as origin, ${city('d')} as destination
    from ${rows} s
    join locations o on o.location_id = s.origin_location_id
    join locations d on d.location_id = s.destination_location_id
   where s.actual_delivery is not null`;

const insertDeltas = (source: string): string => `
  with d as (
    insert into city_lane_day_counts (day, origin, destination, ${measures.join(', ')})
    ${deltasFrom(source)}
    returning 1)
  select count(*) into written from d;
  perform city_lane_day_counts_note(written);`;

export async function up(knex: Knex): Promise<void> {
  if (await hasCitus(knex)) return;
  const schema = (await knex.raw<{ rows: { name: string }[] }>('select current_schema() as name')).rows[0]?.name ?? 'public';
  // Run as their owner with this schema fixed (as migration 700's): a writing role needs no grant
  // on the rollup, and its search_path cannot point the maintenance elsewhere.
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
    `lock table shipments, locations in share row exclusive mode`,
    `create table city_lane_day_counts (
       day date not null,
       origin text not null,
       destination text not null,
       folded boolean not null default false,
       ${measures.map((m) => `${m} integer not null`).join(', ')}
     )`,
    `comment on table city_lane_day_counts is
       'deliveries per (UTC day, origin city, destination city): signed deltas, summed when read (maintained by triggers; proven by shiptrack check)'`,
    `create index city_lane_day_counts_key_idx on city_lane_day_counts (day, origin, destination)`,
    `create index city_lane_day_counts_unfolded_idx on city_lane_day_counts (day) where not folded`,
    `create sequence city_lane_day_counts_writes`,
    `create function city_lane_day_counts_fold() returns void language plpgsql ${fixed} as $$
     begin
       -- One fold at a time; a statement that finds one running leaves the folding to it. Rows of
       -- transactions not yet committed are not seen, so not deleted: they wait for the next fold.
       if pg_try_advisory_xact_lock(hashtext('shiptrack city_lane_day_counts'), 0) then
         with keys as (select distinct day, origin, destination from city_lane_day_counts where not folded),
              gone as (
                delete from city_lane_day_counts t using keys k
                 where t.day = k.day and t.origin = k.origin and t.destination = k.destination
                returning t.*)
         insert into city_lane_day_counts (day, origin, destination, folded, ${measures.join(', ')})
         select day, origin, destination, true, ${measures.map((m) => `sum(${m})`).join(', ')}
           from gone group by 1, 2, 3
          having ${measures.map((m) => `sum(${m}) <> 0`).join(' or ')};
       end if;
     end $$`,
    `create function city_lane_day_counts_note(deltas bigint) returns void language plpgsql ${fixed} as $$
     begin
       if deltas > 0 and nextval('city_lane_day_counts_writes') % 128 = 0 then
         perform city_lane_day_counts_fold();
       end if;
     end $$`,
    trigger('city_lane_rollups_shipments_inserted', insertDeltas(withCities('new_rows', 1))),
    trigger(
      'city_lane_rollups_shipments_updated',
      insertDeltas(`${withCities('new_rows', 1)} union all ${withCities('old_rows', -1)}`),
    ),
    trigger('city_lane_rollups_shipments_deleted', insertDeltas(withCities('old_rows', -1))),
    trigger('city_lane_rollups_shipments_truncated', `delete from city_lane_day_counts;`),
    // A location's city or state edited: its deliveries leave the old city's lanes for the new one's.
    trigger(
      'city_lane_rollups_locations_updated',
      `if not exists (select 1 from new_rows n join old_rows o on o.location_id = n.location_id
                      where (o.city, o.state) is distinct from (n.city, n.state)) then
         return null;
       end if;` +
        insertDeltas(`
        with changed as (
               select n.location_id, ${city('o')} as old_city
                 from new_rows n join old_rows o on o.location_id = n.location_id
                where (o.city, o.state) is distinct from (n.city, n.state)),
             affected as (
               select s.* from shipments s
                where s.origin_location_id in (select location_id from changed)
                   or s.destination_location_id in (select location_id from changed))
        ${withCities('affected', 1)}
        union all
        select -1, s.actual_delivery, s.estimated_delivery, coalesce(co.old_city, ${city('o')}), coalesce(cd.old_city, ${city('d')})
          from affected s
          join locations o on o.location_id = s.origin_location_id
          join locations d on d.location_id = s.destination_location_id
          left join changed co on co.location_id = s.origin_location_id
          left join changed cd on cd.location_id = s.destination_location_id
         where s.actual_delivery is not null`),
    ),
    `create trigger shipments_city_lane_rollups_insert after insert on shipments
       referencing new table as new_rows for each statement execute function city_lane_rollups_shipments_inserted()`,
    `create trigger shipments_city_lane_rollups_update after update on shipments
       referencing old table as old_rows new table as new_rows for each statement execute function city_lane_rollups_shipments_updated()`,
    `create trigger shipments_city_lane_rollups_delete after delete on shipments
       referencing old table as old_rows for each statement execute function city_lane_rollups_shipments_deleted()`,
    `create trigger shipments_city_lane_rollups_truncate after truncate on shipments
       for each statement execute function city_lane_rollups_shipments_truncated()`,
    `create trigger locations_city_lane_rollups_update after update on locations
       referencing old table as old_rows new table as new_rows for each statement execute function city_lane_rollups_locations_updated()`,
    // The backfill: every delivery so far, one folded row per key.
    `insert into city_lane_day_counts (day, origin, destination, folded, ${measures.join(', ')})
     with counted as (
            select (s.actual_delivery at time zone 'UTC')::date as day, o.n as origin, d.n as destination, count(*) as delivered,
                   ${lateness.map(([name, range]) => `count(*) filter (where ${range}) as ${name}`).join(', ')}
              from (select s.*, ${lateHours} as late_h from shipments s where s.actual_delivery is not null) s
              join (${numbered}) o on o.location_id = s.origin_location_id
              join (${numbered}) d on d.location_id = s.destination_location_id
             group by 1, 2, 3)
     select c.day, o.city, d.city, true, ${measures.map((m) => `c.${m}`).join(', ')}
       from counted c join (${cities}) o on o.n = c.origin join (${cities}) d on d.n = c.destination`,
    `analyze city_lane_day_counts`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  const found = await knex.raw<{ rows: { present: boolean }[] }>(
    `select to_regclass('city_lane_day_counts') is not null as present`,
  );
  if (found.rows[0]?.present !== true) return;
  await runStatements(knex, [
    ...['insert', 'update', 'delete', 'truncate'].map(
      (event) => `drop trigger shipments_city_lane_rollups_${event} on shipments`,
    ),
    `drop trigger locations_city_lane_rollups_update on locations`,
    `drop function city_lane_rollups_shipments_inserted(), city_lane_rollups_shipments_updated(),
       city_lane_rollups_shipments_deleted(), city_lane_rollups_shipments_truncated(), city_lane_rollups_locations_updated()`,
    `drop function city_lane_day_counts_note(bigint), city_lane_day_counts_fold()`,
    `drop table city_lane_day_counts`,
    `drop sequence city_lane_day_counts_writes`,
  ]);
}
