import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { recordLoads, runCli, tempDir } from '../support/cli.js';
import { openShiptrack } from '../../src/index.js';

interface ReportJson {
  report: string;
  ok: boolean;
  tables: { name: string; columns: { key: string }[]; rows: Record<string, unknown>[]; totals?: Record<string, unknown> }[];
  findings: { code: string; level: string }[];
  plans?: { query: string; plan: string }[];
}

describe('report on the embedded default', () => {
  const cwd = tempDir();
  beforeAll(async () => {
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01'], { cwd })).code).toBe(0);
  });

  it('lists the reports, one line each', async () => {
    const result = await runCli(['report'], { cwd });
    expect(result.code).toBe(0);
    for (const name of [
      'status',
      'overdue',
      'lanes',
      'facilities',
      'stale',
      'exceptions',
      'customer',
      'metadata',
      'db',
      'consistency',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    }
  });

  it('prints tables, JSON, CSV and Markdown of the same data', async () => {
    const asOf = ['--as-of', '2026-11-01'];
    const text = await runCli(['report', 'status', ...asOf], { cwd });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/│ delivered\s+│\s+[\d,]+ │\s+[\d.]+ % │/);
    // eslint-disable-next-line no-control-regex
    expect(text.stdout).not.toMatch(/\u001b\[/);

    const json = JSON.parse((await runCli(['report', 'status', '--json', ...asOf], { cwd })).stdout) as ReportJson;
    expect(json.report).toBe('status');
    expect(json.tables[0]?.totals?.packages).toBe(1000);

    const csv = await runCli(['report', 'overdue', '--format', 'csv', ...asOf], { cwd });
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'tracking_number,status,estimated_delivery,overdue_hours,origin,destination,last_scan_at,last_location',
    );
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines.slice(1)) expect(line).toMatch(/^[A-Z]{2}\d{9}[A-Z]{2},[a-z_]+,2026-/);

    const ages = await runCli(['report', 'overdue', '--format', 'csv', '--table', 'ages', ...asOf], { cwd });
    expect(ages.stdout.split('\r\n')[0]).toBe('age,packages,share');

    const md = await runCli(['report', 'facilities', '--day', '2026-10-30', '--format', 'markdown', ...asOf], { cwd });
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^## Facilities on 2026-10-30/);
    expect(md.stdout).toMatch(/^\| facility \| city \| type \| scans \|/m);
    expect(md.stdout).toMatch(/^\| --- \| --- \| --- \| ---: \|/m);
  });

  it('--explain prints the plans', async () => {
    const result = await runCli(['report', 'stale', '--explain', '--json', '--as-of', '2026-11-01'], { cwd });
    const json = JSON.parse(result.stdout) as ReportJson;
    expect(json.plans?.[0]?.plan).toMatch(/actual time/);
    const text = await runCli(['report', 'stale', '--explain', '--as-of', '2026-11-01'], { cwd });
    expect(text.stdout).toContain('plan: stale packages');
  });

  it('refuses bad filters with exit 2 and a precise message, before any query', async () => {
    const cases: [string[], RegExp][] = [
      [['report', 'lanes', '--since', '30 days'], /--since: "30 days" is neither a duration/],
      [['report', 'lanes', '--by', 'planet'], /argument 'planet' is invalid/],
      [['report', 'overdue', '--limit', '0'], /--limit: expected a whole number from 1 to 10,000, got "0"/],
      [['report', 'facilities', '--day', '2026-02-30'], /--day: "2026-02-30" is not a day/],
      [['report', 'metadata', '--where', 'fragile'], /--where: "fragile" is not key=value/],
      [['report', 'metadata'], /--where: give at least one key=value/],
      [['report', 'customer', "1' or '1'='1"], /is neither a customer id nor an e-mail address/],
      [['report', 'status', '--format', 'xml'], /argument 'xml' is invalid/],
      [['report', 'status', '--json', '--format', 'csv'], /--json and --format csv exclude each other/],
      [['report', 'status', '--format', 'csv', '--table', 'nope'], /this report has no table "nope"; it has statuses/],
      [['report', 'status', '--as-of', 'soon'], /--as-of: "soon" is not a date/],
      [['report', 'consistency', '--packages', '0'], /--packages: expected a whole number from 1 to 1,000,000, got "0"/],
      [['report', 'consistency', '--jobs', '9'], /--jobs: expected a whole number from 1 to 8, got "9"/],
      [['report', 'consistency', '--full', '--packages', '10'], /--full and --packages ask for different proofs/],
      [['check', '--jobs', 'two'], /--jobs: expected a whole number from 1 to 8, got "two"/],
      [['report', 'stat'], /unknown report 'stat' \(did you mean status\?\); the reports are status, overdue/],
      [['report', 'statsu'], /unknown report 'statsu' \(did you mean status\?\)/],
      [['report', 'lnaes'], /unknown report 'lnaes' \(did you mean lanes\?\)/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { cwd });
      expect(result.code, args.join(' ')).toBe(2);
      // With --json, the error is JSON on stdout.
      const said = `${result.stderr}${result.stdout}`;
      expect(said, args.join(' ')).toMatch(message);
      expect(said).not.toMatch(/\n\s+at /);
    }
  });

  it('an unknown customer exits 3', async () => {
    const result = await runCli(['report', 'customer', 'nobody@example.com'], { cwd });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('no customer with e-mail nobody@example.com');
  });
});

