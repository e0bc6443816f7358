import type { ChainableCommander } from 'ioredis';
import { databaseId } from './database.js';
import { isCluster, writeTogether, type RedisClient } from './redis.js';
import type { PackageStatus } from '../domain/status.js';
import type { LocalTime, Place, TimelineEvent, TrackedPackage } from '../domain/timeline.js';
import type { ReadNeed } from './replicas.js';

/**
 * Cache-aside for `track` in Redis. Each number has a version counter; a reader notes the
 * version before it reads the database and writes its answer only if the version is unchanged
 * (atomically, in Lua), so a slow reader can never put back a value older than a scan that
 * happened meanwhile. A scan bumps the version and deletes the value before it returns.
 */

export interface CachedAnswer {
  /** null: the number is known not to exist (negative caching). */
  value: TrackedPackage | null;
  cachedAt: number;
}

export interface CacheLookup {
  hit: CachedAnswer | undefined;
  /** The number's version, read on a miss (before the database is), for `store`; '' on a hit. */
  version: string;
  /**
   * On a miss, what a replica must have replayed to answer: the commit position (WAL LSN) of the
   * number's last scan; none when no scan is recorded (any replica within the lag bound will do);
   * the primary only when a scan is recorded without its position.
   */
  need: ReadNeed;
}

export interface TrackCache {
  lookup(trackingNumber: string): Promise<CacheLookup>;
  /** Stores the answer if no write happened since `version` was read. True if stored. */
  store(trackingNumber: string, answer: TrackedPackage | null, version: string): Promise<boolean>;
  /** After a write to the number committed at `lsn` (pg_current_wal_lsn() after the commit). */
  invalidate(trackingNumber: string, lsn?: string): Promise<void>;
}

export interface TrackCacheOptions {
  ttlMs: number;
  negativeTtlMs: number;
  prefix?: string;
}

const versionTtlMs = 3_600_000;

