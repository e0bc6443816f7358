import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { TrackedPackage } from '../domain/timeline.js';

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
  version: string;
}

export interface TrackCache {
  lookup(trackingNumber: string): Promise<CacheLookup>;
  /** Stores the answer if no write happened since `version` was read. True if stored. */
  store(trackingNumber: string, answer: TrackedPackage | null, version: string): Promise<boolean>;
  invalidate(trackingNumber: string): Promise<void>;
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

function revive(text: string): CachedAnswer {
  const parsed = JSON.parse(text) as { value: (TrackedPackage & { [k: string]: unknown }) | null; cachedAt: number };
  const value = parsed.value;
  if (value !== null) {
    value.estimatedDelivery = new Date(value.estimatedDelivery);
    value.actualDelivery = value.actualDelivery === null ? null : new Date(value.actualDelivery);
    for (const event of value.events) {
      event.at = new Date(event.at);
      event.recordedAt = new Date(event.recordedAt);
    }
  }
  return { value, cachedAt: parsed.cachedAt };
}

const valueKeyOf = (prefix: string, n: string): string => `${prefix}${n}`;
const versionKeyOf = (prefix: string, n: string): string => `${prefix}${n}:version`;

/** Bumps the number's version, then drops its answer. The version outlives any reader by far,
 *  then goes: keys must not pile up per number. */
function queueInvalidation(batch: ChainableCommander, prefix: string, trackingNumber: string): void {
  batch
    .incr(versionKeyOf(prefix, trackingNumber))
    .pexpire(versionKeyOf(prefix, trackingNumber), versionTtlMs)
    .del(valueKeyOf(prefix, trackingNumber));
}

export function createTrackCache(redis: Redis, options: TrackCacheOptions): TrackCache {
  const prefix = options.prefix ?? 'shiptrack:track:';
  const valueKey = (n: string): string => valueKeyOf(prefix, n);
  const versionKey = (n: string): string => versionKeyOf(prefix, n);
  return {
    async lookup(trackingNumber) {
      const [value, version] = await redis.mget(valueKey(trackingNumber), versionKey(trackingNumber));
      return { hit: value == null ? undefined : revive(value), version: version ?? '0' };
    },
    async store(trackingNumber, answer, version) {
      const payload = JSON.stringify({ value: answer, cachedAt: Date.now() });
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
    async invalidate(trackingNumber) {
      const batch = redis.multi();
      queueInvalidation(batch, prefix, trackingNumber);
      await batch.exec();
    },
  };
}

function databaseId(databaseTarget: string): string {
  return createHash('sha256').update(databaseTarget).digest('hex').slice(0, 12);
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
 * reader still in flight can put the old one back) and each event is published for `--watch`.
 * One round trip for the whole batch.
 */
export async function announceScans(redis: Redis, databaseTarget: string, scans: readonly RecordedScan[]): Promise<void> {
  if (scans.length === 0) return;
  const prefix = trackCachePrefix(databaseTarget);
  const channel = eventChannel(databaseTarget);
  const batch = redis.multi();
  for (const number of new Set(scans.map((s) => s.trackingNumber))) queueInvalidation(batch, prefix, number);
  for (const s of scans)
    batch.publish(channel, JSON.stringify({ trackingNumber: s.trackingNumber, eventId: s.eventId, status: s.status }));
  await batch.exec();
}
