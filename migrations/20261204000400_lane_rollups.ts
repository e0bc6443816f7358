import type { Knex } from 'knex';
import { hasCitus, runStatements } from '../src/store/migration-helpers.js';

// Deliveries per state lane and day, maintained as shipments change, for `report lanes` (by
// state, its default). At the `large` profile (10M packages) a 30-day window holds 4.9M
// deliveries: counting them per lane took 1.4–1.8 s on two cores, while the same window is 68k
// rows of this table. By city the lanes do not compress enough to pay (821k city-day cells for
// those 4.9M deliveries), so `--by city` and `--by location` still count the shipments.
//
// - lane_day_counts: per (UTC day of the delivery, origin state, destination state) the
//   deliveries, those on time and the late ones in the report's six lateness buckets.
//   Append-only signed deltas, one row per key a statement changed, summed when read: two
//   sessions delivering on one lane never wait for each other. Every 128th statement that writes
//   deltas folds the rows not yet folded (with the folded row of each of their keys) into one
//   folded row per key, unless another fold is running.
// - Statement triggers on shipments keep it exact for every writer; one on locations moves a
//   location's deliveries to its new state when the state is edited (a pass over the shipments:
//   seconds at `large`, for a rare edit). `seed` switches the shipments triggers off while it
//   loads and rebuilds the table afterwards; `shiptrack check` proves it equal to the full count;
//   `check --repair-rollups` rebuilds it.
// - On a Citus coordinator this migration changes nothing: statement triggers with transition
//   tables do not run on distributed tables, and the report counts the shards' deliveries there.
//
// Installing it takes a SHARE ROW EXCLUSIVE lock on shipments and locations for this transaction:
// writes wait while the table is built from the data (about 1.5 s at `medium`), reads go on.

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

/**
 * Each location's state as a number (the states in order), and each state with its number: the
 * deliveries are counted per pair of numbers (hashing the state names of a million deliveries
 * takes longer) and named after. Subqueries, not common tables, so the planner knows they are a
 * few hundred rows and hashes them, not the deliveries (1.6 s against 3.0 s at medium).
 */
const numbered = `select location_id, dense_rank() over (order by state)::int as n from locations`;
const states = `select distinct state, dense_rank() over (order by state)::int as n from locations`;

/**
 * The deltas of the deliveries in `source` — columns sign, actual_delivery, estimated_delivery,
 * origin_state, destination_state — one row per key, keys whose deltas cancel left out.
 */
const deltasFrom = (source: string): string => `
  select * from (
    select (s.actual_delivery at time zone 'UTC')::date as day, s.origin_state as origin, s.destination_state as destination,
           sum(s.sign) as delivered,
           ${lateness.map(([name, range]) => `coalesce(sum(s.sign) filter (where ${range}), 0) as ${name}`).join(', ')}
      from (select s.*, ${lateHours} as late_h from (${source}) s) s
     group by 1, 2, 3) k
   where ${measures.map((m) => `${m} <> 0`).join(' or ')}`;

/** The delivered shipments of the table `rows` (alias s) with their origin's and destination's states. */
const withStates = (rows: string, sign: number): string => `
  select ${sign} as sign, s.actual_delivery, s.estimated_delivery, o.state as origin_state, d.state as destination_state
    from ${rows} s
    join locations o on o.location_id = s.origin_location_id
    join locations d on d.location_id = s.destination_location_id
   where s.actual_delivery is not null`;

