import type { TrackedPackage } from '../domain/timeline.js';
import { parseTrackingNumbers, partnerCarrierOf } from '../domain/tracking-number.js';
import type { Resources } from '../store/resources.js';
import { createTrackCache, trackCachePrefix, type TrackCache } from '../store/track-cache.js';
import { parseLsn, rememberedWrite, type ReadNeed, type ReplicaRouter } from '../store/replicas.js';
import { findTrackedPackage, type TrackSource } from '../store/track-query.js';
import { reasonOf, type ServiceWarning } from './warnings.js';

/** How `track` caches answers in Redis: found packages for a minute, unknown numbers for ten seconds. */
export const trackCachePolicy = { ttlMs: 60_000, negativeTtlMs: 10_000 } as const;

/** After the cache fails, it is left alone this long before it is tried again. */
const cacheRetryMs = 5_000;

export interface TrackResult {
  trackingNumber: string;
  package: TrackedPackage | null;
  source: 'cache' | 'database';
  /** The replica that answered (host:port/database), or null: the cache or the primary did. */
  replica: string | null;
  /** How old the cached answer was, when it came from the cache. */
  cacheAgeMs: number | null;
  /** Why the cache was wanted but not used (it failed, now or a moment ago); null otherwise. */
  cacheError: string | null;
}

export interface TrackerDeps {
  /** Where to read; a function is called on the first cache miss only (and once). */
  source: TrackSource | (() => Promise<TrackSource>);
  /** The cache, or a function that opens it on first use; absent or undefined: no cache. */
  cache?: TrackCache | (() => Promise<TrackCache | undefined>) | undefined;
  /** Told when the cache fails; answers then come from the database. */
  onCacheError?: (error: unknown) => void;
  /** Completes a package read from the database before it is cached (reasons kept elsewhere). */
  complete?: (pkg: TrackedPackage) => Promise<void>;
  /**
   * A replica to read from instead of `source`, for a read that must see what `need` says
   * (store/replicas.ts); undefined: read `source` (the primary).
   */
  route?: (need: ReadNeed) => Promise<ReplicaRead | undefined>;
  /**
   * What a read must see when the cache cannot say (no Redis, `--no-cache`, the cache failing):
   * this user's own last write here (store/replicas.ts rememberedWrite).
   */
  ownWrite?: () => ReadNeed;
}

/** A replica chosen for one read, and what to do when the read fails there. */
export interface ReplicaRead {
  readonly source: TrackSource;
  readonly target: string;
  failed(error: unknown): void;
}

export interface Tracker {
  /** `primary`: read the primary whatever the replicas have replayed (a re-read on an event). */
  track(trackingNumber: string, options?: { useCache?: boolean; primary?: boolean }): Promise<TrackResult>;
}

/** Both needs at once: the later position, or the primary when either asks for it. */
function strictest(a: ReadNeed | undefined, b: ReadNeed | undefined): ReadNeed {
  if (a === undefined) return b ?? { minLsn: null };
  if (b === undefined) return a;
  if (a.primaryOnly === true || b.primaryOnly === true) return { minLsn: null, primaryOnly: true };
  if (a.minLsn === null) return b;
  if (b.minLsn === null) return a;
  return parseLsn(a.minLsn) >= parseLsn(b.minLsn) ? a : b;
}

/**
 * The read path of `track`: cache-aside over the one-round-trip query. Concurrent misses for one
 * number share a single database read (single flight). A cache that fails or hangs (bounded by
 * the Redis command timeout) is skipped for a few seconds, never fatal.
 */
