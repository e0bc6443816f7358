import type { DocumentStore, DocumentsTarget } from '../../store/documents/document-store.js';
import type { Database } from '../../store/database.js';
import {
  facilityCountsSql,
  facilityMeasures,
  laneLateBuckets,
  laneMeasures,
  laneRollups,
  lateHoursSql,
} from '../../store/rollups.js';
import {
  note,
  readReport,
  reportResult,
  toNullableNumber,
  type ReportOptions,
  type ReportReader,
  type ReportResult,
  type ReportRow,
} from './report.js';
import { formatNumber, compareText } from '../../domain/units.js';

/** Reports about the network: lanes (origin → destination), facilities and exceptions. */

export type LaneGrouping = 'state' | 'city' | 'location';

// Chosen from this fixed map, never from user text.
const laneLabels: Record<LaneGrouping, (alias: string) => string> = {
  state: laneRollups.state.label,
  city: laneRollups.city.label,
  location: (a) => `${a}.location_name`,
};

/**
 * Buckets of lateness (hours late) drawn as the sparkline of a lane's late deliveries: the labels
 * of the rollup's buckets (laneLateBuckets), in its order.
 */
export const lateBuckets = [
  { label: '≤6h' },
  { label: '6–12h' },
  { label: '12–24h' },
  { label: '1–2d' },
  { label: '2–3d' },
  { label: '>3d' },
] as const;

/** Each lateness bucket as a condition on `late_h` (hours late), in `lateBuckets` order (the rollup's). */
const lateBucketConditions = laneLateBuckets.map(([, condition]) => condition);

/** How late a shipment (alias s) was delivered, in hours: as lane_day_counts buckets it. */
const lateHours = lateHoursSql('s');

interface LaneCountRow {
  origin_group: number;
  destination_group: number;
  shipments: number;
  on_time: number;
}

interface LaneTotalsRow {
  all_lanes: number;
  ranked_lanes: number;
  all_shipments: number;
  all_on_time: number;
}

interface LaneLateRow {
  origin_group: number;
  destination_group: number;
  late_p: [number, number] | null;
  late_max_h: number | null;
  buckets: number[];
}

/** Spans of location ids up to this many are mapped to lane groups by array lookup. */
const denseLocationIdSpan = 100_000;

/**
 * How a delivery's locations become lane groups in SQL: every location gets the number of its
 * group (its state, its city, its name), read once from `locations`. Over a dense id range the
 * number is an array lookup per delivery, which costs less than joining `locations` twice and
 * hashing text (lanes --by city at medium: 190–270 ms → 105–150 ms). The array is bound as a
 * parameter, a constant to the planner, so the scan can still run in parallel. Over a sparse id
 * range, a join with the (location, group) pairs.
 */
function laneGroupSql(groups: readonly { location_id: number; grp: number }[]): {
  /** What to put right after `with`: a common table expression and its comma, or nothing. */
  cte: string;
  origin: string;
  destination: string;
  joins: string;
  /** The bindings of `cte`, `origin` and `destination`, which come first in a query. */
  bindings: unknown[];
} {
  const ids = groups.map((g) => g.location_id);
  const low = ids.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  const span = ids.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY) - low + 1;
  if (groups.length > 0 && span <= denseLocationIdSpan) {
    const byId = Array.from({ length: span }, () => 0);
    for (const g of groups) byId[g.location_id - low] = g.grp;
    return {
      cte: '',
      origin: '(?::int[])[s.origin_location_id - ?::int]',
      destination: '(?::int[])[s.destination_location_id - ?::int]',
      joins: '',
      bindings: [byId, low - 1, byId, low - 1],
    };
  }
  return {
    cte: 'lane_map as (select * from unnest(?::int[], ?::int[]) as m(location_id, grp)),',
    origin: 'om.grp',
    destination: 'dm.grp',
    joins: `join lane_map om on om.location_id = s.origin_location_id
            join lane_map dm on dm.location_id = s.destination_location_id`,
    bindings: [ids, groups.map((g) => g.grp)],
  };
}

/**
 * Every location's lane group: its label (a state, "city, state", a location's name), numbered
 * 1…n in the labels' byte order, so that comparing numbers ranks lanes as comparing their labels
 * would, and group g's label is labels[g - 1].
 */
function laneGroups(reader: ReportReader, by: LaneGrouping): Promise<{ location_id: number; grp: number; label: string }[]> {
  return reader.rows(
    'lane groups',
    `select location_id, dense_rank() over (order by label collate "C")::int as grp, label
       from (select location_id, ${laneLabels[by]('l')} as label from locations l) l`,
  );
}

/** A listed lane, with its lateness when it has late deliveries. */
interface ListedLane {
  origin: string;
  destination: string;
  shipments: number;
  on_time: number;
  late: { late_p: [number, number] | null; late_max_h: number | null; buckets: number[] } | undefined;
}

/**
 * Worst lanes first (alias prefix `p`): by on-time rate, then busiest, then by name. The listed
 * lanes are the first of this order (a top-N sort), and put in it again once joined with the
 * totals: numbering every ranked lane to order by the number sorted all of them (29k by city at
 * `large`, 13 ms).
 */
