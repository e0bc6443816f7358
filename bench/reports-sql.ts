/**
 * The limit each report is measured against (`npm run bench:reports -- --compare-sql`): the same
 * answer — every table, its totals and buckets — written by hand as the best SQL we know for the
 * schema as it stands (its indexes and rollups included), run on a bare `pg` client in autocommit
 * with nothing around it. Each function returns the rows it read, so a run can be checked for
 * having found something; what the tool adds over these (its transaction and snapshot, knex,
 * shaping the rows) is the ratio the benchmark reports.
 */
import type pg from 'pg';

export interface SqlContext {
  now: Date;
  customerEmail: string;
  /** The start of the day `facilities --day yesterday` reads (UTC). */
  yesterday: Date;
}

type HandWritten = (client: pg.Client, context: SqlContext) => Promise<number>;

const day = (now: Date, ago: number): Date => new Date(now.getTime() - ago * 86_400_000);

async function rows(client: pg.Client, text: string, values: unknown[] = []): Promise<number> {
  return (await client.query(text, values)).rowCount ?? 0;
}

const status: HandWritten = (client) =>
  rows(
    client,
    `select current_status, sum(packages) as packages
       from package_status_counts group by grouping sets ((current_status), ()) having sum(packages) <> 0`,
  );

const overdue: HandWritten = (client, { now }) =>
  rows(
    client,
    `with late as materialized (select package_id, current_status, due, last_scan_at from in_flight_packages where due < $1),
          ages as (select count(*) as overdue,
                          count(*) filter (where due >= $1::timestamptz - interval '1 day') as d0,
                          count(*) filter (where due < $1::timestamptz - interval '1 day' and due >= $1::timestamptz - interval '3 days') as d1,
                          count(*) filter (where due < $1::timestamptz - interval '3 days' and due >= $1::timestamptz - interval '7 days') as d3,
                          count(*) filter (where due < $1::timestamptz - interval '7 days') as d7
                     from late)
     select a.*, p.tracking_number, l.current_status, l.due, o.location_name, d.location_name, l.last_scan_at,
            (select x.location_name from tracking_events e join locations x using (location_id)
              where e.package_id = l.package_id order by e.event_timestamp desc, e.event_id desc limit 1)
       from ages a
       left join (select * from late order by due, package_id limit 50) l on true
       left join packages p on p.package_id = l.package_id
       left join shipments s on s.package_id = l.package_id
       left join locations o on o.location_id = s.origin_location_id
       left join locations d on d.location_id = s.destination_location_id
      order by l.due, l.package_id`,
    [now],
  );

const stale: HandWritten = (client, { now }) =>
  rows(
    client,
    `with quiet as materialized (
       select package_id, current_status, quiet_since, last_scan_at from in_flight_packages where quiet_since < $1)
     select current_status, count(*), min(quiet_since), null, null, null from quiet group by rollup (current_status)
     union all
     select q.current_status, null, q.quiet_since, p.tracking_number, q.last_scan_at,
            (select x.location_name from tracking_events e join locations x using (location_id)
              where e.package_id = q.package_id order by e.event_timestamp desc, e.event_id desc limit 1)
       from (select * from quiet order by quiet_since, package_id limit 50) q join packages p using (package_id)`,
    [new Date(now.getTime() - 48 * 3_600_000)],
  );

const customer: HandWritten = (client, { customerEmail }) =>
  rows(
    client,
    `with c as (select * from customers where lower(email) = lower($1)),
          mine as (select package_id, true as sent, recipient_id as other, tracking_number, current_status, created_at
                     from packages where sender_id = (select customer_id from c)
                   union all
                   select package_id, false, sender_id, tracking_number, current_status, created_at
                     from packages where recipient_id = (select customer_id from c)),
          by_status as (select json_agg(g) as statuses
                          from (select current_status, count(*) filter (where sent) as sent, count(*) filter (where not sent) as received
                                  from mine group by rollup (current_status)) g)
     select c.customer_id, c.name, c.email, c.address, b.statuses, m.sent, m.tracking_number, m.current_status, o.name,
            fl.location_name, tl.location_name, s.estimated_delivery, s.actual_delivery
       from c cross join by_status b
       left join (select * from mine order by created_at desc, package_id desc limit 50) m on true
       left join customers o on o.customer_id = m.other
       left join shipments s on s.package_id = m.package_id
       left join locations fl on fl.location_id = s.origin_location_id
       left join locations tl on tl.location_id = s.destination_location_id
      order by m.created_at desc, m.package_id desc`,
    [customerEmail],
  );

/**
 * `metadata`: fragile=true and service+signature are both filters on the facets, so the counts
 * come from package_status_counts; the 20 newest matches from the newest packages read in key
 * order (as deep as four times their share predicts), the GIN index only when those held fewer.
 */
