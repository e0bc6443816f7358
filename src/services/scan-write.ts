import { hash as digest } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Knex } from 'knex';
import { isTransitionAllowed, judgeAtPlace, terminalStatuses, type PackageStatus, type PlacedEvent } from '../domain/status.js';
import { mapPostgresError } from '../errors.js';
import type { ScanInput } from '../domain/scan-input.js';
import type { Database } from '../store/database.js';
import * as citus from './scan-write-citus.js';
import type { DocumentsTarget } from '../store/documents/document-store.js';

/**
 * The write path (`shiptrack scan`): scans are recorded in batches, each batch one transaction
 * of three set-based statements (lock, read, write), so a batch is all or nothing and a thousand
 * scans cost about as many round trips as one. Packages are locked (in id order) for the batch,
 * which makes the idempotency check safe against another process recording the same scan. What
 * needs no database (keys, fingerprints, documents, the statement's arrays) is prepared before
 * the transaction, so that in bulk it is done while the database works on the previous batch.
 */

export type ScanOutcome =
  | { outcome: 'accepted'; eventId: number; trackingNumber: string; status: PackageStatus; previousStatus: PackageStatus }
  | { outcome: 'out_of_order'; eventId: number; trackingNumber: string; status: PackageStatus }
  | { outcome: 'after_terminal'; eventId: number; trackingNumber: string; status: PackageStatus }
  | { outcome: 'duplicate'; eventId: number; trackingNumber: string }
  | {
      outcome: 'rejected';
      trackingNumber: string;
      code: 'unknown_package' | 'unknown_location' | 'forbidden_transition' | 'idempotency_conflict';
      reason: string;
    };

/** What the write path needs: the database, and where raw scans go. */
export interface ScanDeps {
  db: Database;
  /** Raw scans go to doc_raw_scans (no MongoDB), or to the outbox for MongoDB. */
  documentsTarget: DocumentsTarget;
}

interface PackageState {
  packageId: number;
  status: PackageStatus;
  latestAt: number;
}

/**
 * sha256 of JSON.stringify([status, locationId, at, payload ?? null]), built around the payload's
 * JSON (which the batch sends anyway) rather than serialising the payload a second time.
 */
function fingerprint(scan: ScanInput, locationId: number, at: string, payloadJson: string): string {
  return digest('sha256', `[${JSON.stringify(scan.status)},${locationId},${JSON.stringify(at)},${payloadJson}]`, 'hex');
}

function derivedKey(scan: ScanInput, locationId: number, at: string): string {
  return `derived:${digest('sha256', `${scan.trackingNumber}|${scan.status}|${locationId}|${at}`, 'hex').slice(0, 32)}`;
}

async function rows<T>(q: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[]): Promise<T[]> {
  const result = await q.raw<{ rows: T[] }>(sql, bindings as readonly Knex.RawBinding[]);
  return result.rows;
}

const needsEscape = /[\\"]/;

/** A PostgreSQL array literal of text (the driver passes a string through as it is). */
function textArray(values: readonly (string | null | undefined)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i];
    parts[i] = v === null || v === undefined ? 'NULL' : needsEscape.test(v) ? `"${v.replace(/[\\"]/g, '\\$&')}"` : `"${v}"`;
  }
  return `{${parts.join(',')}}`;
}

/** Location name or id (as given in a scan) → location id, for the locations seen so far. */
type LocationIds = Map<string, number>;

/** Looks up the locations among `names` that `known` does not have yet, and adds them. */
async function resolveLocations(db: Database, known: LocationIds, names: Iterable<string>): Promise<void> {
  const missing = [...new Set(names)].filter((n) => !known.has(n));
  if (missing.length === 0) return;
  let found: { location_id: number; location_name: string }[];
  try {
    found = await rows(
      db.knex,
      `select location_id, location_name from locations where location_name = any (?::text[]) or location_id::text = any (?::text[])
        order by location_id`,
      [missing, missing],
    );
  } catch (error) {
    throw mapPostgresError(error);
  }
  for (const l of found) if (!known.has(String(l.location_id))) known.set(String(l.location_id), l.location_id);
  for (const l of found) known.set(l.location_name, l.location_id);
}

