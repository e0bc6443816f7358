import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createPgDocumentStore } from '../../src/store/documents/postgres.js';
import { UsageError } from '../../src/errors.js';
import {
  experimentNames,
  runExperiments,
  type ExperimentDeps,
  type ExperimentOptions,
} from '../../src/services/benchmark/experiments.js';
import type { ExperimentResult } from '../../src/services/benchmark/types.js';
import type { Database } from '../../src/store/database.js';
import { closeRedis, openRedis } from '../../src/store/redis.js';
import type { TestDatabase } from '../support/databases.js';
import { testRedisUrl } from '../support/env.js';
import { catalogSnapshot, openSeededDatabase } from '../support/seeded.js';

const scratchSchema = 'shiptrack_bench_scratch';
/** The experiments' own Redis database: the other tests use the one in testRedisUrl. */
const experimentRedisUrl = (() => {
  const url = new URL(testRedisUrl);
  url.pathname = '/13';
  return url.toString();
})();
const asOf = new Date('2026-11-01T00:00:00Z');
const tiny: Pick<ExperimentOptions, 'durationMs' | 'warmupMs'> = { durationMs: 150, warmupMs: 20 };
const indexExperiments = ['track-index', 'overdue-index', 'stale-index', 'metadata-index', 'brin-vs-btree'];