export function createTracker(deps: TrackerDeps): Tracker {
  const inFlight = new Map<string, Promise<TrackResult>>();
  let source: Promise<TrackSource> | undefined;
  const sourceOf = (): Promise<TrackSource> => {
    source ??= typeof deps.source === 'function' ? deps.source() : Promise.resolve(deps.source);
    return source;
  };
  let cache: Promise<TrackCache | undefined> | undefined;
  const cacheOf = (): Promise<TrackCache | undefined> => {
    cache ??= typeof deps.cache === 'function' ? deps.cache() : Promise.resolve(deps.cache);
    return cache;
  };
  let failure: { reason: string; until: number } | undefined;

  const cacheFailed = (error: unknown): string => {
    deps.onCacheError?.(error);
    failure = { reason: reasonOf(error), until: Date.now() + cacheRetryMs };
    return failure.reason;
  };

  async function readThrough(
    trackingNumber: string,
    useCache: boolean,
    options: { primary?: boolean } = {},
  ): Promise<TrackResult> {
    let cacheError: string | null = null;
    let lookupCache: TrackCache | undefined;
    if (useCache && deps.cache !== undefined) {
      if (failure !== undefined && Date.now() < failure.until) cacheError = failure.reason;
      else {
        try {
          lookupCache = await cacheOf();
        } catch (error) {
          cacheError = cacheFailed(error);
        }
      }
    }
    let version: string | undefined;
    // Without the cache's record of the number's last scan: a replica within the lag bound that
    // has the user's own last write.
    let need: ReadNeed | undefined;
    if (lookupCache !== undefined) {
      try {
        const lookup = await lookupCache.lookup(trackingNumber);
        if (lookup.hit !== undefined) {
          const cacheAgeMs = Date.now() - lookup.hit.cachedAt;
          return { trackingNumber, package: lookup.hit.value, source: 'cache', replica: null, cacheAgeMs, cacheError: null };
        }
        version = lookup.version;
        need = lookup.need;
      } catch (error) {
        cacheError = cacheFailed(error);
      }
    }
    const { pkg, replica } = await readDatabase(
      trackingNumber,
      options.primary === true ? { minLsn: null, primaryOnly: true } : strictest(need, deps.ownWrite?.()),
    );
    if (pkg !== null) await deps.complete?.(pkg);
    if (lookupCache !== undefined && version !== undefined && cacheError === null) {
      try {
        await lookupCache.store(trackingNumber, pkg, version);
      } catch (error) {
        cacheError = cacheFailed(error);
      }
    }
    return { trackingNumber, package: pkg, source: 'database', replica, cacheAgeMs: null, cacheError };
  }

  /** A replica that can serve `need` answers; one that fails mid-read hands over to the primary. */
  async function readDatabase(
    trackingNumber: string,
    need: ReadNeed,
  ): Promise<{ pkg: TrackedPackage | null; replica: string | null }> {
    const chosen = await deps.route?.(need);
    if (chosen !== undefined) {
      try {
        return { pkg: await findTrackedPackage(chosen.source, trackingNumber), replica: chosen.target };
      } catch (error) {
        chosen.failed(error);
      }
    }
    return { pkg: await findTrackedPackage(await sourceOf(), trackingNumber), replica: null };
  }

  return {
    track(trackingNumber, options = {}) {
      const useCache = options.useCache ?? true;
      const key = `${useCache ? 'c' : 'd'}${options.primary === true ? 'p' : ''}:${trackingNumber}`;
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      const promise = readThrough(trackingNumber, useCache, { primary: options.primary }).finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return promise;
    },
  };
}

/**
 * With MongoDB as the document store the raw scans are not in PostgreSQL, so the reasons of
 * exceptions and failed attempts come from MongoDB, for the packages that have any. Without an
 * answer from it the timeline is shown without them.
 */
async function reasonsFromMongo(resources: Resources, pkg: TrackedPackage): Promise<void> {
  const missing = pkg.events.filter((e) => (e.status === 'exception' || e.status === 'attempt_fail') && e.reason == null);
  if (missing.length === 0) return;
  try {
    const documents = await resources.documents();
    const found = await documents.findRawScansByEventIds(missing.map((e) => e.eventId));
    const reasons = new Map(found.map((d) => [d.eventId, d.payload.reason ?? d.payload.carrier_status_code]));
    for (const event of missing) {
      const reason = reasons.get(event.eventId);
      if (typeof reason === 'string') event.reason = reason;
    }
  } catch {
    // the reasons are a courtesy: the package's status and history are answered all the same
  }
}

const trackers = new WeakMap<Resources, Tracker>();