/** A batch with everything computed that needs no database. */
interface PreparedBatch {
  scans: readonly ScanInput[];
  /** Per scan: its location, key and fingerprint; undefined for an unknown location. */
  rows: ({ locationId: number; key: string; hash: string } | undefined)[];
  numbers: string[];
  /** Per-scan columns of the write statement, as array literals (null for unknown locations). */
  columns: string[];
  /** The scans' payloads as one JSON array (no escaping needed, parsed once by PostgreSQL). */
  payloads: string;
}

/** Scans prepared between two turns of the event loop (about a millisecond's work). */
const prepareSlice = 200;

/**
 * Prepares a batch in slices, giving the event loop a turn between them: the batch before it is
 * being recorded meanwhile, and its next statement must not wait for this one's hashing.
 */
async function prepareBatch(scans: readonly ScanInput[], locations: LocationIds): Promise<PreparedBatch> {
  const n = scans.length;
  const rows: PreparedBatch['rows'] = new Array<PreparedBatch['rows'][number]>(n);
  const column = (): (string | undefined)[] => new Array<string | undefined>(n);
  const [status, location, at, key, hash, number, source] = [
    column(),
    column(),
    column(),
    column(),
    column(),
    column(),
    column(),
  ];
  const payloads = new Array<string>(n);
  for (let start = 0; start < n; start += prepareSlice) {
    if (start > 0) await yieldToEventLoop();
    for (let i = start; i < Math.min(n, start + prepareSlice); i += 1) {
      const scan = scans[i] as ScanInput;
      const locationId = locations.get(scan.location);
      if (locationId === undefined) {
        payloads[i] = 'null';
        continue;
      }
      const iso = scan.at.toISOString();
      const payload = JSON.stringify(scan.payload ?? null);
      const k = scan.idempotencyKey ?? derivedKey(scan, locationId, iso);
      const h = fingerprint(scan, locationId, iso, payload);
      rows[i] = { locationId, key: k, hash: h };
      status[i] = scan.status;
      location[i] = String(locationId);
      at[i] = iso;
      key[i] = k;
      hash[i] = h;
      number[i] = scan.trackingNumber;
      source[i] = scan.source ?? 'scanner';
      payloads[i] = payload;
    }
  }
  await yieldToEventLoop();
  return {
    scans,
    rows,
    numbers: [...new Set(scans.map((s) => s.trackingNumber))],
    columns: [status, location, at, key, hash, number, source].map(textArray),
    payloads: `[${payloads.join(',')}]`,
  };
}

interface PendingEvent {
  /** Position in the batch (0-based). */
  index: number;
  packageId: number;
  forcedReason: string | null;
}

/**
 * The timelines (oldest first) of the packages that have a scan in the batch older than their
 * latest event, counting the batch's own earlier scans: those are judged at their place in time.
 * Most batches have none, and cost nothing here.
 */
async function timelinesForLateScans(
  trx: Knex.Transaction,
  scans: readonly ScanInput[],
  packageOf: ReadonlyMap<string, number>,
  state: ReadonlyMap<number, PackageState>,
): Promise<Map<number, PlacedEvent[]>> {
  const latest = new Map<number, number>();
  const late = new Set<number>();
  for (const scan of scans) {
    const packageId = packageOf.get(scan.trackingNumber);
    if (packageId === undefined) continue;
    const newest = latest.get(packageId) ?? state.get(packageId)?.latestAt ?? Number.NEGATIVE_INFINITY;
    const at = scan.at.getTime();
    if (at < newest) late.add(packageId);
    latest.set(packageId, Math.max(newest, at));
  }
  const timelines = new Map<number, PlacedEvent[]>();
  if (late.size === 0) return timelines;
  const events = await rows<{ package_id: number; status: PackageStatus; at: Date; forced: boolean }>(
    trx,
    `select package_id, status, event_timestamp as at, forced_reason is not null as forced from tracking_events
      where package_id = any (?::bigint[]) order by package_id, event_timestamp, event_id`,
    [[...late]],
  );
  for (const packageId of late) timelines.set(packageId, []);
  for (const e of events) timelines.get(e.package_id)?.push({ at: new Date(e.at).getTime(), status: e.status, forced: e.forced });
  return timelines;
}

