import type { Knex } from 'knex';
import type { PackageStatus } from '../domain/status.js';

/**
 * The statements of a scan batch on a Citus coordinator with the distributed layout (migration
 * 20261204000300), where the one-server statements cannot run: Citus locks rows (FOR UPDATE) only
 * in a query on one shard, and a statement that writes several distributed tables at once must
 * stay on one shard too. So each package is locked and updated by its id (a router query on its
 * shard group), the events of the batch go in one INSERT that Citus routes row by row, and the
 * raw scans go to doc_raw_scans, which stays on the coordinator. The checks between reading and
 * writing are the same code as on one server (scan-write.ts).
 */

async function rows<T>(q: Knex.Transaction, sql: string, bindings: readonly unknown[]): Promise<T[]> {
  return (await q.raw<{ rows: T[] }>(sql, bindings as readonly Knex.RawBinding[])).rows;
}

export interface LockedPackage {
  package_id: number;
  tracking_number: string;
  current_status: PackageStatus;
}

/** The packages of these numbers, each locked in id order (as on one server: no deadlock between batches). */
export async function lockPackagesByNumber(trx: Knex.Transaction, numbers: readonly string[]): Promise<LockedPackage[]> {
  const found = await rows<{ package_id: number }>(
    trx,
    `select package_id from package_numbers where tracking_number = any (?::text[]) order by package_id`,
    [[...numbers]],
  );
  const locked: LockedPackage[] = [];
  for (const { package_id } of found) {
    const [row] = await rows<LockedPackage>(
      trx,
      `select package_id, tracking_number, current_status from packages where package_id = ? for update`,
      [package_id],
    );
    if (row !== undefined) locked.push(row);
  }
  return locked;
}

export interface KnownEvents {
  package_id: number;
  latest_at: Date | null;
  known: [string, string, number][] | null;
}

/** Per package: its latest event time, and which of the batch's keys it already has (one shard each). */
export async function readKnownEvents(
  trx: Knex.Transaction,
  keyOwners: readonly number[],
  keys: readonly string[],
): Promise<KnownEvents[]> {
  const byPackage = new Map<number, string[]>();
  keyOwners.forEach((id, i) => byPackage.set(id, [...(byPackage.get(id) ?? []), keys[i] ?? '']));
  const result: KnownEvents[] = [];
  for (const [packageId, packageKeys] of byPackage) {
    const [row] = await rows<Omit<KnownEvents, 'package_id'>>(
      trx,
      `select (select e.event_timestamp from tracking_events e where e.package_id = ?
                order by e.event_timestamp desc, e.event_id desc limit 1) as latest_at,
              (select json_agg(json_build_array(e.idempotency_key, e.scan_hash, e.event_id))
                 from tracking_events e where e.package_id = ? and e.idempotency_key = any (?::text[])) as known`,
      [packageId, packageId, packageKeys],
    );
    result.push({ package_id: packageId, latest_at: row?.latest_at ?? null, known: row?.known ?? null });
  }
  return result;
}

export interface BatchWrite {
  /** The write statement's per-scan columns (array literals), as on one server. */
  columns: readonly string[];
  payloads: string;
  /** The scans to write: position in the batch (1-based), package, forced reason. */
  ords: number[];
  packageIds: number[];
  reasons: (string | null)[];
  changed: { packageId: number; status: PackageStatus }[];
  delivered: Map<number, string>;
  /** Where the raw scans go: doc_raw_scans, or the outbox for MongoDB. */
  documentsTarget: 'postgres' | 'outbox';
}

/**
 * The raw scans of the events just written (CTE `e`: event_id, package_id, idempotency_key) for
 * the scans of the batch (CTE `w`): into doc_raw_scans, or into the outbox for MongoDB. Shared
 * with the one-server statement (scan-write.ts).
 */
export function rawScansSql(target: 'postgres' | 'outbox'): string {
  return target === 'postgres'
    ? `insert into doc_raw_scans (id, tracking_number, event_id, scanned_at, source, payload)
       select 'scan-' || e.event_id, w.tracking_number, e.event_id, w.at::timestamptz, w.source, w.document
         from e join w on w.package_id = e.package_id and w.key = e.idempotency_key`
    : `insert into document_outbox (collection, document_id, document)
       select 'raw_scans', 'scan-' || e.event_id,
              jsonb_build_object('id', 'scan-' || e.event_id, 'trackingNumber', w.tracking_number, 'eventId', e.event_id,
                                 'scannedAt', w.at, 'source', w.source, 'payload', w.document)
         from e join w on w.package_id = e.package_id and w.key = e.idempotency_key`;
}

/** Writes the batch; returns each event id with its scan's position. */
export async function writeBatch(trx: Knex.Transaction, w: BatchWrite): Promise<{ event_id: number; ord: number }[]> {
  const scansSql = `
    select v.*, p.package_id, p.reason,
           coalesce(nullif(j.payload, 'null'), '{}') || jsonb_build_object('status', v.status,
             'location_id', v.location_id, 'idempotency_key', v.key) as document
      from unnest(?::int[], ?::bigint[], ?::text[]) as p(ord, package_id, reason)
      join unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
           with ordinality as v(status, location_id, at, key, hash, tracking_number, source, ord) using (ord)
      join jsonb_array_elements(?::jsonb) with ordinality as j(payload, ord) using (ord)`;
  const scanBindings = [w.ords, w.packageIds, w.reasons, ...w.columns, w.payloads];
  // The SELECT reads no distributed table: the coordinator evaluates it and routes each row.
  const events = await rows<{ event_id: number; package_id: number; idempotency_key: string }>(
    trx,
    `insert into tracking_events (package_id, location_id, status, event_timestamp, idempotency_key, scan_hash, forced_reason)
     select package_id, location_id, status, at::timestamptz, key, hash, reason from (${scansSql}) w order by ord
     returning event_id, package_id, idempotency_key`,
    scanBindings,
  );
  const eventsSql = `select * from unnest(?::bigint[], ?::bigint[], ?::text[]) as e(event_id, package_id, idempotency_key)`;
  const eventBindings = [events.map((e) => e.event_id), events.map((e) => e.package_id), events.map((e) => e.idempotency_key)];
  const written = await rows<{ event_id: number; ord: number }>(
    trx,
    `with w as (${scansSql}), e as (${eventsSql}), d as (
       ${rawScansSql(w.documentsTarget)})
     select e.event_id, w.ord from e join w on w.package_id = e.package_id and w.key = e.idempotency_key`,
    [...scanBindings, ...eventBindings],
  );
  for (const { packageId, status } of w.changed) {
    await trx.raw(`update packages set current_status = ? where package_id = ?`, [status, packageId]);
  }
  for (const [packageId, at] of w.delivered) {
    await trx.raw(`update shipments set actual_delivery = ?::timestamptz where package_id = ?`, [at, packageId]);
  }
  return written;
}
