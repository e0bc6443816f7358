import { toStatus, type Place, type TrackedPackage } from '../domain/timeline.js';
import type { Client } from 'pg';
import { mapPostgresError } from '../errors.js';
import { hasDistributedLayout } from './citus.js';
import { sessionPool, type Database } from './database.js';
import type { EmbeddedClient } from './embedded.js';
import { queryPrepared, type PreparedStatement } from './prepared-read.js';

/** The track read's SQL: by tracking number (one server), or by package id (Citus, below). */
function trackSql(by: 'number' | 'id'): string {
  const reason =
    by === 'number'
      ? `(select coalesce(d.payload->>'reason', d.payload->>'carrier_status_code') from doc_raw_scans d
                                where d.event_id = e.event_id)`
      : 'null';
  // On Citus the events' subquery names the package id too: then the whole read is one router query.
  const eventsFilter = by === 'number' ? '' : ' and e.package_id = $1';
  const where = by === 'number' ? 'p.tracking_number = $1' : 'p.package_id = $1';
  return `
select p.package_id, p.tracking_number, p.current_status, p.weight::text as weight, p.metadata,
       sender.name as sender, recipient.name as recipient,
       s.estimated_delivery, s.actual_delivery,
       to_char(s.estimated_delivery at time zone d.time_zone, 'YYYY-MM-DD HH24:MI') as estimated_local,
       (extract(epoch from (s.estimated_delivery at time zone d.time_zone) - (s.estimated_delivery at time zone 'UTC')) / 60)::int
         as estimated_offset,
       to_char(s.actual_delivery at time zone d.time_zone, 'YYYY-MM-DD HH24:MI') as actual_local,
       (extract(epoch from (s.actual_delivery at time zone d.time_zone) - (s.actual_delivery at time zone 'UTC')) / 60)::int
         as actual_offset,
       json_build_object('name', o.location_name, 'city', o.city, 'state', o.state, 'timeZone', o.time_zone) as origin,
       json_build_object('name', d.location_name, 'city', d.city, 'state', d.state, 'timeZone', d.time_zone) as destination,
       coalesce((
         select json_agg(json_build_object(
                  'eventId', e.event_id, 'status', e.status, 'at', e.event_timestamp, 'recordedAt', e.recorded_at,
                  'local', to_char(e.event_timestamp at time zone l.time_zone, 'YYYY-MM-DD HH24:MI'),
                  'offset', (extract(epoch from (e.event_timestamp at time zone l.time_zone) - (e.event_timestamp at time zone 'UTC')) / 60)::int,
                  'location', json_build_object('name', l.location_name, 'city', l.city, 'state', l.state, 'timeZone', l.time_zone),
                  'reason', case when e.status in ('exception', 'attempt_fail') then
                              ${reason} end)
                order by e.event_timestamp, e.event_id)
           from tracking_events e
           cross join lateral (select location_name, city, state, time_zone from locations where location_id = e.location_id limit 1) l
          where e.package_id = p.package_id${eventsFilter}), '[]'::json) as events
  from packages p
  join shipments s on s.package_id = p.package_id
  join customers sender on sender.customer_id = p.sender_id
  join customers recipient on recipient.customer_id = p.recipient_id
  join locations o on o.location_id = s.origin_location_id
  join locations d on d.location_id = s.destination_location_id
 where ${where}`;
}

/**
 * The read behind `track`: summary and timeline in one round trip, as a named prepared
 * statement on a server (planned once per connection). Locations are looked up per event with
 * LATERAL … LIMIT 1: planning a six-table join was most of the cost of the unprepared query.
 * Local times come from PostgreSQL's time zone database (the zones are checked on write), so
 * printing a timeline needs no ICU time zone data in Node, whose first use costs ~10 ms.
 * Exported for the benchmark, which compares its harness with pgbench on this very SQL.
 */
export const trackQuery: PreparedStatement = {
  name: 'shiptrack_track_v3',
  text: trackSql('number'),
};

/**
 * On a Citus coordinator with the distributed layout (migration 20261204000300): the number's
 * package from package_numbers (a router query on the number's shard), then the package by id
 * (a router query on its shard group). The reasons of exceptions come from doc_raw_scans, which
 * stays on the coordinator, in a third query when there are exceptions.
 */
export const packageIdQuery: PreparedStatement = {
  name: 'shiptrack_package_id_v1',
  text: 'select package_id from package_numbers where tracking_number = $1',
};

export const trackByIdQuery: PreparedStatement = {
  name: 'shiptrack_track_by_id_v1',
  text: trackSql('id'),
};

const reasonsSql = `select event_id, coalesce(payload->>'reason', payload->>'carrier_status_code') as reason
  from doc_raw_scans where event_id = any($1::bigint[])`;

interface TrackRow {
  package_id: number;
  tracking_number: string;
  current_status: string;
  weight: string;
  metadata: Record<string, unknown>;
  sender: string;
  recipient: string;
  estimated_delivery: Date;
  actual_delivery: Date | null;
  estimated_local: string;
  estimated_offset: number;
  actual_local: string | null;
  actual_offset: number | null;
  origin: Place;
  destination: Place;
  events: {
    eventId: number;
    status: string;
    at: string;
    recordedAt: string;
    local: string;
    offset: number;
    location: Place;
    reason: string | null;
  }[];
}

