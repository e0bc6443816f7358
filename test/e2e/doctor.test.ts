import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { shippedMigrations } from '../support/stores.js';
import { freePort, recordLoads, runCli, startFrozenListener, startOwnRedis, tempDir, type CliResult } from '../support/cli.js';

interface DoctorJson {
  checks: {
    store: string;
    mode: string;
    reachable: boolean | null;
    version: string | null;
    latencyMs: number | null;
    detail: string;
    error: { message: string } | null;
  }[];
  healthy: boolean;
}

function checks(result: CliResult): Record<string, DoctorJson['checks'][number]> {
  const body = JSON.parse(result.stdout) as DoctorJson;
  return Object.fromEntries(body.checks.map((c) => [c.store, c]));
}

describe('doctor on the embedded default', () => {
  it('says which mode is in force for each store and exits 0', async () => {
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const result = await runCli(['doctor', '--json'], { cwd });
    expect(result.code).toBe(0);
    const byStore = checks(result);
    expect(byStore.PostgreSQL).toMatchObject({
      mode: 'embedded',
      reachable: true,
      detail: `schema up to date (${shippedMigrations().length} migrations)`,
    });
    expect(byStore.PostgreSQL?.version).toMatch(/^\d+\.\d+/);
    expect(byStore.Redis).toMatchObject({ mode: 'off', reachable: null });
    expect(byStore.MongoDB).toMatchObject({ mode: 'postgres', reachable: null });

    const table = await runCli(['doctor'], { cwd });
    expect(table.stdout).toMatch(/store\s+│\s+mode\s+│\s+target\s+│\s+reachable\s+│\s+version\s+│\s+latency\s+│\s+state/);
  });
});

describe.skipIf(!inject('postgresAvailable') || !inject('redisAvailable'))('doctor against servers', () => {
  let testDb: TestDatabase;
  const password = 'Sup3r-Secret-Pw';

  beforeAll(async () => {
    testDb = await createTestDatabase('st_doctor');
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  function withPassword(url: string): string {
    const u = new URL(url);
    u.password = password;
    return u.toString();
  }

  it('reports every store reachable, with versions and latency', async () => {
    const env = { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_REDIS_URL: 'redis://127.0.0.1:6379' };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    // Its statements go over one plain connection: knex (and store/knex-driver.ts) never loads.
    const loads = recordLoads();
    const result = await runCli(['doctor', '--json'], { env: { ...env, ...loads.env } });
    expect(result.code).toBe(0);
    const loaded = loads.read();
    expect(loaded.some((url) => url.endsWith('/bin/shiptrack.js'))).toBe(true); // the coverage saw the CLI start
    expect(loaded).toContain('dist/src/store/pg-driver.js'); // and its modules
    expect(loaded.filter((name) => name === 'dist/src/store/knex-driver.js' || name.startsWith('node_modules/knex/'))).toEqual(
      [],
    );
    const byStore = checks(result);
    expect(byStore.PostgreSQL).toMatchObject({ mode: 'server', reachable: true });
    expect(byStore.PostgreSQL?.detail).toBe(`schema up to date (${shippedMigrations().length} migrations)`);
    expect(byStore.PostgreSQL?.latencyMs).toBeGreaterThan(0);
    expect(byStore.Redis).toMatchObject({ mode: 'server', reachable: true });
    expect(byStore.Redis?.version).toMatch(/^\d+\.\d+/);
    expect(byStore.Redis?.latencyMs).toBeGreaterThan(0);
  });

  it('Redis stopped (closed port): exit 5, quickly, naming Redis', async () => {
    const port = await freePort();
    const result = await runCli(['doctor', '--json'], {
      env: { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_REDIS_URL: `redis://127.0.0.1:${port}` },
    });
    expect(result.code).toBe(5);
    expect(result.ms).toBeLessThan(5000);
    const byStore = checks(result);
    expect(byStore.Redis).toMatchObject({ reachable: false, error: { message: 'Redis is unreachable (connection refused)' } });
    expect(byStore.PostgreSQL?.reachable).toBe(true);
  });

  it('Redis frozen with SIGSTOP: exit 5 within the connect timeout bound', async () => {
    const redis = await startOwnRedis();
    try {
      redis.freeze();
      const result = await runCli(['doctor'], {
        env: {
          SHIPTRACK_DATABASE_URL: testDb.url,
          SHIPTRACK_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
          SHIPTRACK_CONNECT_TIMEOUT: '1s',
        },
      });
      expect(result.code).toBe(5);
      // bound: 2 × connect timeout + 2 s, plus process start
      expect(result.ms).toBeLessThan(5500);
      expect(result.stdout).toMatch(/Redis.*NO/);
    } finally {
      await redis.stop();
    }
  });

  it('PostgreSQL frozen (a server that accepts and never answers): exit 5 within the bound', async () => {
    const frozen = await startFrozenListener();
    try {
      const result = await runCli(['doctor', '--json'], {
        env: { SHIPTRACK_DATABASE_URL: `postgres://app:${password}@127.0.0.1:${frozen.port}/x`, SHIPTRACK_CONNECT_TIMEOUT: '1s' },
      });
      expect(result.code).toBe(5);
      expect(result.ms).toBeLessThan(5500);
      expect(checks(result).PostgreSQL).toMatchObject({ reachable: false });
      expect(result.stdout + result.stderr).not.toContain(password);
    } finally {
      await frozen.stop();
    }
  });

  it('never prints a password: not in tables, JSON, errors or --verbose causes', async () => {
    const redis = await startOwnRedis(['--requirepass', 'the-real-one']);
    const closedPort = await freePort();
    try {
      const scenarios: Record<string, string>[] = [
        // reachable PostgreSQL (trust auth ignores the password), Redis refusing our password
        { SHIPTRACK_DATABASE_URL: withPassword(testDb.url), SHIPTRACK_REDIS_URL: `redis://:${password}@127.0.0.1:${redis.port}` },
        // unreachable servers
        {
          SHIPTRACK_DATABASE_URL: `postgres://app:${password}@127.0.0.1:${closedPort}/db`,
          SHIPTRACK_REDIS_URL: `redis://default:${password}@127.0.0.1:${closedPort}`,
          SHIPTRACK_MONGO_URL: `mongodb://root:${password}@127.0.0.1:${closedPort}/?serverSelectionTimeoutMS=500`,
          SHIPTRACK_CONNECT_TIMEOUT: '1s',
        },
        // an invalid setting next to a secret
        { SHIPTRACK_DATABASE_URL: `postgres://app:${password}@127.0.0.1/db`, SHIPTRACK_REDIS_URL: `http://:${password}@x` },
      ];
      const outputs: string[] = [];
      for (const env of scenarios) {
        for (const args of [['doctor'], ['doctor', '--json'], ['doctor', '--verbose'], ['migrate', 'status', '--verbose']]) {
          const result = await runCli(args, { env });
          outputs.push(result.stdout, result.stderr);
          if (args[0] === 'doctor') expect(result.code, `${args.join(' ')} with ${Object.keys(env).join(', ')}`).not.toBe(0);
        }
      }
      const flagged = await runCli(['doctor', '--redis-url', `redis://:${password}@127.0.0.1:${closedPort}`, '--json'], {
        env: { SHIPTRACK_DATABASE_URL: testDb.url },
      });
      outputs.push(flagged.stdout, flagged.stderr);
      const all = outputs.join('\n');
      expect(all).not.toContain(password);
      expect(all).not.toContain(encodeURIComponent(password));
      expect(all).toContain(':***@');
    } finally {
      await redis.stop();
    }
  });
});