const insertDeltas = (source: string): string => `
  with d as (
    insert into lane_day_counts (day, origin, destination, ${measures.join(', ')})
    ${deltasFrom(source)}
    returning 1)
  select count(*) into written from d;
  perform lane_day_counts_note(written);`;

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
    `create table lane_day_counts (
       day date not null,
       origin text not null,
       destination text not null,
       folded boolean not null default false,
       -- A day's deliveries on one lane stay far below 2^31; sums of integers are summed as bigint,
       -- sums of bigints as numeric, which takes longer.
       ${measures.map((m) => `${m} integer not null`).join(', ')}
     )`,
    `comment on table lane_day_counts is
       'deliveries per (UTC day, origin state, destination state): signed deltas, summed when read (maintained by triggers; proven by shiptrack check)'`,
    `create index lane_day_counts_key_idx on lane_day_counts (day, origin, destination)`,
    `create index lane_day_counts_unfolded_idx on lane_day_counts (day) where not folded`,
    `create sequence lane_day_counts_writes`,
    `create function lane_day_counts_fold() returns void language plpgsql ${fixed} as $$
     begin
       -- One fold at a time; a statement that finds one running leaves the folding to it. Rows of
       -- transactions not yet committed are not seen, so not deleted: they wait for the next fold.
       if pg_try_advisory_xact_lock(hashtext('shiptrack lane_day_counts'), 0) then
         with keys as (select distinct day, origin, destination from lane_day_counts where not folded),
              gone as (
                delete from lane_day_counts t using keys k
                 where t.day = k.day and t.origin = k.origin and t.destination = k.destination
                returning t.*)
         insert into lane_day_counts (day, origin, destination, folded, ${measures.join(', ')})
         select day, origin, destination, true, ${measures.map((m) => `sum(${m})`).join(', ')}
           from gone group by 1, 2, 3
          having ${measures.map((m) => `sum(${m}) <> 0`).join(' or ')};
       end if;
     end $$`,
    `create function lane_day_counts_note(deltas bigint) returns void language plpgsql ${fixed} as $$
     begin
       if deltas > 0 and nextval('lane_day_counts_writes') % 128 = 0 then
         perform lane_day_counts_fold();
       end if;
     end $$`,
    trigger('lane_rollups_shipments_inserted', insertDeltas(withStates('new_rows', 1))),
    trigger(
      'lane_rollups_shipments_updated',
      insertDeltas(`${withStates('new_rows', 1)} union all ${withStates('old_rows', -1)}`),
    ),
    trigger('lane_rollups_shipments_deleted', insertDeltas(withStates('old_rows', -1))),
    trigger('lane_rollups_shipments_truncated', `delete from lane_day_counts;`),
    // A location's state edited: its deliveries leave the old state's lanes for the new one's.
    trigger(
      'lane_rollups_locations_updated',
      // Most edits of locations leave every state as it was: those return before reading the
      // shipments (the lookup below reads them all, there being no index by location).
      `if not exists (select 1 from new_rows n join old_rows o on o.location_id = n.location_id
                      where o.state is distinct from n.state) then
         return null;
       end if;` +
        insertDeltas(`
        with changed as (
               select n.location_id, o.state as old_state
                 from new_rows n join old_rows o on o.location_id = n.location_id
                where o.state is distinct from n.state),
             affected as (
               select s.* from shipments s
                where s.origin_location_id in (select location_id from changed)
                   or s.destination_location_id in (select location_id from changed))
        ${withStates('affected', 1)}
        union all
        select -1, s.actual_delivery, s.estimated_delivery, coalesce(co.old_state, o.state), coalesce(cd.old_state, d.state)
          from affected s
          join locations o on o.location_id = s.origin_location_id
          join locations d on d.location_id = s.destination_location_id
          left join changed co on co.location_id = s.origin_location_id
          left join changed cd on cd.location_id = s.destination_location_id
         where s.actual_delivery is not null`),
    ),
    `create trigger shipments_lane_rollups_insert after insert on shipments
       referencing new table as new_rows for each statement execute function lane_rollups_shipments_inserted()`,
    `create trigger shipments_lane_rollups_update after update on shipments
       referencing old table as old_rows new table as new_rows for each statement execute function lane_rollups_shipments_updated()`,
    `create trigger shipments_lane_rollups_delete after delete on shipments
       referencing old table as old_rows for each statement execute function lane_rollups_shipments_deleted()`,
    `create trigger shipments_lane_rollups_truncate after truncate on shipments
       for each statement execute function lane_rollups_shipments_truncated()`,
    // Transition tables cannot go with a column list (`update of state`): the function looks.
    `create trigger locations_lane_rollups_update after update on locations
       referencing old table as old_rows new table as new_rows for each statement execute function lane_rollups_locations_updated()`,
    // The backfill: every delivery so far, one folded row per key, counted per pair of integer
    // state numbers (hashing the state names of a million deliveries takes longer) and named after.
    `insert into lane_day_counts (day, origin, destination, folded, ${measures.join(', ')})
     with counted as (
            select (s.actual_delivery at time zone 'UTC')::date as day, o.n as origin, d.n as destination, count(*) as delivered,
                   ${lateness.map(([name, range]) => `count(*) filter (where ${range}) as ${name}`).join(', ')}
              from (select s.*, ${lateHours} as late_h from shipments s where s.actual_delivery is not null) s
              join (${numbered}) o on o.location_id = s.origin_location_id
              join (${numbered}) d on d.location_id = s.destination_location_id
             group by 1, 2, 3)
     select c.day, o.state, d.state, true, ${measures.map((m) => `c.${m}`).join(', ')}
       from counted c join (${states}) o on o.n = c.origin join (${states}) d on d.n = c.destination`,
    `analyze lane_day_counts`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  const found = await knex.raw<{ rows: { present: boolean }[] }>(`select to_regclass('lane_day_counts') is not null as present`);
  if (found.rows[0]?.present !== true) return;
  await runStatements(knex, [
    ...['insert', 'update', 'delete', 'truncate'].map((event) => `drop trigger shipments_lane_rollups_${event} on shipments`),
    `drop trigger locations_lane_rollups_update on locations`,
    `drop function lane_rollups_shipments_inserted(), lane_rollups_shipments_updated(), lane_rollups_shipments_deleted(),
       lane_rollups_shipments_truncated(), lane_rollups_locations_updated()`,
    `drop function lane_day_counts_note(bigint), lane_day_counts_fold()`,
    `drop table lane_day_counts`,
    `drop sequence lane_day_counts_writes`,
  ]);
}