const metadata =
  (containment: string, facets: string): HandWritten =>
  (client) =>
    rows(
      client,
      `with matching as materialized (
         select current_status, sum(packages) as n from package_status_counts where ${facets} group by 1 having sum(packages) <> 0),
       total as (select sum(n) as m, (select sum(packages) from package_status_counts) as all from matching),
       recent as materialized (
         select * from (select tracking_number, current_status, weight, metadata, package_id from packages order by package_id desc
                         limit (select case when m > 0 and 80.0 * "all" / m <= 50000 then ceil(80.0 * "all" / m)::bigint + 100 else 0 end
                                  from total)) r
          where metadata @> $1 order by package_id desc limit 20),
       listed as (
         select * from recent where (select count(*) from recent) >= (select least(20, m) from total)
         union all
         (select tracking_number, current_status, weight, metadata, package_id from packages
           where metadata @> $1 and (select count(*) from recent) < (select least(20, m) from total)
           order by package_id desc limit 20))
       select (select json_agg(g) from matching g), (select "all" from total), l.*
         from (select 1) one left join listed l on true`,
      [containment],
    );

/**
 * Lanes by state or city as the schema now allows: the window's whole UTC days from
 * lane_day_counts or city_lane_day_counts, its partial days (none when `now` is a midnight) from
 * the shipments; the listed 20 lanes' lateness percentiles from their late deliveries, each lane's
 * location pairs probed in shipments_late_lane_idx. By city, 64 MB of work_mem keeps the hash of
 * 821k city-day rows (a 30-day window at `large`) in memory.
 */
const lanesFromRollup =
  (grouping: 'state' | 'city'): HandWritten =>
  async (client, { now }) => {
    const table = grouping === 'state' ? 'lane_day_counts' : 'city_lane_day_counts';
    const label = (a: string): string => (grouping === 'state' ? `${a}.state` : `${a}.city || ', ' || ${a}.state`);
    const since = day(now, 30);
    const first = new Date(Math.ceil(since.getTime() / 86_400_000) * 86_400_000);
    const last = new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000);
    const h = `extract(epoch from s.actual_delivery - s.estimated_delivery) / 3600`;
    const buckets = [
      '<= 0',
      '> 0 and h <= 6',
      '> 6 and h <= 12',
      '> 12 and h <= 24',
      '> 24 and h <= 48',
      '> 48 and h <= 72',
      '> 72',
    ];
    if (grouping === 'city') await client.query(`set work_mem = '64MB'`);
    const ranked = await client.query<{ origin: string | null; destination: string | null }>(
      `with lanes as (
       select origin, destination, sum(delivered) as shipments, sum(on_time) as on_time,
              sum(late_6h) as b1, sum(late_12h) as b2, sum(late_24h) as b3, sum(late_48h) as b4, sum(late_72h) as b5, sum(late_over_72h) as b6
         from (select origin, destination, delivered, on_time, late_6h, late_12h, late_24h, late_48h, late_72h, late_over_72h
                 from ${table}
                where day >= $3::timestamptz at time zone 'UTC' and day < $4::timestamptz at time zone 'UTC'
               union all
               select ${label('o')}, ${label('d')}, 1, ${buckets.map((b) => `(h ${b})::int`).join(', ')}
                 from (select s.origin_location_id, s.destination_location_id, ${h} as h from shipments s
                        where (s.actual_delivery >= $1 and s.actual_delivery < $3) or (s.actual_delivery >= $4 and s.actual_delivery < $2)) s
                 join locations o on o.location_id = s.origin_location_id
                 join locations d on d.location_id = s.destination_location_id) x
        group by 1, 2)
     select t.*, l.*
       from (select count(*) as lanes, count(*) filter (where shipments >= 20) as ranked, sum(shipments) as shipments,
                    sum(on_time) as on_time, sum(b1), sum(b2), sum(b3), sum(b4), sum(b5), sum(b6) from lanes) t
       left join (select * from lanes where shipments >= 20
                   order by on_time::float8 / shipments, shipments desc, origin collate "C", destination collate "C" limit 20) l on true`,
      [since, now, first, last],
    );
    const listed = ranked.rows.filter((r) => r.origin !== null);
    const late = await client.query(
      `select l.i, percentile_cont(array[0.5, 0.9]) within group (order by x.h), max(x.h)
       from unnest($1::text[], $2::text[]) with ordinality as l(origin, destination, i)
       join locations o on ${label('o')} = l.origin
       join locations d on ${label('d')} = l.destination
      cross join lateral (
        select ${h} as h from shipments s
         where s.origin_location_id = o.location_id and s.destination_location_id = d.location_id
           and s.actual_delivery > s.estimated_delivery and s.actual_delivery >= $3 and s.actual_delivery < $4) x
      group by l.i`,
      [listed.map((r) => r.origin), listed.map((r) => r.destination), since, now],
    );
    if (grouping === 'city') await client.query('reset work_mem');
    return (ranked.rowCount ?? 0) + (late.rowCount ?? 0);
  };

