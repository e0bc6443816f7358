import { terminalStatuses } from '../../domain/status.js';
import { NotFoundError } from '../../errors.js';
import type { MetadataFilter } from '../../domain/report-filters.js';
import { facetsCondition, statusCountsSql } from '../../store/rollups.js';
import {
  note,
  readReport,
  reportResult,
  toIso,
  toNumber,
  type ReportOptions,
  type ReportReader,
  type ReportSource,
  type ReportResult,
  type ReportRow,
} from './report.js';
import { formatNumber, compareText } from '../../domain/units.js';

/** Reports about packages: where they stand (status), what is late (overdue), what went quiet (stale). */

const hourMs = 3_600_000;

interface StatusRow {
  status: string;
  packages: number;
}

/**
 * The per-status counts: the maintained rollup (migration 20261203000100) on one server; on Citus,
 * which keeps no such rollup, the packages counted on every shard in parallel.
 */
function statusCounts(db: ReportSource): string {
  return db.distributed === true ? `(${statusCountsSql}) as package_status_counts` : 'package_status_counts';
}

/** Packages by current status, with shares: the sums of the maintained counts (see statusCounts). */
export async function runStatusReport(db: ReportSource, options: ReportOptions): Promise<ReportResult> {
  const read = await readReport(
    db,
    options,
    (reader) =>
      reader.rows<StatusRow>(
        'packages by status',
        `select current_status as status, sum(packages)::bigint as packages
           from ${statusCounts(db)} group by current_status having sum(packages) <> 0`,
      ),
    db.distributed === true ? { single: true } : { single: true, prepared: 'shiptrack_report_status' },
  );
  const total = read.value.reduce((sum, r) => sum + r.packages, 0);
  const rows: ReportRow[] = read.value
    .sort((a, b) => b.packages - a.packages || compareText(a.status, b.status))
    .map((r) => ({
      status: r.status,
      final: terminalStatuses.has(r.status as never),
      packages: r.packages,
      share: total === 0 ? 0 : r.packages / total,
    }));
  const inFlight = rows.filter((r) => r.final === false).reduce((sum, r) => sum + toNumber(r.packages), 0);
  return reportResult(
    {
      report: 'status',
      title: 'Packages by current status',
      parameters: {},
      tables: [
        {
          name: 'statuses',
          title: 'Packages by current status',
          columns: [
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'packages', header: 'packages', kind: 'integer' },
            { key: 'share', header: 'share', kind: 'percent' },
            { key: 'share_bar', header: '', kind: 'bar', of: 'share', priority: 3 },
          ],
          rows,
          totals: { status: 'total', packages: total, share: total === 0 ? 0 : 1 },
        },
      ],
      notes: [note('in_flight', { packages: inFlight })],
    },
    options,
    read,
  );
}

/** The overdue packages counted by how late (six bindings: now, each time). */
const overdueBuckets = `count(*)::bigint as overdue,
  count(*) filter (where due >= ?::timestamptz - interval '1 day')::bigint as under_1d,
  count(*) filter (where due < ?::timestamptz - interval '1 day' and due >= ?::timestamptz - interval '3 days')::bigint as d1_3,
  count(*) filter (where due < ?::timestamptz - interval '3 days' and due >= ?::timestamptz - interval '7 days')::bigint as d3_7,
  count(*) filter (where due < ?::timestamptz - interval '7 days')::bigint as over_7d`;

interface OverdueCountRow {
  overdue: number;
  under_1d: number;
  d1_3: number;
  d3_7: number;
  over_7d: number;
}

interface OverdueRow {
  tracking_number: string;
  status: string;
  estimated_delivery: Date;
  origin: string;
  destination: string;
  last_scan_at: Date | null;
  last_location: string | null;
}

interface PackageDetails {
  tracking_number: string;
  origin: string;
  destination: string;
  last_location: string | null;
}

/**
 * On Citus: the number, places and last scan's location of the packages listed. One server joins
 * them in the report's one statement; on Citus the listed few come from in_flight_packages first
 * (each worker sorts and limits its shards), and this query then reads only their shard groups.
 */
