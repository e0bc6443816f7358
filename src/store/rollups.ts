/**
 * The rollups of migrations 20261203000100 and 20261205000100 — packages per (status, metadata
 * facets) and the packages in flight with their latest scan and promise — and of migrations
 * 20261204000400 and 20261205000200 — deliveries per day and state lane, and per day and city
 * lane — and of migration 20261205000300 — scans per facility and day — as the seed rebuilds
 * them after a load with their triggers off, and as `check` recomputes them to prove the
 * maintained ones.
 */

type Raw = (sql: string) => Promise<unknown>;

const finals = `('delivered', 'returned', 'cancelled')`;

/**
 * The metadata keys `package_status_counts` splits by: few values each, and what ops filter by.
 * A package's facets are its metadata's values of these keys as a JSON array in this order (JSON
 * null where a key is absent), as migration 20261205000100 computes them.
 */
export const metadataFacetKeys: readonly string[] = [
  'service',
  'fragile',
  'signature_required',
  'insured',
  'temperature_controlled',
];

/** The facets of the package `alias`'s metadata, as the rollup's triggers compute them. */
export const facetsSql = (alias: string): string =>
  `jsonb_build_array(${metadataFacetKeys.map((k) => `${alias}.metadata -> '${k}'`).join(', ')})`;

/**
 * The condition on `package_status_counts.facets` that admits the packages a containment filter
 * matches, with its bindings; undefined when the rollup cannot count them. It can when each of
 * the filter's keys is a facet given a string, number or boolean: containment of such a value is
 * equality with the metadata's own (numbers compared as numbers), and the filter's keys are all
 * containment compares. `shape` names the facets compared, for a prepared statement's name.
 */
export function facetsCondition(
  containment: Readonly<Record<string, unknown>>,
): { sql: string; bindings: string[]; shape: string } | undefined {
  const entries = Object.entries(containment);
  if (entries.length === 0) return undefined;
  const compared: { index: number; value: string }[] = [];
  for (const [key, value] of entries) {
    const index = metadataFacetKeys.indexOf(key);
    if (index < 0 || !['string', 'number', 'boolean'].includes(typeof value)) return undefined;
    compared.push({ index, value: JSON.stringify(value) });
  }
  compared.sort((a, b) => a.index - b.index);
  return {
    sql: compared.map((c) => `facets -> ${c.index} = ?::jsonb`).join(' and '),
    bindings: compared.map((c) => c.value),
    shape: compared.map((c) => c.index).join('_'),
  };
}

/**
 * What `in_flight_packages` holds for the packages (alias `p`) that `where` admits: the same
 * columns, computed from packages, their events and their shipment.
 */
export const inFlightSql = (where = 'true'): string => `
  select p.package_id, p.current_status, p.created_at, l.at as last_scan_at, coalesce(l.at, p.created_at) as quiet_since,
         (select s.estimated_delivery from shipments s where s.package_id = p.package_id and s.actual_delivery is null) as due
    from packages p
   cross join lateral (select max(e.event_timestamp) as at from tracking_events e where e.package_id = p.package_id) l
   where p.current_status not in ${finals} and ${where}`;

/** The full count that `package_status_counts` sums to. */
export const statusCountsSql = `select current_status, ${facetsSql('p')} as facets, count(*)::bigint as packages
  from packages p group by 1, 2`;

/**
 * The packages (column `package_id`) whose row in `in_flight_packages` differs from what the data
 * says it should hold — missing, extra or stale — among those `packagesWhere` (alias `p`) and
 * `rollupWhere` (the rollup's own columns) admit. No rows when the rollup is exact.
 */
export const inFlightDifferencesSql = (packagesWhere = 'true', rollupWhere = 'true'): string => `
  select coalesce(x.package_id, f.package_id) as package_id
    from (${inFlightSql(packagesWhere)}) x
    full join (select * from in_flight_packages where ${rollupWhere}) f on f.package_id = x.package_id
   where (x.package_id, x.current_status, x.created_at, x.last_scan_at, x.quiet_since, x.due)
         is distinct from (f.package_id, f.current_status, f.created_at, f.last_scan_at, f.quiet_since, f.due)`;

/** The (current_status, facets) groups whose sum in `package_status_counts` differs from the full count. */
export const statusCountsDifferencesSql = `
  select coalesce(x.current_status, c.current_status) as current_status, coalesce(x.facets, c.facets) as facets
    from (${statusCountsSql}) x
    full join (select current_status, facets, sum(packages)::bigint as packages from package_status_counts
                group by 1, 2 having sum(packages) <> 0) c
      on c.current_status = x.current_status and c.facets = x.facets
   where x.packages is distinct from c.packages`;

