import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createTracker } from '../../src/services/track.service.js';
import type { Database } from '../../src/store/database.js';
import { openPgClient } from '../../src/store/pg-client.js';
import { closeRedis, openRedis } from '../../src/store/redis.js';
import { announceScans, createTrackCache, eventChannel, trackCachePrefix } from '../../src/store/track-cache.js';
import { startOwnRedis } from '../support/cli.js';
import type { TestDatabase } from '../support/databases.js';
import { openSeededDatabase } from '../support/seeded.js';
import { testRedisUrl } from '../support/env.js';

const services = inject('postgresAvailable') && inject('redisAvailable');

describe.skipIf(!services)('track: the read path and its cache', () => {
  let testDb: TestDatabase;
  let db: Database;
  let sample: { tracking_number: string; events: number; current_status: string; origin: string };
  const prefix = `shiptrack-test:${Date.now()}:`;
  const config = loadConfig({ env: { SHIPTRACK_REDIS_URL: testRedisUrl }, envFile: null });

  beforeAll(async () => {
    ({ testDb, db } = await openSeededDatabase('st_track', {
      sizes: { customers: 100, locations: 30, packages: 500 },
      seed: 11,
    }));
    const row = await db.knex.raw<{ rows: (typeof sample)[] }>(
      `select p.tracking_number, p.current_status, o.location_name as origin,
              (select count(*)::int from tracking_events e where e.package_id = p.package_id) as events
         from packages p join shipments s using (package_id) join locations o on o.location_id = s.origin_location_id
        order by p.package_id limit 1`,
    );
    sample = row.rows[0] as typeof sample;
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('answers from the database with summary and the whole timeline in time order', async () => {
    const result = await createTracker({ source: { kind: 'database', db } }).track(sample.tracking_number);
    expect(result.source).toBe('database');
    expect(result.package?.trackingNumber).toBe(sample.tracking_number);
    expect(result.package?.currentStatus).toBe(sample.current_status);
    expect(result.package?.origin.name).toBe(sample.origin);
    expect(result.package?.events).toHaveLength(sample.events);
    const times = result.package?.events.map((e) => e.at.getTime()) ?? [];
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(result.package?.events.at(-1)?.status).toBe(sample.current_status);
  });

  it('gives each scan its local time from PostgreSQL, as ICU computes it for that zone', async () => {
    const { localTime } = await import('../../src/render/track.render.js');
    const result = await createTracker({ source: { kind: 'database', db } }).track(sample.tracking_number);
    const pkg = result.package;
    expect(pkg?.events.length).toBeGreaterThan(0);
    for (const e of pkg?.events ?? []) {
      expect(localTime(e.at, e.location.timeZone).slice(0, 16)).toBe(e.local?.text);
      const shifted = new Date(e.at.getTime() + (e.local?.offsetMinutes ?? 0) * 60_000).toISOString();
      expect(shifted.slice(0, 16).replace('T', ' ')).toBe(e.local?.text);
    }
    expect(pkg?.estimatedLocal?.text).toBe(
      localTime(pkg?.estimatedDelivery ?? new Date(), pkg?.destination.timeZone ?? 'UTC').slice(0, 16),
    );
    await expect(db.knex('locations').update({ time_zone: 'Mars/Olympus_Mons' }).where({ location_id: 1 })).rejects.toThrow(
      /time zone "Mars\/Olympus_Mons" not recognized/,
    );
  });

  it('reads the same through a plain pg connection (the CLI path on a server) as through knex', async () => {
    const client = await openPgClient(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }));
    try {
      const plain = await createTracker({ source: { kind: 'client', client } }).track(sample.tracking_number);
      const viaKnex = await createTracker({ source: { kind: 'database', db } }).track(sample.tracking_number);
      expect(plain.package).toEqual(viaKnex.package);
    } finally {
      await client.end();
    }
  });

  it('returns null for a valid number that is not there', async () => {
    expect((await createTracker({ source: { kind: 'database', db } }).track('RB000000000US')).package).toBeNull();
  });

  it('caches answers (and unknown numbers), and a write invalidates them before it returns', async () => {
    const redis = await openRedis(config);
    try {
      const cache = createTrackCache(redis, { ttlMs: 60_000, negativeTtlMs: 10_000, prefix });
      const tracker = createTracker({ source: { kind: 'database', db }, cache });
      const first = await tracker.track(sample.tracking_number);
      expect(first.source).toBe('database');
      const second = await tracker.track(sample.tracking_number);
      expect(second.source).toBe('cache');
      expect(second.cacheAgeMs).toBeGreaterThanOrEqual(0);
      expect(second.package).toEqual(first.package);
      expect((await tracker.track(sample.tracking_number, { useCache: false })).source).toBe('database');

      await cache.invalidate(sample.tracking_number);
      expect(await redis.pttl(`${prefix}{${sample.tracking_number}}:version`)).toBeGreaterThan(0);
      expect((await tracker.track(sample.tracking_number)).source).toBe('database');

      expect((await tracker.track('RB000000000US')).source).toBe('database');
      const negative = await tracker.track('RB000000000US');
      expect(negative).toMatchObject({ source: 'cache', package: null });
      expect(await redis.pttl(`${prefix}{RB000000000US}`)).toBeLessThanOrEqual(10_000);
    } finally {
      await closeRedis(redis);
    }
  });

  it('announcing committed scans drops their cached answers and publishes the events', async () => {
    const redis = await openRedis(config);
    const listener = redis.duplicate();
    try {
      const target = `test-target-${Date.now()}`;
      const cache = createTrackCache(redis, { ttlMs: 60_000, negativeTtlMs: 10_000, prefix: trackCachePrefix(target) });
      const tracker = createTracker({ source: { kind: 'database', db }, cache });
      await tracker.track(sample.tracking_number);
      expect((await tracker.track(sample.tracking_number)).source).toBe('cache');
      await listener.connect();
      const heard = new Promise<string>((resolve) =>
        listener.on('message', (_channel: string, message: string) => resolve(message)),
      );
      await listener.subscribe(eventChannel(target));
      await announceScans(redis, target, [{ trackingNumber: sample.tracking_number, eventId: 42, status: 'exception' }]);
      expect(JSON.parse(await heard)).toEqual({ trackingNumber: sample.tracking_number, eventId: 42, status: 'exception' });
      expect((await tracker.track(sample.tracking_number)).source).toBe('database');
    } finally {
      listener.disconnect();
      await closeRedis(redis);
    }
  });

  it('a slow reader cannot put back a value older than a write that happened meanwhile', async () => {
    const redis = await openRedis(config);
    try {
      const cache = createTrackCache(redis, { ttlMs: 60_000, negativeTtlMs: 10_000, prefix: `${prefix}race:` });
      const before = await cache.lookup(sample.tracking_number);
      expect(before.hit).toBeUndefined();
      const stale = (await createTracker({ source: { kind: 'database', db } }).track(sample.tracking_number)).package;
      await cache.invalidate(sample.tracking_number); // a scan lands while the reader was away
      expect(await cache.store(sample.tracking_number, stale, before.version)).toBe(false);
      expect((await cache.lookup(sample.tracking_number)).hit).toBeUndefined();
      const fresh = await cache.lookup(sample.tracking_number);
      expect(await cache.store(sample.tracking_number, stale, fresh.version)).toBe(true);
    } finally {
      await closeRedis(redis);
    }
  });

  it('concurrent misses for one number share one database read (single flight)', async () => {
    const tracker = createTracker({ source: { kind: 'database', db } });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => tracker.track(sample.tracking_number, { useCache: false })),
    );
    // One read, one answer object handed to every caller.
    expect(new Set(results.map((r) => r.package)).size).toBe(1);
  });

  it('a frozen Redis costs at most its command timeout, once, and the answer comes from PostgreSQL', async () => {
    const own = await startOwnRedis();
    const ownUrl = `redis://127.0.0.1:${own.port}`;
    const quick = loadConfig({ env: { SHIPTRACK_REDIS_URL: ownUrl, SHIPTRACK_REDIS_TIMEOUT: '200ms' }, envFile: null });
    const redis = await openRedis(quick);
    try {
      own.freeze();
      const errors: unknown[] = [];
      const tracker = createTracker({
        source: { kind: 'database', db },
        cache: createTrackCache(redis, { ttlMs: 60_000, negativeTtlMs: 10_000, prefix }),
        onCacheError: (e) => errors.push(e),
      });
      const started = performance.now();
      const result = await tracker.track(sample.tracking_number);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(result).toMatchObject({ source: 'database', package: { trackingNumber: sample.tracking_number } });
      const again = await tracker.track(sample.tracking_number);
      expect(again.source).toBe('database');
      expect(errors).toHaveLength(1);
    } finally {
      own.thaw();
      redis.disconnect();
      await own.stop();
    }
  });
});