async function packageDetails(reader: ReportReader, ids: readonly number[]): Promise<Map<number, PackageDetails>> {
  if (ids.length === 0) return new Map();
  const found = await reader.rows<PackageDetails & { package_id: number }>(
    'listed packages',
    `select p.package_id, p.tracking_number, o.location_name as origin, d.location_name as destination,
            (select ll.location_name from tracking_events e join locations ll on ll.location_id = e.location_id
              where e.package_id = p.package_id order by e.event_timestamp desc, e.event_id desc limit 1) as last_location
       from packages p
       join shipments s on s.package_id = p.package_id
       join locations o on o.location_id = s.origin_location_id
       join locations d on d.location_id = s.destination_location_id
      where p.package_id = any (?::bigint[])`,
    [[...ids]],
  );
  return new Map(found.map((r) => [r.package_id, r]));
}

async function readOverdueDistributed(
  reader: ReportReader,
  now: Date,
  limit: number,
): Promise<{ counts: OverdueCountRow | undefined; rows: (OverdueCountRow & OverdueRow)[] }> {
  const [counts] = await reader.rows<OverdueCountRow>(
    'overdue counts',
    `select ${overdueBuckets} from in_flight_packages where due < ?::timestamptz`,
    [now, now, now, now, now, now, now],
  );
  const listed = await reader.rows<{ package_id: number; current_status: string; due: Date; last_scan_at: Date | null }>(
    'overdue listed',
    `select package_id, current_status, due, last_scan_at from in_flight_packages where due < ?::timestamptz
      order by due, package_id limit ?`,
    [now, limit],
  );
  const details = await packageDetails(
    reader,
    listed.map((l) => l.package_id),
  );
  const rows = listed.flatMap((l) => {
    const d = details.get(l.package_id);
    if (d === undefined || counts === undefined) return [];
    return [{ ...counts, ...d, status: l.current_status, estimated_delivery: l.due, last_scan_at: l.last_scan_at }];
  });
  return { counts, rows };
}

async function readStaleDistributed(
  reader: ReportReader,
  cutoff: Date,
  limit: number,
): Promise<{ statuses: StaleStatusRow[]; packages: StaleRow[] }> {
  const statuses = await reader.rows<StaleStatusRow>(
    'stale by status',
    `select current_status as status, count(*)::bigint as packages, min(quiet_since) as oldest
       from in_flight_packages where quiet_since < ? group by current_status`,
    [cutoff],
  );
  const listed = await reader.rows<{ package_id: number; current_status: string; quiet_since: Date; last_scan_at: Date | null }>(
    'stale listed',
    `select package_id, current_status, quiet_since, last_scan_at from in_flight_packages where quiet_since < ?
      order by quiet_since, package_id limit ?`,
    [cutoff, limit],
  );
  const details = await packageDetails(
    reader,
    listed.map((l) => l.package_id),
  );
  const packages = listed.flatMap((l) => {
    const d = details.get(l.package_id);
    if (d === undefined) return [];
    return [
      {
        tracking_number: d.tracking_number,
        status: l.current_status,
        last_scan_at: l.last_scan_at,
        quiet_since: l.quiet_since,
        last_location: d.last_location,
      },
    ];
  });
  return { statuses, packages };
}

/**
 * Packages past their estimated delivery and not delivered (nor returned or cancelled), oldest
 * first. They are the packages in flight whose promise is due (in_flight_packages.due, indexed):
 * the cancelled and returned ones, most of the undelivered past-due shipments, are not read.
 * One statement: the counts by age, and the listed packages beside them.
 */
