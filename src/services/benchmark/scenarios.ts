import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../../store/redis.js';
import type { Config } from '../../config.js';
import type { DocumentStore } from '../../store/documents/document-store.js';
import { parseDay, parseMetadataFilters } from '../../domain/report-filters.js';
import { profiles } from '../../domain/seed/profiles.js';
import { openDatabase, type Database } from '../../store/database.js';
import type { Resources } from '../../store/resources.js';
import { createTrackCache, type TrackCache } from '../../store/track-cache.js';
import { createTracker, type Tracker } from '../track.service.js';
import { deleteKeysWithPrefix } from '../../store/redis.js';

/**
 * The scenarios of `shiptrack benchmark`: the library's own functions (track, recordScans, the
 * report services, seedDatabase), never copies of their SQL.
 */

export interface ScenarioContext {
  /** The stores the run uses: scan scenarios record through the library's own use case. */
  resources: Resources;
  db: Database;
  config: Config;
  redis: RedisClient | undefined;
  documents: DocumentStore;
  /** Relative report windows are computed from here. */
  now: Date;
  /** Scenarios that write (scans, a scratch seed database) run only when allowed. */
  allowWrites: boolean;
  signal?: AbortSignal | undefined;
}

export interface PreparedScenario {
  operation: (worker: number, seq: number) => Promise<unknown>;
  /** Undoes what prepare() set up (cache keys, scratch databases). */
  close?: () => Promise<void>;
  /** Extra facts for the report, e.g. "1,000 scans per operation". */
  note?: string;
}

export interface ScenarioDefinition {
  name: string;
  description: string;
  group: 'harness' | 'track' | 'scan' | 'report' | 'seed';
  /** Needs Redis: the command opens Redis only when a scenario it runs says so. */
  usesRedis?: boolean;
  /** A reason to skip in this context, or undefined to run. */
  unavailable?: (ctx: ScenarioContext) => string | undefined;
  /** Operations per measured phase when the scenario is too slow for a duration (seed). */
  fixedCount?: number;
  /** Runs at this concurrency only. */
  fixedConcurrency?: number;
  prepare: (ctx: ScenarioContext, concurrency: number) => Promise<PreparedScenario>;
}

const finalStatuses = ['delivered', 'returned', 'cancelled'];

/** The proof of the changed packages: on the Citus layout every proof is full (report-consistency-full). */
const onCitus = (ctx: ScenarioContext): string | undefined =>
  ctx.db.distributed === true
    ? 'on the Citus layout every proof is of all packages: report-consistency-full measures it'
    : undefined;

async function sampleNumbers(db: Database, size: number, inFlight = false): Promise<string[]> {
  const result = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
    `select tracking_number from packages ${inFlight ? 'where current_status <> all (?::text[])' : ''}
      order by hashtext(tracking_number || ?) limit ?`,
    inFlight ? [finalStatuses, randomBytes(4).toString('hex'), size] : [randomBytes(4).toString('hex'), size],
  );
  const numbers = result.rows.map((r) => r.tracking_number);
  if (numbers.length === 0) throw new Error(inFlight ? 'no package in flight to scan' : 'no packages: seed the database first');
  return numbers;
}

const noRedis = (ctx: ScenarioContext): string | undefined =>
  ctx.redis === undefined ? 'no Redis configured (set SHIPTRACK_REDIS_URL)' : undefined;
const noWrites = (ctx: ScenarioContext): string | undefined =>
  ctx.allowWrites ? undefined : 'records scans in this database: pass --allow-writes (on a benchmark database)';

function cacheFor(ctx: ScenarioContext, prefix: string): TrackCache {
  if (ctx.redis === undefined) throw new Error('no Redis');
  return createTrackCache(ctx.redis, { ttlMs: 600_000, negativeTtlMs: 600_000, prefix });
}

function reportScenario(name: string, description: string, run: (ctx: ScenarioContext) => Promise<unknown>): ScenarioDefinition {
  return {
    name: `report-${name}`,
    description,
    group: 'report',
    prepare: (ctx) => Promise.resolve({ operation: () => run(ctx) }),
  };
}

/** Milliseconds added to scan times, so every scan a benchmark records is newer than the last. */
let scanClock = 0;