/**
 * The day's counts from facility_day_counts; the listed facilities' scans probed for their
 * successor in package order (each probe then reads the index pages the previous one read).
 */
const facilities: HandWritten = (client, { yesterday }) =>
  rows(
    client,
    `with day as (
       select location_id, sum(scans) as scans, sum(exceptions) as exceptions, sum(failed_attempts) as failed
         from facility_day_counts where day = ($1::timestamptz at time zone 'UTC')::date
        group by location_id having sum(scans) <> 0),
     top as (select * from day order by scans desc, exceptions + failed desc, location_id limit 20),
     scans as materialized (
       select location_id, package_id, event_timestamp from tracking_events
        where event_timestamp >= $1 and event_timestamp < $2 and location_id in (select location_id from top)
        order by package_id, event_timestamp),
     dwell as (
       select e.location_id, count(distinct e.package_id) as packages,
              percentile_cont(0.5) within group (order by extract(epoch from n.at - e.event_timestamp) / 3600) as p50,
              percentile_cont(0.9) within group (order by extract(epoch from n.at - e.event_timestamp) / 3600) as p90,
              array_agg(extract(hour from e.event_timestamp at time zone 'UTC')::int) as hours
         from scans e
         left join lateral (select f.event_timestamp as at from tracking_events f
                             where f.package_id = e.package_id and f.event_timestamp > e.event_timestamp
                             order by f.event_timestamp limit 1) n on true
        group by e.location_id)
     select t.location_id, l.location_name, l.city, l.state, l.location_type, t.scans, t.exceptions, t.failed, x.packages,
            x.p50, x.p90, x.hours, s.*
       from top t
       join locations l using (location_id)
       join dwell x using (location_id)
       cross join (select sum(scans), sum(exceptions), sum(failed), count(*) from day) s
      order by t.scans desc, t.exceptions + t.failed desc, t.location_id`,
    [yesterday, day(yesterday, -1)],
  );

const exceptions: HandWritten = async (client, { now }) => {
  const found = await client.query(
    `with e as materialized (
       select e.event_id, e.location_id, e.status, e.package_id,
              -- One index probe per event: a join here hashes every raw scan document.
              (select coalesce(r.payload ->> 'reason', r.payload ->> 'carrier_status_code')
                 from doc_raw_scans r where r.event_id = e.event_id) as reason
         from tracking_events e
        where e.status in ('exception', 'attempt_fail') and e.event_timestamp >= $1 and e.event_timestamp < $2),
     top_reason as (
       select distinct on (location_id) location_id, reason || ' (' || count(*) || ')' as top
         from e where reason is not null group by location_id, reason order by location_id, count(*) desc, reason)
     select 'reason' as kind, coalesce(reason, 'not recorded'), count(*) filter (where status = 'exception'),
            count(*) filter (where status = 'attempt_fail'), null::bigint, null, null
       from e group by rollup (coalesce(reason, 'not recorded'))
     union all
     select 'facility', l.location_name, count(*) filter (where status = 'exception'), count(*) filter (where status = 'attempt_fail'),
            count(distinct package_id), l.city || ', ' || l.state, min(t.top)
       from e join locations l using (location_id) left join top_reason t using (location_id)
      group by e.location_id, l.location_name, l.city, l.state`,
    [day(now, 7), now],
  );
  return found.rowCount ?? 0;
};