export async function runOverdueReport(db: ReportSource, options: ReportOptions & { limit: number }): Promise<ReportResult> {
  const now = options.now;
  const read = await readReport(
    db,
    options,
    async (reader) => {
      if (db.distributed === true) return readOverdueDistributed(reader, now, options.limit);
      const found = await reader.rows<OverdueCountRow & { [K in keyof OverdueRow]: OverdueRow[K] | null }>(
        'overdue packages',
        `with late as materialized (
         select package_id, current_status, due, last_scan_at from in_flight_packages where due < ?::timestamptz),
       counts as (
         select ${overdueBuckets} from late),
       listed as (select * from late order by due, package_id limit ?)
       select c.*, x.tracking_number, x.status, x.estimated_delivery, x.origin, x.destination, x.last_scan_at, x.last_location
         from counts c
         left join (
           select l.due, l.package_id, p.tracking_number, l.current_status as status, l.due as estimated_delivery,
                  o.location_name as origin, d.location_name as destination, l.last_scan_at,
                  (select ll.location_name from tracking_events e join locations ll on ll.location_id = e.location_id
                    where e.package_id = l.package_id order by e.event_timestamp desc, e.event_id desc limit 1) as last_location
             from listed l
             join packages p on p.package_id = l.package_id
             join shipments s on s.package_id = l.package_id
             join locations o on o.location_id = s.origin_location_id
             join locations d on d.location_id = s.destination_location_id) x on true
        order by x.due, x.package_id`,
        [now, now, now, now, now, now, now, options.limit],
      );
      const counts: OverdueCountRow | undefined = found[0];
      const rows = found.filter((r): r is OverdueCountRow & OverdueRow => r.tracking_number !== null);
      return { counts, rows };
    },
    db.distributed === true ? {} : { single: true, prepared: 'shiptrack_report_overdue' },
  );
  const counts = read.value.counts;
  const total = counts?.overdue ?? 0;
  const rows: ReportRow[] = read.value.rows.map((r) => ({
    tracking_number: r.tracking_number,
    status: r.status,
    estimated_delivery: toIso(r.estimated_delivery),
    overdue_hours: (now.getTime() - r.estimated_delivery.getTime()) / hourMs,
    origin: r.origin,
    destination: r.destination,
    last_scan_at: toIso(r.last_scan_at),
    last_location: r.last_location,
  }));
  const ages: ReportRow[] = [
    { age: 'under 1 day', packages: counts?.under_1d ?? 0 },
    { age: '1–3 days', packages: counts?.d1_3 ?? 0 },
    { age: '3–7 days', packages: counts?.d3_7 ?? 0 },
    { age: 'over 7 days', packages: counts?.over_7d ?? 0 },
  ].map((r) => ({ ...r, share: total === 0 ? 0 : r.packages / total }));
  return reportResult(
    {
      report: 'overdue',
      title: 'Overdue packages: past the estimated delivery, not delivered',
      parameters: { limit: options.limit },
      tables: [
        {
          name: 'ages',
          title: 'How late',
          columns: [
            { key: 'age', header: 'overdue by', kind: 'text' },
            { key: 'packages', header: 'packages', kind: 'integer' },
            { key: 'share', header: 'share', kind: 'percent', priority: 2 },
            { key: 'share_bar', header: '', kind: 'bar', of: 'share', priority: 3 },
          ],
          rows: ages,
          totals: { age: 'total', packages: total, share: total === 0 ? 0 : 1 },
        },
        {
          name: 'packages',
          title: 'Oldest first',
          columns: [
            { key: 'tracking_number', header: 'tracking number', kind: 'text' },
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'estimated_delivery', header: 'estimated', kind: 'timestamp', priority: 3 },
            { key: 'overdue_hours', header: 'overdue by', kind: 'hours' },
            { key: 'origin', header: 'origin', kind: 'text', priority: 5 },
            { key: 'destination', header: 'destination', kind: 'text', priority: 4 },
            { key: 'last_scan_at', header: 'last scan', kind: 'timestamp', priority: 5 },
            { key: 'last_location', header: 'last seen at', kind: 'text', priority: 2 },
          ],
          rows,
          caption: `showing ${formatNumber(rows.length)} of ${formatNumber(total)}`,
        },
      ],
    },
    options,
    read,
  );
}

interface StaleStatusRow {
  status: string;
  packages: number;
  oldest: Date;
}

interface StaleRow {
  tracking_number: string;
  status: string;
  last_scan_at: Date | null;
  quiet_since: Date;
  last_location: string | null;
}

