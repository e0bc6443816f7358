import type { Knex } from 'knex';
import { hasCitus, runStatements } from '../src/store/migration-helpers.js';

// package_status_counts split by the metadata facets, not by fragile alone, so that `report
// metadata` counts any filter on those keys from the rollup. At the `large` profile (10M
// packages) `--where service=express --where signature_required=true` matched 218k packages: the
// GIN index found them in 0.1 s, and reading them to count per status took 1.3 s more; the
// rollup holds about a thousand (status, facets) rows.
//
// - The facets of a package: its metadata's values of service, fragile, signature_required,
//   insured and temperature_controlled, the keys with few values that ops filter by, as a JSON
//   array in that order (JSON null where a key is absent). A filter on those keys alone, each
//   given a string, number or boolean, matches a package exactly when each value equals its
//   facet: containment of a scalar is equality. Any other filter is counted from the packages.
//   The array costs 0.4 µs a row to build, where an object with the same keys cost 1.3 µs:
//   a scan computes it for the row before and after.
// - The same statement triggers as migration 20261203000100 (their functions replaced, the
//   packages in flight kept as they were): signed deltas per (status, facets), folded every 128th
//   writing statement; `check` proves the sums equal to the full count.
// - Installing it rebuilds the table from the packages under a SHARE ROW EXCLUSIVE lock on
//   packages (writes wait; 10 s at `large`, reads go on).
// - On a Citus coordinator, which keeps no such rollup, this migration changes nothing.

export const config = { transaction: true };

const finals = `('delivered', 'returned', 'cancelled')`;

/** The facets of metadata `m` (src/store/rollups.ts facetsSql says the same, for check and seed). */
const facets = (m: string): string =>
  `jsonb_build_array(${m} -> 'service', ${m} -> 'fragile', ${m} -> 'signature_required', ${m} -> 'insured',
     ${m} -> 'temperature_controlled')`;
const fragile = (m: string): string => `${m} @> '{"fragile": true}'`;

const lastScan = (packageId: string): string =>
  `(select max(e.event_timestamp) from tracking_events e where e.package_id = ${packageId})`;
const dueOf = (packageId: string): string =>
  `(select s.estimated_delivery from shipments s where s.package_id = ${packageId} and s.actual_delivery is null)`;

/** The three trigger functions' bodies, with the status counts split by `split` (facets or fragile). */
function bodies(column: string, split: (m: string) => string): { inserted: string; updated: string; deleted: string } {
  return {
    inserted: `with d as (
         insert into package_status_counts (current_status, ${column}, packages)
         select current_status, ${split('metadata')}, count(*) from inserted_rows group by 1, 2
         returning 1)
       select count(*) into written from d;
       perform package_status_counts_note(written);
       insert into in_flight_packages (package_id, current_status, created_at, last_scan_at, quiet_since, due)
       select n.package_id, n.current_status, n.created_at, l.at, coalesce(l.at, n.created_at), ${dueOf('n.package_id')}
         from inserted_rows n cross join lateral (select ${lastScan('n.package_id')} as at) l
        where n.current_status not in ${finals};`,
    updated: `with d as (
         insert into package_status_counts (current_status, ${column}, packages)
         select current_status, split, sum(n) from (
           select current_status, ${split('metadata')} as split, 1 as n from new_rows
           union all
           select current_status, ${split('metadata')}, -1 from old_rows) d
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
    deleted: `with d as (
         insert into package_status_counts (current_status, ${column}, packages)
         select current_status, ${split('metadata')}, -count(*) from deleted_rows group by 1, 2
         returning 1)
       select count(*) into written from d;
       perform package_status_counts_note(written);
       delete from in_flight_packages f using deleted_rows o where f.package_id = o.package_id;`,
  };
}

/** Replaces the trigger functions and the fold, and refills the table, split by `column`. */
async function splitBy(knex: Knex, column: string, type: string, split: (m: string) => string): Promise<void> {
  const schema = (await knex.raw<{ rows: { name: string }[] }>('select current_schema() as name')).rows[0]?.name ?? 'public';
  const fixed = `security definer set search_path = pg_catalog, "${schema.replaceAll('"', '""')}"`;
  const body = bodies(column, split);
  const previous = column === 'facets' ? 'fragile' : 'facets';
  await runStatements(knex, [
    `lock table packages in share row exclusive mode`,
    `delete from package_status_counts`,
    `alter table package_status_counts drop column ${previous}, add column ${column} ${type} not null`,
    `comment on table package_status_counts is
       'packages per (current_status, ${column}): signed deltas, summed when read (maintained by triggers; proven by shiptrack check)'`,
    `create or replace function package_status_counts_fold() returns void language plpgsql ${fixed} as $$
     begin
       -- One fold at a time; a statement that finds one running leaves the folding to it.
       if pg_try_advisory_xact_lock(hashtext('shiptrack package_status_counts'), 0) then
         with gone as (delete from package_status_counts returning current_status, ${column}, packages)
         insert into package_status_counts (current_status, ${column}, packages)
         select current_status, ${column}, sum(packages) from gone group by 1, 2 having sum(packages) <> 0;
       end if;
     end $$`,
    ...(['inserted', 'updated', 'deleted'] as const).map(
      (kind) =>
        `create or replace function rollups_packages_${kind}() returns trigger language plpgsql ${fixed} as $$
         declare
           written bigint;
         begin
           ${body[kind]}
           return null;
         end $$`,
    ),
    `insert into package_status_counts (current_status, ${column}, packages)
     select current_status, ${split('metadata')}, count(*) from packages group by 1, 2`,
    `analyze package_status_counts`,
  ]);
}

export async function up(knex: Knex): Promise<void> {
  if (await hasCitus(knex)) return;
  await splitBy(knex, 'facets', 'jsonb', facets);
}

export async function down(knex: Knex): Promise<void> {
  if (await hasCitus(knex)) return;
  await splitBy(knex, 'fragile', 'boolean', fragile);
}