interface PgliteClient {
  query(text: string, values: unknown[]): Promise<{ rows: TrackRow[] }>;
}

function toTrackedPackage(row: TrackRow): TrackedPackage {
  return {
    packageId: row.package_id,
    trackingNumber: row.tracking_number,
    currentStatus: toStatus(row.current_status),
    sender: row.sender,
    recipient: row.recipient,
    weight: row.weight,
    metadata: row.metadata,
    origin: row.origin,
    destination: row.destination,
    estimatedDelivery: new Date(row.estimated_delivery),
    actualDelivery: row.actual_delivery === null ? null : new Date(row.actual_delivery),
    estimatedLocal: { text: row.estimated_local, offsetMinutes: row.estimated_offset },
    actualLocal: row.actual_local === null ? null : { text: row.actual_local, offsetMinutes: row.actual_offset ?? 0 },
    events: row.events.map((e) => ({
      eventId: e.eventId,
      status: toStatus(e.status),
      at: new Date(e.at),
      recordedAt: new Date(e.recordedAt),
      location: e.location,
      local: { text: e.local, offsetMinutes: e.offset },
      reason: e.reason,
    })),
  };
}

/**
 * Where `track` reads from: one plain pg connection (servers), or the knex-managed database.
 * `prepare: false` sends the query unnamed, parsed and planned on every call (what preparing
 * buys is measured by `npm run bench:track`).
 */
export type TrackSource =
  | { kind: 'client'; client: Client; prepare?: boolean }
  | { kind: 'embedded'; client: EmbeddedClient }
  | { kind: 'database'; db: Database };

/**
 * Plain clients whose server has the Citus distributed layout. Learnt when Citus refuses the
 * one-server read (it joins doc_raw_scans, which stays on the coordinator, with distributed
 * tables: feature_not_supported) and the lookup table is there: a read on one server costs no
 * round trip of its own to find out.
 */
const distributedClients = new WeakSet<Client>();

async function readDistributedRow(client: Client, trackingNumber: string): Promise<TrackRow | undefined> {
  const [found] = await queryPrepared<{ package_id: number }>(client, packageIdQuery, [trackingNumber]);
  if (found === undefined) return undefined;
  const [row] = await queryPrepared<TrackRow>(client, trackByIdQuery, [found.package_id]);
  const problems = (row?.events ?? []).filter((e) => e.status === 'exception' || e.status === 'attempt_fail');
  if (problems.length > 0) {
    const { rows } = await client.query<{ event_id: number; reason: string | null }>(reasonsSql, [
      problems.map((e) => e.eventId),
    ]);
    const reasons = new Map(rows.map((r) => [Number(r.event_id), r.reason]));
    for (const e of problems) e.reason = reasons.get(e.eventId) ?? null;
  }
  return row;
}

async function readTrackRow(
  client: Client,
  trackingNumber: string,
  prepare = true,
  distributed?: boolean,
): Promise<TrackRow | undefined> {
  if (distributed ?? distributedClients.has(client)) return readDistributedRow(client, trackingNumber);
  try {
    if (prepare) return (await queryPrepared<TrackRow>(client, trackQuery, [trackingNumber]))[0];
    return (await client.query<TrackRow>(trackQuery.text, [trackingNumber])).rows[0];
  } catch (error) {
    const refused = (error as { code?: unknown } | null)?.code === '0A000';
    if (distributed !== undefined || !refused || !(await hasDistributedLayout(client))) throw error;
    distributedClients.add(client);
    return readDistributedRow(client, trackingNumber);
  }
}

/** A plain client runs one query at a time (pg deprecates queueing on it): several numbers take turns. */
const turns = new WeakMap<Client, Promise<unknown>>();

function oneAtATime<T>(client: Client, work: () => Promise<T>): Promise<T> {
  const previous = turns.get(client) ?? Promise.resolve();
  const mine = previous.then(work, work);
  turns.set(
    client,
    mine.catch(() => undefined),
  );
  return mine;
}

/** The package with that (normalised) tracking number, or null. */
export async function findTrackedPackage(source: TrackSource, trackingNumber: string): Promise<TrackedPackage | null> {
  if (source.kind === 'embedded') {
    try {
      const row = (await source.client.query<TrackRow>(trackQuery.text, [trackingNumber])).rows[0];
      return row === undefined ? null : toTrackedPackage(row);
    } catch (error) {
      throw mapPostgresError(error);
    }
  }
  if (source.kind === 'client') {
    try {
      const row = await oneAtATime(source.client, () => readTrackRow(source.client, trackingNumber, source.prepare));
      return row === undefined ? null : toTrackedPackage(row);
    } catch (error) {
      throw mapPostgresError(error);
    }
  }
  const pool = sessionPool(source.db.knex);
  let connection: unknown;
  try {
    connection = await pool.acquireConnection();
    const row =
      source.db.mode === 'server'
        ? await readTrackRow(connection as Client, trackingNumber, true, source.db.distributed === true)
        : (await (connection as PgliteClient).query(trackQuery.text, [trackingNumber])).rows[0];
    return row === undefined ? null : toTrackedPackage(row);
  } catch (error) {
    throw mapPostgresError(error);
  } finally {
    if (connection !== undefined) await pool.releaseConnection(connection);
  }
}