/**
 * Packages in flight whose last scan (or label, if never scanned) is older than `hours`: the
 * quiet end of in_flight_packages (quiet_since, indexed, maintained with every scan). One
 * statement: the stale packages by status, and the longest silent beside them.
 */
export async function runStaleReport(
  db: ReportSource,
  options: ReportOptions & { hours: number; limit: number },
): Promise<ReportResult> {
  const cutoff = new Date(options.now.getTime() - options.hours * hourMs);
  const read = await readReport(
    db,
    options,
    async (reader) => {
      if (db.distributed === true) return readStaleDistributed(reader, cutoff, options.limit);
      const found = await reader.rows<({ kind: 'status' } & StaleStatusRow) | ({ kind: 'package' } & StaleRow)>(
        'stale packages',
        `with quiet as materialized (
         select package_id, current_status, quiet_since, last_scan_at from in_flight_packages where quiet_since < ?)
       select 'status' as kind, current_status as status, count(*)::bigint as packages, min(quiet_since) as oldest,
              null as tracking_number, null::timestamptz as last_scan_at, null::timestamptz as quiet_since, null as last_location,
              null::bigint as ord
         from quiet group by current_status
       union all
       select 'package', q.current_status, null, null, p.tracking_number, q.last_scan_at, q.quiet_since,
              (select l.location_name from tracking_events e join locations l on l.location_id = e.location_id
                where e.package_id = q.package_id order by e.event_timestamp desc, e.event_id desc limit 1),
              row_number() over (order by q.quiet_since, q.package_id)
         from (select * from quiet order by quiet_since, package_id limit ?) q
         join packages p on p.package_id = q.package_id`,
        [cutoff, options.limit],
      );
      const statuses = found.filter((r): r is { kind: 'status' } & StaleStatusRow => r.kind === 'status');
      // The union keeps no order of its own: the listed packages are put back in quiet order
      // (ties by package id, as the query picked them).
      const packages = found
        .filter((r): r is { kind: 'package' } & StaleRow & { ord: number } => r.kind === 'package')
        .sort((a, b) => a.ord - b.ord);
      return { statuses, packages };
    },
    db.distributed === true ? {} : { single: true, prepared: 'shiptrack_report_stale' },
  );
  const { statuses, packages } = read.value;
  const total = statuses.reduce((sum, r) => sum + r.packages, 0);
  const statusRows: ReportRow[] = statuses
    .sort((a, b) => b.packages - a.packages || compareText(a.status, b.status))
    .map((r) => ({
      status: r.status,
      packages: r.packages,
      share: r.packages / total,
      longest_silence_hours: (options.now.getTime() - r.oldest.getTime()) / hourMs,
    }));
  const rows: ReportRow[] = packages.map((r) => ({
    tracking_number: r.tracking_number,
    status: r.status,
    last_scan_at: toIso(r.last_scan_at),
    silent_hours: (options.now.getTime() - r.quiet_since.getTime()) / hourMs,
    last_location: r.last_location,
  }));
  return reportResult(
    {
      report: 'stale',
      title: `Stale packages: in flight, no scan for ${options.hours} hours`,
      parameters: { hours: options.hours, limit: options.limit },
      tables: [
        {
          name: 'statuses',
          title: 'Stale packages by status',
          columns: [
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'packages', header: 'packages', kind: 'integer' },
            { key: 'share', header: 'share', kind: 'percent', priority: 2 },
            { key: 'longest_silence_hours', header: 'longest silence', kind: 'hours', priority: 2 },
          ],
          rows: statusRows,
          totals: { status: 'total', packages: total, share: total === 0 ? 0 : 1 },
        },
        {
          name: 'packages',
          title: 'Longest silent first',
          columns: [
            { key: 'tracking_number', header: 'tracking number', kind: 'text' },
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'last_scan_at', header: 'last scan', kind: 'timestamp', priority: 3 },
            { key: 'silent_hours', header: 'silent for', kind: 'hours' },
            { key: 'last_location', header: 'last seen at', kind: 'text', priority: 2 },
          ],
          rows,
          caption: `showing ${formatNumber(rows.length)} of ${formatNumber(total)}`,
        },
      ],
    },
    options,
    read,
  );
}