const worstFirst = (p: string): string =>
  `${p}on_time::float8 / ${p}shipments, ${p}shipments desc, ${p}origin collate "C", ${p}destination collate "C"`;

/** What both ways of counting lanes return. */
interface LanesRead {
  totals: LaneTotalsRow | undefined;
  listed: ListedLane[];
  /** The window's late deliveries per lateness bucket. */
  buckets: number[];
}

type LanesOptions = ReportOptions & { since: Date; by: LaneGrouping; minShipments: number; limit: number };

const dayMs = 86_400_000;

const laneMeasureList = laneMeasures.join(', ');

/**
 * Lanes by state or by city from their maintained counts (`lane_day_counts`, migration
 * 20261204000400; `city_lane_day_counts`, 20261205000200): the window's whole UTC days from the
 * counts, its partial days at either end from the shipments delivered then. The lateness
 * percentiles of the listed lanes come from their late deliveries, read per (origin,
 * destination) location pair through shipments_late_lane_idx.
 */
async function readLanesFromRollup(
  reader: ReportReader,
  options: LanesOptions & { by: keyof typeof laneRollups },
): Promise<LanesRead> {
  const rollup = laneRollups[options.by];
  const since = options.since.getTime();
  const now = options.now.getTime();
  // Whole days [firstDay, lastDay) from the rollup; [since, firstDay) and [lastDay, now) raw.
  let firstDay = Math.ceil(since / dayMs) * dayMs;
  let lastDay = Math.floor(now / dayMs) * dayMs;
  if (firstDay >= lastDay) {
    firstDay = now;
    lastDay = now;
  }
  const bucketSums = laneLateBuckets.map(([column]) => `sum(${column})::int`);
  const lateFlags = lateBucketConditions.map((condition, i) => `count(*) filter (where ${condition}) as l${i}`).join(', ');
  // The partial days are counted per pair of integer groups (as the count from the shipments
  // is) and named after: a day at `large` is 160k deliveries. A window of whole days (`--as-of`
  // a date) has none.
  const partial = options.since.getTime() < firstDay || lastDay < options.now.getTime();
  const groups = partial ? await laneGroups(reader, options.by) : [];
  const map = laneGroupSql(groups);
  const labels: string[] = [];
  for (const g of groups) labels[g.grp - 1] = g.label;
  // A dense map's bindings are in each edge's select list; a sparse one's in its common table.
  const dense = map.cte === '';
  const edgeBindings = (from: Date, to: Date): unknown[] => [...(dense ? map.bindings : []), from, to];
  const edge = `select ${map.origin} as og, ${map.destination} as dg, ${lateHours} as late_h
                  from shipments s ${map.joins}
                 where s.actual_delivery >= ? and s.actual_delivery < ?`;
  const edgeRows = partial
    ? `union all
           select (?::text[])[og], (?::text[])[dg], delivered, on_time, ${lateBuckets.map((_, i) => `l${i}`).join(', ')}
             from edges`
    : '';
  if (options.by === 'city') {
    // A 30-day window at `large` is 821k city-day rows to hash into 32k lanes: in the default
    // 4 MB of work_mem the aggregate spills to disk (250 ms against 185 ms in memory).
    await reader.rows(
      'memory for the lanes',
      `select set_config('work_mem', '64MB', true) where pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024`,
    );
  }
  const counted = await reader.rows<
    LaneTotalsRow & { buckets: number[] } & (
        | { origin: string; destination: string; shipments: number; on_time: number; lane_buckets: number[] }
        | { origin: null; destination: null; shipments: null; on_time: null; lane_buckets: null }
      )
  >(
    'deliveries per lane',
    `with ${
      partial
        ? `${map.cte}
     edges as (
       select og, dg, count(*) as delivered, count(*) filter (where late_h <= 0) as on_time, ${lateFlags}
         from (${edge} union all ${edge}) e
        group by og, dg),`
        : ''
    }
     lanes as (
       select origin, destination, sum(delivered)::int as shipments, sum(on_time)::int as on_time,
              ${bucketSums.map((b, i) => `${b} as b${i}`).join(', ')}
         from (
           select origin, destination, ${laneMeasureList}
             from ${rollup.table}
            where day >= ?::timestamptz at time zone 'UTC' and day < ?::timestamptz at time zone 'UTC'
           ${edgeRows}) x
        group by origin, destination
       having sum(delivered) <> 0),
     totals as (
       select count(*)::int as all_lanes, count(*) filter (where shipments >= ?)::int as ranked_lanes,
              coalesce(sum(shipments), 0)::bigint as all_shipments, coalesce(sum(on_time), 0)::bigint as all_on_time,
              array[${lateBuckets.map((_, i) => `coalesce(sum(b${i}), 0)::int`).join(', ')}] as buckets
         from lanes),
     listed as (
       select origin, destination, shipments, on_time, array[${lateBuckets.map((_, i) => `b${i}`).join(', ')}] as lane_buckets
         from lanes
        where shipments >= ?
        order by ${worstFirst('')}
        limit ?)
     select t.*, l.origin, l.destination, l.shipments, l.on_time, l.lane_buckets
       from totals t left join listed l on true
      order by ${worstFirst('l.')}`,
    [
      ...(partial
        ? [
            ...(dense ? [] : map.bindings),
            ...edgeBindings(options.since, new Date(firstDay)),
            ...edgeBindings(new Date(lastDay), options.now),
          ]
        : []),
      new Date(firstDay),
      new Date(lastDay),
      ...(partial ? [labels, labels] : []),
      options.minShipments,
      options.minShipments,
      options.limit,
    ],
  );
  const first = counted[0];
  const listedRows = counted.filter((r): r is typeof r & { origin: string } => r.origin !== null);
  // Each listed lane's late deliveries, one range of shipments_late_lane_idx per pair of its
  // origin's and destination's locations.
  const late =
    listedRows.length === 0
      ? []
      : await reader.rows<{ lane: number; late_p: [number, number]; late_max_h: number }>(
          'lateness of the listed lanes',
          `select (l.lane - 1)::int as lane, percentile_cont(array[0.5, 0.9]) within group (order by x.late_h) as late_p,
                  max(x.late_h) as late_max_h
             from unnest(?::text[], ?::text[]) with ordinality as l(origin, destination, lane)
             join locations o on ${rollup.label('o')} = l.origin
             join locations d on ${rollup.label('d')} = l.destination
            cross join lateral (
              select ${lateHours} as late_h from shipments s
               where s.origin_location_id = o.location_id and s.destination_location_id = d.location_id
                 and s.actual_delivery > s.estimated_delivery and s.actual_delivery >= ? and s.actual_delivery < ?) x
            group by l.lane`,
          [listedRows.map((r) => r.origin), listedRows.map((r) => r.destination), options.since, options.now],
        );
  const lateByLane = new Map(late.map((r) => [r.lane, r]));
  return {
    totals: first === undefined ? undefined : first,
    buckets: first?.buckets ?? [],
    listed: listedRows.map((r, i) => {
      const found = lateByLane.get(i);
      const lateCount = r.lane_buckets.reduce((a, b) => a + b, 0);
      return {
        origin: r.origin,
        destination: r.destination,
        shipments: r.shipments,
        on_time: r.on_time,
        late:
          lateCount === 0 && found === undefined
            ? undefined
            : { late_p: found?.late_p ?? null, late_max_h: found?.late_max_h ?? null, buckets: r.lane_buckets },
      };
    }),
  };
}

