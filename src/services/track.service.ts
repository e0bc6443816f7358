import type { TrackedPackage } from '../domain/timeline.js';
import type { TrackCache } from '../store/track-cache.js';
import { findTrackedPackage, type TrackSource } from '../store/track-query.js';

export interface TrackResult {
  trackingNumber: string;
  package: TrackedPackage | null;
  source: 'cache' | 'database';
  /** How old the cached answer was, when it came from the cache. */
  cacheAgeMs: number | null;
}

export interface TrackerDeps {
  /** Where to read; a function is called on the first cache miss only (and once). */
  source: TrackSource | (() => Promise<TrackSource>);
  /** Absent when no Redis is configured. */
  cache?: TrackCache | undefined;
  /** Told once when the cache fails; answers then come from the database. */
  onCacheError?: (error: unknown) => void;
}

export interface Tracker {
  track(trackingNumber: string, options?: { useCache?: boolean }): Promise<TrackResult>;
}

/**
 * The read path of `track`: cache-aside over the one-round-trip query. Concurrent misses for one
 * number share a single database read (single flight). A cache that fails or hangs (bounded by
 * the Redis command timeout) is skipped, never fatal.
 */
export function createTracker(deps: TrackerDeps): Tracker {
  const inFlight = new Map<string, Promise<TrackResult>>();
  let source: Promise<TrackSource> | undefined;
  const sourceOf = (): Promise<TrackSource> => {
    source ??= typeof deps.source === 'function' ? deps.source() : Promise.resolve(deps.source);
    return source;
  };
  let cacheBroken = false;

  const cacheFailed = (error: unknown): void => {
    if (!cacheBroken) deps.onCacheError?.(error);
    cacheBroken = true;
  };

  async function readThrough(trackingNumber: string, useCache: boolean): Promise<TrackResult> {
    const cache = useCache && !cacheBroken ? deps.cache : undefined;
    let version: string | undefined;
    if (cache !== undefined) {
      try {
        const lookup = await cache.lookup(trackingNumber);
        if (lookup.hit !== undefined) {
          return { trackingNumber, package: lookup.hit.value, source: 'cache', cacheAgeMs: Date.now() - lookup.hit.cachedAt };
        }
        version = lookup.version;
      } catch (error) {
        cacheFailed(error);
      }
    }
    const pkg = await findTrackedPackage(await sourceOf(), trackingNumber);
    if (cache !== undefined && version !== undefined && !cacheBroken) {
      try {
        await cache.store(trackingNumber, pkg, version);
      } catch (error) {
        cacheFailed(error);
      }
    }
    return { trackingNumber, package: pkg, source: 'database', cacheAgeMs: null };
  }

  return {
    track(trackingNumber, options = {}) {
      const useCache = options.useCache ?? true;
      const key = `${useCache ? 'c' : 'd'}:${trackingNumber}`;
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      const promise = readThrough(trackingNumber, useCache).finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return promise;
    },
  };
}