/** A replica that can serve `need`, as a source to read, or undefined: read the primary. */
async function replicaRead<C>(
  opening: Promise<ReplicaRouter<C> | undefined>,
  need: ReadNeed,
  sourceOf: (connection: C) => TrackSource,
): Promise<ReplicaRead | undefined> {
  const router = await opening;
  const choice = await router?.choose(need);
  if (router === undefined || choice === undefined) return undefined;
  return {
    source: sourceOf(choice.connection),
    target: choice.node.target,
    failed: (error) => router.failed(choice.node, error),
  };
}

/**
 * The tracker of a handle: the cache (when Redis is configured) over the database. A short-lived
 * process reads with one plain connection unless the pool is already open; a long-lived one
 * reads through the pool. A cache hit opens no database at all.
 */
function trackerOf(resources: Resources): Tracker {
  let tracker = trackers.get(resources);
  if (tracker === undefined) {
    const openSource = async (): Promise<TrackSource> => {
      if (resources.shortLived && !resources.hasDatabase()) {
        if (resources.config.databaseUrl === undefined) {
          const embedded = await resources.embeddedClient();
          if (embedded !== undefined) return { kind: 'embedded', client: embedded };
        }
        const client = await resources.sqlClient();
        if (client !== undefined) return { kind: 'client', client };
      }
      return { kind: 'database', db: await resources.database() };
    };
    const openCache = async (): Promise<TrackCache | undefined> => {
      const redis = await resources.redis();
      if (redis === undefined) return undefined;
      return createTrackCache(redis, { ...trackCachePolicy, prefix: trackCachePrefix(resources.databaseTarget) });
    };
    // Replicas: plain connections for a short-lived process, pools for a long-lived one.
    const route =
      resources.config.replicaUrls.length === 0 || resources.config.databaseUrl === undefined
        ? undefined
        : (need: ReadNeed): Promise<ReplicaRead | undefined> =>
            resources.shortLived && !resources.hasDatabase()
              ? replicaRead(resources.replicaClients(), need, (client) => ({ kind: 'client', client }))
              : replicaRead(resources.replicaDatabases(), need, (db) => ({ kind: 'database', db }));
    tracker = createTracker({
      source: openSource,
      cache: openCache,
      complete: resources.config.mongoUrl === undefined ? undefined : (pkg) => reasonsFromMongo(resources, pkg),
      route,
      ownWrite: route === undefined ? undefined : () => rememberedWrite(resources.config, resources.databaseTarget),
    });
    trackers.set(resources, tracker);
  }
  return tracker;
}

export interface TrackOptions {
  /** Read from PostgreSQL even when the answer is cached (default: use the cache). */
  cache?: boolean;
}

export interface TrackAnswer {
  /** One per distinct number, in the order given. */
  results: TrackResult[];
  /** The valid numbers no package has; a partner carrier's number is named with its carrier. */
  notFound: { trackingNumber: string; carrier: string | null }[];
  warnings: ServiceWarning[];
}

/**
 * Where are these packages: every number is checked before any store is opened (a bad one is a
 * UsageError with the exact reason), then each is read through the cache.
 */
export async function trackPackages(
  resources: Resources,
  numbers: string | readonly string[],
  options: TrackOptions = {},
): Promise<TrackAnswer> {
  const parsed = [...new Set(parseTrackingNumbers(typeof numbers === 'string' ? [numbers] : numbers))];
  const tracker = trackerOf(resources);
  const results = await Promise.all(parsed.map((n) => tracker.track(n, { useCache: options.cache ?? true })));
  const reasons = new Set(results.flatMap((r) => (r.cacheError === null ? [] : [r.cacheError])));
  return {
    results,
    notFound: results
      .filter((r) => r.package === null)
      .map((r) => ({ trackingNumber: r.trackingNumber, carrier: partnerCarrierOf(r.trackingNumber) })),
    warnings: [...reasons].map((reason) => ({ code: 'cache_unavailable', store: 'Redis', reason })),
  };
}