/**
 * Empties and refills the layout's rollups from the data, in the caller's transaction: on one
 * server the status counts, the packages in flight, the deliveries per lane (by state, by
 * city) and day and the scans per facility and day; on the Citus layout (`distributed`) the
 * packages in flight, the only one it keeps. `truncate` empties them with TRUNCATE, where the
 * caller holds the data's tables already (a seed): a DELETE leaves every old row dead in the
 * table and its indexes until a vacuum, and a seed repeated on one database then grew
 * city_lane_day_counts to 568 MB for 523k rows at `medium`. Otherwise (a repair, while reports
 * read on) with DELETE.
 */
export async function rebuildRollups(raw: Raw, options: { distributed?: boolean; truncate?: boolean } = {}): Promise<void> {
  // Not on Citus, whose in-flight rollup is refilled by each shard group: a DELETE, as before.
  const empty = (table: string): Promise<unknown> =>
    raw(options.truncate === true && options.distributed !== true ? `truncate ${table}` : `delete from ${table}`);
  if (options.distributed === true) {
    await rebuildInFlight(raw, empty);
    return;
  }
  await refill(raw, empty, 'package_status_counts', 'current_status, facets, packages', statusCountsSql);
  await rebuildInFlight(raw, empty);
  for (const rollup of [laneRollups.state, laneRollups.city]) {
    await refill(
      raw,
      empty,
      rollup.table,
      `day, origin, destination, folded, ${laneMeasures.join(', ')}`,
      `select day, origin, destination, true, ${laneMeasures.join(', ')} from (${laneCountsSql(rollup)}) x`,
    );
  }
  const facility = facilityMeasures.join(', ');
  await refill(
    raw,
    empty,
    'facility_day_counts',
    `day, location_id, folded, ${facility}`,
    `select day, location_id, true, ${facility} from (${facilityCountsSql()}) x`,
  );
}

type Empty = (table: string) => Promise<unknown>;

/**
 * Empties `table` and fills its `columns` with the rows of `query`, in the caller's transaction.
 * The query runs as CREATE TABLE AS, which may count in parallel where INSERT … SELECT counts in
 * one process: the scans per facility and day of `large` (80M events) took 9.2 s so, 29 s as an
 * INSERT … SELECT. (A temporary table needs the TEMP privilege on the database, which PUBLIC has
 * unless revoked.)
 */
async function refill(raw: Raw, empty: Empty, table: string, columns: string, query: string): Promise<void> {
  await empty(table);
  await raw(`create temporary table rollup_refill on commit drop as ${query}`);
  await raw(`insert into ${table} (${columns}) select * from rollup_refill`);
  await raw('drop table rollup_refill');
  await raw(`analyze ${table}`);
}

/**
 * Empties and refills the packages in flight (on the Citus layout each shard group refills its
 * own), in the caller's transaction.
 */
async function rebuildInFlight(raw: Raw, empty: Empty): Promise<void> {
  await empty('in_flight_packages');
  await raw(
    `insert into in_flight_packages (package_id, current_status, created_at, last_scan_at, quiet_since, due) ${inFlightSql()}`,
  );
  await raw('analyze in_flight_packages');
}

/**
 * The lateness buckets of `lane_day_counts` (migration 20261204000400) and of `report lanes`: each
 * one's column and its condition on `late_h` (hours late), the last open-ended.
 */
export const laneLateBuckets = [
  ['late_6h', 'late_h > 0 and late_h <= 6'],
  ['late_12h', 'late_h > 6 and late_h <= 12'],
  ['late_24h', 'late_h > 12 and late_h <= 24'],
  ['late_48h', 'late_h > 24 and late_h <= 48'],
  ['late_72h', 'late_h > 48 and late_h <= 72'],
  ['late_over_72h', 'late_h > 72'],
] as const;

/** What `lane_day_counts` sums per (day, origin state, destination state), in order. */
export const laneMeasures = ['delivered', 'on_time', ...laneLateBuckets.map(([column]) => column)] as const;

/** Hours late of a shipment (alias s): negative or zero when on time, as `report lanes` computes it. */
export const lateHoursSql = (alias: string): string =>
  `date_part('epoch', ${alias}.actual_delivery - ${alias}.estimated_delivery) / 3600.0`;

/**
 * A maintained lane rollup: its table, keyed by (UTC day, origin, destination), the label of a
 * location (alias) that its lane ends are, and its check. By state, migration 20261204000400; by city ("city,
 * state"), migration 20261205000200.
 */