/** Records a prepared batch in one transaction; outcomes come back in input order. */
async function recordBatch(deps: ScanDeps, batch: PreparedBatch): Promise<ScanOutcome[]> {
  const { scans } = batch;
  try {
    return await deps.db.knex.transaction(async (trx) => {
      // Locked in id order, so two processes recording scans of the same packages queue up
      // rather than deadlock. A row locked after a wait is the version the other process left.
      const distributed = deps.db.distributed === true;
      const locked = distributed
        ? await citus.lockPackagesByNumber(trx, batch.numbers)
        : await rows<{ package_id: number; tracking_number: string; current_status: PackageStatus }>(
            trx,
            `select package_id, tracking_number, current_status from packages where tracking_number = any (?::text[])
              order by package_id for update`,
            [batch.numbers],
          );
      const packageOf = new Map(locked.map((p) => [p.tracking_number, p.package_id]));

      const keyOwners: number[] = [];
      const keys: string[] = [];
      scans.forEach((scan, i) => {
        const packageId = packageOf.get(scan.trackingNumber);
        const row = batch.rows[i];
        if (packageId === undefined || row === undefined) return;
        keyOwners.push(packageId);
        keys.push(row.key);
      });
      // The events are read after the lock, in a statement of its own: under READ COMMITTED its
      // snapshot then includes whatever another process committed for these packages while we
      // waited. The latest event time is one backward index probe per package, the known keys one
      // probe each on both columns of the key's index (LIMIT keeps the planner from turning it into
      // a walk over all the package's keyed events, which grows with its history).
      const events = distributed
        ? await citus.readKnownEvents(trx, keyOwners, keys)
        : await rows<{ package_id: number; latest_at: Date | null; known: [string, string, number][] | null }>(
            trx,
            `select k.package_id,
                (select e.event_timestamp from tracking_events e where e.package_id = k.package_id
                  order by e.event_timestamp desc, e.event_id desc limit 1) as latest_at,
                (select json_agg(json_build_array(x.key, f.scan_hash, f.event_id))
                   from unnest(k.keys) as x(key)
                   cross join lateral (select e.scan_hash, e.event_id from tracking_events e
                                        where e.package_id = k.package_id and e.idempotency_key = x.key limit 1) f) as known
           from (select v.package_id, array_agg(v.key) as keys from unnest(?::bigint[], ?::text[]) as v(package_id, key)
                  group by v.package_id) k`,
            [keyOwners, textArray(keys)],
          );
      const statusOf = new Map(locked.map((p) => [p.package_id, p.current_status]));
      const state = new Map<number, PackageState>();
      const seen = new Map<string, { hash: string; eventId: number | undefined; index: number }>();
      for (const p of events) {
        const latestAt = p.latest_at === null ? Number.NEGATIVE_INFINITY : new Date(p.latest_at).getTime();
        state.set(p.package_id, { packageId: p.package_id, status: statusOf.get(p.package_id) as PackageStatus, latestAt });
        for (const [key, hash, eventId] of p.known ?? []) seen.set(`${p.package_id}|${key}`, { hash, eventId, index: -1 });
      }

      const timelines = await timelinesForLateScans(trx, scans, packageOf, state);

      const outcomes: (ScanOutcome | undefined)[] = new Array<ScanOutcome | undefined>(scans.length);
      const pending: PendingEvent[] = [];
      const delivered = new Map<number, string>();
      const duplicatesInBatch: { index: number; of: number }[] = [];
      scans.forEach((scan, index) => {
        const packageId = packageOf.get(scan.trackingNumber);
        const row = batch.rows[index];
        if (packageId === undefined) {
          outcomes[index] = {
            outcome: 'rejected',
            trackingNumber: scan.trackingNumber,
            code: 'unknown_package',
            reason: `no package has tracking number ${scan.trackingNumber}`,
          };
          return;
        }
        if (row === undefined) {
          outcomes[index] = {
            outcome: 'rejected',
            trackingNumber: scan.trackingNumber,
            code: 'unknown_location',
            reason: `no location is named or numbered "${scan.location}"`,
          };
          return;
        }
        const previous = seen.get(`${packageId}|${row.key}`);
        if (previous !== undefined) {
          if (previous.hash !== row.hash) {
            outcomes[index] = {
              outcome: 'rejected',
              trackingNumber: scan.trackingNumber,
              code: 'idempotency_conflict',
              reason: `idempotency key ${row.key} was already used for a different scan of ${scan.trackingNumber}`,
            };
          } else {
            outcomes[index] = { outcome: 'duplicate', trackingNumber: scan.trackingNumber, eventId: previous.eventId ?? 0 };
            // Same scan earlier in this batch: its event id is known only after the insert.
            if (previous.eventId === undefined) duplicatesInBatch.push({ index, of: previous.index });
          }
          return;
        }
        const s = state.get(packageId);
        if (s === undefined) return;
        const at = scan.at.getTime();
        let moves = at >= s.latestAt;
        let forcedReason: string | null = null;
        const timeline = timelines.get(packageId);
        if (!moves && timeline !== undefined) {
          // Older than the latest event: judged at its place in the timeline, as `check` judges it.
          const illegal = judgeAtPlace(timeline, { at, status: scan.status, forced: false });
          if (illegal !== null && scan.forceReason === undefined) {
            const where = illegal.before ? 'the scan before it' : 'the scan after it';
            outcomes[index] = {
              outcome: 'rejected',
              trackingNumber: scan.trackingNumber,
              code: 'forbidden_transition',
              reason: `${scan.trackingNumber}: at ${scan.at.toISOString()}, between its neighbours in time, ${illegal.from} → ${illegal.to} (with ${where}) is not an allowed transition (use --force with a reason to record it)`,
            };
            return;
          }
          if (illegal !== null) forcedReason = scan.forceReason ?? null;
        }
        if (moves && terminalStatuses.has(s.status)) {
          moves = false; // kept as history, flagged by `track`
        } else if (moves && !isTransitionAllowed(s.status, scan.status)) {
          if (scan.forceReason === undefined) {
            outcomes[index] = {
              outcome: 'rejected',
              trackingNumber: scan.trackingNumber,
              code: 'forbidden_transition',
              reason: `${scan.trackingNumber}: ${s.status} → ${scan.status} is not an allowed transition (use --force with a reason to record it)`,
            };
            return;
          }
          forcedReason = scan.forceReason;
        }
        seen.set(`${packageId}|${row.key}`, { hash: row.hash, eventId: undefined, index });
        pending.push({ index, packageId, forcedReason });
        if (timeline !== undefined) {
          // Later scans of the batch are judged against this one too (the sort is stable: at an
          // equal time it stays after the events already there, as its id will).
          timeline.push({ at, status: scan.status, forced: forcedReason !== null });
          timeline.sort((a, b) => a.at - b.at);
        }
        if (moves) {
          const before = s.status;
          s.status = scan.status;
          s.latestAt = at;
          // A delivery is the last move a package can make in the batch: terminal from then on.
          if (scan.status === 'delivered') delivered.set(packageId, scan.at.toISOString());
          outcomes[index] = {
            outcome: 'accepted',
            eventId: 0,
            trackingNumber: scan.trackingNumber,
            status: scan.status,
            previousStatus: before,
          };
        } else {
          outcomes[index] = {
            outcome: at < s.latestAt ? 'out_of_order' : 'after_terminal',
            eventId: 0,
            trackingNumber: scan.trackingNumber,
            status: scan.status,
          };
        }
      });

      if (pending.length > 0) {
        // Only a package whose status differs at the end of the batch gets a new row version (a hub
        // scan of a package in transit changes nothing).
        const changed = [...state.values()].filter((s) => s.status !== statusOf.get(s.packageId));
        const document = citus.rawScansSql(deps.documentsTarget);
        // One statement writes the batch: the events (in batch order), their raw scans (the payload
        // with the scan's status, location and key; to the table or the outbox), the packages'
        // status and the delivery times. Each event id comes back with the position of its scan,
        // matched by the (package, key) the batch has once.
        const inserted = distributed
          ? await citus.writeBatch(trx, {
              columns: batch.columns,
              payloads: batch.payloads,
              ords: pending.map((p) => p.index + 1),
              packageIds: pending.map((p) => p.packageId),
              reasons: pending.map((p) => p.forcedReason),
              changed: changed.map((c) => ({ packageId: c.packageId, status: c.status })),
              delivered,
              documentsTarget: deps.documentsTarget,
            })
          : await rows<{ event_id: number; ord: number }>(
              trx,
              `with v as (
             select * from unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
                    with ordinality as v(status, location_id, at, key, hash, tracking_number, source, ord)
           ), w as (
             select v.*, p.package_id, p.reason,
                    coalesce(nullif(j.payload, 'null'), '{}') || jsonb_build_object('status', v.status,
                      'location_id', v.location_id, 'idempotency_key', v.key) as document
               from unnest(?::int[], ?::bigint[], ?::text[]) as p(ord, package_id, reason)
               join v using (ord)
               join jsonb_array_elements(?::jsonb) with ordinality as j(payload, ord) using (ord)
           ), e as (
             insert into tracking_events (package_id, location_id, status, event_timestamp, idempotency_key, scan_hash, forced_reason)
             select package_id, location_id, status, at::timestamptz, key, hash, reason from w order by ord
             returning event_id, package_id, idempotency_key
           ), d as (${document}
           ), s as (
             update packages p set current_status = c.status from unnest(?::bigint[], ?::text[]) as c(id, status)
              where p.package_id = c.id
           ), a as (
             update shipments s set actual_delivery = c.at from unnest(?::bigint[], ?::timestamptz[]) as c(id, at)
              where s.package_id = c.id
           )
           select e.event_id, w.ord from e join w on w.package_id = e.package_id and w.key = e.idempotency_key`,
              [
                ...batch.columns,
                pending.map((p) => p.index + 1),
                pending.map((p) => p.packageId),
                pending.map((p) => p.forcedReason),
                batch.payloads,
                changed.map((s) => s.packageId),
                changed.map((s) => s.status),
                [...delivered.keys()],
                [...delivered.values()],
              ],
            );
        for (const { event_id, ord } of inserted) {
          const outcome = outcomes[ord - 1];
          if (outcome !== undefined && 'eventId' in outcome) outcome.eventId = event_id;
        }
        for (const { index, of } of duplicatesInBatch) {
          const duplicate = outcomes[index];
          const first = outcomes[of];
          if (duplicate !== undefined && 'eventId' in duplicate && first !== undefined && 'eventId' in first)
            duplicate.eventId = first.eventId;
        }
      }
      return outcomes as ScanOutcome[];
    });
  } catch (error) {
    throw mapPostgresError(error);
  }
}

