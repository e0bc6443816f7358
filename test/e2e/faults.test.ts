import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, startFrozenListener, startOwnRedis, tempDir, whenStderrSays, type CliResult } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { ownPostgresUnavailable, startOwnPostgres, type OwnPostgres } from '../support/own-postgres.js';
import { parseTrackJson } from '../support/track-json.js';

/**
 * Faults injected on servers the tests start themselves (a listener that never answers, a cluster
 * of their own frozen with SIGSTOP, a Redis of their own) and hostile input: every failure is
 * named, without credentials, with its documented exit code, within its documented bound.
 */

const password = 'pw-never-printed';

interface SeedJson {
  sampleTrackingNumbers: string[];
}

async function inFlight(env: Record<string, string>): Promise<string> {
  const stale = await runCli(['report', 'stale', '--hours', '1', '--as-of', '2026-11-01', '--json'], { env });
  const rows = (JSON.parse(stale.stdout) as { tables: { name: string; rows: { tracking_number: string }[] }[] }).tables.find(
    (t) => t.name === 'packages',
  )?.rows;
  const number = rows?.[0]?.tracking_number;
  if (number === undefined) throw new Error('no package in flight');
  return number;
}

function expectNamedUnavailable(result: CliResult, store: RegExp): void {
  expect(result.code, `${result.stderr}${result.stdout}`).toBe(5);
  expect(result.stderr + result.stdout).toMatch(store);
  expect(result.stderr).not.toMatch(/internal error|this is a bug/);
  expect(result.stdout + result.stderr).not.toContain(password);
}

