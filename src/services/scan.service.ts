import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { isTransitionAllowed, terminalStatuses, type PackageStatus } from '../domain/status.js';
import { mapPostgresError } from '../errors.js';
import type { Database } from '../store/database.js';

/**
 * The write path (`shiptrack scan`): scans are recorded in batches, each batch one transaction
 * of a fixed number of set-based statements, so a batch is all or nothing and a thousand scans
 * cost about as many round trips as one. Packages are locked (in id order) for the batch, which
 * makes the idempotency check safe against another process recording the same scan.
 */

export interface ScanInput {
  /** Normalised and validated tracking number. */
  trackingNumber: string;
  status: PackageStatus;
  /** Location name, or its numeric id. */
  location: string;
  at: Date;
  /** Given by the scanner; derived from package, status, location and time when absent. */
  idempotencyKey?: string | undefined;
  /** The raw message (stored as a raw scan document). */
  payload?: Record<string, unknown> | undefined;
  source?: string | undefined;
  /** Record a transition the state machine forbids, with the reason. */
  forceReason?: string | undefined;
}

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

export interface ScanDeps {
  db: Database;
  /** Raw scans go to doc_raw_scans (no MongoDB), or to the outbox for MongoDB. */
  documentsTarget: 'postgres' | 'outbox';
}

interface PackageState {
  packageId: number;
  status: PackageStatus;
  latestAt: number;
}

interface PendingEvent {
  index: number;
  packageId: number;
  locationId: number;
  scan: ScanInput;
  key: string;
  hash: string;
  forcedReason: string | null;
  moves: boolean;
}

function fingerprint(scan: ScanInput, locationId: number): string {
  return createHash('sha256')
    .update(JSON.stringify([scan.status, locationId, scan.at.toISOString(), scan.payload ?? null]))
    .digest('hex');
}

function derivedKey(scan: ScanInput, locationId: number): string {
  const digest = createHash('sha256')
    .update(`${scan.trackingNumber}|${scan.status}|${locationId}|${scan.at.toISOString()}`)
    .digest('hex');
  return `derived:${digest.slice(0, 32)}`;
}

async function rows<T>(q: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[]): Promise<T[]> {
  const result = await q.raw<{ rows: T[] }>(sql, bindings as readonly Knex.RawBinding[]);
  return result.rows;
}

