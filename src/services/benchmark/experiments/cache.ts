import { randomBytes } from 'node:crypto';
import { ExitCode, ShiptrackError } from '../../../errors.js';
import { deleteKeysWithPrefix } from '../../../store/redis.js';
import { createTrackCache, trackCacheKey } from '../../../store/track-cache.js';
import { trackQuery } from '../../../store/track-query.js';
import { createTracker, trackCachePolicy } from '../../track.service.js';
import {
  estimatedRows,
  finding,
  mean,
  meaningful,
  measure,
  median,
  planText,
  sampleTrackingNumbers,
  Skip,
  type Definition,
} from './harness.js';
import type { ExperimentFindings, LatencySummary } from '../types.js';

/** Share of lookups that go to the hot set: the most recently created 5% of packages. */
const hotShare = 0.8;

/** Deterministic uniform [0, 1) from an integer (splitmix32): both arms draw the same lookups. */
function uniformAt(n: number): number {
  let z = (n + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return (z >>> 0) / 4_294_967_296;
}

interface KeyClass {
  share: number;
  keys: number;
}

/** Share of lookups a TTL cache answers at steady state, per key class of Poisson lookups:
 *  each miss fills the key for `ttl`, during which its λ·ttl lookups (on average) hit. */
function steadyHitRatio(classes: readonly KeyClass[], rate: number, ttlSec: number): number {
  return classes.reduce((sum, c) => {
    const lambdaT = ((c.share * rate) / c.keys) * ttlSec;
    return sum + (c.share * lambdaT) / (1 + lambdaT);
  }, 0);
}

/** Keys alive at steady state for a TTL (each key is cached for a TTL after each miss). */
function liveKeys(classes: readonly KeyClass[], rate: number, ttlSec: number): number {
  return classes.reduce((sum, c) => {
    const lambdaT = ((c.share * rate) / c.keys) * ttlSec;
    return sum + (c.keys * lambdaT) / (1 + lambdaT);
  }, 0);
}

/** The TTL (seconds) that reaches `target` hits at steady state; undefined beyond a day. */
function ttlFor(classes: readonly KeyClass[], rate: number, target: number): number | undefined {
  if (!(target > 0 && target < 1) || steadyHitRatio(classes, rate, 86_400) < target) return undefined;
  let [low, high] = [0.1, 86_400];
  for (let i = 0; i < 60; i += 1) {
    const mid = Math.sqrt(low * high);
    if (steadyHitRatio(classes, rate, mid) >= target) high = mid;
    else low = mid;
  }
  return high;
}

/** The model, checked against a run that started cold at the warm-up: per key class the expected
 *  hits in the measured window are λD − e^(−λW)(1 − e^(−λD)). */
function predictedRunHitRatio(classes: readonly KeyClass[], rate: number, warmSec: number, runSec: number): number {
  const hits = classes.reduce((sum, c) => {
    const lambda = (c.share * rate) / c.keys;
    return sum + c.keys * (lambda * runSec - Math.exp(-lambda * warmSec) * (1 - Math.exp(-lambda * runSec)));
  }, 0);
  return hits / Math.max(1, rate * runSec);
}

/** What the measured arm with the cache on saw, lookup by lookup. */
interface CachedArm {
  hitRatio: number;
  measured: number;
  hitLatencies: number[];
  missLatencies: number[];
}

function splitHitsAndMisses(fromCache: readonly boolean[], latency: readonly number[], count: number): CachedArm {
  const from = Math.max(0, fromCache.length - count);
  const measured = fromCache.length - from;
  const hits = fromCache.slice(from).filter(Boolean).length;
  return {
    hitRatio: measured === 0 ? 0 : hits / measured,
    measured,
    hitLatencies: latency.slice(from).filter((_, i) => fromCache[from + i] === true),
    missLatencies: latency.slice(from).filter((_, i) => fromCache[from + i] === false),
  };
}

interface CacheMeasurements {
  before: LatencySummary;
  after: LatencySummary;
  seen: CachedArm;
  /** From the start of the warm-up (the cache was empty then) to the measured phase. */
  warmupMs: number;
  /** Mean size of a cached answer. */
  entryBytes: number;
  hotPackages: number;
  uniformPackages: number;
  packages: number;
  prefix: string;
}

/**
 * A short run from cold says little about a warm cache: the verdict weighs what a hit, a miss and
 * a plain database read typically (p50) cost by the modelled steady-state hit ratio at this run's
 * lookup rate. Medians rather than means: on a shared machine a few stalls swamp the means.
 */
function judgeCache(m: CacheMeasurements): ExperimentFindings {
  const { before, after, seen, entryBytes, packages } = m;
  const rate = after.throughput;
  const runClasses = [
    { share: hotShare, keys: m.hotPackages },
    { share: 1 - hotShare, keys: m.uniformPackages },
  ];
  // Production shape: the hot 5% of all packages, and uniform over all of them.
  const prodClasses = [
    { share: hotShare, keys: Math.max(1, Math.ceil(packages * 0.05)) },
    { share: 1 - hotShare, keys: packages },
  ];
  const ttlSec = trackCachePolicy.ttlMs / 1000;
  const steady = steadyHitRatio(prodClasses, rate, ttlSec);
  const hotLambda = (hotShare * rate) / (prodClasses[0]?.keys ?? 1);
  const ttl90 = 9 / hotLambda;

  const hitMs = median(seen.hitLatencies);
  const missMs = median(seen.missLatencies);
  const miss = Number.isFinite(missMs) ? missMs : after.p50;
  const database = before.p50;
  const warmLookupMs = steady * hitMs + (1 - steady) * miss;
  const breakEven = (miss - database / meaningful) / (miss - hitMs);
  let suggestedTtl: number | undefined;
  let verdict: string;
  if (seen.hitLatencies.length === 0) verdict = 'cache_no_hits';
  else if (hitMs * meaningful >= database) verdict = 'cache_hit_not_faster';
  else if (steady >= breakEven) verdict = 'keep_cache_ttl';
  else {
    suggestedTtl = ttlFor(prodClasses, rate, breakEven);
    verdict = suggestedTtl === undefined ? 'cache_does_not_pay_at_rate' : 'cache_ttl_too_short';
  }
  return {
    isolation: finding('cache_keys_under_prefix', { prefix: m.prefix }),
    verdict: finding(verdict, {
      ttlMs: trackCachePolicy.ttlMs,
      hitMs,
      missMs: miss,
      databaseMs: database,
      breakEvenHitRatio: breakEven,
      lookupsPerSecond: rate,
      steadyHitRatio: steady,
      warmLookupMs,
      warmRatio: database / warmLookupMs,
      suggestedTtlMs: suggestedTtl === undefined ? null : suggestedTtl * 1000,
      suggestedTtlBytes: suggestedTtl === undefined ? null : liveKeys(prodClasses, rate, suggestedTtl) * entryBytes,
      runMs: after.durationMs,
      hitRatio: seen.hitRatio,
      withMs: after.p50,
      withoutMs: before.p50,
      ratio: before.p50 / after.p50,
    }),
    notes: [
      finding('cache_workload', { hotShare, hotPackages: m.hotPackages, uniformPackages: m.uniformPackages, packages }),
      finding('cache_hit_ratio', { hitRatio: seen.hitRatio, measured: seen.measured, warmupMs: m.warmupMs }),
      finding('cache_model_check', {
        predictedHitRatio: predictedRunHitRatio(runClasses, rate, m.warmupMs / 1000, after.durationMs / 1000),
        hitRatio: seen.hitRatio,
      }),
      finding('cache_latencies', {
        hitMs,
        hitMeanMs: mean(seen.hitLatencies),
        missMs,
        missMeanMs: mean(seen.missLatencies),
        databaseMs: before.p50,
        databaseMeanMs: before.mean,
        entryBytes,
      }),
      finding('cache_steady_state', {
        ttlMs: trackCachePolicy.ttlMs,
        lookupsPerSecond: rate,
        packages,
        steadyHitRatio: steady,
        hotHitRatio: (hotLambda * ttlSec) / (1 + hotLambda * ttlSec),
        liveKeys: liveKeys(prodClasses, rate, ttlSec),
        liveBytes: liveKeys(prodClasses, rate, ttlSec) * entryBytes,
        hitRatioAt10s: steadyHitRatio(prodClasses, rate, 10),
        hitRatioAt600s: steadyHitRatio(prodClasses, rate, 600),
        hot90TtlMs: ttl90 * 1000,
        hot90Bytes: liveKeys(prodClasses, rate, ttl90) * entryBytes,
      }),
      finding('cache_rate_scaling', { hotShare }),
    ],
  };
}

/** Track with the cache off, then on (started cold), over a skewed workload, and a model of its TTL. */
export const cache: Definition = {
  name: 'cache',
  question: 'How much does the Redis cache save on a skewed track workload, and is its TTL right?',
  async run(run) {
    const { db, redis } = run.deps;
    if (redis === undefined) throw new Skip('no_redis');
    const packages = await estimatedRows(db, 'packages');
    if (packages === 0) throw new Skip('no_packages');
    const hotSize = Math.max(1, Math.min(100_000, Math.ceil(packages * 0.05)));
    const hotRows = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select tracking_number from packages order by created_at desc, package_id desc limit ?`,
      [hotSize],
    );
    const hot = hotRows.rows.map((r) => r.tracking_number);
    const uniform = await sampleTrackingNumbers(db, 50_000);
    run.checkAborted();
    const pick = (seq: number): string => {
      const list = uniformAt(seq * 2) < hotShare ? hot : uniform;
      return list[Math.floor(uniformAt(seq * 2 + 1) * list.length)] ?? '';
    };
    const prefix = `shiptrack:bench:experiment:${randomBytes(6).toString('hex')}:`;
    let cacheError: unknown;
    try {
      const source = { kind: 'database' as const, db };
      const off = createTracker({ source });
      const before = await measure(run, (seq) => off.track(pick(seq), { useCache: false }), [0, 0.45]);
      const explained = await db.knex.raw<{ rows: { 'QUERY PLAN': string }[] }>(
        `explain (analyze, buffers) ${trackQuery.text.replace('$1', '?')}`,
        [hot[0] ?? ''],
      );
      const trackCache = createTrackCache(redis, { ...trackCachePolicy, prefix });
      const on = createTracker({ source, cache: trackCache, onCacheError: (e) => (cacheError = e) });
      const fromCache: boolean[] = [];
      const latency: number[] = [];
      const started = performance.now();
      const after = await measure(
        run,
        async (seq) => {
          const t0 = performance.now();
          const result = await on.track(pick(seq));
          latency[seq] = performance.now() - t0;
          fromCache[seq] = result.source === 'cache';
        },
        [0.5, 1],
      );
      const warmupMs = performance.now() - started - after.durationMs;
      if (cacheError !== undefined) {
        throw new ShiptrackError(
          'experiment_failed',
          ExitCode.unavailable,
          `cache: Redis failed during the run (${cacheError instanceof Error ? cacheError.message : 'unknown error'})`,
        );
      }
      const seen = splitHitsAndMisses(fromCache, latency, after.count + after.errors);
      const hitSeqs = fromCache.flatMap((hit, seq) => (hit ? [seq] : [])).slice(-20);
      const lengths = await Promise.all(hitSeqs.map((seq) => redis.strlen(trackCacheKey(prefix, pick(seq)))));
      return {
        before: { label: 'cache off (database only)', summary: before, plan: planText(explained.rows) },
        after: { label: `cache on (TTL ${trackCachePolicy.ttlMs / 1000} s, started cold)`, summary: after },
        speedup: before.p50 / after.p50,
        findings: judgeCache({
          before,
          after,
          seen,
          warmupMs,
          entryBytes: lengths.length === 0 ? 0 : mean(lengths),
          hotPackages: hot.length,
          uniformPackages: uniform.length,
          packages,
          prefix,
        }),
      };
    } finally {
      await deleteKeysWithPrefix(redis, prefix).catch(() => undefined);
    }
  },
};