interface CustomerRow {
  customer_id: number;
  name: string;
  email: string;
  address: string;
}

interface CustomerPackageRow {
  role: 'sent' | 'received';
  tracking_number: string;
  status: string;
  counterpart: string;
  origin: string;
  destination: string;
  estimated_delivery: Date;
  actual_delivery: Date | null;
  created_at: Date;
}

/**
 * On Citus: the customer (a reference table), their packages' counts by role and status and the
 * newest few (each worker reads its shards through the sender and recipient indexes), then those
 * few packages' shipments and counterparts by package id. One server does it in one statement;
 * on Citus that statement's join of the newest few with shipments took 1.8 s at `medium`.
 */
async function readCustomerDistributed(
  reader: ReportReader,
  key: string,
  byId: boolean,
  limit: number,
): Promise<
  | { customer: CustomerRow; counts: { role: string; status: string; packages: number }[]; packages: CustomerPackageRow[] }
  | undefined
> {
  const [customer] = await reader.rows<CustomerRow>(
    'customer',
    `select customer_id, name, email, address from customers where ${byId ? 'customer_id = ?::bigint' : 'lower(email) = lower(?)'}`,
    [key],
  );
  if (customer === undefined) return undefined;
  const id = customer.customer_id;
  const packagesOf = `select p.package_id, 'sent' as role, p.recipient_id as other, p.tracking_number, p.current_status, p.created_at
      from packages p where p.sender_id = ?
    union all
    select p.package_id, 'received', p.sender_id, p.tracking_number, p.current_status, p.created_at
      from packages p where p.recipient_id = ?`;
  const counts = await reader.rows<{ role: string; status: string; packages: number }>(
    'customer counts',
    `select role, current_status as status, count(*)::int as packages from (${packagesOf}) x group by 1, 2`,
    [id, id],
  );
  const newest = await reader.rows<{
    package_id: number;
    role: 'sent' | 'received';
    other: number;
    tracking_number: string;
    current_status: string;
    created_at: Date;
  }>('customer newest', `select * from (${packagesOf}) x order by created_at desc, package_id desc limit ?`, [id, id, limit]);
  const details = await reader.rows<{
    package_id: number;
    origin: string;
    destination: string;
    estimated_delivery: Date;
    actual_delivery: Date | null;
  }>(
    'customer packages',
    `select s.package_id, fl.location_name as origin, tl.location_name as destination, s.estimated_delivery, s.actual_delivery
       from shipments s
       join locations fl on fl.location_id = s.origin_location_id
       join locations tl on tl.location_id = s.destination_location_id
      where s.package_id = any (?::bigint[])`,
    [newest.map((n) => n.package_id)],
  );
  const others = await reader.rows<{ customer_id: number; name: string }>(
    'counterparts',
    `select customer_id, name from customers where customer_id = any (?::bigint[])`,
    [[...new Set(newest.map((n) => n.other))]],
  );
  const shipment = new Map(details.map((d) => [d.package_id, d]));
  const name = new Map(others.map((o) => [o.customer_id, o.name]));
  const packages = newest.flatMap((n): CustomerPackageRow[] => {
    const d = shipment.get(n.package_id);
    if (d === undefined) return [];
    return [
      {
        role: n.role,
        tracking_number: n.tracking_number,
        status: n.current_status,
        counterpart: name.get(n.other) ?? '',
        origin: d.origin,
        destination: d.destination,
        estimated_delivery: d.estimated_delivery,
        actual_delivery: d.actual_delivery,
        created_at: n.created_at,
      },
    ];
  });
  return { customer, counts, packages };
}