/** Records a batch of scans in one transaction; outcomes come back in input order. */
export async function recordScans(deps: ScanDeps, scans: readonly ScanInput[]): Promise<ScanOutcome[]> {
  if (scans.length === 0) return [];
  try {
    return await deps.db.knex.transaction(async (trx) => {
      const numbers = [...new Set(scans.map((s) => s.trackingNumber))];
      // The latest event time comes with each package: one backward index probe per package.
      const packages = await rows<{
        package_id: number;
        tracking_number: string;
        current_status: PackageStatus;
        latest_at: Date | null;
      }>(
        trx,
        `select p.package_id, p.tracking_number, p.current_status,
                (select e.event_timestamp from tracking_events e where e.package_id = p.package_id
                  order by e.event_timestamp desc, e.event_id desc limit 1) as latest_at
           from packages p where p.tracking_number = any (?::text[])
          order by p.package_id for update of p`,
        [numbers],
      );
      const byNumber = new Map(packages.map((p) => [p.tracking_number, p]));
      const packageIds = packages.map((p) => p.package_id);

      const locationNames = [...new Set(scans.map((s) => s.location))];
      const locations = await rows<{ location_id: number; location_name: string }>(
        trx,
        `select location_id, location_name from locations where location_name = any (?::text[]) or location_id::text = any (?::text[])`,
        [locationNames, locationNames],
      );
      const locationOf = new Map<string, number>();
      for (const l of locations) {
        locationOf.set(l.location_name, l.location_id);
        locationOf.set(String(l.location_id), l.location_id);
      }

      const state = new Map<number, PackageState>();
      for (const p of packages) {
        const latestAt = p.latest_at === null ? Number.NEGATIVE_INFINITY : new Date(p.latest_at).getTime();
        state.set(p.package_id, { packageId: p.package_id, status: p.current_status, latestAt });
      }

      // Keys as they will be stored, to find scans already recorded.
      const keyed = scans.map((scan) => {
        const locationId = locationOf.get(scan.location);
        return locationId === undefined ? undefined : { locationId, key: scan.idempotencyKey ?? derivedKey(scan, locationId) };
      });
      const knownKeys = await rows<{ package_id: number; idempotency_key: string; scan_hash: string; event_id: number }>(
        trx,
        `select package_id, idempotency_key, scan_hash, event_id from tracking_events
          where package_id = any (?::bigint[]) and idempotency_key = any (?::text[])`,
        [packageIds, [...new Set(keyed.flatMap((k) => (k === undefined ? [] : [k.key])))]],
      );
      const seen = new Map<string, { hash: string; eventId: number | undefined; index: number }>(
        knownKeys.map((k) => [`${k.package_id}|${k.idempotency_key}`, { hash: k.scan_hash, eventId: k.event_id, index: -1 }]),
      );

      const outcomes: (ScanOutcome | undefined)[] = new Array<ScanOutcome | undefined>(scans.length);
      const pending: PendingEvent[] = [];
      const duplicatesInBatch: { index: number; of: number }[] = [];
      scans.forEach((scan, index) => {
        const pkg = byNumber.get(scan.trackingNumber);
        const k = keyed[index];
        if (pkg === undefined) {
          outcomes[index] = {
            outcome: 'rejected',
            trackingNumber: scan.trackingNumber,
            code: 'unknown_package',
            reason: `no package has tracking number ${scan.trackingNumber}`,
          };
          return;
        }
        if (k === undefined) {
          outcomes[index] = {
            outcome: 'rejected',
            trackingNumber: scan.trackingNumber,
            code: 'unknown_location',
            reason: `no location is named or numbered "${scan.location}"`,
          };
          return;
        }
        const hash = fingerprint(scan, k.locationId);
        const previous = seen.get(`${pkg.package_id}|${k.key}`);
        if (previous !== undefined) {
          if (previous.hash !== hash) {
            outcomes[index] = {
              outcome: 'rejected',
              trackingNumber: scan.trackingNumber,
              code: 'idempotency_conflict',
              reason: `idempotency key ${k.key} was already used for a different scan of ${scan.trackingNumber}`,
            };
          } else {
            outcomes[index] = { outcome: 'duplicate', trackingNumber: scan.trackingNumber, eventId: previous.eventId ?? 0 };
            // Same scan earlier in this batch: its event id is known only after the insert.
            if (previous.eventId === undefined) duplicatesInBatch.push({ index, of: previous.index });
          }
          return;
        }
        const s = state.get(pkg.package_id);
        if (s === undefined) return;
        const at = scan.at.getTime();
        let moves = at >= s.latestAt;
        let forcedReason: string | null = null;
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
        seen.set(`${pkg.package_id}|${k.key}`, { hash, eventId: undefined, index });
        pending.push({ index, packageId: pkg.package_id, locationId: k.locationId, scan, key: k.key, hash, forcedReason, moves });
        if (moves) {
          const before = s.status;
          s.status = scan.status;
          s.latestAt = at;
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
        const inserted = await rows<{ event_id: number }>(
          trx,
          `insert into tracking_events (package_id, location_id, status, event_timestamp, idempotency_key, scan_hash, forced_reason)
           select package_id, location_id, status, at, key, hash, reason
             from unnest(?::bigint[], ?::int[], ?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::text[])
                  with ordinality as v(package_id, location_id, status, at, key, hash, reason, ord)
            order by ord
           returning event_id`,
          [
            pending.map((p) => p.packageId),
            pending.map((p) => p.locationId),
            pending.map((p) => p.scan.status),
            pending.map((p) => p.scan.at.toISOString()),
            pending.map((p) => p.key),
            pending.map((p) => p.hash),
            pending.map((p) => p.forcedReason),
          ],
        );
        // Event ids come from one sequence in insert order: map them back by position.
        const ids = inserted.map((r) => r.event_id).sort((a, b) => a - b);
        pending.forEach((p, i) => {
          const outcome = outcomes[p.index];
          if (outcome !== undefined && 'eventId' in outcome) outcome.eventId = ids[i] as number;
        });
        for (const { index, of } of duplicatesInBatch) {
          const duplicate = outcomes[index];
          const first = outcomes[of];
          if (duplicate !== undefined && 'eventId' in duplicate && first !== undefined && 'eventId' in first)
            duplicate.eventId = first.eventId;
        }

        // The last accepted scan of each package decides its status.
        const moved = new Map<number, { status: PackageStatus; at: string }>();
        for (const p of pending) if (p.moves) moved.set(p.packageId, { status: p.scan.status, at: p.scan.at.toISOString() });
        if (moved.size > 0) {
          const changes = [...moved.entries()];
          await rows(
            trx,
            `update packages p set current_status = v.status from unnest(?::bigint[], ?::text[]) as v(id, status) where p.package_id = v.id`,
            [changes.map(([id]) => id), changes.map(([, c]) => c.status)],
          );
          const delivered = changes.filter(([, c]) => c.status === 'delivered');
          if (delivered.length > 0) {
            await rows(
              trx,
              `update shipments s set actual_delivery = v.at from unnest(?::bigint[], ?::timestamptz[]) as v(id, at) where s.package_id = v.id`,
              [delivered.map(([id]) => id), delivered.map(([, c]) => c.at)],
            );
          }
        }

        const documents = pending.map((p) => {
          const eventId = (outcomes[p.index] as { eventId: number }).eventId;
          return {
            id: `scan-${eventId}`,
            trackingNumber: p.scan.trackingNumber,
            eventId,
            scannedAt: p.scan.at.toISOString(),
            source: p.scan.source ?? 'scanner',
            payload: { ...(p.scan.payload ?? {}), status: p.scan.status, location_id: p.locationId, idempotency_key: p.key },
          };
        });
        if (deps.documentsTarget === 'postgres') {
          await rows(
            trx,
            `insert into doc_raw_scans (id, tracking_number, event_id, scanned_at, source, payload)
             select * from unnest(?::text[], ?::text[], ?::bigint[], ?::timestamptz[], ?::text[], ?::jsonb[])`,
            [
              documents.map((d) => d.id),
              documents.map((d) => d.trackingNumber),
              documents.map((d) => d.eventId),
              documents.map((d) => d.scannedAt),
              documents.map((d) => d.source),
              documents.map((d) => JSON.stringify(d.payload)),
            ],
          );
        } else {
          await trx.raw(
            `insert into document_outbox (collection, document_id, document)
             select 'raw_scans', id, document from unnest(?::text[], ?::jsonb[]) as v(id, document)`,
            [documents.map((d) => d.id), documents.map((d) => JSON.stringify(d))],
          );
        }
      }
      return outcomes as ScanOutcome[];
    });
  } catch (error) {
    throw mapPostgresError(error);
  }
}