/**
 * On-time rate and lateness per lane for shipments delivered since `since`, worst lanes first.
 * Percentiles are of the late shipments only (how late, when late); a lane needs
 * `minShipments` deliveries to be ranked. By state or city on one server the counts come from
 * the maintained `lane_day_counts` or `city_lane_day_counts`; by location, and on Citus, from the
 * shipments (`fromShipments` forces that, to compare the two).
 */
export async function runLanesReport(db: Database, options: LanesOptions & { fromShipments?: boolean }): Promise<ReportResult> {
  // Deliveries are counted per pair of integer lane groups and labelled afterwards: building a
  // label string, or hashing the text columns, for each of the ~500k deliveries of a 30-day
  // window (medium) is most of the query's time.
  const bucketSql = lateBucketConditions.map((condition) => `count(*) filter (where ${condition})::int`).join(', ');
  const inWindow = 's.actual_delivery >= ? and s.actual_delivery < ?';
  const read = await readReport(db, options, async (reader): Promise<LanesRead> => {
    // Known once the reader holds a connection (the pool learns the layout on its first one).
    const by = options.by;
    if (by !== 'location' && !reader.distributed && options.fromShipments !== true) {
      return readLanesFromRollup(reader, { ...options, by });
    }
    const groups = await laneGroups(reader, options.by);
    const labels: string[] = [];
    for (const g of groups) labels[g.grp - 1] = g.label;
    const label = (group: number): string => labels[group - 1] ?? String(group);
    const map = laneGroupSql(groups);
    // The planner cannot estimate how many lanes the array lookups make (it guesses 700k where
    // there are 2k at large), so it judges per-worker partial counts not worth it and counts
    // 4.9M deliveries in one process: 1.56 s against 1.16 s in parallel. Parallel plans cost
    // nothing extra here, for this report's transaction only.
    await reader.rows(
      'parallel counting',
      `select set_config('parallel_setup_cost', '0', true), set_config('parallel_tuple_cost', '0', true)`,
    );
    // Counting is a hash aggregate over the window. The lanes are ranked where they were counted:
    // only the totals and the listed lanes travel (22k lanes by city at medium, 8k of them ranked).
    // Only the late minority is sorted for percentiles, and only for the lanes listed.
    const counted = await reader.rows<LaneTotalsRow & (LaneCountRow | { [K in keyof LaneCountRow]: null })>(
      'deliveries per lane',
      `with ${map.cte}
            lanes as (
              select ${map.origin} as origin_group, ${map.destination} as destination_group, count(*)::int as shipments,
                     count(*) filter (where s.actual_delivery <= s.estimated_delivery)::int as on_time
                from shipments s ${map.joins}
               where ${inWindow}
               group by 1, 2),
            totals as (
              select count(*)::int as all_lanes, count(*) filter (where shipments >= ?)::int as ranked_lanes,
                     coalesce(sum(shipments), 0)::bigint as all_shipments, coalesce(sum(on_time), 0)::bigint as all_on_time
                from lanes),
            listed as (
              select origin_group, destination_group, shipments, on_time
                from lanes
               where shipments >= ?
               order by on_time::float8 / shipments, shipments desc, origin_group, destination_group
               limit ?)
       select t.*, l.origin_group, l.destination_group, l.shipments, l.on_time
         from totals t left join listed l on true
        order by l.on_time::float8 / l.shipments, l.shipments desc, l.origin_group, l.destination_group`,
      [...map.bindings, options.since, options.now, options.minShipments, options.minShipments, options.limit],
    );
    const totals = counted[0];
    const listed = counted
      .filter((r): r is LaneTotalsRow & LaneCountRow => r.origin_group !== null)
      .map((r) => ({
        ...r,
        origin: label(r.origin_group),
        destination: label(r.destination_group),
      }));
    // One pass over the late deliveries (a minority, read from their partial index) serves the
    // listed lanes' percentiles and every lane's buckets: `late` is read twice, so it is
    // computed once. The overall row is the one without a lane.
    const late = await reader.rows<LaneLateRow | ({ [K in keyof LaneLateRow]: null } & { buckets: number[] })>(
      'lateness',
      `with ${map.cte}
            late as materialized (
              select ${map.origin} as origin_group, ${map.destination} as destination_group, ${lateHours} as late_h
                from shipments s ${map.joins}
               where ${inWindow} and s.actual_delivery > s.estimated_delivery)
       select origin_group, destination_group,
              percentile_cont(array[0.5, 0.9]) within group (order by late_h) as late_p,
              max(late_h) as late_max_h,
              array[${bucketSql}] as buckets
         from late
        where (origin_group, destination_group) in (select * from unnest(?::int[], ?::int[]))
        group by origin_group, destination_group
       union all
       select null, null, null, null, array[${bucketSql}] from late`,
      [...map.bindings, options.since, options.now, listed.map((r) => r.origin_group), listed.map((r) => r.destination_group)],
    );
    const overall = late.find((r) => r.origin_group === null);
    const lateByLane = new Map(
      late.filter((r): r is LaneLateRow => r.origin_group !== null).map((r) => [`${r.origin_group}:${r.destination_group}`, r]),
    );
    return {
      totals,
      listed: listed.map((r) => ({
        origin: r.origin,
        destination: r.destination,
        shipments: r.shipments,
        on_time: r.on_time,
        late: lateByLane.get(`${r.origin_group}:${r.destination_group}`),
      })),
      buckets: overall?.buckets ?? [],
    };
  });
  const totals = read.value.totals;
  const noLate = lateBuckets.map(() => 0);
  const rows: ReportRow[] = read.value.listed.map(({ late, ...r }) => {
    return {
      origin: r.origin,
      destination: r.destination,
      shipments: r.shipments,
      on_time: r.on_time,
      on_time_rate: r.on_time / r.shipments,
      late: r.shipments - r.on_time,
      late_p50_hours: toNullableNumber(late?.late_p?.[0]),
      late_p90_hours: toNullableNumber(late?.late_p?.[1]),
      late_max_hours: toNullableNumber(late?.late_max_h),
      lateness: late?.buckets ?? noLate,
    };
  });
  const shipments = totals?.all_shipments ?? 0;
  const onTime = totals?.all_on_time ?? 0;
  const buckets = lateBuckets.map((_, i) => read.value.buckets[i] ?? 0);
  return reportResult(
    {
      report: 'lanes',
      title: `Lanes by ${options.by}: on-time rate of deliveries since ${options.since.toISOString().slice(0, 10)}, worst first`,
      parameters: {
        since: options.since.toISOString(),
        by: options.by,
        min_shipments: options.minShipments,
        limit: options.limit,
      },
      tables: [
        {
          name: 'lanes',
          title: 'Lanes',
          columns: [
            { key: 'origin', header: 'origin', kind: 'text' },
            { key: 'destination', header: 'destination', kind: 'text' },
            { key: 'shipments', header: 'delivered', kind: 'integer', priority: 2 },
            { key: 'on_time_rate', header: 'on time', kind: 'percent' },
            { key: 'late', header: 'late', kind: 'integer', priority: 3 },
            { key: 'late_p50_hours', header: 'late p50', kind: 'hours', priority: 2 },
            { key: 'late_p90_hours', header: 'late p90', kind: 'hours', priority: 3 },
            { key: 'late_max_hours', header: 'late max', kind: 'hours', priority: 4 },
            { key: 'lateness', header: 'how late', kind: 'spark', priority: 3 },
          ],
          rows,
          totals: {
            origin: 'all lanes',
            destination: '',
            shipments,
            on_time_rate: shipments === 0 ? null : onTime / shipments,
            late: shipments - onTime,
            lateness: buckets,
          },
          caption: `${formatNumber(totals?.ranked_lanes ?? 0)} of ${formatNumber(totals?.all_lanes ?? 0)} lanes have at least ${options.minShipments} ${options.minShipments === 1 ? 'delivery' : 'deliveries'} (--min-shipments); showing ${rows.length}`,
        },
      ],
      notes: [note('late_deliveries_only', { buckets: lateBuckets.map((b) => b.label).join(', ') })],
    },
    options,
    read,
  );
}

