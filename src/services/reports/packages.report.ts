import { terminalStatuses } from '../../domain/status.js';
import { NotFoundError } from '../../errors.js';
import type { MetadataFilter } from '../../domain/report-filters.js';
import type { Database } from '../../store/database.js';
import {
  note,
  readReport,
  reportResult,
  toIso,
  toNumber,
  type ReportOptions,
  type ReportResult,
  type ReportRow,
} from './report.js';

/** Reports about packages: where they stand (status), what is late (overdue), what went quiet (stale). */

const finalStatuses = [...terminalStatuses];
const hourMs = 3_600_000;

interface StatusRow {
  status: string;
  packages: number;
}

/** Packages by current status, with shares. */
export async function runStatusReport(db: Database, options: ReportOptions): Promise<ReportResult> {
  const read = await readReport(db, options, (reader) =>
    reader.rows<StatusRow>(
      'packages by status',
      `select current_status as status, count(*)::bigint as packages from packages group by current_status`,
    ),
  );
  const total = read.value.reduce((sum, r) => sum + r.packages, 0);
  const rows: ReportRow[] = read.value
    .sort((a, b) => b.packages - a.packages || a.status.localeCompare(b.status))
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

/** Packages past their estimated delivery and not delivered (nor returned or cancelled), oldest first. */
export async function runOverdueReport(db: Database, options: ReportOptions & { limit: number }): Promise<ReportResult> {
  const now = options.now;
  const read = await readReport(db, options, async (reader) => {
    const where = `s.actual_delivery is null and s.estimated_delivery < ? and p.current_status <> all (?::text[])`;
    const [counts] = await reader.rows<OverdueCountRow>(
      'overdue by age',
      `select count(*)::bigint as overdue,
              count(*) filter (where s.estimated_delivery >= ?::timestamptz - interval '1 day')::bigint as under_1d,
              count(*) filter (where s.estimated_delivery < ?::timestamptz - interval '1 day'
                                 and s.estimated_delivery >= ?::timestamptz - interval '3 days')::bigint as d1_3,
              count(*) filter (where s.estimated_delivery < ?::timestamptz - interval '3 days'
                                 and s.estimated_delivery >= ?::timestamptz - interval '7 days')::bigint as d3_7,
              count(*) filter (where s.estimated_delivery < ?::timestamptz - interval '7 days')::bigint as over_7d
         from shipments s join packages p on p.package_id = s.package_id
        where ${where}`,
      [now, now, now, now, now, now, now, finalStatuses],
    );
    const rows = await reader.rows<OverdueRow>(
      'oldest overdue packages',
      `select p.tracking_number, p.current_status as status, s.estimated_delivery,
              o.location_name as origin, d.location_name as destination,
              last.event_timestamp as last_scan_at, ll.location_name as last_location
         from shipments s
         join packages p on p.package_id = s.package_id
         join locations o on o.location_id = s.origin_location_id
         join locations d on d.location_id = s.destination_location_id
         left join lateral (
           select e.event_timestamp, e.location_id from tracking_events e
            where e.package_id = s.package_id order by e.event_timestamp desc, e.event_id desc limit 1) last on true
         left join locations ll on ll.location_id = last.location_id
        where ${where}
        order by s.estimated_delivery, s.package_id
        limit ?`,
      [now, finalStatuses, options.limit],
    );
    return { counts, rows };
  });
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
          caption: `showing ${rows.length.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`,
        },
      ],
    },
    options,
    read,
  );
}

interface StaleRow {
  tracking_number: string;
  status: string;
  last_scan_at: Date | null;
  last_location: string | null;
  created_at: Date;
}