describe.skipIf(!inject('postgresAvailable'))('report consistency on a server, for cron', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    testDb = await createTestDatabase('st_report_e2e');
    env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01', '--documents', '0.2'], { env })).code).toBe(0);
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('reads a report of one prepared statement over one plain connection, without knex, as the library reads it through its pool', async () => {
    const asOf = '2026-11-01';
    await using library = await openShiptrack({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null });
    const cases: [string, string[], Record<string, string | string[]>][] = [
      ['status', [], {}],
      ['overdue', [], {}],
      ['stale', ['--hours', '24'], { hours: '24' }],
      ['customer', ['42'], { customer: '42' }],
      ['metadata', ['--where', 'fragile=true'], { where: ['fragile=true'] }],
    ];
    for (const [name, args, request] of cases) {
      const loads = recordLoads();
      const cli = await runCli(['report', name, ...args, '--json', '--as-of', asOf], { env: { ...env, ...loads.env } });
      expect(cli.code, cli.stderr).toBe(0);
      const loaded = loads.read();
      expect(loaded).toContain('dist/src/store/statement-source.js');
      expect(loaded.filter((m) => m === 'dist/src/store/knex-driver.js' || m.startsWith('node_modules/knex/'))).toEqual([]);
      const pooled = await library.report(name, { ...request, asOf });
      expect((JSON.parse(cli.stdout) as ReportJson).tables, name).toEqual(JSON.parse(JSON.stringify(pooled.tables)));
    }
    // With --explain, through the pool: knex loads.
    const loads = recordLoads();
    expect((await runCli(['report', 'status', '--explain', '--json'], { env: { ...env, ...loads.env } })).code).toBe(0);
    expect(loads.read()).toContain('dist/src/store/knex-driver.js');
  });

  it('exits 0 when consistent and 4 after corruption, naming it', async () => {
    const clean = await runCli(['report', 'consistency', '--json'], { env });
    expect(clean.code).toBe(0);
    // Just seeded: nothing to build on, every package is proven, and the clean proof recorded.
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, parameters: { proof: 'full' } });

    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      await client.query(
        `update packages set current_status = 'returned' where package_id = (select min(package_id) from packages where current_status = 'delivered')`,
      );
      const broken = await runCli(['report', 'consistency'], { env });
      expect(broken.code).toBe(4);
      expect(broken.stderr + broken.stdout).toMatch(/read the 1 package\(s\) changed since the full proof of/);
      expect(broken.stdout).toMatch(/✘ 1 violation of "current_status is the status of the latest accepted event"/);
      expect(broken.stdout).toMatch(/✘ 1 violation of "delivered packages have actual_delivery, and only they do"/);
    } finally {
      await client.end();
    }
  });

  it('runs without the statement timeout, as check does: it reads every event by design', async () => {
    // 1 ms is less than planning the history query takes: with the timeout in force it would fail.
    const result = await runCli(['report', 'consistency', '--json'], { env: { ...env, SHIPTRACK_STATEMENT_TIMEOUT: '1ms' } });
    expect(result.stderr).not.toMatch(/statement timeout/);
    expect([0, 4]).toContain(result.code); // 4 after the corruption of the test above
    expect((JSON.parse(result.stdout) as { report: string }).report).toBe('consistency');
  });

  it('Ctrl-C cancels the running queries on the server, on every connection, and exits 130', async () => {
    const pg = await import('pg');
    const locker = new pg.default.Client({ connectionString: testDb.url });
    const watcher = new pg.default.Client({ connectionString: testDb.url });
    await Promise.all([locker.connect(), watcher.connect()]);
    const waiting = async (): Promise<number> =>
      Number(
        (
          await watcher.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
              where application_name = 'shiptrack report consistency' and state = 'active'
                and datname = current_database() and pid <> pg_backend_pid()`,
          )
        ).rows[0]?.n,
      );
    try {
      // The event history queries wait for this lock (SHIPTRACK_LOCK_TIMEOUT is raised so that they
      // keep waiting): a long-running report, on demand, on both of its connections.
      await locker.query('begin');
      await locker.query('lock table tracking_events in access exclusive mode');
      let peak = 0;
      const result = await runCli(['report', 'consistency', '--full'], {
        env: { ...env, SHIPTRACK_LOCK_TIMEOUT: '60s' },
        onSpawn: (child) => {
          const poll = async (): Promise<void> => {
            for (let i = 0; i < 100 && peak < 2; i += 1) {
              peak = Math.max(peak, await waiting());
              if (peak < 2) await new Promise((r) => setTimeout(r, 100));
            }
            child.kill('SIGINT');
          };
          void poll();
        },
      });
      expect(peak).toBe(2); // both connections (--jobs 2) were waiting when Ctrl-C came
      expect(result.code).toBe(130);
      expect(result.stderr).toMatch(/interrupted/);
      expect(result.ms).toBeLessThan(15_000);
      expect(await waiting()).toBe(0); // nothing left running on the server
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await Promise.all([locker.end(), watcher.end()]);
    }
  });
});