interface FacilityCountRow {
  location_id: number;
  scans: number;
  exceptions: number;
  failed_attempts: number;
}

interface FacilityDetailRow {
  location_id: number;
  location_name: string;
  city: string;
  state: string;
  location_type: string;
  packages: number;
  dwell_p50_h: number | null;
  dwell_p90_h: number | null;
  hours: number[];
}

export type FacilitySort = 'scans' | 'exceptions';

/**
 * The busiest facilities of one UTC day: scans, packages, exceptions and failed attempts,
 * scans per hour, and the dwell (time until the package's next scan, anywhere).
 */
export async function runFacilitiesReport(
  db: Database,
  options: ReportOptions & {
    day: { start: Date; end: Date; label: string };
    sort: FacilitySort;
    limit: number;
    /** Count from the events even where the maintained counts are (to compare the two). */
    fromEvents?: boolean;
  },
): Promise<ReportResult> {
  const read = await readReport(db, options, async (reader) => {
    // On one server from the maintained facility_day_counts (migration 20261205000300): the day is
    // a thousand rows there, 1.37M scans at `large`. On Citus, from the shards' events.
    const days =
      reader.distributed || options.fromEvents === true
        ? `(${facilityCountsSql('event_timestamp >= ? and event_timestamp < ?')}) x`
        : `facility_day_counts where day >= ?::timestamptz at time zone 'UTC' and day < ?::timestamptz at time zone 'UTC'`;
    const counts = await reader.rows<FacilityCountRow>(
      'scans per facility',
      `select location_id, ${facilityMeasures.map((m) => `sum(${m})::bigint as ${m}`).join(', ')}
         from ${days}
        group by location_id
       having sum(scans) <> 0`,
      [options.day.start, options.day.end],
    );
    const rank = (f: FacilityCountRow): number[] =>
      options.sort === 'exceptions' ? [f.exceptions + f.failed_attempts, f.scans] : [f.scans, f.exceptions + f.failed_attempts];
    const top = [...counts]
      .sort((a, b) => {
        const [a1 = 0, a2 = 0] = rank(a);
        const [b1 = 0, b2 = 0] = rank(b);
        return b1 - a1 || b2 - a2 || a.location_id - b.location_id;
      })
      .slice(0, options.limit);
    // Dwell needs each scan's successor: an index probe per scan, so only for the listed
    // facilities. On one server the scans are probed in package order, each probe reading the
    // index pages the one before read: 137k scans at `large` in 400 ms, against 500 ms in the
    // order of the day. On Citus the scans stay where they are, on their shards.
    const scans = 'event_timestamp >= ? and event_timestamp < ? and location_id = any(?::int[])';
    const details = await reader.rows<FacilityDetailRow>(
      'packages, dwell and hours at the listed facilities',
      `with ${
        reader.distributed
          ? `scans as (select * from tracking_events where ${scans})`
          : `scans as materialized (
               select location_id, package_id, event_timestamp from tracking_events where ${scans}
                order by package_id, event_timestamp)`
      }
       select l.location_id, l.location_name, l.city, l.state, l.location_type, x.packages, x.dwell_p50_h, x.dwell_p90_h, x.hours
         from (
           select e.location_id, count(distinct e.package_id)::bigint as packages,
                  percentile_cont(0.5) within group (order by date_part('epoch', n.next_at - e.event_timestamp) / 3600.0) as dwell_p50_h,
                  percentile_cont(0.9) within group (order by date_part('epoch', n.next_at - e.event_timestamp) / 3600.0) as dwell_p90_h,
                  array_agg(extract(hour from e.event_timestamp at time zone 'UTC')::int) as hours
             from scans e
             left join lateral (
               select x.event_timestamp as next_at from tracking_events x
                where x.package_id = e.package_id and x.event_timestamp > e.event_timestamp
                order by x.event_timestamp limit 1) n on true
            group by e.location_id) x
         join locations l on l.location_id = x.location_id`,
      [options.day.start, options.day.end, top.map((f) => f.location_id)],
    );
    return { counts, top, details };
  });
  const { counts, top, details } = read.value;
  const detailBy = new Map(details.map((d) => [d.location_id, d]));
  const rows: ReportRow[] = top.map((f) => {
    const d = detailBy.get(f.location_id);
    const hourly = Array.from({ length: 24 }, () => 0);
    for (const h of d?.hours ?? []) hourly[h] = (hourly[h] ?? 0) + 1;
    return {
      location: d?.location_name ?? String(f.location_id),
      city: d === undefined ? '' : `${d.city}, ${d.state}`,
      type: d?.location_type ?? '',
      scans: f.scans,
      packages: d?.packages ?? 0,
      exceptions: f.exceptions,
      failed_attempts: f.failed_attempts,
      dwell_p50_hours: toNullableNumber(d?.dwell_p50_h),
      dwell_p90_hours: toNullableNumber(d?.dwell_p90_h),
      scans_per_hour: hourly,
    };
  });
  const sum = (pick: (f: FacilityCountRow) => number): number => counts.reduce((s, f) => s + pick(f), 0);
  return reportResult(
    {
      report: 'facilities',
      title: `Facilities on ${options.day.label} (UTC), by ${options.sort === 'exceptions' ? 'exceptions' : 'scans'}`,
      parameters: { day: options.day.label, sort: options.sort, limit: options.limit },
      tables: [
        {
          name: 'facilities',
          title: 'Facilities',
          columns: [
            { key: 'location', header: 'facility', kind: 'text' },
            { key: 'city', header: 'city', kind: 'text', priority: 4 },
            { key: 'type', header: 'type', kind: 'text', priority: 4 },
            { key: 'scans', header: 'scans', kind: 'integer' },
            { key: 'packages', header: 'packages', kind: 'integer', priority: 2 },
            { key: 'exceptions', header: 'exceptions', kind: 'integer', priority: 3 },
            { key: 'failed_attempts', header: 'failed attempts', kind: 'integer', priority: 3 },
            { key: 'dwell_p50_hours', header: 'dwell p50', kind: 'hours', priority: 2 },
            { key: 'dwell_p90_hours', header: 'dwell p90', kind: 'hours', priority: 3 },
            { key: 'scans_per_hour', header: 'scans per hour, 00–23 UTC', kind: 'spark', priority: 3 },
          ],
          rows,
          totals: {
            location: 'all facilities',
            scans: sum((f) => f.scans),
            exceptions: sum((f) => f.exceptions),
            failed_attempts: sum((f) => f.failed_attempts),
          },
          caption: `showing ${rows.length} of ${formatNumber(counts.length)} facilities with scans that day`,
        },
      ],
      notes: [note('dwell')],
    },
    options,
    read,
  );
}