describe.skipIf(!inject('postgresAvailable'))('benchmark experiments: before/after, the schema left as it was', () => {
  let testDb: TestDatabase;
  let db: Database;
  let deps: ExperimentDeps;
  let catalog: string[];

  const scratchSchemas = async (): Promise<number> =>
    Number(
      (
        await db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from pg_namespace where nspname = ?`, [
          scratchSchema,
        ])
      ).rows[0]?.n,
    );

  beforeAll(async () => {
    ({ testDb, db } = await openSeededDatabase('st_bexp', {
      sizes: { customers: 300, locations: 40, packages: 3000 },
      seed: 7,
      asOf,
    }));
    deps = { db, documents: createPgDocumentStore(db.knex), now: asOf };
    catalog = await catalogSnapshot(db);
    expect(catalog.some((def) => def.includes('tracking_events_package_time_idx'))).toBe(true);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('runs every experiment: both arms measured, plans captured, speedups finite, honest skips', async () => {
    const fractions = new Map<string, number[]>();
    const results = await runExperiments(deps, {
      ...tiny,
      onProgress: (name, f) => fractions.set(name, [...(fractions.get(name) ?? []), f]),
    });
    expect(results.map((r) => r.experiment)).toEqual([...experimentNames]);
    const byName = new Map(results.map((r) => [r.experiment, r]));
    const get = (name: string): ExperimentResult => {
      const result = byName.get(name);
      if (result === undefined) throw new Error(`no result for ${name}`);
      return result;
    };

    expect(get('documents').skipped).toBe('no MongoDB configured: both sides would be the same store');
    expect(get('documents').before.summary.count).toBe(0);
    expect(get('cache').skipped).toMatch(/no Redis configured/);

    for (const result of results.filter((r) => r.skipped === undefined)) {
      expect(result.before.summary.count, `${result.experiment} before`).toBeGreaterThan(0);
      expect(result.after.summary.count, `${result.experiment} after`).toBeGreaterThan(0);
      expect(Number.isFinite(result.speedup), `${result.experiment} speedup`).toBe(true);
      expect(result.speedup).toBeCloseTo(result.before.summary.p50 / result.after.summary.p50, 6);
      expect(result.question.length).toBeGreaterThan(10);
      expect(result.isolation.length).toBeGreaterThan(20);
      // Derived from the measurements: it quotes them.
      expect(result.recommendation).toMatch(/\d ms/);
      expect(result.notes.length).toBeGreaterThan(0);
      expect(fractions.get(result.experiment)?.at(-1)).toBe(1);
    }
    for (const name of [...indexExperiments, 'partitioning']) {
      const result = get(name);
      expect(result.skipped, name).toBeUndefined();
      for (const arm of [result.before, result.after]) {
        expect(arm.plan, `${name}: ${arm.label}`).toMatch(/Execution Time/);
        expect(arm.plan).toMatch(/Buffers/);
      }
    }
    for (const name of indexExperiments.filter((n) => n !== 'brin-vs-btree')) {
      expect(get(name).isolation).toMatch(/rolled back/);
      expect(get(name).isolation).toMatch(/ACCESS EXCLUSIVE/);
      expect(get(name).recommendation).toMatch(/^(keep|drop) /);
    }
    expect(get('brin-vs-btree').notes.join('\n')).toMatch(/BRIN .* B-tree/);
    expect(get('partitioning').isolation).toContain(scratchSchema);
    expect(get('partitioning').notes.join('\n')).toMatch(/load .*one table .*partitioned/);

    expect(await catalogSnapshot(db)).toEqual(catalog);
    expect(await scratchSchemas()).toBe(0);
  });

  it.skipIf(!inject('redisAvailable'))('cache: measured with a real Redis, hit ratio in the notes, keys removed', async () => {
    const redis = await openRedis(loadConfig({ env: {}, envFile: null }), experimentRedisUrl);
    try {
      const keysBefore = await redis.dbsize();
      const [result] = await runExperiments({ ...deps, redis }, { ...tiny, only: ['cache'] });
      expect(result?.experiment).toBe('cache');
      expect(result?.skipped).toBeUndefined();
      expect(result?.before.summary.count).toBeGreaterThan(0);
      expect(result?.after.summary.count).toBeGreaterThan(0);
      expect(Number.isFinite(result?.speedup)).toBe(true);
      expect(result?.before.plan).toMatch(/Execution Time/);
      expect(result?.notes.join('\n')).toMatch(/hit ratio: \d+(\.\d)?% of/);
      expect(result?.recommendation).toMatch(/TTL/);
      expect(await redis.dbsize()).toBe(keysBefore);
    } finally {
      await closeRedis(redis);
    }
  });

  it('an abort in the middle of an arm rolls the dropped index back and returns at once', async () => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const started = performance.now();
    const results = await runExperiments(deps, {
      durationMs: 20_000,
      warmupMs: 0,
      only: ['stale-index', 'metadata-index'],
      signal: controller.signal,
      onProgress: (name) => {
        // Inside stale-index's first arm: its index is dropped in the open transaction.
        if (name === 'stale-index' && timer === undefined) timer = setTimeout(() => controller.abort(), 300);
      },
    });
    expect(performance.now() - started).toBeLessThan(5000); // not the 2 × 20 s asked for
    expect(results.map((r) => r.experiment)).toEqual([]);
    expect(await catalogSnapshot(db)).toEqual(catalog);
  });

  it('an abort during the partitioning load drops the scratch schema', async () => {
    const controller = new AbortController();
    // Its own connection, open before the run: the look at the catalog goes out at once, ahead of
    // the abort's cancel request and DROP (a pooled query could wait for a connection and lose).
    const observer = new pg.Client({ connectionString: testDb.url });
    await observer.connect();
    let seen: Promise<number> | undefined;
    try {
      const results = await runExperiments(deps, {
        ...tiny,
        only: ['partitioning'],
        signal: controller.signal,
        onProgress: (name, f) => {
          if (name === 'partitioning' && f >= 0.1 && seen === undefined) {
            seen = observer
              .query<{ n: number }>('select count(*)::int as n from pg_namespace where nspname = $1', [scratchSchema])
              .then((result) => result.rows[0]?.n ?? 0);
            controller.abort();
          }
        },
      });
      expect(results).toEqual([]);
      expect(await seen).toBe(1); // it was there when the abort came
    } finally {
      await observer.end();
    }
    expect(await scratchSchemas()).toBe(0);
    expect(await catalogSnapshot(db)).toEqual(catalog);
  });

  it('a table lock held by another session makes an index experiment give up after lock_timeout, not queue', async () => {
    const other = new pg.Client({ connectionString: testDb.url });
    await other.connect();
    try {
      await other.query('begin');
      await other.query('lock table shipments in access share mode');
      const started = performance.now();
      const [result] = await runExperiments(deps, { ...tiny, only: ['overdue-index'] });
      expect(performance.now() - started).toBeLessThan(15_000);
      expect(result?.skipped).toMatch(/could not take the table lock within 5\.0 s/);
      expect(result?.before.summary.count).toBe(0);
    } finally {
      await other.query('rollback').catch(() => undefined);
      await other.end();
    }
    expect(await catalogSnapshot(db)).toEqual(catalog);
  });

  it('refuses unknown experiment names', async () => {
    await expect(runExperiments(deps, { ...tiny, only: ['track-index', 'nope'] })).rejects.toThrow(UsageError);
    await expect(runExperiments(deps, { ...tiny, only: ['nope'] })).rejects.toThrow(/no experiment is called "nope"/);
  });
});