/**
 * Writes a batch of checked scans in one transaction; outcomes come back in input order. The
 * write only: `recordScans` (scan.service.ts) is the use case, which also refreshes
 * the cache, tells watchers and delivers the raw scans.
 */
export async function writeScans(deps: ScanDeps, scans: readonly ScanInput[]): Promise<ScanOutcome[]> {
  if (scans.length === 0) return [];
  const locations: LocationIds = new Map();
  await resolveLocations(
    deps.db,
    locations,
    scans.map((s) => s.location),
  );
  return recordBatch(deps, await prepareBatch(scans, locations));
}

export interface ScanPipelineOptions<T> {
  /** Scans per transaction. */
  batchSize: number;
  /**
   * Transactions at a time, each stream over its own share of the packages (by tracking number),
   * so they never wait for each other's locks. 1 records the scans strictly in batches of
   * consecutive scans. Default: 2 on a server, 1 on the embedded database (one connection).
   */
  streams?: number;
  /** The outcomes of a committed batch, with the tags its scans were added with. */
  onRecorded: (outcomes: ScanOutcome[], tags: T[]) => Promise<void> | void;
}

/** Bulk recording: scans go in with `add`; `finish` records what is left and waits for it. */
export interface ScanPipeline<T> {
  /**
   * Queues a scan. Returns a promise when the caller should wait before adding more (a batch
   * was handed over and its stream is still busy with the one before); rejects once a batch
   * has failed, after which nothing more is recorded.
   */
  add(scan: ScanInput, tag: T): Promise<void> | undefined;
  /** Records the scans still queued and waits for every batch; rejects with the first failure. */
  finish(): Promise<void>;
  /** Records nothing more and waits for the batches being recorded (after an error elsewhere). */
  stop(): Promise<void>;
}