interface ExceptionRow {
  event_id: number;
  location_id: number;
  status: 'exception' | 'attempt_fail';
  package_id: number;
}

type ExceptionEvent = ExceptionRow & { location_name: string; city: string; state: string };

/** What the exceptions report shows, counted in SQL or from the events. */
interface ExceptionCounts {
  facilities: {
    name: string;
    city: string;
    state: string;
    exceptions: number;
    failed: number;
    packages: number;
    topReason: string | null;
    topCount: number;
  }[];
  reasons: { reason: string; exceptions: number; failed: number }[];
  events: number;
  exceptions: number;
  /** Events whose reason was recorded. */
  recorded: number;
}

interface ExceptionCountRow {
  /** A facility, a reason, or a reason's count at a facility. */
  kind: 'facility' | 'reason' | 'facility_reason';
  location_id: number | null;
  /** The facility's name, or the reason. */
  name: string;
  city: string | null;
  state: string | null;
  /** For `facility_reason`: the events with that reason there. */
  exceptions: number;
  failed: number | null;
  packages: number | null;
  recorded: number;
}

/** The reason of event `e` in its raw scan, as reasonsFromDocuments reads it: text only. */
const reasonOfEvent = `(select case when coalesce(r.payload -> 'reason', 'null') <> 'null'
                             then case when jsonb_typeof(r.payload -> 'reason') = 'string' then r.payload ->> 'reason' end
                             else case when jsonb_typeof(r.payload -> 'carrier_status_code') = 'string'
                                       then r.payload ->> 'carrier_status_code' end end
                          from doc_raw_scans r where r.event_id = e.event_id)`;