/** One customer (by id or e-mail): the packages they sent and received, newest first. */
export async function runCustomerReport(
  db: ReportSource,
  options: ReportOptions & { customer: string; limit: number },
): Promise<ReportResult> {
  const key = options.customer.trim();
  const byId = /^\d{1,18}$/.test(key);
  const read = await readReport(
    db,
    options,
    async (reader) => {
      if (db.distributed === true) return readCustomerDistributed(reader, key, byId, options.limit);
      // One statement: the customer, their packages counted by role and status, and the newest
      // `limit` of them, picked from the rows already read (sent and received are two index scans
      // of packages) before joining names and places for those only.
      const found = await reader.rows<
        CustomerRow & { counts: [string, string, number][] } & { [K in keyof CustomerPackageRow]: CustomerPackageRow[K] | null }
      >(
        'customer and packages',
        `with c as (
         select customer_id, name, email, address from customers
          where ${byId ? 'customer_id = ?::bigint' : 'lower(email) = lower(?)'}),
       x as (
         select p.package_id, 'sent' as role, p.recipient_id as other, p.tracking_number, p.current_status, p.created_at
           from packages p where p.sender_id = (select customer_id from c)
         union all
         select p.package_id, 'received', p.sender_id, p.tracking_number, p.current_status, p.created_at
           from packages p where p.recipient_id = (select customer_id from c)),
       counts as (
         select coalesce(json_agg(json_build_array(role, current_status, packages)), '[]') as counts
           from (select role, current_status, count(*)::int as packages from x group by 1, 2) g),
       newest as (select * from x order by created_at desc, package_id desc limit ?)
       select c.*, k.counts, n.role, n.tracking_number, n.current_status as status, o.name as counterpart,
              fl.location_name as origin, tl.location_name as destination, s.estimated_delivery, s.actual_delivery, n.created_at
         from c cross join counts k
         left join newest n on true
         left join customers o on o.customer_id = n.other
         left join shipments s on s.package_id = n.package_id
         left join locations fl on fl.location_id = s.origin_location_id
         left join locations tl on tl.location_id = s.destination_location_id
        order by n.created_at desc, n.package_id desc`,
        [key, options.limit],
      );
      const [first] = found;
      if (first === undefined) return undefined;
      const customer: CustomerRow = {
        customer_id: first.customer_id,
        name: first.name,
        email: first.email,
        address: first.address,
      };
      const counts = first.counts.map(([role, status, packages]) => ({ role, status, packages }));
      const packages = found.filter((r): r is typeof r & CustomerPackageRow => r.tracking_number !== null);
      return { customer, counts, packages };
    },
    db.distributed === true
      ? {}
      : { single: true, prepared: byId ? 'shiptrack_report_customer_id' : 'shiptrack_report_customer_email' },
  );
  if (read.value === undefined) {
    throw new NotFoundError(`no customer ${byId ? 'with id' : 'with e-mail'} ${key}`, {
      hint: 'give a customer id (digits) or an e-mail address',
    });
  }
  const { customer, counts, packages } = read.value;
  const sent = counts.filter((c) => c.role === 'sent').reduce((s, c) => s + c.packages, 0);
  const received = counts.filter((c) => c.role === 'received').reduce((s, c) => s + c.packages, 0);
  const statuses = [...new Set(counts.map((c) => c.status))].sort();
  const statusRows: ReportRow[] = statuses.map((status) => ({
    status,
    sent: counts.find((c) => c.role === 'sent' && c.status === status)?.packages ?? 0,
    received: counts.find((c) => c.role === 'received' && c.status === status)?.packages ?? 0,
  }));
  const rows: ReportRow[] = packages.map((p) => ({
    role: p.role,
    tracking_number: p.tracking_number,
    status: p.status,
    counterpart: p.counterpart,
    origin: p.origin,
    destination: p.destination,
    estimated_delivery: toIso(p.estimated_delivery),
    actual_delivery: toIso(p.actual_delivery),
    on_time: p.actual_delivery === null ? null : p.actual_delivery.getTime() <= p.estimated_delivery.getTime(),
  }));
  return reportResult(
    {
      report: 'customer',
      title: `Customer ${customer.customer_id}: ${customer.name} <${customer.email}>`,
      parameters: { customer: key, limit: options.limit },
      tables: [
        {
          name: 'customer',
          title: 'Customer',
          columns: [
            { key: 'customer_id', header: 'id', kind: 'integer', priority: 3 },
            { key: 'name', header: 'name', kind: 'text' },
            { key: 'email', header: 'e-mail', kind: 'text', priority: 2 },
            { key: 'address', header: 'address', kind: 'text', priority: 3 },
            { key: 'sent', header: 'sent', kind: 'integer' },
            { key: 'received', header: 'received', kind: 'integer' },
          ],
          rows: [{ ...customer, sent, received }],
        },
        {
          name: 'statuses',
          title: 'Packages by status',
          columns: [
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'sent', header: 'sent', kind: 'integer' },
            { key: 'received', header: 'received', kind: 'integer' },
          ],
          rows: statusRows,
          totals: { status: 'total', sent, received },
        },
        {
          name: 'packages',
          title: 'Packages, newest first',
          columns: [
            { key: 'role', header: '', kind: 'text' },
            { key: 'tracking_number', header: 'tracking number', kind: 'text' },
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'counterpart', header: 'to / from', kind: 'text', priority: 3 },
            { key: 'origin', header: 'origin', kind: 'text', priority: 5 },
            { key: 'destination', header: 'destination', kind: 'text', priority: 4 },
            { key: 'estimated_delivery', header: 'estimated', kind: 'timestamp', priority: 5 },
            { key: 'actual_delivery', header: 'delivered', kind: 'timestamp', priority: 4 },
            { key: 'on_time', header: 'on time', kind: 'text', priority: 2 },
          ],
          rows,
          caption: `showing ${formatNumber(rows.length)} of ${formatNumber(sent + received)}`,
        },
      ],
    },
    options,
    read,
  );
}

