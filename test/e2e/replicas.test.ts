import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSuccess, runCli, startOwnRedis, tempDir, type CliResult, type OwnServer } from '../support/cli.js';
import { ownReplicationUnavailable, startOwnReplication, type OwnReplication } from '../support/own-replication.js';
import { openShiptrack } from '../../src/index.js';
import { findingSentence } from '../../src/render/report.render.js';
import { healthThresholds } from '../../src/services/reports/db/health.js';
import { checkDb, dbThresholds } from '../../src/services/reports/db/rules.js';
import { readDbSnapshot } from '../../src/services/reports/db/snapshot.js';
import { readReport, type Finding } from '../../src/services/reports/report.js';
import { openDatabase } from '../../src/store/database.js';
import { serverConfig } from '../support/stores.js';
import { parseTrackJson } from '../support/track-json.js';

/**
 * Read replicas, real ones: a primary and two streaming standbys the test starts itself
 * (initdb, pg_basebackup -R, pg_ctl), and a Redis of its own for the cache. Reads go to a
 * replica; a scan already confirmed is never hidden by one that has not replayed it (the cache
 * records the scan's commit position), nor cached from one; with the primary frozen, reads go on
 * and writes exit 5 naming it.
 */

const unavailable = ownReplicationUnavailable();
if (unavailable !== undefined) process.stderr.write(`⚠ read replicas: tests SKIPPED (${unavailable})\n`);

const password = 'replica-pw-never-printed';

interface DoctorJson {
  checks: {
    store: string;
    target: string;
    reachable: boolean | null;
    replica?: { standby: boolean; lagBytes: number | null; serving: boolean };
  }[];
  healthy: boolean;
}