/**
 * The counts in one query over the problem events (`problems`: their FROM and WHERE), each with
 * its reason probed in the raw scans of this database: a row per facility, per reason, and per
 * reason at a facility (its most frequent one is picked in JavaScript, ties broken as the other
 * path breaks them).
 */
const countsInDatabase = (problems: string): string => `
  with e as materialized (select e.location_id, e.status, e.package_id, ${reasonOfEvent} as reason ${problems})
  select 'facility' as kind, e.location_id, l.location_name as name, l.city, l.state,
         count(*) filter (where e.status = 'exception') as exceptions, count(*) filter (where e.status = 'attempt_fail') as failed,
         count(distinct e.package_id) as packages, count(e.reason) as recorded
    from e join locations l on l.location_id = e.location_id
   group by e.location_id, l.location_name, l.city, l.state
  union all
  select 'reason', null, coalesce(reason, 'not recorded'), null, null,
         count(*) filter (where status = 'exception'), count(*) filter (where status = 'attempt_fail'), null, 0
    from e group by 3
  union all
  select 'facility_reason', location_id, reason, null, null, count(*), null, null, 0
    from e where reason is not null group by location_id, reason`;

/** The most frequent reason, ties to the first by name; null when none was recorded. */
function topReason(counts: ReadonlyMap<string, number>): [string, number] | undefined {
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]))[0];
}