export const scenarios: readonly ScenarioDefinition[] = [
  {
    name: 'noop',
    description: 'the harness alone: an operation that does nothing (its overhead)',
    group: 'harness',
    prepare: () => Promise.resolve({ operation: () => Promise.resolve() }),
  },
  {
    name: 'track-db',
    description: 'track, database path: the one-round-trip prepared query through the pool, cache bypassed',
    group: 'track',
    async prepare(ctx) {
      const numbers = await sampleNumbers(ctx.db, 5000);
      const tracker = createTracker({ source: { kind: 'database', db: ctx.db } });
      return { operation: (_w, seq) => tracker.track(numbers[(seq * 7919) % numbers.length] ?? '', { useCache: false }) };
    },
  },
  {
    name: 'track-cache-hit',
    description: 'track, Redis cache hit (every number cached beforehand)',
    group: 'track',
    usesRedis: true,
    unavailable: noRedis,
    async prepare(ctx) {
      const numbers = await sampleNumbers(ctx.db, 2000);
      const prefix = `shiptrack:bench:${randomBytes(6).toString('hex')}:`;
      const tracker = createTracker({ source: { kind: 'database', db: ctx.db }, cache: cacheFor(ctx, prefix) });
      for (const n of numbers) await tracker.track(n);
      return {
        operation: (_w, seq) => tracker.track(numbers[(seq * 7919) % numbers.length] ?? ''),
        close: () => deleteKeysWithPrefix(ctx.redis as RedisClient, prefix),
      };
    },
  },
  {
    name: 'track-cold',
    description: 'track, cold cache: a Redis miss, the database read and the cache fill',
    group: 'track',
    usesRedis: true,
    unavailable: noRedis,
    async prepare(ctx, concurrency) {
      const numbers = await sampleNumbers(ctx.db, 20_000);
      const base = `shiptrack:bench:${randomBytes(6).toString('hex')}:`;
      // Each pass over the numbers uses a fresh key prefix, so every lookup misses.
      const trackers = new Map<number, Tracker>();
      const trackerFor = (generation: number): Tracker => {
        let tracker = trackers.get(generation);
        if (tracker === undefined) {
          tracker = createTracker({ source: { kind: 'database', db: ctx.db }, cache: cacheFor(ctx, `${base}${generation}:`) });
          trackers.set(generation, tracker);
        }
        return tracker;
      };
      return {
        operation: (worker, seq) => {
          const index = seq * concurrency + worker;
          return trackerFor(Math.floor(index / numbers.length)).track(numbers[index % numbers.length] ?? '');
        },
        close: () => deleteKeysWithPrefix(ctx.redis as RedisClient, base),
      };
    },
  },
  {
    name: 'scan-single',
    description: 'scan: one scan per transaction (exception scans for packages in flight)',
    group: 'scan',
    unavailable: noWrites,
    async prepare(ctx, concurrency) {
      const { recordScans } = await import('../scan.service.js');
      const numbers = await sampleNumbers(ctx.db, 5000, true);
      const start = Math.max(Date.now(), ctx.now.getTime());
      return {
        // Workers take disjoint packages, so they measure the write path, not each other's locks.
        operation: (worker, seq) => {
          scanClock += 1;
          const n = numbers[(seq * concurrency + worker) % numbers.length] ?? '';
          return recordScans(ctx.resources, [
            { trackingNumber: n, status: 'exception', location: '1', at: new Date(start + scanClock) },
          ]);
        },
      };
    },
  },
  {
    name: 'scan-bulk',
    description: 'scan --file: batches of 1,000 scans per transaction',
    group: 'scan',
    unavailable: noWrites,
    fixedConcurrency: 1,
    async prepare(ctx) {
      const { recordScans } = await import('../scan.service.js');
      const numbers = await sampleNumbers(ctx.db, 50_000, true);
      const start = Math.max(Date.now(), ctx.now.getTime());
      return {
        note: '1,000 scans per operation: scans/s = 1,000 × throughput',
        operation: (_w, seq) => {
          const batch = Array.from({ length: 1000 }, (_, i) => {
            scanClock += 1;
            return {
              trackingNumber: numbers[(seq * 1000 + i) % numbers.length] ?? '',
              status: 'exception' as const,
              location: '1',
              at: new Date(start + scanClock),
            };
          });
          return recordScans(ctx.resources, batch);
        },
      };
    },
  },
  reportScenario('status', 'report status', async (ctx) =>
    (await import('../reports/packages.report.js')).runStatusReport(ctx.db, { now: ctx.now }),
  ),
  reportScenario('overdue', 'report overdue --limit 50', async (ctx) =>
    (await import('../reports/packages.report.js')).runOverdueReport(ctx.db, { now: ctx.now, limit: 50 }),
  ),
  reportScenario('lanes', 'report lanes --since 30d', async (ctx) =>
    (await import('../reports/network.report.js')).runLanesReport(ctx.db, {
      now: ctx.now,
      since: new Date(ctx.now.getTime() - 30 * 86_400_000),
      by: 'state',
      minShipments: 20,
      limit: 20,
    }),
  ),
  reportScenario('facilities', 'report facilities --day yesterday', async (ctx) =>
    (await import('../reports/network.report.js')).runFacilitiesReport(ctx.db, {
      now: ctx.now,
      day: parseDay('yesterday', ctx.now),
      sort: 'scans',
      limit: 20,
    }),
  ),
  reportScenario('stale', 'report stale --hours 48', async (ctx) =>
    (await import('../reports/packages.report.js')).runStaleReport(ctx.db, { now: ctx.now, hours: 48, limit: 50 }),
  ),
  reportScenario('exceptions', 'report exceptions --since 7d', async (ctx) => {
    const { runExceptionsReport, reasonSource } = await import('../reports/network.report.js');
    // The reasons as the command reads them.
    return runExceptionsReport(ctx.db, {
      now: ctx.now,
      since: new Date(ctx.now.getTime() - 7 * 86_400_000),
      limit: 20,
      reasons: reasonSource(ctx.resources.documentsTarget, () => Promise.resolve(ctx.documents)),
    });
  }),
  reportScenario('customer', 'report customer <id> (customer 42)', async (ctx) =>
    (await import('../reports/packages.report.js')).runCustomerReport(ctx.db, { now: ctx.now, customer: '42', limit: 50 }),
  ),
  reportScenario('metadata', 'report metadata --where fragile=true', async (ctx) =>
    (await import('../reports/packages.report.js')).runMetadataReport(ctx.db, {
      now: ctx.now,
      filter: parseMetadataFilters(['fragile=true']),
      limit: 20,
    }),
  ),
  reportScenario('db', 'report db', async (ctx) =>
    (await import('../reports/db.report.js')).runDbReport(ctx.db, { now: ctx.now }),
  ),
  {
    ...reportScenario(
      'consistency-full',
      'report consistency --full --sample 500 --jobs 2 (reads every event: one run)',
      async (ctx) =>
        (await import('../reports/consistency.report.js')).runConsistencyReport(ctx.db, ctx.documents, {
          now: ctx.now,
          sample: 500,
          connections: 2,
          full: true,
        }),
    ),
    fixedCount: 1,
    fixedConcurrency: 1,
  },
  {
    // After the full proof above: the packages changed since (by the scan scenarios, when they ran).
    ...reportScenario(
      'consistency',
      'report consistency --sample 500 --jobs 2 (the packages changed since the last proof)',
      async (ctx) =>
        (await import('../reports/consistency.report.js')).runConsistencyReport(ctx.db, ctx.documents, {
          now: ctx.now,
          sample: 500,
          connections: 2,
        }),
    ),
    unavailable: onCitus,
    fixedConcurrency: 1,
  },
  {
    name: 'seed-small',
    description: 'seed --profile small (100,000 packages, ~1M rows) into a scratch database, created and dropped',
    group: 'seed',
    fixedCount: 2,
    fixedConcurrency: 1,
    unavailable: (ctx) =>
      ctx.db.mode !== 'server'
        ? 'needs a PostgreSQL server (a scratch database is created for it)'
        : ctx.allowWrites
          ? undefined
          : 'creates a scratch database: pass --allow-writes',
    async prepare(ctx) {
      const [{ seedDatabase }, { defaultMigratorOptions, migrateLatest }] = await Promise.all([
        import('../seed.service.js'),
        import('../migrations.service.js'),
      ]);
      const url = new URL(ctx.config.databaseUrl ?? '');
      const created: string[] = [];
      return {
        note: `${(profiles.small.packages / 1000).toFixed(0)}k packages per operation`,
        operation: async () => {
          const name = `shiptrack_bench_seed_${randomBytes(4).toString('hex')}`;
          await ctx.db.knex.raw(`create database ${name}`);
          created.push(name);
          const scratchUrl = new URL(url);
          scratchUrl.pathname = `/${name}`;
          const scratch = await openDatabase({ ...ctx.config, databaseUrl: scratchUrl.toString() }, { statementTimeoutMs: 0 });
          try {
            await migrateLatest(scratch, defaultMigratorOptions());
            await seedDatabase(scratch, {
              sizes: profiles.small,
              seed: 1,
              asOf: ctx.now,
              mode: 'empty',
              documentsShare: 0.01,
              documentsTarget: 'postgres',
              signal: ctx.signal,
            });
          } finally {
            await scratch.close();
            await ctx.db.knex.raw(`drop database if exists ${name} with (force)`);
            created.splice(created.indexOf(name), 1);
          }
        },
        close: async () => {
          for (const name of created) await ctx.db.knex.raw(`drop database if exists ${name} with (force)`);
        },
      };
    },
  },
];

/** Suites: which scenarios run by default. */
export const defaultScenarios = scenarios.filter((s) => s.group !== 'harness').map((s) => s.name);

/** Scenarios picked by name or prefix (`track` → every track-* scenario). */
export function selectScenarios(names: readonly string[]): ScenarioDefinition[] {
  if (names.length === 0) return scenarios.filter((s) => defaultScenarios.includes(s.name));
  const picked = scenarios.filter((s) => names.some((n) => s.name === n || s.name.startsWith(`${n}-`) || s.group === n));
  return picked;
}
