import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openShiptrack } from '../../src/index.js';
import { expectSuccess, runCli, whenStderrSays, type CliResult } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { ownRedisClusterUnavailable, startOwnRedisCluster, type OwnRedisCluster } from '../support/own-redis-cluster.js';
import { parseTrackJson } from '../support/track-json.js';

/**
 * The cache and the live channel on a real Redis Cluster the test starts itself (three masters,
 * three replicas): hit, miss, invalidation after a scan, the negative cache, `--watch` over
 * sharded pub/sub; and a master killed: `track` keeps answering from PostgreSQL, nothing stale,
 * and once its replica is promoted a long-lived handle caches again without a restart.
 */

const unavailable = ownRedisClusterUnavailable() ?? (inject('postgresAvailable') ? undefined : 'no PostgreSQL server');
if (unavailable !== undefined) process.stderr.write(`⚠ Redis Cluster: tests SKIPPED (${unavailable})\n`);

const ok = (result: CliResult): CliResult => expectSuccess(result);

describe.skipIf(unavailable !== undefined)(
  `the cache on a Redis Cluster of the test's own${unavailable === undefined ? '' : ` — SKIPPED: ${unavailable}`}`,
  () => {
    let cluster: OwnRedisCluster;
    let testDb: TestDatabase;
    let env: Record<string, string>;
    let numbers: string[];

    beforeAll(async () => {
      [cluster, testDb] = await Promise.all([startOwnRedisCluster(), createTestDatabase('st_cluster')]);
      env = { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_REDIS_URL: cluster.url, SHIPTRACK_REDIS_TIMEOUT: '300ms' };
      ok(await runCli(['migrate', 'latest'], { env }));
      ok(await runCli(['seed', '--profile', 'tiny', '--yes', '--json'], { env }));
      const db = await import('pg');
      const client = new db.default.Client({ connectionString: testDb.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ tracking_number: string }>(
          `select tracking_number from packages where current_status = 'in_transit' order by package_id limit 4`,
        );
        numbers = rows.map((r) => r.tracking_number);
      } finally {
        await client.end();
      }
      expect(numbers).toHaveLength(4);
    }, 120_000);

    afterAll(async () => {
      await cluster?.stop();
      await testDb?.drop();
    });

    const track = async (n: string, extra: string[] = []) =>
      parseTrackJson(ok(await runCli(['track', n, '--json', ...extra], { env })).stdout);

    it('doctor shows the cluster: its state, all slots served, each node', async () => {
      const report = JSON.parse(ok(await runCli(['doctor', '--json'], { env })).stdout) as {
        checks: { store: string; mode: string; detail: string; reachable: boolean }[];
      };
      const main = report.checks.find((c) => c.store === 'Redis');
      expect(main).toMatchObject({ mode: 'cluster', reachable: true });
      expect(main?.detail).toMatch(/ok, 16384 of 16384 slots served, 3 masters/);
      expect(report.checks.filter((c) => c.store === 'Redis node')).toHaveLength(6);
    });

    it('miss, hit, invalidation by a scan, the negative cache, single flight', async () => {
      const n = numbers[0] ?? '';
      expect((await track(n)).packages[0]?.source).toBe('database');
      expect((await track(n)).packages[0]?.source).toBe('cache');
      ok(await runCli(['scan', n, '--status', 'exception', '--location', '1'], { env }));
      const after = (await track(n)).packages[0];
      expect(after).toMatchObject({ source: 'database', status: 'exception' });
      expect((await track(n)).packages[0]).toMatchObject({ source: 'cache', status: 'exception' });
      // A valid number nobody has: "not found" is cached too (the cache answers the second time).
      const unknown = 'RB000000005US';
      await using shiptrack = await openShiptrack({ env, envFile: null });
      expect((await shiptrack.track(unknown)).results[0]).toMatchObject({ source: 'database', package: null });
      expect((await shiptrack.track(unknown)).results[0]).toMatchObject({ source: 'cache', package: null });
      // Single flight: two reads of a number missing from the cache at once share one database read.
      const m = numbers[3] ?? '';
      const [a, b] = await Promise.all([shiptrack.track(m), shiptrack.track(m)]);
      expect(a.results[0]?.source).toBe('database');
      expect(a.results[0]).toBe(b.results[0]);
      expect((await shiptrack.track(m)).results[0]?.source).toBe('cache');
    });

    it('--watch hears a scan from another process over sharded pub/sub', async () => {
      const n = numbers[1] ?? '';
      let heardAt = 0;
      const watch = await runCli(['track', n, '--watch', '--json'], {
        env,
        timeoutMs: 30_000,
        onSpawn: (child) => {
          whenStderrSays(child, 'watching', () => {
            void runCli(['scan', n, '--status', 'exception', '--location', '2'], { env });
          });
          let out = 0;
          child.stdout?.on('data', () => {
            out += 1;
            // The first line is the package as it was; the next one is the scan, heard.
            if (out >= 2 && heardAt === 0) {
              heardAt = performance.now();
              setTimeout(() => child.kill('SIGINT'), 200);
            }
          });
          setTimeout(() => child.kill('SIGINT'), 15_000);
        },
      });
      expect(watch.code).toBe(130);
      const lines = watch.stdout.trim().split('\n');
      const update = JSON.parse(lines.at(-1) ?? '{}') as { status?: string };
      expect(heardAt, watch.stderr).toBeGreaterThan(0);
      expect(update.status).toBe('exception');
    });

    it('a master killed: track answers from PostgreSQL meanwhile, nothing stale, and caching resumes after the failover', async () => {
      const n = numbers[2] ?? '';
      const alerts: string[] = [];
      await using shiptrack = await openShiptrack({ env, envFile: null, onAlert: (line) => alerts.push(line) });
      await shiptrack.track(n);
      expect((await shiptrack.track(n)).results[0]?.source).toBe('cache');
      const failover = cluster.failMasterFor(`{${n}}`);
      // While the slot has no master: answers come from PostgreSQL, each within the Redis timeout.
      const started = performance.now();
      const during = await shiptrack.track(n);
      expect(during.results[0]?.package?.trackingNumber).toBe(n);
      expect(performance.now() - started).toBeLessThan(3000);
      await failover;
      // A scan while the handle may still be finding the new master: it must not leave a stale answer.
      ok(await runCli(['scan', n, '--status', 'exception', '--location', '3'], { env }));
      let cachedAgain = false;
      for (let i = 0; i < 40 && !cachedAgain; i += 1) {
        const [result] = (await shiptrack.track(n)).results;
        expect(result?.package?.currentStatus).toBe('exception');
        cachedAgain = result?.source === 'cache';
        if (!cachedAgain) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(cachedAgain).toBe(true);
      // And from another process, after the failover: the same, current answer.
      expect((await track(n)).packages[0]).toMatchObject({ status: 'exception' });
    });
  },
);