function countsFromRows(rows: readonly ExceptionCountRow[]): ExceptionCounts {
  const facilities = rows.filter((r) => r.kind === 'facility');
  const reasons = rows.filter((r) => r.kind === 'reason');
  const reasonsAt = new Map<number, Map<string, number>>();
  for (const r of rows) {
    if (r.kind !== 'facility_reason' || r.location_id === null) continue;
    const at = reasonsAt.get(r.location_id) ?? new Map<string, number>();
    at.set(r.name, Number(r.exceptions));
    reasonsAt.set(r.location_id, at);
  }
  const sum = (list: readonly ExceptionCountRow[], key: 'exceptions' | 'failed' | 'recorded'): number =>
    list.reduce((total, r) => total + Number(r[key]), 0);
  return {
    facilities: facilities.map((f) => {
      const top = topReason(reasonsAt.get(f.location_id ?? 0) ?? new Map());
      return {
        name: f.name,
        city: f.city ?? '',
        state: f.state ?? '',
        exceptions: Number(f.exceptions),
        failed: Number(f.failed),
        packages: Number(f.packages),
        topReason: top?.[0] ?? null,
        topCount: top?.[1] ?? 0,
      };
    }),
    reasons: reasons.map((r) => ({ reason: r.name, exceptions: Number(r.exceptions), failed: Number(r.failed) })),
    events: sum(facilities, 'exceptions') + sum(facilities, 'failed'),
    exceptions: sum(facilities, 'exceptions'),
    recorded: sum(facilities, 'recorded'),
  };
}

/** The same counts from the events and their reasons looked up elsewhere (a document store). */
function countEvents(events: readonly ExceptionEvent[], reasons: ReadonlyMap<number, string>): ExceptionCounts {
  const byFacility = new Map<
    number,
    {
      name: string;
      city: string;
      state: string;
      exceptions: number;
      failed: number;
      packages: Set<number>;
      reasons: Map<string, number>;
    }
  >();
  const byReason = new Map<string, { exceptions: number; failed: number }>();
  for (const e of events) {
    const f = byFacility.get(e.location_id) ?? {
      name: e.location_name,
      city: e.city,
      state: e.state,
      exceptions: 0,
      failed: 0,
      packages: new Set<number>(),
      reasons: new Map<string, number>(),
    };
    byFacility.set(e.location_id, f);
    if (e.status === 'exception') f.exceptions += 1;
    else f.failed += 1;
    f.packages.add(e.package_id);
    const reason = reasons.get(e.event_id) ?? 'not recorded';
    if (reason !== 'not recorded') f.reasons.set(reason, (f.reasons.get(reason) ?? 0) + 1);
    const r = byReason.get(reason) ?? { exceptions: 0, failed: 0 };
    byReason.set(reason, r);
    if (e.status === 'exception') r.exceptions += 1;
    else r.failed += 1;
  }
  return {
    facilities: [...byFacility.values()].map((f) => {
      const top = topReason(f.reasons);
      return { ...f, packages: f.packages.size, topReason: top?.[0] ?? null, topCount: top?.[1] ?? 0 };
    }),
    reasons: [...byReason.entries()].map(([reason, r]) => ({ reason, ...r })),
    events: events.length,
    exceptions: events.filter((e) => e.status === 'exception').length,
    recorded: events.filter((e) => reasons.has(e.event_id)).length,
  };
}

/** Where the reason for an exception comes from: the raw scan documents (DOMAIN §4). */
export type ReasonLookup = (eventIds: readonly number[]) => Promise<Map<number, string>>;

/**
 * Reasons read from the raw scans of those events, 5,000 ids a query: the scanner's `reason`,
 * or a partner carrier's own status code. `store` is opened only when there is something to look up.
 */
export function reasonsFromDocuments(store: () => Promise<DocumentStore>): ReasonLookup {
  return async (eventIds) => {
    const reasons = new Map<number, string>();
    if (eventIds.length === 0) return reasons;
    const documents = await store();
    for (let i = 0; i < eventIds.length; i += 5000) {
      for (const doc of await documents.findRawScansByEventIds(eventIds.slice(i, i + 5000))) {
        const reason = doc.payload.reason ?? doc.payload.carrier_status_code;
        if (doc.eventId !== null && typeof reason === 'string') reasons.set(doc.eventId, reason);
      }
    }
    return reasons;
  };
}

/**
 * Where `report exceptions` reads reasons for the configured document store: from the raw scans
 * in this database, in the same query, when documents are kept in PostgreSQL; else (MongoDB) a
 * lookup in the document store, opened only when there is something to look up.
 */
