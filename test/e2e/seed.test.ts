import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { runCli, tempDir } from '../support/cli.js';

interface SeedJson {
  rows: Record<string, number>;
  seconds: number;
  rowsPerSecond: number;
  checks?: { ok: boolean };
}

describe('seed on the embedded default', () => {
  it('seeds tiny, verifies it, refuses a second seed without --append/--truncate, and --truncate needs --yes off a terminal', async () => {
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const seeded = await runCli(['seed', '--profile', 'tiny', '--verify', '--json'], { cwd });
    expect(seeded.code).toBe(0);
    const body = JSON.parse(seeded.stdout) as SeedJson;
    expect(body.rows).toMatchObject({ customers: 200, locations: 50, packages: 1000, shipments: 1000 });
    expect(body.checks?.ok).toBe(true);
    expect(seeded.stderr).not.toMatch(/error/);

    const again = await runCli(['seed', '--profile', 'tiny'], { cwd });
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/error: the database already has data/);
    expect(again.stderr).toMatch(/hint: pass --append to add to it, or --truncate to replace it/);

    const noYes = await runCli(['seed', '--truncate'], { cwd });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(
      /--truncate would erase 200 customers, 50 locations, 1,000 packages, 1,000 shipments, [\d,]+ tracking_events; pass --yes/,
    );

    const table = await runCli(['seed', '--truncate', '--yes', '--packages', '300'], { cwd });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/packages\s+│\s+300/);
    expect((await runCli(['check'], { cwd })).code).toBe(0);
  });

  it('rejects bad options before touching anything', async () => {
    for (const [args, message] of [
      [['seed', '--profile', 'huge'], /argument 'huge' is invalid. Allowed choices are tiny, small, medium, large/],
      [['seed', '--packages', '-5'], /--packages: expected a whole number from 0/],
      [['seed', '--documents', '2'], /--documents: expected a share from 0 to 1/],
      [['seed', '--as-of', 'yesterday-ish'], /--as-of: "yesterday-ish" is not a date/],
      [['seed', '--append', '--truncate'], /--append and --truncate exclude each other/],
    ] as const) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });
});

describe.skipIf(!inject('postgresAvailable'))('seed on a PostgreSQL server', () => {
  let testDb: TestDatabase | undefined;
  afterEach(async () => {
    await testDb?.drop();
    testDb = undefined;
  });

  async function counts(url: string): Promise<Record<string, number>> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const out: Record<string, number> = {};
      for (const table of ['customers', 'locations', 'packages', 'shipments', 'tracking_events']) {
        out[table] = Number((await client.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]?.n);
      }
      return out;
    } finally {
      await client.end();
    }
  }

  it('Ctrl-C mid-load exits 130 within a second and leaves the tables empty; the same command then finishes with exact counts', async () => {
    testDb = await createTestDatabase('st_seed_e2e');
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    const args = [
      'seed',
      '--packages',
      '400000',
      '--customers',
      '5000',
      '--locations',
      '200',
      '--seed',
      '3',
      '--as-of',
      '2026-11-01',
    ];
    let signalledAt = 0;
    const interrupted = await runCli(args, {
      env,
      onSpawn: (child) =>
        setTimeout(() => {
          signalledAt = performance.now();
          child.kill('SIGINT');
        }, 2000),
    });
    const afterSignal = performance.now() - signalledAt;
    expect(interrupted.code).toBe(130);
    expect(afterSignal).toBeLessThan(1500);
    expect(interrupted.stderr).toMatch(/seed interrupted: nothing was loaded, the tables are as they were/);
    expect(await counts(testDb.url)).toEqual({ customers: 0, locations: 0, packages: 0, shipments: 0, tracking_events: 0 });

    const rerun = await runCli([...args, '--json'], { env });
    expect(rerun.code).toBe(0);
    const body = JSON.parse(rerun.stdout) as SeedJson;
    expect(await counts(testDb.url)).toEqual(body.rows);
    expect(body.rows.packages).toBe(400_000);
  });

  it('the server ending the session mid-seed gives a clear error (exit 5); rerunning finishes with exact counts', async () => {
    testDb = await createTestDatabase('st_seed_e2e');
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    const args = ['seed', '--packages', '400000', '--customers', '5000', '--locations', '200', '--json'];
    const admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
    try {
      const killed = await runCli(args, {
        env,
        onSpawn: () =>
          setTimeout(() => {
            // What a restart does to the session: the server terminates it (this test's database
            // only: a seed elsewhere on the server is not this test's to end).
            void admin.query(
              `select pg_terminate_backend(pid) from pg_stat_activity
                where application_name = 'shiptrack seed' and datname = current_database()`,
            );
          }, 2000),
      });
      expect(killed.code).toBe(5);
      expect(killed.stdout).toMatch(/"code": "store_unavailable"/);
      expect(killed.stdout).toMatch(/PostgreSQL is unavailable: terminating connection due to administrator command/);
    } finally {
      await admin.end();
    }
    expect(await counts(testDb.url)).toEqual({ customers: 0, locations: 0, packages: 0, shipments: 0, tracking_events: 0 });
    const rerun = await runCli(args, { env });
    expect(rerun.code).toBe(0);
    expect(await counts(testDb.url)).toEqual((JSON.parse(rerun.stdout) as SeedJson).rows);
  });

  it('a second seed on the same database while one runs is refused with exit 4', async () => {
    testDb = await createTestDatabase('st_seed_e2e');
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    const first = runCli(['seed', '--packages', '300000', '--customers', '5000', '--locations', '200'], { env });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const second = await runCli(['seed', '--profile', 'tiny'], { env });
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/another seed is running on this database/);
    expect((await first).code).toBe(0);
  });
});