const ok = (result: CliResult): CliResult => expectSuccess(result, password);

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe.skipIf(unavailable !== undefined)(
  `a primary and two streaming replicas of the test's own${unavailable === undefined ? '' : ` — SKIPPED: ${unavailable}`}`,
  () => {
    let cluster: OwnReplication;
    let redis: OwnServer;
    let env: Record<string, string>;
    let numbers: string[];
    let replicaTargets: string[];

    beforeAll(async () => {
      [cluster, redis] = await Promise.all([startOwnReplication({ standbys: 2 }), startOwnRedis()]);
      const url = (port: number): string => `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
      const primaryEnv = { SHIPTRACK_DATABASE_URL: url(cluster.primary.port), SHIPTRACK_CONNECT_TIMEOUT: '1s' };
      ok(await runCli(['migrate', 'latest', '--json'], { env: primaryEnv }));
      ok(await runCli(['seed', '--profile', 'tiny', '--yes', '--json'], { env: primaryEnv }));
      // Packages in transit: a scan of an exception, or of another transit leg, is allowed for them.
      numbers = (
        await query<{ tracking_number: string }>(
          cluster.primary.url(),
          `select tracking_number from packages where current_status = 'in_transit' order by package_id limit 8`,
        )
      ).map((r) => r.tracking_number);
      expect(numbers).toHaveLength(8);
      await Promise.all([cluster.waitForReplay(0), cluster.waitForReplay(1)]);
      replicaTargets = cluster.standbys.map((s) => `127.0.0.1:${s.port}/postgres`);
      env = {
        ...primaryEnv,
        SHIPTRACK_REPLICA_URLS: cluster.standbys.map((s) => url(s.port)).join(','),
        SHIPTRACK_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      };
    }, 120_000);

    afterAll(async () => {
      await cluster?.stop();
      await redis?.stop();
    });

    it('doctor names the primary and each replica: a standby, reachable, how far behind, serving reads', async () => {
      const result = ok(await runCli(['doctor', '--json'], { env }));
      const report = JSON.parse(result.stdout) as DoctorJson;
      const replicas = report.checks.filter((c) => c.store === 'PostgreSQL replica');
      expect(replicas.map((r) => r.target).sort()).toEqual(replicaTargets.map((t) => `postgres://postgres:***@${t}`).sort());
      for (const r of replicas) {
        expect(r).toMatchObject({ reachable: true, replica: { standby: true, serving: true } });
        expect(r.replica?.lagBytes).toBeGreaterThanOrEqual(0);
      }
      expect(report.healthy).toBe(true);
    });

    it('track reads a replica (the replicas take turns), and a report reads one too', async () => {
      const served = new Set<string>();
      for (const n of numbers.slice(0, 6)) {
        const answer = parseTrackJson(ok(await runCli(['track', n, '--no-cache', '--json'], { env })).stdout);
        const [found] = answer.packages;
        expect(found?.source).toBe('database');
        if (found?.replica != null) served.add(found.replica);
      }
      expect([...served].every((t) => replicaTargets.includes(t))).toBe(true);
      expect(served.size).toBeGreaterThanOrEqual(1);
      const onReplica = ok(await runCli(['report', 'status', '--json'], { env }));
      const onPrimary = ok(await runCli(['report', 'status', '--primary', '--json'], { env }));
      const tables = (r: CliResult): unknown => (JSON.parse(r.stdout) as { tables: unknown }).tables;
      expect(tables(onReplica)).toEqual(tables(onPrimary));
    });

    it('with replay paused: a scan, then track from another process shows it, and the cache never holds the older answer', async () => {
      const n = numbers[1] ?? '';
      // A lag bound the paused replicas stay within: what keeps the scan visible is its position.
      const relaxed = { ...env, SHIPTRACK_MAX_REPLICA_LAG: '1h' };
      const before = parseTrackJson(ok(await runCli(['track', n, '--json'], { env: relaxed })).stdout).packages[0];
      expect(before?.source).toBe('database');
      // Cached now; the replicas stop replaying.
      await Promise.all([cluster.pauseReplay(0), cluster.pauseReplay(1)]);
      try {
        const scan = await runCli(['scan', n, '--status', 'exception', '--location', '1', '--json'], { env: relaxed });
        ok(scan);
        const started = performance.now();
        const after = parseTrackJson(ok(await runCli(['track', n, '--json'], { env: relaxed })).stdout).packages[0];
        // The replicas have not replayed the scan: the primary answered, after a bounded wait.
        expect(after).toMatchObject({ status: 'exception', source: 'database', replica: null });
        expect(performance.now() - started).toBeLessThan(10_000);
        // What was cached is the new answer, not a replica's older one.
        const cached = parseTrackJson(ok(await runCli(['track', n, '--json'], { env: relaxed })).stdout).packages[0];
        expect(cached).toMatchObject({ status: 'exception', source: 'cache' });
        // A replica still shows the old state: the guarantee came from the recorded position.
        const [onReplica] = await query<{ current_status: string }>(
          `postgres://postgres@127.0.0.1:${cluster.standbys[0]?.port}/postgres`,
          `select current_status from packages where tracking_number = '${n}'`,
        );
        expect(onReplica?.current_status).toBe(before?.status);
      } finally {
        await Promise.all([cluster.resumeReplay(0), cluster.resumeReplay(1)]);
      }
      await Promise.all([cluster.waitForReplay(0), cluster.waitForReplay(1)]);
      const caughtUp = parseTrackJson(ok(await runCli(['track', n, '--no-cache', '--json'], { env: relaxed })).stdout)
        .packages[0];
      expect(caughtUp).toMatchObject({ status: 'exception' });
      expect(replicaTargets).toContain(caughtUp?.replica);
    });

    it("without Redis: track after the user's own scan waits for it; reports on a paused replica catch up after resume", async () => {
      const n = numbers[6] ?? '';
      const home = tempDir('shiptrack-home-');
      const withoutRedis = Object.fromEntries(Object.entries(env).filter(([key]) => key !== 'SHIPTRACK_REDIS_URL'));
      const mine = { ...withoutRedis, SHIPTRACK_MAX_REPLICA_LAG: '1h', SHIPTRACK_HOME: home };
      const someoneElse = { ...mine, SHIPTRACK_HOME: tempDir('shiptrack-home-') };
      const before = parseTrackJson(ok(await runCli(['track', n, '--json'], { env: mine })).stdout).packages[0];
      expect(replicaTargets).toContain(before?.replica);
      const reportOn = async (extra: Record<string, string>, ...flags: string[]): Promise<unknown> =>
        (
          JSON.parse(ok(await runCli(['report', 'status', '--json', ...flags], { env: { ...mine, ...extra } })).stdout) as {
            tables: unknown;
          }
        ).tables;
      await Promise.all([cluster.pauseReplay(0), cluster.pauseReplay(1)]);
      try {
        ok(await runCli(['scan', n, '--status', 'exception', '--location', '5', '--json'], { env: mine }));
        // This user's next read, in another process: it sees the scan (the primary answers).
        const after = parseTrackJson(ok(await runCli(['track', n, '--json'], { env: mine })).stdout).packages[0];
        expect(after).toMatchObject({ status: 'exception', replica: null });
        // Another user (another home) without Redis has the lag bound only: a replica answers, behind.
        const other = parseTrackJson(ok(await runCli(['track', n, '--json'], { env: someoneElse })).stdout).packages[0];
        expect(other).toMatchObject({ status: before?.status });
        expect(replicaTargets).toContain(other?.replica);
        // A report on a paused replica is behind the primary's...
        expect(await reportOn({})).not.toEqual(await reportOn({}, '--primary'));
      } finally {
        await Promise.all([cluster.resumeReplay(0), cluster.resumeReplay(1)]);
      }
      await Promise.all([cluster.waitForReplay(0), cluster.waitForReplay(1)]);
      // ...and matches it once replay resumes.
      expect(await reportOn({})).toEqual(await reportOn({}, '--primary'));
    });

    it('report db on the primary names a lagging replica and an inactive slot that retains WAL', async () => {
      const primaryUrl = cluster.primary.url();
      await query(primaryUrl, `select pg_create_physical_replication_slot('forgotten_slot', true)`);
      await Promise.all([cluster.pauseReplay(0), cluster.pauseReplay(1)]);
      const db = await openDatabase(serverConfig(primaryUrl), { statementTimeoutMs: 0 });
      try {
        await query(primaryUrl, `create table lag_filler as select g, repeat('x', 200) as pad from generate_series(1, 20000) g`);
        await query(primaryUrl, `select pg_switch_wal()`);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const read = await readReport(db, { now: new Date() }, (reader) => readDbSnapshot(reader, 20));
        const found = checkDb(read.value, {
          ...dbThresholds,
          health: { ...healthThresholds, replicaLagBytes: 1024, slotRetainedBytes: 1 },
        });
        const lagging = found.filter((f) => f.code === 'replica_lag');
        expect(lagging.length).toBe(2);
        expect(Number(lagging[0]?.figures.lag_bytes)).toBeGreaterThan(1024);
        expect(found.find((f) => f.code === 'inactive_slot')).toMatchObject({ subject: 'forgotten_slot' });
        expect(findingSentence(found.find((f) => f.code === 'inactive_slot') as Finding)).toMatch(
          /pg_drop_replication_slot\('forgotten_slot'\)/,
        );
      } finally {
        await db.close();
        await Promise.all([cluster.resumeReplay(0), cluster.resumeReplay(1)]);
        await query(primaryUrl, `select pg_drop_replication_slot('forgotten_slot')`);
        await query(primaryUrl, `drop table lag_filler`);
      }
      await Promise.all([cluster.waitForReplay(0), cluster.waitForReplay(1)]);
    });

    it('the library, long-lived: a scan then a track on the same handle reads the primary until the replicas replay it', async () => {
      const alerts: string[] = [];
      await using shiptrack = await openShiptrack({
        env: { ...env, SHIPTRACK_MAX_REPLICA_LAG: '1h' },
        envFile: null,
        onAlert: (line) => alerts.push(line),
      });
      const n = numbers[4] ?? '';
      const [first] = (await shiptrack.track(n)).results;
      expect(replicaTargets).toContain(first?.replica);
      await Promise.all([cluster.pauseReplay(0), cluster.pauseReplay(1)]);
      try {
        const { outcome } = await shiptrack.recordScan({ trackingNumber: n, status: 'exception', location: '3' });
        expect(outcome.outcome).toBe('accepted');
        const [after] = (await shiptrack.track(n)).results;
        expect(after).toMatchObject({ source: 'database', replica: null, package: { currentStatus: 'exception' } });
        const [cached] = (await shiptrack.track(n)).results;
        expect(cached).toMatchObject({ source: 'cache', package: { currentStatus: 'exception' } });
      } finally {
        await Promise.all([cluster.resumeReplay(0), cluster.resumeReplay(1)]);
      }
      await Promise.all([cluster.waitForReplay(0), cluster.waitForReplay(1)]);
      const [fresh] = (await shiptrack.track(n, { cache: false })).results;
      expect(fresh).toMatchObject({ package: { currentStatus: 'exception' } });
      expect(replicaTargets).toContain(fresh?.replica);
    });

    it('a replica further behind than the bound is skipped, and the report says the primary answered', async () => {
      await Promise.all([cluster.pauseReplay(0), cluster.pauseReplay(1)]);
      try {
        ok(await runCli(['scan', numbers[2] ?? '', '--status', 'exception', '--location', '2', '--json'], { env }));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const strict = { ...env, SHIPTRACK_MAX_REPLICA_LAG: '100ms' };
        const result = ok(await runCli(['report', 'status', '--json'], { env: strict }));
        expect(result.stderr).toMatch(/behind .*skipped|no replica qualifies: reading the primary/);
        const onPrimary = ok(await runCli(['report', 'status', '--primary', '--json'], { env }));
        expect((JSON.parse(result.stdout) as { tables: unknown }).tables).toEqual(
          (JSON.parse(onPrimary.stdout) as { tables: unknown }).tables,
        );
      } finally {
        await Promise.all([cluster.resumeReplay(0), cluster.resumeReplay(1)]);
      }
      await Promise.all([cluster.waitForReplay(0), cluster.waitForReplay(1)]);
    });

    it('a frozen replica costs its connect timeout once, is left alone, and the reads go on elsewhere', async () => {
      const frozen = cluster.standbys[0];
      frozen?.freeze();
      try {
        const quick = { ...env, SHIPTRACK_CONNECT_TIMEOUT: '1s' };
        for (const n of numbers.slice(0, 2)) {
          const started = performance.now();
          const result = ok(await runCli(['track', n, '--no-cache', '--json'], { env: quick }));
          expect(performance.now() - started).toBeLessThan(6000);
          expect(parseTrackJson(result.stdout).packages[0]?.replica).not.toBe(replicaTargets[0]);
        }
        const started = performance.now();
        const report = ok(await runCli(['report', 'status', '--json'], { env: quick }));
        expect(performance.now() - started).toBeLessThan(6000);
        expect(JSON.parse(report.stdout)).toHaveProperty('tables');
      } finally {
        frozen?.thaw();
      }
    });

    it('primary frozen: track answers from a replica within the bound, scan exits 5 naming the primary', async () => {
      cluster.primary.freeze();
      try {
        const started = performance.now();
        const answer = parseTrackJson(ok(await runCli(['track', numbers[3] ?? '', '--json'], { env })).stdout).packages[0];
        expect(replicaTargets).toContain(answer?.replica);
        expect(performance.now() - started).toBeLessThan(8000);
        const report = ok(await runCli(['report', 'overdue', '--json'], { env }));
        expect(JSON.parse(report.stdout)).toHaveProperty('tables');
        const scan = await runCli(['scan', numbers[3] ?? '', '--status', 'in_transit', '--location', '1'], { env });
        expect(scan.code, scan.stderr).toBe(5);
        expect(scan.stderr).toMatch(new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${cluster.primary.port}/postgres`));
        expect(scan.stderr + scan.stdout).not.toContain(password);
      } finally {
        cluster.primary.thaw();
      }
    });
    it('a promoted replica is not read as a replica, and serves writes once the configuration names it the primary', async () => {
      await cluster.promote(1);
      const promoted = replicaTargets[1] ?? '';
      const report = JSON.parse(ok(await runCli(['doctor', '--json'], { env })).stdout) as DoctorJson;
      const row = report.checks.find((c) => c.store === 'PostgreSQL replica' && c.target.endsWith(promoted));
      expect(row?.replica).toMatchObject({ standby: false, serving: false });
      for (const n of numbers.slice(0, 4)) {
        const answer = parseTrackJson(ok(await runCli(['track', n, '--no-cache', '--json'], { env })).stdout).packages[0];
        expect(answer?.replica).not.toBe(promoted);
      }
      const url = `postgres://postgres:${password}@${promoted}`;
      const scan = await runCli(['scan', numbers[5] ?? '', '--status', 'in_transit', '--location', '4', '--json'], {
        env: { ...env, SHIPTRACK_DATABASE_URL: url, SHIPTRACK_REPLICA_URLS: '' },
      });
      ok(scan);
    });
  },
);