export interface LaneRollup {
  table: string;
  label: (alias: string) => string;
  /** The name of the check (`shiptrack check`) that proves it. */
  check: string;
}

export const laneRollups = {
  state: { table: 'lane_day_counts', label: (a: string): string => `${a}.state`, check: 'lane_counts_rollup' },
  city: {
    table: 'city_lane_day_counts',
    label: (a: string): string => `${a}.city || ', ' || ${a}.state`,
    check: 'city_lane_counts_rollup',
  },
} as const satisfies Record<string, LaneRollup>;

/**
 * The full count that a lane rollup sums to: every delivery per (UTC day, origin, destination).
 * The deliveries are counted per pair of numbers, each location's label numbered in order
 * (hashing the labels of a million deliveries takes longer), and named after. Subqueries, not
 * common tables, so the planner knows they are a few hundred rows and hashes them, not the
 * deliveries (1.6 s against 3.0 s at medium).
 */
export const laneCountsSql = (rollup: LaneRollup): string => {
  const numbered = `select location_id, dense_rank() over (order by ${rollup.label('l')})::int as n from locations l`;
  const labels = `select distinct ${rollup.label('l')} as label, dense_rank() over (order by ${rollup.label('l')})::int as n
                    from locations l`;
  return `
  with counted as (
         select (s.actual_delivery at time zone 'UTC')::date as day, o.n as origin, d.n as destination,
                count(*)::bigint as delivered, count(*) filter (where late_h <= 0)::bigint as on_time,
                ${laneLateBuckets.map(([column, condition]) => `count(*) filter (where ${condition})::bigint as ${column}`).join(', ')}
           from (select s.*, ${lateHoursSql('s')} as late_h from shipments s where s.actual_delivery is not null) s
           join (${numbered}) o on o.location_id = s.origin_location_id
           join (${numbered}) d on d.location_id = s.destination_location_id
          group by 1, 2, 3)
  select c.day, o.label as origin, d.label as destination, ${laneMeasures.map((m) => `c.${m}`).join(', ')}
    from counted c join (${labels}) o on o.n = c.origin join (${labels}) d on d.n = c.destination`;
};

/** The (day, origin, destination) keys whose sums in a lane rollup differ from the full count. No rows when exact. */
export const laneCountsDifferencesSql = (rollup: LaneRollup): string => `
  select coalesce(x.day, c.day) as day, coalesce(x.origin, c.origin) as origin, coalesce(x.destination, c.destination) as destination
    from (${laneCountsSql(rollup)}) x
    full join (select day, origin, destination, ${laneMeasures.map((m) => `sum(${m})::bigint as ${m}`).join(', ')}
                 from ${rollup.table} group by 1, 2, 3
               having ${laneMeasures.map((m) => `sum(${m}) <> 0`).join(' or ')}) c
      on c.day = x.day and c.origin = x.origin and c.destination = x.destination
   where (${laneMeasures.map((m) => `x.${m}`).join(', ')}) is distinct from (${laneMeasures.map((m) => `c.${m}`).join(', ')})`;

/** What `facility_day_counts` sums per (UTC day, location), in order. */
export const facilityMeasures = ['scans', 'exceptions', 'failed_attempts'] as const;

/**
 * Every scan among those `where` admits, counted per (UTC day, location): over all of them, the
 * full count that `facility_day_counts` sums to.
 */
export const facilityCountsSql = (where = 'true'): string => `
  select (event_timestamp at time zone 'UTC')::date as day, location_id, count(*)::bigint as scans,
         count(*) filter (where status = 'exception')::bigint as exceptions,
         count(*) filter (where status = 'attempt_fail')::bigint as failed_attempts
    from tracking_events
   where ${where}
   group by 1, 2`;

/** The (day, location) keys whose sums in `facility_day_counts` differ from the full count. No rows when exact. */
export const facilityCountsDifferencesSql = `
  select coalesce(x.day, c.day) as day, coalesce(x.location_id, c.location_id) as location_id
    from (${facilityCountsSql()}) x
    full join (select day, location_id, ${facilityMeasures.map((m) => `sum(${m})::bigint as ${m}`).join(', ')}
                 from facility_day_counts group by 1, 2
               having ${facilityMeasures.map((m) => `sum(${m}) <> 0`).join(' or ')}) c
      on c.day = x.day and c.location_id = x.location_id
   where (${facilityMeasures.map((m) => `x.${m}`).join(', ')}) is distinct from (${facilityMeasures.map((m) => `c.${m}`).join(', ')})`;