export function reasonSource(
  documentsTarget: DocumentsTarget,
  documents: () => Promise<DocumentStore>,
): ReasonLookup | 'database' {
  return documentsTarget === 'postgres' ? 'database' : reasonsFromDocuments(documents);
}

/** Exceptions and failed delivery attempts since `since`, by facility and by reason. */
export async function runExceptionsReport(
  db: Database,
  options: ReportOptions & {
    since: Date;
    limit: number;
    /**
     * Where the reasons come from: a lookup in the document store, or `'database'` when the raw
     * scans are the JSONB table of this database (then counted by the same query, in the same
     * snapshot, and only the counts leave the server).
     */
    reasons?: ReasonLookup | 'database';
  },
): Promise<ReportResult> {
  const window = [options.since, options.now];
  // On Citus the raw scans stay on the coordinator while the events are spread over the workers:
  // one query cannot join them, so the reasons are looked up by event id afterwards.
  const reasons =
    options.reasons === 'database' && db.distributed === true
      ? reasonsFromDocuments(async () => (await import('../../store/documents/postgres.js')).createPgDocumentStore(db.knex))
      : options.reasons;
  const problems = `from tracking_events e
          where e.status in ('exception', 'attempt_fail') and e.event_timestamp >= ? and e.event_timestamp < ?`;
  const read = await readReport(
    db,
    options,
    async (reader): Promise<ExceptionCounts | { events: ExceptionEvent[] }> => {
      if (reasons === 'database') {
        const rows = await reader.rows<ExceptionCountRow>(
          'exceptions by facility and reason',
          countsInDatabase(problems),
          window,
        );
        return countsFromRows(rows);
      }
      const events = await reader.rows<ExceptionEvent>(
        'exception events',
        `select e.event_id, e.location_id, e.status, e.package_id, l.location_name, l.city, l.state
           ${problems.replace('from tracking_events e', 'from tracking_events e join locations l on l.location_id = e.location_id')}`,
        window,
      );
      return { events };
    },
    { single: true },
  );
  const counts =
    'facilities' in read.value
      ? read.value
      : countEvents(
          read.value.events,
          reasons === undefined || reasons === 'database'
            ? new Map<number, string>()
            : await reasons(read.value.events.map((e) => e.event_id)),
        );
  const facilityRows: ReportRow[] = counts.facilities
    .map((f) => ({
      location: f.name,
      city: `${f.city}, ${f.state}`,
      exceptions: f.exceptions,
      failed_attempts: f.failed,
      total: f.exceptions + f.failed,
      packages: f.packages,
      top_reason: f.topReason === null ? null : `${f.topReason} (${f.topCount})`,
    }))
    .sort((a, b) => b.total - a.total || compareText(String(a.location), String(b.location)));
  const reasonRows: ReportRow[] = counts.reasons
    .map((r) => ({ reason: r.reason, exceptions: r.exceptions, failed_attempts: r.failed, total: r.exceptions + r.failed }))
    .sort(
      (a, b) =>
        (a.reason === 'not recorded' ? 1 : 0) - (b.reason === 'not recorded' ? 1 : 0) ||
        b.total - a.total ||
        compareText(a.reason, b.reason),
    )
    .map((r) => ({ ...r, share: counts.events === 0 ? 0 : r.total / counts.events }));
  const { exceptions, recorded } = counts;
  return reportResult(
    {
      report: 'exceptions',
      title: `Exceptions and failed attempts since ${options.since.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      parameters: { since: options.since.toISOString(), limit: options.limit },
      tables: [
        {
          name: 'reasons',
          title: 'By reason',
          columns: [
            { key: 'reason', header: 'reason', kind: 'text' },
            { key: 'exceptions', header: 'exceptions', kind: 'integer' },
            { key: 'failed_attempts', header: 'failed attempts', kind: 'integer' },
            { key: 'share', header: 'share', kind: 'percent', priority: 2 },
            { key: 'share_bar', header: '', kind: 'bar', of: 'share', priority: 3 },
          ],
          rows: reasonRows,
          totals: {
            reason: 'total',
            exceptions,
            failed_attempts: counts.events - exceptions,
            share: counts.events === 0 ? 0 : 1,
          },
        },
        {
          name: 'facilities',
          title: 'By facility, most first',
          columns: [
            { key: 'location', header: 'facility', kind: 'text' },
            { key: 'city', header: 'city', kind: 'text', priority: 3 },
            { key: 'exceptions', header: 'exceptions', kind: 'integer' },
            { key: 'failed_attempts', header: 'failed attempts', kind: 'integer' },
            { key: 'packages', header: 'packages', kind: 'integer', priority: 2 },
            { key: 'top_reason', header: 'top reason', kind: 'text', priority: 2 },
          ],
          rows: facilityRows.slice(0, options.limit),
          caption: `showing ${Math.min(options.limit, facilityRows.length)} of ${formatNumber(facilityRows.length)} facilities`,
        },
      ],
      notes: [note('reasons_recorded', { recorded, events: counts.events })],
    },
    options,
    read,
  );
}
