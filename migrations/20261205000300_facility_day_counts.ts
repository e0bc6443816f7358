import type { Knex } from 'knex';
import { hasCitus, runStatements } from '../src/store/migration-helpers.js';

// Scans per facility and day, maintained as events change, for `report facilities`. At the
// `large` profile (10M packages, 80M events) a day holds 1.37M scans: counting them per facility
// took 135 ms of the report's 620 ms, where the day is a thousand rows of this table.
//
// - facility_day_counts: per (UTC day of the scan, location) the scans, the exceptions and the
//   failed delivery attempts. Append-only signed deltas, one row per key a statement changed,
//   summed when read: two sessions scanning at one facility never wait for each other. Every
//   128th statement that writes deltas folds the rows not yet folded into one row per key, unless
//   another fold is running (as lane_day_counts, migration 20261204000400).
// - Statement triggers on tracking_events keep it exact for every writer. `seed` switches them
//   off while it loads and rebuilds the table afterwards; `shiptrack check` proves it equal to
//   the full count (facility_counts_rollup); `check --repair-rollups` rebuilds it.
// - On a Citus coordinator this migration changes nothing: statement triggers with transition
//   tables do not run on distributed tables, and the report counts the shards' events there.
//
// Installing it takes a SHARE ROW EXCLUSIVE lock on tracking_events for this transaction: scans
// wait while the table is built from the events (29 s at `large`), reads go on.

export const config = { transaction: true };

const measures = ['scans', 'exceptions', 'failed_attempts'] as const;

/** The deltas of the events in `source` (columns sign, event_timestamp, location_id, status), keys that cancel left out. */
const deltasFrom = (source: string): string => `
  select * from (
    select (e.event_timestamp at time zone 'UTC')::date as day, e.location_id, sum(e.sign) as scans,
           coalesce(sum(e.sign) filter (where e.status = 'exception'), 0) as exceptions,
           coalesce(sum(e.sign) filter (where e.status = 'attempt_fail'), 0) as failed_attempts
      from (${source}) e
     group by 1, 2) k
   where ${measures.map((m) => `${m} <> 0`).join(' or ')}`;

const rowsOf = (table: string, sign: number): string =>
  `select ${sign} as sign, event_timestamp, location_id, status from ${table}`;

const insertDeltas = (source: string): string => `
  with d as (
    insert into facility_day_counts (day, location_id, ${measures.join(', ')})
    ${deltasFrom(source)}
    returning 1)
  select count(*) into written from d;
  perform facility_day_counts_note(written);`;

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
    `lock table tracking_events in share row exclusive mode`,
    `create table facility_day_counts (
       day date not null,
       location_id integer not null,
       folded boolean not null default false,
       ${measures.map((m) => `${m} integer not null`).join(', ')}
     )`,
    `comment on table facility_day_counts is
       'scans per (UTC day, location): signed deltas, summed when read (maintained by triggers; proven by shiptrack check)'`,
    `create index facility_day_counts_key_idx on facility_day_counts (day, location_id)`,
    `create index facility_day_counts_unfolded_idx on facility_day_counts (day) where not folded`,
    `create sequence facility_day_counts_writes`,
    `create function facility_day_counts_fold() returns void language plpgsql ${fixed} as $$
     begin
       -- One fold at a time; a statement that finds one running leaves the folding to it. Rows of
       -- transactions not yet committed are not seen, so not deleted: they wait for the next fold.
       if pg_try_advisory_xact_lock(hashtext('shiptrack facility_day_counts'), 0) then
         with keys as (select distinct day, location_id from facility_day_counts where not folded),
              gone as (
                delete from facility_day_counts t using keys k
                 where t.day = k.day and t.location_id = k.location_id
                returning t.*)
         insert into facility_day_counts (day, location_id, folded, ${measures.join(', ')})
         select day, location_id, true, ${measures.map((m) => `sum(${m})`).join(', ')}
           from gone group by 1, 2
          having ${measures.map((m) => `sum(${m}) <> 0`).join(' or ')};
       end if;
     end $$`,
    `create function facility_day_counts_note(deltas bigint) returns void language plpgsql ${fixed} as $$
     begin
       if deltas > 0 and nextval('facility_day_counts_writes') % 128 = 0 then
         perform facility_day_counts_fold();
       end if;
     end $$`,
    trigger('facility_rollups_events_inserted', insertDeltas(rowsOf('new_rows', 1))),
    trigger('facility_rollups_events_updated', insertDeltas(`${rowsOf('new_rows', 1)} union all ${rowsOf('old_rows', -1)}`)),
    trigger('facility_rollups_events_deleted', insertDeltas(rowsOf('old_rows', -1))),
    trigger('facility_rollups_events_truncated', `delete from facility_day_counts;`),
    `create trigger tracking_events_facility_rollups_insert after insert on tracking_events
       referencing new table as new_rows for each statement execute function facility_rollups_events_inserted()`,
    `create trigger tracking_events_facility_rollups_update after update on tracking_events
       referencing old table as old_rows new table as new_rows for each statement execute function facility_rollups_events_updated()`,
    `create trigger tracking_events_facility_rollups_delete after delete on tracking_events
       referencing old table as old_rows for each statement execute function facility_rollups_events_deleted()`,
    `create trigger tracking_events_facility_rollups_truncate after truncate on tracking_events
       for each statement execute function facility_rollups_events_truncated()`,
    // The backfill: every event so far, one folded row per key.
    `insert into facility_day_counts (day, location_id, folded, ${measures.join(', ')})
     select (event_timestamp at time zone 'UTC')::date, location_id, true, count(*),
            count(*) filter (where status = 'exception'), count(*) filter (where status = 'attempt_fail')
       from tracking_events
      group by 1, 2`,
    `analyze facility_day_counts`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  const found = await knex.raw<{ rows: { present: boolean }[] }>(
    `select to_regclass('facility_day_counts') is not null as present`,
  );
  if (found.rows[0]?.present !== true) return;
  await runStatements(knex, [
    ...['insert', 'update', 'delete', 'truncate'].map(
      (event) => `drop trigger tracking_events_facility_rollups_${event} on tracking_events`,
    ),
    `drop function facility_rollups_events_inserted(), facility_rollups_events_updated(),
       facility_rollups_events_deleted(), facility_rollups_events_truncated()`,
    `drop function facility_day_counts_note(bigint), facility_day_counts_fold()`,
    `drop table facility_day_counts`,
    `drop sequence facility_day_counts_writes`,
  ]);
}