// The statistics views (pg_stat_user_tables, pg_statio_user_indexes, …) cost more to plan than to
// run: the functions they are made of are read directly, as the tool does. The statements go in
// one simple-protocol message, in one REPEATABLE READ snapshot (the tool's answer is one): one
// round trip for the whole report.
const db: HandWritten = async (client) => {
  const statements = [
    `select d.*, pg_database_size(current_database()), (select age(datfrozenxid) from pg_database where datname = current_database()),
            current_setting('shared_buffers'), current_setting('track_counts'), current_setting('autovacuum'),
            current_setting('pg_stat_statements.max', true),
            (select setting from pg_settings where name = 'shared_preload_libraries'),
            exists (select 1 from pg_available_extensions where name = 'pg_stat_statements')
       from pg_stat_database d where d.datname = current_database()`,
    `select c.oid, c.oid::regclass, pg_table_size(c.oid), pg_indexes_size(c.oid), c.reltuples, c.relpages, c.reloptions,
            pg_stat_get_live_tuples(c.oid), pg_stat_get_dead_tuples(c.oid), pg_stat_get_numscans(c.oid),
            (select sum(pg_stat_get_numscans(i.indexrelid)) from pg_index i where i.indrelid = c.oid),
            pg_stat_get_last_vacuum_time(c.oid), pg_stat_get_last_autovacuum_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid),
            pg_stat_get_blocks_hit(c.oid), pg_stat_get_blocks_fetched(c.oid),
            (select sum(st.avg_width * (1 - st.null_frac)) from pg_stats st
              where st.schemaname = n.nspname and st.tablename = c.relname and not st.inherited),
            (select count(*) from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped)
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 't', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`,
    // What duplicate-index detection needs: keys, operator classes, collations, options,
    // expressions, predicate and method; and whether a build is in progress.
    `select x.*, x.indexrelid::regclass, x.indrelid::regclass, pg_relation_size(x.indexrelid), pg_stat_get_numscans(x.indexrelid),
            pg_stat_get_blocks_hit(x.indexrelid), pg_stat_get_blocks_fetched(x.indexrelid), pg_get_indexdef(x.indexrelid),
            pg_get_expr(x.indexprs, x.indrelid), pg_get_expr(x.indpred, x.indrelid), i.relam,
            x.indexrelid in (select index_relid from pg_stat_progress_create_index),
            (select array_agg(c.contype) from pg_constraint c where c.conindid = x.indexrelid),
            -- The index bloat estimate: the key columns' widths as ANALYZE saw them.
            i.relpages, i.reltuples, i.reloptions,
            (select sum(st.avg_width * (1 - st.null_frac)) from pg_attribute a
               join pg_stats st on st.schemaname = n.nspname and st.tablename = t.relname and st.attname = a.attname and not st.inherited
              where a.attrelid = x.indrelid and a.attnum = any(x.indkey))
       from pg_index x join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
       join pg_class i on i.oid = x.indexrelid
      where t.relkind in ('r', 't', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`,
    `select (select count(*) from shiptrack_migrations), name, applied_at, batch from shiptrack_migrations order by id desc limit 1`,
    // The live state the report also shows: sessions and who blocks them, the server's limits and
    // xmin holders, sequences running out, foreign keys without an index.
    `select pid, usename, application_name, state, wait_event_type, wait_event, xact_start, query_start, state_change,
            age(backend_xmin), left(query, 2000), pg_blocking_pids(pid), datname = current_database()
       from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    `select current_setting('max_connections'), (select mxid_age(datminmxid) from pg_database where datname = current_database()),
            (select json_agg(s) from (select slot_name, active, age(xmin), age(catalog_xmin), restart_lsn from pg_replication_slots) s),
            (select json_agg(p) from (select gid, age(transaction) from pg_prepared_xacts) p),
            (select json_agg(r) from (select application_name, client_addr, state, replay_lsn, replay_lag from pg_stat_replication) r),
            pg_current_wal_lsn()`,
    `select s.schemaname, s.sequencename, s.last_value, s.max_value, d.refobjid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
            pg_stat_get_tuples_inserted(d.refobjid)
       from pg_sequences s
       left join pg_depend d on d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')
                            and d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
       left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
      where s.last_value is not null`,
    `select c.conrelid::regclass, c.conname, c.conkey, c.confrelid::regclass, pg_relation_size(c.conrelid)
       from pg_constraint c join pg_namespace n on n.oid = c.connamespace
      where c.contype = 'f' and n.nspname not in ('pg_catalog', 'information_schema')
        and not exists (select 1 from pg_index i
                         where i.indrelid = c.conrelid and i.indisvalid and i.indpred is null
                           and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                           and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)`,
  ];
  const results = (await client.query(
    ['begin isolation level repeatable read read only', ...statements, 'commit'].join(';\n'),
  )) as unknown as pg.QueryResult[];
  return results.reduce((read, result) => read + (result.command === 'SELECT' ? (result.rowCount ?? 0) : 0), 0);
};

/** The hand-written limit of each report the benchmark runs, by the same name. */
export const handWritten: Record<string, HandWritten> = {
  status,
  'overdue --limit 50': overdue,
  'lanes --since 30d': lanesFromRollup('state'),
  'lanes --by city': lanesFromRollup('city'),
  'facilities --day yesterday': facilities,
  'stale --hours 48': stale,
  'exceptions --since 7d': exceptions,
  'customer <email>': customer,
  'metadata fragile=true': metadata('{"fragile":true}', `facets -> 1 = 'true'`),
  'metadata service+signature': metadata(
    '{"service":"express","signature_required":true}',
    `facets -> 0 = '"express"' and facets -> 2 = 'true'`,
  ),
  db,
};
