/**
 * The limit `scan --file` is measured against (`npm run bench:scan -- --compare-sql`): the same
 * scans recorded by hand-written SQL on two sessions, each taking the packages of one half of
 * the tracking numbers. Per session, in one transaction: the scans are loaded with COPY into a
 * temporary table, the packages locked in id order, and one INSERT … SELECT does the checks —
 * the location by name, the idempotency key (given, or derived from the scan) against the stored
 * events, each package's scans walked in time order from its current status through the allowed
 * transitions (a recursive CTE), a scan after a final status kept as history, a forbidden one
 * refused — then writes the events, their raw scan documents, the packages' new status and the
 * delivery times. Out-of-order scans are judged by time only (the bench's scans are all later
 * than the stored events, so the tool never judges one at its place either).
 */
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { allowedTransitions } from '../src/domain/status.js';

interface ScanLine {
  trackingNumber: string;
  status: string;
  location: string;
  at: string;
  idempotencyKey?: string;
  payload?: unknown;
}

/** CSV field: quoted, quotes doubled. */
const field = (value: string | null): string => (value === null ? '' : `"${value.replace(/"/g, '""')}"`);

/** The file as one CSV per session (untimed, as the seed's limit reads CSV it was given). */
export function scansAsCsv(file: string, sessions: number): string[] {
  const parts: string[][] = Array.from({ length: sessions }, () => []);
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .forEach((line, ord) => {
      const scan = JSON.parse(line) as ScanLine;
      const part = createHash('md5').update(scan.trackingNumber).digest()[0] ?? 0;
      parts[part % sessions]?.push(
        [
          String(ord),
          field(scan.trackingNumber),
          field(scan.status),
          field(scan.location),
          field(scan.at),
          field(scan.idempotencyKey ?? null),
          field(JSON.stringify(scan.payload ?? null)),
        ].join(','),
      );
    });
  return parts.map((rows) => `${rows.join('\n')}\n`);
}

const transitions = Object.entries(allowedTransitions)
  .flatMap(([from, tos]) => tos.map((to) => `('${from}', '${to}')`))
  .join(', ');

const record = `
with recursive
  t(f, s) as (values ${transitions}),
  q as materialized (
    select s.ord, s.status, l.location_id, s.at, s.payload, p.package_id, s.tracking_number,
           coalesce(s.key, 'derived:' || md5(concat_ws('|', s.tracking_number, s.status, l.location_id, s.at))) as key,
           md5(concat_ws('|', s.tracking_number, s.status, l.location_id, s.at, s.payload)) as hash
      from scans s
      join packages p on p.tracking_number = s.tracking_number
      join locations l on l.location_name = s.location),
  fresh as materialized (
    select q.*, row_number() over (partition by q.package_id order by q.at, q.ord) as n
      from q
     where not exists (select 1 from tracking_events e where e.package_id = q.package_id and e.idempotency_key = q.key)),
  start as (
    select p.package_id, p.current_status as status,
           (select e.event_timestamp from tracking_events e where e.package_id = p.package_id
             order by e.event_timestamp desc, e.event_id desc limit 1) as latest
      from packages p where p.package_id in (select package_id from fresh)),
  walk(package_id, n, status, latest, ord, outcome) as (
    select package_id, 0::bigint, status, latest, null::int, null::text from start
    union all
    select w.package_id, f.n,
           case when o.outcome = 'accepted' then f.status else w.status end,
           case when o.outcome = 'accepted' then f.at else w.latest end,
           f.ord, o.outcome
      from walk w
      join fresh f on f.package_id = w.package_id and f.n = w.n + 1
      cross join lateral (
        select case when f.at < w.latest then 'out_of_order'
                    when w.status in ('delivered', 'returned', 'cancelled') then 'after_terminal'
                    when exists (select 1 from t where t.f = w.status and t.s = f.status) then 'accepted'
                    else 'rejected' end as outcome) o),
  kept as (
    select f.* from walk w join fresh f on f.ord = w.ord where w.outcome <> 'rejected'),
  e as (
    insert into tracking_events (package_id, location_id, status, event_timestamp, idempotency_key, scan_hash)
    select package_id, location_id, status, at, key, hash from kept order by at, ord
    returning event_id, package_id, idempotency_key),
  d as (
    insert into doc_raw_scans (id, tracking_number, event_id, scanned_at, source, payload)
    select 'scan-' || e.event_id, k.tracking_number, e.event_id, k.at, 'scanner',
           coalesce(nullif(k.payload, 'null'), '{}') || jsonb_build_object('status', k.status, 'location_id', k.location_id,
                                                                           'idempotency_key', k.key)
      from e join kept k on k.package_id = e.package_id and k.key = e.idempotency_key),
  last as (
    select distinct on (package_id) package_id, status, latest from walk where n > 0 order by package_id, n desc),
  u as (
    update packages p set current_status = last.status from last, start
     where p.package_id = last.package_id and start.package_id = last.package_id and last.status <> start.status),
  a as (
    update shipments s set actual_delivery = last.latest from last
     where s.package_id = last.package_id and last.status = 'delivered' and s.actual_delivery is null)
select (select count(*) from e) as recorded`;

/** One session's part: COPY into a temporary table, lock, record, commit. Returns events written. */
async function recordPart(client: pg.Client, csv: string): Promise<number> {
  await client.query('begin');
  await client.query(`create temporary table scans (ord int, tracking_number text, status text, location text,
                        at timestamptz, key text, payload jsonb) on commit drop`);
  const copy = client.query(copyFrom('copy scans from stdin with (format csv)'));
  copy.end(csv);
  await once(copy, 'finish');
  await client.query(`select 1 from packages where tracking_number in (select tracking_number from scans)
                       order by package_id for update`);
  const result = await client.query<{ recorded: string }>(record);
  await client.query('commit');
  return Number(result.rows[0]?.recorded ?? 0);
}

/**
 * Records the CSV parts on as many connections at once (opened before the clock starts), and
 * returns the wall time from the first COPY to the last commit, with the events written.
 */
export async function recordScansBySql(url: string, parts: readonly string[]): Promise<{ ms: number; recorded: number }> {
  const clients = parts.map(() => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((c) => c.connect()));
  try {
    const started = performance.now();
    const counts = await Promise.all(parts.map((csv, i) => recordPart(clients[i] as pg.Client, csv)));
    return { ms: performance.now() - started, recorded: counts.reduce((a, b) => a + b, 0) };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