interface MetadataRow {
  tracking_number: string;
  status: string;
  weight: string;
  metadata: Record<string, unknown>;
}

/** The newest matching packages through the GIN index (`listed`); bindings: the containment, the limit. */
const newestByIndexSql = `
       listed as (
         select package_id, tracking_number, current_status, weight, metadata from packages
          where metadata @> ?::jsonb order by package_id desc limit ?)`;

/**
 * The newest matching packages (`listed`), after `matching` (their counts) and `everything` (all
 * packages). Bindings: the limit, the containment, the limit, the containment, the limit.
 * The GIN index finds every match, and ordering them reads them all (218k heap rows, 1.1 s, at
 * `large` for service=express and signature_required=true); when the counts say the matches are
 * common enough, the newest packages are read instead, in key order, at most four times as many
 * as the matches' share predicts (50,000 at most), and the index is used only when those held
 * fewer than the limit (the matches are rare, or old).
 */
const newestMatchingSql = `
       wanted as (
         select least(x.lim, x.n) as n,
                case when x.n > 0 and 4.0 * x.lim * x.all / x.n + 100 <= 50000
                     then ceil(4.0 * x.lim * x.all / x.n)::bigint + 100 else 0 end as depth
           from (select ?::bigint as lim, (select coalesce(sum(packages), 0)::bigint from matching) as n, a.all
                   from everything a) x),
       recent as materialized (
         select * from (select package_id, tracking_number, current_status, weight, metadata from packages
                         order by package_id desc limit (select depth from wanted)) r
          where r.metadata @> ?::jsonb order by package_id desc limit ?),
       listed as (
         select * from recent where (select count(*) from recent) >= (select n from wanted)
         union all
         (select package_id, tracking_number, current_status, weight, metadata from packages
           where metadata @> ?::jsonb and (select count(*) from recent) < (select n from wanted)
           order by package_id desc limit ?))`;

/**
 * Whether `report metadata` with this filter reads with one prepared statement: when it counts from
 * the metadata facets' maintained counts, and the database is not Citus (which keeps none).
 */
export function metadataByFacets(filter: MetadataFilter, distributed = false): ReturnType<typeof facetsCondition> {
  return distributed ? undefined : facetsCondition(filter.containment);
}