/** Packages in flight whose last scan (or label, if never scanned) is older than `hours`. */
export async function runStaleReport(
  db: Database,
  options: ReportOptions & { hours: number; limit: number },
): Promise<ReportResult> {
  const cutoff = new Date(options.now.getTime() - options.hours * hourMs);
  const read = await readReport(db, options, (reader) =>
    reader.rows<StaleRow>(
      'stale packages',
      // The last scan's time comes from an index-only probe per in-flight package; the place
      // of the last scan is looked up only for the stale few.
      `with quiet as (
         select p.package_id, p.tracking_number, p.current_status, p.created_at,
                (select max(e.event_timestamp) from tracking_events e where e.package_id = p.package_id) as last_scan_at
           from packages p
          where p.current_status <> all (?::text[]))
       select q.tracking_number, q.current_status as status, q.created_at, q.last_scan_at,
              (select l.location_name from tracking_events e join locations l on l.location_id = e.location_id
                where e.package_id = q.package_id order by e.event_timestamp desc, e.event_id desc limit 1) as last_location
         from quiet q
        where coalesce(q.last_scan_at, q.created_at) < ?
        order by coalesce(q.last_scan_at, q.created_at), q.package_id`,
      [finalStatuses, cutoff],
    ),
  );
  const all = read.value;
  const byStatus = new Map<string, { packages: number; oldest: Date }>();
  for (const r of all) {
    const seen = r.last_scan_at ?? r.created_at;
    const entry = byStatus.get(r.status);
    if (entry === undefined) byStatus.set(r.status, { packages: 1, oldest: seen });
    else entry.packages += 1;
  }
  const statusRows: ReportRow[] = [...byStatus.entries()]
    .sort((a, b) => b[1].packages - a[1].packages || a[0].localeCompare(b[0]))
    .map(([status, v]) => ({
      status,
      packages: v.packages,
      share: v.packages / all.length,
      longest_silence_hours: (options.now.getTime() - v.oldest.getTime()) / hourMs,
    }));
  const rows: ReportRow[] = all.slice(0, options.limit).map((r) => ({
    tracking_number: r.tracking_number,
    status: r.status,
    last_scan_at: toIso(r.last_scan_at),
    silent_hours: (options.now.getTime() - (r.last_scan_at ?? r.created_at).getTime()) / hourMs,
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
          totals: { status: 'total', packages: all.length, share: all.length === 0 ? 0 : 1 },
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
          caption: `showing ${rows.length.toLocaleString('en-US')} of ${all.length.toLocaleString('en-US')}`,
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

/** One customer (by id or e-mail): the packages they sent and received, newest first. */
export async function runCustomerReport(
  db: Database,
  options: ReportOptions & { customer: string; limit: number },
): Promise<ReportResult> {
  const key = options.customer.trim();
  const byId = /^\d{1,18}$/.test(key);
  const read = await readReport(db, options, async (reader) => {
    const [customer] = byId
      ? await reader.rows<CustomerRow>(
          'customer',
          `select customer_id, name, email, address from customers where customer_id = ?`,
          [Number(key)],
        )
      : await reader.rows<CustomerRow>(
          'customer',
          `select customer_id, name, email, address from customers where lower(email) = lower(?)`,
          [key],
        );
    if (customer === undefined) return undefined;
    const counts = await reader.rows<{ role: string; status: string; packages: number }>(
      'customer packages by status',
      `select 'sent' as role, current_status as status, count(*)::bigint as packages from packages where sender_id = ? group by 2
       union all
       select 'received', current_status, count(*)::bigint from packages where recipient_id = ? group by 2`,
      [customer.customer_id, customer.customer_id],
    );
    const packages = await reader.rows<CustomerPackageRow>(
      'customer packages',
      `select x.role, p.tracking_number, p.current_status as status, c.name as counterpart,
              o.location_name as origin, d.location_name as destination,
              s.estimated_delivery, s.actual_delivery, p.created_at
         from (select package_id, 'sent' as role, recipient_id as other from packages where sender_id = ?
               union all
               select package_id, 'received', sender_id from packages where recipient_id = ?) x
         join packages p on p.package_id = x.package_id
         join customers c on c.customer_id = x.other
         join shipments s on s.package_id = p.package_id
         join locations o on o.location_id = s.origin_location_id
         join locations d on d.location_id = s.destination_location_id
        order by p.created_at desc, p.package_id desc
        limit ?`,
      [customer.customer_id, customer.customer_id, options.limit],
    );
    return { customer, counts, packages };
  });
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
          caption: `showing ${rows.length.toLocaleString('en-US')} of ${(sent + received).toLocaleString('en-US')}`,
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

/** Packages whose metadata contains every `--where key=value` (JSONB containment). */
export async function runMetadataReport(
  db: Database,
  options: ReportOptions & { filter: MetadataFilter; limit: number },
): Promise<ReportResult> {
  const containment = JSON.stringify(options.filter.containment);
  const read = await readReport(db, options, async (reader) => {
    const counts = await reader.rows<{ status: string; packages: number }>(
      'matching packages by status',
      `select current_status as status, count(*)::bigint as packages from packages where metadata @> ?::jsonb group by 1`,
      [containment],
    );
    const [all] = await reader.rows<{ packages: number }>('all packages', `select count(*)::bigint as packages from packages`);
    const rows = await reader.rows<MetadataRow>(
      'matching packages',
      `select tracking_number, current_status as status, weight, metadata
         from packages where metadata @> ?::jsonb order by package_id desc limit ?`,
      [containment, options.limit],
    );
    return { counts, all: all?.packages ?? 0, rows };
  });
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
            .sort((a, b) => b.packages - a.packages || a.status.localeCompare(b.status))
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
          caption: `showing ${rows.length.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`,
        },
      ],
      notes: [note('metadata_matches', { matching: total, packages: all, share: all === 0 ? null : total / all })],
    },
    options,
    read,
  );
}