interface Stream<T> {
  scans: ScanInput[];
  tags: T[];
  /** The stream's batch being recorded, with its `onRecorded`. */
  recording: Promise<void>;
}

/** FNV-1a: which stream a package's scans go to. */
function streamOf(trackingNumber: string, streams: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < trackingNumber.length; i += 1) h = Math.imul(h ^ trackingNumber.charCodeAt(i), 0x01000193);
  return (h >>> 0) % streams;
}

/**
 * Records scans in batches, one transaction per batch, preparing each batch (and letting the
 * caller read on) while the database records the one before. With several streams, the scans of
 * a package always go to the same stream, in the order they were added, and each stream records
 * its batches one after another: every package sees its scans exactly as if the whole input had
 * been recorded batch after batch, and streams never contend for a package's lock. (What one
 * batch decides depends only on its own packages' rows.) After a failure, what is recorded of
 * each package is the start of its scans, so running the same input again completes it.
 */
export function createScanPipeline<T>(deps: ScanDeps, options: ScanPipelineOptions<T>): ScanPipeline<T> {
  const locations: LocationIds = new Map();
  const count = Math.max(1, options.streams ?? (deps.db.mode === 'server' ? 2 : 1));
  const streams: Stream<T>[] = Array.from({ length: count }, () => ({ scans: [], tags: [], recording: Promise.resolve() }));
  /** The first failed batch: its error, and its promise (which rejects with it). */
  let failure: { error: unknown; recording: Promise<void> } | undefined;
  let stopped = false;

  async function handOver(stream: Stream<T>): Promise<void> {
    const { scans, tags } = stream;
    stream.scans = [];
    stream.tags = [];
    await resolveLocations(
      deps.db,
      locations,
      scans.map((s) => s.location),
    );
    const batch = await prepareBatch(scans, locations);
    await stream.recording;
    if (failure !== undefined) throw failure.error;
    if (stopped) return;
    const recording = (async () => {
      await options.onRecorded(await recordBatch(deps, batch), tags);
    })();
    stream.recording = recording;
    recording.catch((error: unknown) => {
      failure ??= { error, recording };
    });
  }

  return {
    add(scan, tag) {
      if (failure !== undefined) return failure.recording;
      const stream = streams[count === 1 ? 0 : streamOf(scan.trackingNumber, count)] as Stream<T>;
      stream.scans.push(scan);
      stream.tags.push(tag);
      return stream.scans.length >= options.batchSize ? handOver(stream) : undefined;
    },
    async finish() {
      const last = await Promise.allSettled(
        streams.map((stream) => (stream.scans.length > 0 && failure === undefined ? handOver(stream) : Promise.resolve())),
      );
      await Promise.allSettled(streams.map((stream) => stream.recording));
      if (failure !== undefined) throw failure.error;
      for (const result of last) if (result.status === 'rejected') throw result.reason;
    },
    async stop() {
      stopped = true;
      await Promise.allSettled(streams.map((stream) => stream.recording));
    },
  };
}