/** Packages whose metadata contains every `--where key=value` (JSONB containment). */
export async function runMetadataReport(
  db: ReportSource,
  options: ReportOptions & { filter: MetadataFilter; limit: number },
): Promise<ReportResult> {
  const containment = JSON.stringify(options.filter.containment);
  const distributed = db.distributed === true;
  // A filter on the metadata facets alone is counted from the maintained counts
  // (package_status_counts, split by facets); any other from the GIN index on metadata.
  const byFacets = metadataByFacets(options.filter, distributed);
  const read = await readReport(
    db,
    options,
    async (reader) => {
      const found = await reader.rows<
        { counts: [string, number][]; all: number } & { [K in keyof MetadataRow]: MetadataRow[K] | null }
      >(
        'matching packages',
        `with matching as materialized (${
          byFacets !== undefined
            ? `select current_status as status, sum(packages)::bigint as packages from package_status_counts
                where ${byFacets.sql} group by 1 having sum(packages) <> 0`
            : `select current_status as status, count(*)::bigint as packages from packages where metadata @> ?::jsonb group by 1`
        }),
       everything as (select coalesce(sum(packages), 0)::bigint as all from ${statusCounts(db)}),
       ${distributed ? newestByIndexSql : newestMatchingSql},
       counts as (select coalesce(json_agg(json_build_array(status, packages)), '[]') as counts from matching)
       select k.counts, a.all, m.tracking_number, m.current_status as status, m.weight, m.metadata
         from counts k cross join everything a left join listed m on true
        order by m.package_id desc`,
        [
          ...(byFacets?.bindings ?? [containment]),
          ...(distributed
            ? [containment, options.limit]
            : [options.limit, containment, options.limit, containment, options.limit]),
        ],
      );
      const [first] = found;
      const counts = (first?.counts ?? []).map(([status, packages]) => ({ status, packages }));
      const rows = found.filter((r): r is typeof r & MetadataRow => r.tracking_number !== null);
      return { counts, all: first?.all ?? 0, rows };
    },
    // Counted from the rollup, the statement reads a maintained table and a bounded range of the
    // newest packages (the index too only when the matches are rare or old), as one prepared
    // statement per set of facets compared.
    byFacets !== undefined ? { single: true, prepared: `shiptrack_report_metadata_facets_${byFacets.shape}` } : { single: true },
  );
  const { counts, all, rows } = read.value;
  const total = counts.reduce((s, c) => s + c.packages, 0);
  return reportResult(
    {
      report: 'metadata',
      title: `Packages where ${options.filter.terms.join(' and ')}`,
      parameters: { where: options.filter.terms.join(' '), limit: options.limit },
      tables: [
        {
          name: 'statuses',
          title: 'Matching packages by status',
          columns: [
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'packages', header: 'packages', kind: 'integer' },
            { key: 'share', header: 'share', kind: 'percent', priority: 2 },
          ],
          rows: counts
            .sort((a, b) => b.packages - a.packages || compareText(a.status, b.status))
            .map((c) => ({ status: c.status, packages: c.packages, share: total === 0 ? 0 : c.packages / total })),
          totals: { status: 'total', packages: total, share: total === 0 ? 0 : 1 },
        },
        {
          name: 'packages',
          title: 'Newest matching packages',
          columns: [
            { key: 'tracking_number', header: 'tracking number', kind: 'text' },
            { key: 'status', header: 'status', kind: 'text' },
            { key: 'weight_kg', header: 'weight (kg)', kind: 'decimal', priority: 3 },
            { key: 'metadata', header: 'metadata', kind: 'text', priority: 2 },
          ],
          rows: rows.map((r) => ({
            tracking_number: r.tracking_number,
            status: r.status,
            weight_kg: toNumber(r.weight),
            metadata: JSON.stringify(r.metadata),
          })),
          caption: `showing ${formatNumber(rows.length)} of ${formatNumber(total)}`,
        },
      ],
      notes: [note('metadata_matches', { matching: total, packages: all, share: all === 0 ? null : total / all })],
    },
    options,
    read,
  );
}