const storeIfUnchanged = `
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

/**
 * The cached form of an answer: JSON arrays rather than objects, each place listed once, times as
 * epoch milliseconds. A third of the size of the answer's own JSON, and read back in about a third
 * of the time: no key per field, no date text to parse. `[2, cachedAt, null]` caches "not found".
 * The leading 2 names the form: an answer cached in another form is a miss (and then replaced).
 */
const cachedForm = 2;

type LocalTuple = [text: string, offsetMinutes: number];
type PlaceTuple = [name: string, city: string, state: string, timeZone: string];
type EventTuple = [
  eventId: number,
  status: PackageStatus,
  at: number,
  recordedAt: number,
  place: number,
  local: LocalTuple | null,
  reason: string | null,
];
type PackageTuple = [
  packageId: number,
  trackingNumber: string,
  currentStatus: PackageStatus,
  sender: string,
  recipient: string,
  weight: string,
  metadata: Record<string, unknown>,
  places: PlaceTuple[],
  origin: number,
  destination: number,
  estimatedDelivery: number,
  actualDelivery: number | null,
  estimatedLocal: LocalTuple | null,
  actualLocal: LocalTuple | null,
  events: EventTuple[],
];
type CachedTuple = [form: typeof cachedForm, cachedAt: number, answer: PackageTuple | null];

const localTuple = (local: LocalTime | null | undefined): LocalTuple | null =>
  local == null ? null : [local.text, local.offsetMinutes];

/** The text an answer is cached as (see cachedForm). */
export function encodeCachedAnswer(answer: TrackedPackage | null, cachedAt: number): string {
  if (answer === null) return JSON.stringify([cachedForm, cachedAt, null]);
  const places: PlaceTuple[] = [];
  const indexes = new Map<string, number>();
  const placeIndex = (place: Place): number => {
    const key = `${place.name}\u0000${place.city}\u0000${place.state}\u0000${place.timeZone}`;
    let index = indexes.get(key);
    if (index === undefined) {
      index = places.push([place.name, place.city, place.state, place.timeZone]) - 1;
      indexes.set(key, index);
    }
    return index;
  };
  const origin = placeIndex(answer.origin);
  const destination = placeIndex(answer.destination);
  const events = answer.events.map((e): EventTuple => [
    e.eventId,
    e.status,
    e.at.getTime(),
    e.recordedAt.getTime(),
    placeIndex(e.location),
    localTuple(e.local),
    e.reason ?? null,
  ]);
  const tuple: PackageTuple = [
    answer.packageId,
    answer.trackingNumber,
    answer.currentStatus,
    answer.sender,
    answer.recipient,
    answer.weight,
    answer.metadata,
    places,
    origin,
    destination,
    answer.estimatedDelivery.getTime(),
    answer.actualDelivery === null ? null : answer.actualDelivery.getTime(),
    localTuple(answer.estimatedLocal),
    localTuple(answer.actualLocal),
    events,
  ];
  return JSON.stringify([cachedForm, cachedAt, tuple] satisfies CachedTuple);
}

const placeOf = (places: readonly PlaceTuple[], index: number): Place => {
  const p = places[index] as PlaceTuple;
  return { name: p[0], city: p[1], state: p[2], timeZone: p[3] };
};

/** An answer read back from its cached text; undefined when the text is in another form. */
export function decodeCachedAnswer(text: string): CachedAnswer | undefined {
  if (!text.startsWith(`[${cachedForm},`)) return undefined;
  const [, cachedAt, p] = JSON.parse(text) as CachedTuple;
  if (p === null) return { value: null, cachedAt };
  const places = p[7];
  const rows = p[14];
  const events = new Array<TimelineEvent>(rows.length);
  for (let i = 0; i < rows.length; i += 1) {
    const e = rows[i] as EventTuple;
    const local = e[5];
    events[i] = {
      eventId: e[0],
      status: e[1],
      at: new Date(e[2]),
      recordedAt: new Date(e[3]),
      location: placeOf(places, e[4]),
      local: local === null ? undefined : { text: local[0], offsetMinutes: local[1] },
      reason: e[6],
    };
  }
  const estimatedLocal = p[12];
  const actualLocal = p[13];
  const value: TrackedPackage = {
    packageId: p[0],
    trackingNumber: p[1],
    currentStatus: p[2],
    sender: p[3],
    recipient: p[4],
    weight: p[5],
    metadata: p[6],
    origin: placeOf(places, p[8]),
    destination: placeOf(places, p[9]),
    estimatedDelivery: new Date(p[10]),
    actualDelivery: p[11] === null ? null : new Date(p[11]),
    estimatedLocal: estimatedLocal === null ? undefined : { text: estimatedLocal[0], offsetMinutes: estimatedLocal[1] },
    actualLocal: actualLocal === null ? null : { text: actualLocal[0], offsetMinutes: actualLocal[1] },
    events,
  };
  return { value, cachedAt };
}

// The number in braces is the keys' hash tag: on a Redis Cluster a number's answer, version and
// position live in one slot, so the store script and the invalidation can touch them together.
const valueKeyOf = (prefix: string, n: string): string => `${prefix}{${n}}`;
const versionKeyOf = (prefix: string, n: string): string => `${prefix}{${n}}:version`;
const lsnKeyOf = (prefix: string, n: string): string => `${prefix}{${n}}:lsn`;

/** The key a number's cached answer is kept under (for tools that inspect the cache). */
export function trackCacheKey(prefix: string, trackingNumber: string): string {
  return valueKeyOf(prefix, trackingNumber);
}

/**
 * Bumps the number's version, records the commit position of the write (or forgets an older one:
 * then only the primary is sure to have the write), then drops its answer. The version and the
 * position outlive any reader and any replica within the lag bound by far, then go: keys must not
 * pile up per number.
 */
function queueInvalidation(batch: ChainableCommander, prefix: string, trackingNumber: string, lsn: string | undefined): void {
  batch.incr(versionKeyOf(prefix, trackingNumber)).pexpire(versionKeyOf(prefix, trackingNumber), versionTtlMs);
  if (lsn === undefined) batch.del(lsnKeyOf(prefix, trackingNumber));
  else batch.set(lsnKeyOf(prefix, trackingNumber), lsn, 'PX', versionTtlMs);
  batch.del(valueKeyOf(prefix, trackingNumber));
}

/** What a read must see, from the version and position read together on a miss. */
function needOf(version: string | null, lsn: string | null): ReadNeed {
  if (version === null) return { minLsn: null };
  return lsn === null ? { minLsn: null, primaryOnly: true } : { minLsn: lsn };
}

export function createTrackCache(redis: RedisClient, options: TrackCacheOptions): TrackCache {
  const prefix = options.prefix ?? 'shiptrack:track:';
  const valueKey = (n: string): string => valueKeyOf(prefix, n);
  const versionKey = (n: string): string => versionKeyOf(prefix, n);
  return {
    async lookup(trackingNumber) {
      // A hit is one GET: a scan deletes the value when it bumps the version, so a value found is
      // current. Only a miss needs the version, and reads it before the database is read, which
      // is all `store` needs to refuse an answer older than a scan.
      writeTogether(redis);
      const value = await redis.get(valueKey(trackingNumber));
      const hit = value == null ? undefined : decodeCachedAnswer(value);
      if (hit !== undefined) return { hit, version: '', need: { minLsn: null } };
      writeTogether(redis);
      const [version = null, lsn = null] = await redis.mget(versionKey(trackingNumber), lsnKeyOf(prefix, trackingNumber));
      return { hit: undefined, version: version ?? '0', need: needOf(version, lsn) };
    },
    async store(trackingNumber, answer, version) {
      const payload = encodeCachedAnswer(answer, Date.now());
      const ttl = answer === null ? options.negativeTtlMs : options.ttlMs;
      const stored = await redis.eval(
        storeIfUnchanged,
        2,
        valueKey(trackingNumber),
        versionKey(trackingNumber),
        version,
        payload,
        ttl,
      );
      return stored === 1;
    },
    async invalidate(trackingNumber, lsn) {
      const batch = redis.multi();
      queueInvalidation(batch, prefix, trackingNumber, lsn);
      await batch.exec();
    },
  };
}

/** Cache keys are per database: two databases behind one Redis must not answer for each other. */
export function trackCachePrefix(databaseTarget: string): string {
  return `shiptrack:${databaseId(databaseTarget)}:track:`;
}

/** The channel new events are published on, for `track --watch`. */
export function eventChannel(databaseTarget: string): string {
  return `shiptrack:${databaseId(databaseTarget)}:events`;
}

export interface RecordedScan {
  trackingNumber: string;
  eventId: number;
  status: string;
}

/**
 * After scans commit: each number's cached answer is dropped (its version bumped first, so no
 * reader still in flight can put the old one back, and the commit position `lsn` recorded, so no
 * reader fills the cache from a replica that has not replayed the scans) and each event is
 * published for `--watch`. One round trip for the whole batch.
 */
export async function announceScans(
  redis: RedisClient,
  databaseTarget: string,
  scans: readonly RecordedScan[],
  lsn?: string,
): Promise<void> {
  if (scans.length === 0) return;
  const prefix = trackCachePrefix(databaseTarget);
  const channel = eventChannel(databaseTarget);
  const numbers = [...new Set(scans.map((s) => s.trackingNumber))];
  const messages = scans.map((s) => JSON.stringify({ trackingNumber: s.trackingNumber, eventId: s.eventId, status: s.status }));
  if (!isCluster(redis)) {
    const batch = redis.multi();
    for (const number of numbers) queueInvalidation(batch, prefix, number, lsn);
    for (const message of messages) batch.publish(channel, message);
    await batch.exec();
    return;
  }
  // A cluster runs a transaction within one slot: one per number (its keys share a slot), all at
  // once; the events go on the sharded channel (SPUBLISH), whose slot is the channel's own.
  await Promise.all(
    numbers.map((number) => {
      const batch = redis.multi();
      queueInvalidation(batch, prefix, number, lsn);
      return batch.exec();
    }),
  );
  await Promise.all(messages.map((message) => redis.spublish(channel, message)));
}
