import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createPgDocumentStore } from '../../src/store/documents/postgres.js';
import { UsageError } from '../../src/errors.js';
import { findingCodes } from '../../src/render/benchmark.render.js';
import {
  experimentNames,
  runExperiments,
  type ExperimentDeps,
  type ExperimentOptions,
} from '../../src/services/benchmark/experiments.js';
import type { ExperimentResult, Finding } from '../../src/services/benchmark/types.js';
import { trackCachePolicy } from '../../src/services/track.service.js';
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
const indexDecisions = ['keep_index', 'drop_index', 'drop_index_or_fix_plan'];
const cacheVerdicts = [
  'cache_no_hits',
  'cache_hit_not_faster',
  'keep_cache_ttl',
  'cache_does_not_pay_at_rate',
  'cache_ttl_too_short',
];

const allFindings = (r: ExperimentResult): Finding[] => {
  const { isolation, verdict, notes, skipped } = r.findings;
  return [isolation, verdict, ...notes, ...(skipped === undefined ? [] : [skipped])];
};
const noteOf = (r: ExperimentResult, code: string): Finding['figures'] => {
  const note = r.findings.notes.find((n) => n.code === code);
  if (note === undefined) throw new Error(`${r.experiment}: no note ${code}`);
  return note.figures;
};
const positive = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value > 0;

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

    expect(get('documents').findings.skipped).toEqual({ code: 'no_mongodb', figures: {} });
    expect(get('documents').findings.verdict.code).toBe('not_measured');
    expect(get('documents').before.summary.count).toBe(0);
    expect(get('cache').findings.skipped).toEqual({ code: 'no_redis', figures: {} });

    for (const result of results) {
      // Stored in run documents as they are: JSON-safe, and every code has its sentence.
      expect(JSON.parse(JSON.stringify(result.findings)), result.experiment).toEqual(result.findings);
      for (const f of allFindings(result)) expect(findingCodes, `${result.experiment}: ${f.code}`).toContain(f.code);
    }
    for (const result of results.filter((r) => r.findings.skipped === undefined)) {
      expect(result.before.summary.count, `${result.experiment} before`).toBeGreaterThan(0);
      expect(result.after.summary.count, `${result.experiment} after`).toBeGreaterThan(0);
      expect(Number.isFinite(result.speedup), `${result.experiment} speedup`).toBe(true);
      expect(result.speedup).toBeCloseTo(result.before.summary.p50 / result.after.summary.p50, 6);
      expect(result.question.length).toBeGreaterThan(10);
      // Derived from the measurements: the verdict carries them.
      const timings = Object.entries(result.findings.verdict.figures).filter(([key]) => key.endsWith('Ms'));
      expect(timings.length, result.experiment).toBeGreaterThan(0);
      for (const [key, value] of timings) expect(positive(value), `${result.experiment} ${key}`).toBe(true);
      expect(result.findings.notes.length).toBeGreaterThan(0);
      expect(fractions.get(result.experiment)?.at(-1)).toBe(1);
    }
    for (const name of [...indexExperiments, 'partitioning']) {
      const result = get(name);
      expect(result.findings.skipped, name).toBeUndefined();
      for (const arm of [result.before, result.after]) {
        expect(arm.plan, `${name}: ${arm.label}`).toMatch(/Execution Time/);
        expect(arm.plan).toMatch(/Buffers/);
      }
    }
    const tables: Record<string, string> = {
      'track-index': 'tracking_events',
      'overdue-index': 'in_flight_packages',
      'stale-index': 'in_flight_packages',
      'metadata-index': 'packages',
    };
    for (const [name, table] of Object.entries(tables)) {
      const { isolation } = get(name).findings;
      expect(isolation.code, name).toBe('indexes_dropped_and_rolled_back');
      expect(isolation.figures.table, name).toBe(table);
      expect(isolation.figures.lockTimeoutMs).toBe(5000);
      expect(positive(isolation.figures.heldMs), name).toBe(true);
    }
    for (const name of ['track-index', 'overdue-index', 'stale-index']) {
      const result = get(name);
      const { code, figures } = result.findings.verdict;
      expect(indexDecisions, name).toContain(code);
      expect(figures.withMs).toBe(result.after.summary.p50);
      expect(figures.withoutMs).toBe(result.before.summary.p50);
      expect(figures.ratio).toBeCloseTo(result.speedup, 6);
      expect(code === 'keep_index', name).toBe(result.speedup >= 1.1);
      expect(positive(figures.indexBytes), name).toBe(true);
      expect(typeof noteOf(result, 'index_plan').used, name).toBe('boolean');
    }
    const metadata = get('metadata-index').findings.verdict;
    expect(metadata.code).toBe('metadata_indexes');
    expect(indexDecisions).toContain(metadata.figures.ginVerdict);
    expect(indexDecisions).toContain(metadata.figures.fragileVerdict);
    expect(metadata.figures.selectiveTerms).toEqual(['contents="health"', 'signature_required=true']);

    const brin = get('brin-vs-btree');
    expect(brin.findings.isolation.code).toBe('brin_built_and_rolled_back');
    expect(['replace_btree_with_brin', 'brin_would_do', 'keep_btree']).toContain(brin.findings.verdict.code);
    expect(brin.findings.verdict.figures.btreeMs).toBe(brin.before.summary.p50);
    expect(brin.findings.verdict.figures.brinMs).toBe(brin.after.summary.p50);
    const sizes = noteOf(brin, 'brin_sizes');
    expect(positive(sizes.brinBytes) && positive(sizes.btreeBytes) && positive(sizes.buildMs)).toBe(true);

    const partitioned = get('partitioning');
    expect(partitioned.findings.isolation).toEqual({
      code: 'scratch_schema',
      figures: { schema: scratchSchema, leftoverDropped: false },
    });
    expect(['partition_by_month', 'partitioning_helps_in_part', 'keep_one_table']).toContain(partitioned.findings.verdict.code);
    const load = noteOf(partitioned, 'partition_load');
    expect(positive(load.rows) && positive(load.singleMs) && positive(load.partedMs)).toBe(true);
    expect(load.singleRunsMs).toHaveLength(2);
    expect(load.partedRunsMs).toHaveLength(2);
    expect(noteOf(partitioned, 'partition_queries').sameRows).toBe(true);

    expect(await catalogSnapshot(db)).toEqual(catalog);
    expect(await scratchSchemas()).toBe(0);
  });

  it.skipIf(!inject('redisAvailable'))('cache: measured with a real Redis, hit ratio in the findings, keys removed', async () => {
    const redis = await openRedis(loadConfig({ env: { SHIPTRACK_REDIS_URL: experimentRedisUrl }, envFile: null }));
    try {
      const keysBefore = await redis.dbsize();
      const [result] = await runExperiments({ ...deps, redis }, { ...tiny, only: ['cache'] });
      expect(result?.experiment).toBe('cache');
      expect(result?.findings.skipped).toBeUndefined();
      expect(result?.before.summary.count).toBeGreaterThan(0);
      expect(result?.after.summary.count).toBeGreaterThan(0);
      expect(Number.isFinite(result?.speedup)).toBe(true);
      expect(result?.before.plan).toMatch(/Execution Time/);
      const hits = result === undefined ? {} : noteOf(result, 'cache_hit_ratio');
      expect(hits.hitRatio).toBeGreaterThanOrEqual(0);
      expect(hits.hitRatio).toBeLessThanOrEqual(1);
      expect(hits.measured).toBe((result?.after.summary.count ?? 0) + (result?.after.summary.errors ?? 0));
      expect(cacheVerdicts).toContain(result?.findings.verdict.code);
      // The TTL judged is the one `shiptrack track` uses.
      expect(result?.findings.verdict.figures.ttlMs).toBe(trackCachePolicy.ttlMs);
      expect(result?.findings.verdict.figures.withMs).toBe(result?.after.summary.p50);
      expect(result?.findings.verdict.figures.withoutMs).toBe(result?.before.summary.p50);
      expect(result?.findings.isolation.code).toBe('cache_keys_under_prefix');
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
      await other.query('lock table in_flight_packages in access share mode');
      const started = performance.now();
      const [result] = await runExperiments(deps, { ...tiny, only: ['overdue-index'] });
      expect(performance.now() - started).toBeLessThan(15_000);
      expect(result?.findings.skipped).toEqual({ code: 'lock_timeout', figures: { lockTimeoutMs: 5000 } });
      expect(result?.findings.isolation.code).toBe('lock_attempt_rolled_back');
      expect(result?.before.summary.count).toBe(0);
    } finally {
      await other.query('rollback').catch(() => undefined);
      await other.end();
    }
    expect(await catalogSnapshot(db)).toEqual(catalog);
  });

  it('refuses unknown experiment names', async () => {
    await expect(runExperiments(deps, { ...tiny, only: ['track-index', 'nope'] })).rejects.toThrow(UsageError);
    await expect(runExperiments(deps, { ...tiny, only: ['nope'] })).rejects.toThrow(
      /^--experiments: no experiment is called nope; they are track-index, overdue-index, /,
    );
  });
});