describe('a PostgreSQL that accepts connections and never answers', () => {
  it.each([
    ['track', 'RB123456785US'],
    ['report', 'status'],
    ['migrate', 'status'],
    ['migrate', 'latest'],
    ['scan', 'RB123456785US', '--status', 'in_transit', '--location', '1'],
    ['seed'],
    ['check'],
    ['outbox', 'status'],
    ['outbox', 'drain'],
    ['doctor'],
  ])('%s %s: exit 5, the server named without credentials, within the connect timeout', async (...args) => {
    const frozen = await startFrozenListener();
    try {
      const result = await runCli(args, {
        env: { SHIPTRACK_DATABASE_URL: `postgres://app:${password}@127.0.0.1:${frozen.port}/x`, SHIPTRACK_CONNECT_TIMEOUT: '1s' },
      });
      expectNamedUnavailable(result, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${frozen.port}/x`));
      // 1 s to connect (knex waits one more for the pool), the process start on a busy machine.
      expect(result.ms).toBeLessThan(6000);
    } finally {
      await frozen.stop();
    }
  });
});

const ownPostgres = ownPostgresUnavailable();

describe.skipIf(ownPostgres !== undefined)(
  `a PostgreSQL of the test's own, frozen mid-operation${ownPostgres === undefined ? '' : ` — SKIPPED: ${ownPostgres}`}`,
  () => {
    let server: OwnPostgres;
    let env: Record<string, string>;

    beforeAll(async () => {
      server = await startOwnPostgres();
      env = { SHIPTRACK_DATABASE_URL: server.url('postgres', password), SHIPTRACK_LIVENESS_TIMEOUT: '2s' };
      expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
      expect((await runCli(['seed', '--as-of', '2026-11-01'], { env })).code).toBe(0);
    }, 120_000);
    afterAll(async () => {
      await server?.stop();
    });

    /** Runs `args` while another session holds a lock the command waits for, freezing the server once it waits. */
    async function frozenWhileWaiting(
      args: string[],
      extra: Record<string, string>,
      then?: (child: { kill(s: NodeJS.Signals): void }) => void,
    ) {
      const locker = new pg.Client({ connectionString: server.url() });
      await locker.connect();
      await locker.query('begin');
      // The rollups too: `report status` reads package_status_counts, not packages.
      await locker.query(
        'lock table packages, tracking_events, package_status_counts, in_flight_packages in access exclusive mode',
      );
      let frozenAt = 0;
      try {
        return await runCli(args, {
          env: { ...env, SHIPTRACK_LOCK_TIMEOUT: '60s', ...extra },
          onSpawn: (child) => {
            setTimeout(() => {
              server.freeze();
              frozenAt = performance.now();
              then?.(child);
            }, 1500);
          },
        }).then((result) => ({ ...result, afterFreezeMs: performance.now() - frozenAt }));
      } finally {
        server.thaw();
        await locker.end().catch(() => undefined);
      }
    }

    it('check, which runs without a statement timeout, ends with exit 5 once the server stops answering', async () => {
      const result = await frozenWhileWaiting(['check'], {});
      expectNamedUnavailable(result, /stopped answering: no reply to a liveness check for 2 s/);
      // The liveness bound (2 s) and one probe interval, on a busy machine.
      expect(result.afterFreezeMs).toBeLessThan(8000);
    });

    it('SIGTERM ends a command whose server is frozen within a few seconds, exit 143', async () => {
      const result = await frozenWhileWaiting(['check'], { SHIPTRACK_LIVENESS_TIMEOUT: '60s' }, (child) => child.kill('SIGTERM'));
      expect(result.code, result.stderr).toBe(143);
      expect(result.stderr).toMatch(/nothing uncommitted was kept/);
      expect(result.afterFreezeMs).toBeLessThan(8000);
    });

    it('report status frozen mid-query: exit 5 within the liveness bound, not the statement timeout', async () => {
      const result = await frozenWhileWaiting(['report', 'status'], { SHIPTRACK_STATEMENT_TIMEOUT: '60s' });
      expectNamedUnavailable(result, /stopped answering|did not answer in time|connection was lost/);
      expect(result.afterFreezeMs).toBeLessThan(8000);
    });
  },
);

describe.skipIf(!inject('postgresAvailable') || !inject('redisAvailable'))('Redis faults, and secrets under DEBUG', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;
  let number: string;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_faults');
    env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    const seeded = await runCli(['seed', '--as-of', '2026-11-01', '--json'], { env });
    expect((JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers.length).toBeGreaterThan(0);
    number = await inFlight(env);
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('a frozen Redis costs its timeout once, not once to connect and again to answer', async () => {
    const redis = await startOwnRedis();
    try {
      const url = `redis://127.0.0.1:${redis.port}`;
      const timeout = { ...env, SHIPTRACK_REDIS_URL: url, SHIPTRACK_REDIS_TIMEOUT: '1s' };
      const warm = await runCli(['track', number], { env: timeout });
      expect(warm.code).toBe(0);
      redis.freeze();
      const frozen = await runCli(['track', number], { env: timeout });
      expect(frozen.code).toBe(0);
      expect(frozen.stderr).toMatch(/warning: cache unavailable \(Redis did not answer in time\)/);
      // Twice the timeout would add 2 s to the warm run.
      expect(frozen.ms - warm.ms).toBeLessThan(1800);
    } finally {
      await redis.stop();
    }
  });

  it('a scan made while Redis is frozen warns, and once Redis is back the first track shows the scan', async () => {
    const redis = await startOwnRedis();
    try {
      const redisEnv = { ...env, SHIPTRACK_REDIS_URL: `redis://127.0.0.1:${redis.port}`, SHIPTRACK_REDIS_TIMEOUT: '300ms' };
      const cached = async (): Promise<{ source: string; status: string }> => {
        const found = parseTrackJson((await runCli(['track', number, '--json'], { env: redisEnv })).stdout).packages[0];
        if (found === undefined) throw new Error('not found');
        return found;
      };
      await cached();
      const before = await cached();
      expect(before.source).toBe('cache');
      redis.freeze();
      const scan = await runCli(['scan', number, '--status', 'exception', '--location', '1', '--at', '2026-12-01T09:00:00Z'], {
        env: redisEnv,
      });
      expect(scan.code, scan.stderr).toBe(0);
      expect(scan.stderr).toMatch(/warning: Redis did not confirm the cache refresh/);
      redis.thaw();
      const after = await cached();
      expect(after.status).toBe('exception');
    } finally {
      await redis.stop();
    }
  });

  it('no secret with DEBUG=* on: ioredis and knex trace through the same scrubber', async () => {
    const redis = await startOwnRedis(['--requirepass', password]);
    try {
      const debugEnv = {
        ...env,
        SHIPTRACK_DATABASE_URL: testDb.url.replace('postgres@', `postgres:${password}@`),
        SHIPTRACK_REDIS_URL: `redis://:${password}@127.0.0.1:${redis.port}`,
        DEBUG: '*',
      };
      // The scan's bindings carry the password: knex prints them under DEBUG=knex:bindings.
      const scan = ['scan', number, '--status', 'in_transit', '--location', '1', '--source', `partner:${password}`];
      // `report lanes` reads through knex (a report of one statement, such as `status`, does not).
      for (const args of [['doctor'], ['track', number, '--verbose'], ['report', 'lanes', '--json'], scan]) {
        for (let i = 0; i < 3; i += 1) {
          const result = await runCli(args, { env: debugEnv });
          expect(result.stderr.length).toBeGreaterThan(0);
          expect(result.stdout + result.stderr, args.join(' ')).not.toContain(password);
        }
      }
    } finally {
      await redis.stop();
    }
  });
});

describe.skipIf(!inject('postgresAvailable'))('hostile input: exit 2 naming the field and its limit, before any query', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;
  let number: string;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_hostile');
    env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01'], { env })).code).toBe(0);
    number = await inFlight(env);
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  const scanArgs = (extra: string[]): string[] => ['scan', number, '--status', 'exception', '--location', '1', ...extra];

  it('scan fields: NUL bytes, a 10 KB key, a payload with \\u0000, nested 10,000 deep or of 20 MB', async () => {
    const dir = tempDir();
    const payload = (name: string, text: string): string => {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const cases: [string[], RegExp][] = [
      [scanArgs(['--key', 'k'.repeat(10_000)]), /--key: idempotencyKey is longer than 200 characters/],
      [
        ['scan', number, '--status', 'exception', '--location', 'Hub\u0001 3'],
        /--location: location contains a control character/,
      ],
      [scanArgs(['--payload', payload('nul.json', '{"note":"a\\u0000b"}')]), /--payload: payload contains a NUL character/],
      [
        scanArgs(['--payload', payload('deep.json', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`)]),
        /--payload: payload is nested deeper than 32 levels/,
      ],
      [
        scanArgs(['--payload', payload('big.json', JSON.stringify({ blob: 'x'.repeat(20 * 1024 * 1024) }))]),
        /--payload: payload is 20,971,\d+ bytes as JSON; at most 65,536/,
      ],
      [scanArgs(['--at', '2999-01-01T00:00:00Z']), /--at: at is more than a day in the future/],
      [['track', 'RB123456785XX'], /RB123456785XX: XX is not a country code/],
      [['report', 'metadata', '--where', 'note=a\u0001b'], /--where/],
      [['report', 'benchmarks', '--suite', 'x\u0001y'], /--suite/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { env });
      expect(result.code, `${args.join(' ').slice(0, 80)}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/internal error|select |insert /i);
    }
  });

  it('scan --file: a bad line is rejected by its number, the good lines of the same file are recorded', async () => {
    const file = path.join(tempDir(), 'scans.ndjson');
    const line = (fields: Record<string, unknown>): string =>
      JSON.stringify({ trackingNumber: number, status: 'exception', location: '1', at: '2026-11-02T10:00:00Z', ...fields });
    writeFileSync(
      file,
      [
        line({ at: '2026-11-02T10:00:00Z' }),
        line({ location: 'Hub\u0000 9' }),
        line({ payload: { note: 'a\u0000b' } }),
        line({ idempotencyKey: 'k'.repeat(10_000) }),
        line({ at: '2026-11-02T11:00:00Z', status: 'in_transit' }),
      ].join('\n'),
    );
    const result = await runCli(['scan', '--file', file, '--json'], { env });
    expect(result.code).toBe(4);
    const summary = JSON.parse(result.stdout) as {
      accepted: number;
      rejected: number;
      rejections: { line: number; reason: string }[];
    };
    expect(summary).toMatchObject({ accepted: 2, rejected: 3 });
    expect(summary.rejections.map((r) => r.line)).toEqual([2, 3, 4]);
    expect(summary.rejections.map((r) => r.reason)).toEqual([
      'location contains a control character',
      'payload contains a NUL character (\\u0000), which JSONB cannot store',
      'idempotencyKey is longer than 200 characters (10000)',
    ]);
  });

  it('track --json writes exactly one JSON document of the one documented shape, found or not', async () => {
    const cases: [string[], number, number, number][] = [
      [['track', 'RB123456785US', '--json'], 3, 0, 1],
      [['track', number, 'RB123456785US', '--json'], 3, 1, 1],
      [['track', number, number, '--json'], 0, 1, 0],
      [['track', number, '--json'], 0, 1, 0],
    ];
    for (const [args, code, found, missing] of cases) {
      const result = await runCli(args, { env });
      expect(result.code, args.join(' ')).toBe(code);
      const json = parseTrackJson(result.stdout);
      expect([json.packages.length, json.notFound.length], args.join(' ')).toEqual([found, missing]);
      for (const p of json.packages) expect(new Set(p.events.map((e) => e.eventId)).size).toBe(p.events.length);
    }
    const invalid = await runCli(['track', 'RB123456784US', '--json'], { env });
    expect(invalid.code).toBe(2);
    expect((JSON.parse(invalid.stdout) as { error: { code: string } }).error.code).toBe('usage');
  });
});

describe.skipIf(!inject('postgresAvailable'))('what the role may not do, and locks a migration cannot get', () => {
  let testDb: TestDatabase;
  let empty: TestDatabase;
  let admin: pg.Client;
  const role = `st_reader_${Date.now().toString(36)}`;
  const as = (db: TestDatabase): string => db.url.replace(/\/\/[^@]*@/, `//${role}:${password}@`);

  beforeAll(async () => {
    [testDb, empty] = await Promise.all([createTestDatabase('st_roles'), createTestDatabase('st_roles_empty')]);
    const env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01'], { env })).code).toBe(0);
    admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
    await admin.query(`create role ${role} login in role pg_read_all_data`);
  });
  afterAll(async () => {
    await admin?.query(`drop role if exists ${role}`).catch(() => undefined);
    await admin?.end();
    await Promise.all([testDb?.drop(), empty?.drop()]);
  });

  it('a read-only role: reports work; writes exit 6 naming the privilege, with a hint about the role', async () => {
    const env = { SHIPTRACK_DATABASE_URL: as(testDb) };
    expect((await runCli(['report', 'status'], { env })).code).toBe(0);
    const writes: string[][] = [
      ['scan', 'RB123456785US', '--status', 'in_transit', '--location', '1'],
      ['seed', '--append', '--packages', '10'],
      ['outbox', 'drain'],
    ];
    for (const args of writes) {
      const result = await runCli(args, { env });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(6);
      expect(result.stderr).toMatch(/permission denied/);
      expect(result.stderr).toMatch(/hint: the role shiptrack connects as lacks this privilege/);
      expect(result.stdout + result.stderr).not.toContain(password);
    }
    const migrate = await runCli(['migrate', 'latest'], { env: { SHIPTRACK_DATABASE_URL: as(empty) } });
    expect(migrate.code, migrate.stderr).toBe(6);
    expect(migrate.stderr).toMatch(/permission denied for schema public/);
  });

  /**
   * A database whose table `busy` another session holds a lock on (in an open transaction), and a
   * migration that must alter it.
   */
  async function busyTableHeld(prefix: string): Promise<{ dir: string; db: TestDatabase; holder: pg.Client }> {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, '20990101000000_add_column.mjs'),
      `export const config = { transaction: true };
export async function up(knex) { await knex.raw('alter table busy add column note text'); }
export async function down(knex) { await knex.raw('alter table busy drop column note'); }
`,
    );
    const db = await createTestDatabase(prefix);
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('create table busy (id int)');
    await holder.query('begin');
    await holder.query('lock table busy in access share mode');
    return { dir, db, holder };
  }

  it('a migration that cannot get its lock in time exits 4, naming the migration and the SQLSTATE', async () => {
    const { dir, db, holder } = await busyTableHeld('st_lock_wait');
    try {
      const result = await runCli(['migrate', 'latest', '--dir', dir, '--json', '--lock-attempts', '2'], {
        env: { SHIPTRACK_DATABASE_URL: db.url, SHIPTRACK_LOCK_TIMEOUT: '300ms' },
      });
      expect(result.code, result.stdout).toBe(4);
      const { error } = JSON.parse(result.stdout) as {
        error: { code: string; message: string; details: Record<string, unknown> };
      };
      expect(error.code).toBe('lock_timeout');
      expect(error.message).toMatch(/^migration 20990101000000_add_column\.mjs: PostgreSQL: could not get a lock in time/);
      // Who holds it, for the DBA to act on.
      const holderPid = (holder as unknown as { processID: number }).processID;
      expect(error.message).toMatch(
        new RegExp(`held by pid ${holderPid} \\(.*idle in transaction.*\\) holds AccessShareLock on busy`),
      );
      expect(error.details).toMatchObject({ sqlstate: '55P03', file: '20990101000000_add_column.mjs' });
      // The one retry was announced, with the backoff before it.
      expect(result.stderr).toMatch(
        /20990101000000_add_column did not get its lock in time \(attempt 1 of 2\); retrying in \d+\.\d s/,
      );
    } finally {
      await holder.end();
      await db.drop();
    }
  });

  it('a lock wait retried: the migration succeeds on the third attempt, once the holder lets go', async () => {
    const { dir, db, holder } = await busyTableHeld('st_lock_retry');
    // The holder lets go once the second attempt has failed: the third one succeeds.
    try {
      const result = await runCli(['migrate', 'latest', '--dir', dir, '--json', '--lock-attempts', '6'], {
        env: { SHIPTRACK_DATABASE_URL: db.url, SHIPTRACK_LOCK_TIMEOUT: '300ms' },
        onSpawn: (child) => whenStderrSays(child, '(attempt 2 of 6)', () => void holder.query('commit')),
      });
      expect(result.code, `${result.stderr}${result.stdout}`).toBe(0);
      expect(result.stderr).toMatch(/did not get its lock in time \(attempt 1 of 6\)/);
      expect(result.stderr).toMatch(/did not get its lock in time \(attempt 2 of 6\)/);
      expect(result.stderr).not.toMatch(/attempt 3 of 6/);
      const columns = await holder.query<{ n: number }>(
        `select count(*)::int as n from information_schema.columns where table_name = 'busy' and column_name = 'note'`,
      );
      expect(columns.rows[0]?.n).toBe(1);
    } finally {
      await holder.end();
      await db.drop();
    }
  });

  it('a document store that never answers: the seed commits and warns, outbox drain exits 5, each attempt is recorded', async () => {
    const frozen = await startFrozenListener();
    const db = await createTestDatabase('st_outbox_fault');
    try {
      const env = { SHIPTRACK_DATABASE_URL: db.url };
      expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
      const mongoEnv = {
        ...env,
        SHIPTRACK_MONGO_URL: `mongodb://app:${password}@127.0.0.1:${frozen.port}/?serverSelectionTimeoutMS=800`,
        SHIPTRACK_CONNECT_TIMEOUT: '800ms',
      };
      const seed = await runCli(['seed', '--as-of', '2026-11-01', '--packages', '200', '--documents', '0.2'], { env: mongoEnv });
      expect(seed.code, seed.stderr).toBe(0);
      expect(seed.stderr).toMatch(/warning: raw scans wait in the outbox: MongoDB did not take them \(.+\); [\d,]+ waiting/);
      const drain = await runCli(['outbox', 'drain'], { env: mongoEnv });
      expect(drain.code).toBe(5);
      expect(drain.stdout + drain.stderr).toMatch(/MongoDB/);
      expect(drain.stdout + drain.stderr).not.toContain(password);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const rows = await client.query<{ waiting: number; attempted: number; explained: number }>(
          `select count(*)::int as waiting, count(*) filter (where attempts >= 1)::int as attempted,
                  count(*) filter (where last_error <> '')::int as explained from document_outbox`,
        );
        expect(rows.rows[0]?.waiting).toBeGreaterThan(0);
        expect(rows.rows[0]).toMatchObject({ attempted: rows.rows[0]?.waiting, explained: rows.rows[0]?.waiting });
      } finally {
        await client.end();
      }
    } finally {
      await frozen.stop();
      await db.drop();
    }
  });
});