export interface WatchOptions {
  /** Ends the watch. */
  signal: AbortSignal;
  /** Called with each package whose timeline changed since it was last seen (not for the first read). */
  onChange: (result: TrackResult & { package: TrackedPackage }) => void;
  /** Called when a re-read fails; the watch goes on. */
  onError?: (error: unknown) => void;
  /** Told how the watch listens: Redis's live channel, or polling PostgreSQL every two seconds. */
  onStart?: (how: 'channel' | 'polling') => void;
}

/**
 * Watches packages until the signal aborts: new events arrive on the Redis channel the scan
 * service publishes on; each one re-reads the package from PostgreSQL, so a missed message loses
 * nothing (every reconnect re-reads too). Without Redis it polls every two seconds.
 */
export async function watchPackages(resources: Resources, numbers: readonly string[], options: WatchOptions): Promise<void> {
  const { eventChannel } = await import('../store/track-cache.js');
  const tracker = trackerOf(resources);
  const watched = new Set(numbers);
  const lastSeen = new Map<string, number>();
  // A re-read on an event reads the primary: the scan it was woken for may not be on a replica
  // yet, and nothing in the event says how far a replica must have replayed.
  const show = async (n: string): Promise<void> => {
    const result = await tracker.track(n, { useCache: false, primary: true });
    if (result.package === null) return;
    const last = result.package.events.at(-1)?.eventId ?? 0;
    if (lastSeen.get(n) === last) return;
    const first = !lastSeen.has(n);
    lastSeen.set(n, last);
    if (!first) options.onChange({ ...result, package: result.package });
  };
  for (const n of numbers) await show(n);
  // One read per number at a time. An event that arrives while a read is in flight asks for one
  // more read after it: the read in flight (or one it joined) may have started before the event's
  // scan was committed, and would never show it.
  const reading = new Set<string>();
  const readAgain = new Set<string>();
  const refresh = (n: string): void => {
    if (reading.has(n)) {
      readAgain.add(n);
      return;
    }
    reading.add(n);
    show(n)
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => {
        reading.delete(n);
        if (readAgain.delete(n)) refresh(n);
      });
  };
  const refreshAll = (): void => {
    for (const n of numbers) refresh(n);
  };

  const redis = await resources.redis().catch(() => undefined);
  let stop: () => void;
  if (redis !== undefined) {
    const { isCluster } = await import('../store/redis.js');
    const onMessage = (_channel: string, message: string): void => {
      try {
        const event = JSON.parse(message) as { trackingNumber?: string };
        if (event.trackingNumber !== undefined && watched.has(event.trackingNumber)) refreshAll();
      } catch {
        // not ours
      }
    };
    // A subscriber that waits as long as the watch lasts and reconnects by itself: every
    // (re)connection re-reads, so what was published while it was away is not missed.
    const waiting = { lazyConnect: true, enableOfflineQueue: true, commandTimeout: undefined, maxRetriesPerRequest: null };
    const channel = eventChannel(resources.databaseTarget);
    if (isCluster(redis)) {
      // On a Redis Cluster the channel is sharded (SSUBSCRIBE, Redis 7): it lives on its slot's node.
      const subscriber = redis.duplicate([], {
        ...waiting,
        shardedSubscribers: true,
        clusterRetryStrategy: (times: number) => Math.min(times * 200, 2000),
        redisOptions: { ...redis.options.redisOptions, ...waiting },
      });
      subscriber.on('error', () => undefined);
      subscriber.on('ready', refreshAll);
      subscriber.on('smessage', onMessage);
      await subscriber.connect();
      await subscriber.ssubscribe(channel);
      stop = () => subscriber.disconnect();
    } else {
      const subscriber = redis.duplicate({ ...waiting, retryStrategy: (times: number) => Math.min(times * 200, 2000) });
      subscriber.on('error', () => undefined);
      subscriber.on('ready', refreshAll);
      subscriber.on('message', onMessage);
      await subscriber.connect();
      await subscriber.subscribe(channel);
      stop = () => subscriber.disconnect();
    }
    options.onStart?.('channel');
  } else {
    const poll = setInterval(refreshAll, 2000);
    options.onStart?.('polling');
    stop = () => clearInterval(poll);
  }
  try {
    await new Promise<void>((resolve) => {
      if (options.signal.aborted) resolve();
      options.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    stop();
  }
}
