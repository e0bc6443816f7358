import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectSuccess, runCli, tempDir, type CliResult } from '../support/cli.js';
import { parseTrackJson } from '../support/track-json.js';

interface RunJson {
  files: { name: string; origin: string; result: string; changes: Record<string, number> }[];
  highlights: { trackingNumber: string; story: string }[];
}

interface ListJson {
  files: { name: string; origin: string; state: string; appliedAt: string | null; checksum: string }[];
}

interface ReportJson {
  tables: { name: string; rows: Record<string, unknown>[] }[];
}

const rowsOf = (stdout: string, table: string): Record<string, unknown>[] =>
  (JSON.parse(stdout) as ReportJson).tables.find((t) => t.name === table)?.rows ?? [];

/** The demo world's tracking numbers: DM9000nnnnc US, serial 90000000 + 101·n with its check digit. */
function demoNumber(n: number): string {
  const serial = String(90_000_000 + n * 101);
  const sum = [8, 6, 4, 2, 3, 5, 9, 7].reduce((total, weight, i) => total + weight * Number(serial[i]), 0);
  const check = 11 - (sum % 11);
  return `DM${serial}${check === 10 ? 0 : check === 11 ? 5 : check}US`;
}

/** Every line of a command's output fits 80 columns (piped output is fitted to 80). */
function expectFits(result: CliResult): void {
  for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
}

/** A team's seed folder with one file whose third line records a transition the state machine forbids. */
function badSeedFolder(): string {
  const dir = path.join(tempDir('shiptrack-seeds-'), 'my-seeds');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, '10_skips_ahead.mjs'),
    `export async function seed(knex, shiptrack) {
  await shiptrack.upsertPackages([{ trackingNumber: 'DM900013131US', sender: 'ava.thompson@example.com', recipient: 'ben.okafor@example.com', weightKg: 1, origin: 'Seattle Warehouse', destination: 'Denver Delivery Station', estimatedDelivery: shiptrack.now }]);
  await shiptrack.recordScans([{ trackingNumber: 'DM900013131US', status: 'delivered', location: 'Seattle Warehouse', at: shiptrack.now }]);
}
`,
  );
  return dir;
}

describe('seed files on the embedded default', () => {
  it('seed run on a fresh install: the demo world, check clean, a second run writes nothing, list says when', async () => {
    const cwd = tempDir();
    expectSuccess(await runCli(['migrate', 'latest'], { cwd }));
    const listed = JSON.parse(expectSuccess(await runCli(['seed', 'list', '--json'], { cwd })).stdout) as ListJson;
    expect(listed.files.map((f) => [f.name, f.state])).toEqual([
      ['01_locations', 'pending'],
      ['02_demo_world', 'pending'],
    ]);

    const first = expectSuccess(await runCli(['seed', 'run'], { cwd }));
    expectFits(first);
    expect(first.stdout).toMatch(/02_demo_world\s+│ applied/);
    expect(first.stdout).toMatch(/DM900005055US {2}held in customs/);
    expectSuccess(await runCli(['check'], { cwd }));

    const again = JSON.parse(expectSuccess(await runCli(['seed', 'run', '--json'], { cwd })).stdout) as RunJson;
    expect(again.files.map((f) => f.result)).toEqual(['rerun', 'rerun']);
    for (const file of again.files) {
      expect(file.changes).toEqual({
        customers: 0,
        locations: 0,
        packages: 0,
        shipments: 0,
        scans: 0,
        duplicateScans: file.changes.duplicateScans,
      });
    }
    expect(again.files[1]?.changes.duplicateScans).toBe(40);

    const list = expectSuccess(await runCli(['seed', 'list'], { cwd }));
    expectFits(list);
    const after = JSON.parse(expectSuccess(await runCli(['seed', 'list', '--json'], { cwd })).stdout) as ListJson;
    expect(after.files.map((f) => f.state)).toEqual(['applied', 'applied']);
    expect(after.files.every((f) => f.appliedAt !== null)).toBe(true);

    const tracked = parseTrackJson(expectSuccess(await runCli(['track', 'DM900003032US', '--json'], { cwd })).stdout);
    expect(tracked.packages[0]?.status).toBe('out_for_delivery');
  });

  it('an unknown seed name exits 2 naming it, before anything is opened; --help teaches with examples', async () => {
    const cwd = tempDir();
    const unknown = await runCli(['seed', 'run', '01_locations', 'no_such_seed'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/error: no seed file is named no_such_seed/);
    expect(unknown.stderr).toMatch(/01_locations, 02_demo_world/);
    const json = await runCli(['seed', 'run', 'no_such_seed', '--json'], { cwd });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'usage', details: { unknown: ['no_such_seed'] } } });

    const help = expectSuccess(await runCli(['seed', 'run', '--help'], { cwd }));
    expect(help.stdout).toMatch(/Examples:\n\s+\$ shiptrack seed run/);
    expect(help.stdout).toMatch(/SHIPTRACK_SEEDS_DIR=/);
    expectFits(help);
    expect(expectSuccess(await runCli(['seed', 'list', '--help'], { cwd })).stdout).toMatch(/Examples:/);
    expect(expectSuccess(await runCli(['seed', '--help'], { cwd })).stdout).toMatch(/--profile <name>[\s\S]*run \[name\.\.\.\]/);
  });
});

describe.skipIf(!inject('postgresAvailable'))('seed files on a PostgreSQL server', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_seed_files');
    env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expectSuccess(await runCli(['migrate', 'latest'], { env }));
  });
  afterAll(async () => {
    await testDb.drop();
  });

  /** Every table of the schema: its row count and a checksum of all its rows. */
  async function snapshot(): Promise<Record<string, string>> {
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      const tables = await client.query<{ name: string }>(
        `select tablename as name from pg_tables where schemaname = current_schema() order by tablename`,
      );
      const out: Record<string, string> = {};
      for (const { name } of tables.rows) {
        const result = await client.query<{ n: string; sum: string }>(
          `select count(*) as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as sum from "${name}" t`,
        );
        out[name] = `${result.rows[0]?.n} ${result.rows[0]?.sum}`;
      }
      return out;
    } finally {
      await client.end();
    }
  }

  it('a file that breaks the state machine is refused by file and line, and nothing of the run is applied', async () => {
    const before = await snapshot();
    const refused = await runCli(['seed', 'run'], { env: { ...env, SHIPTRACK_SEEDS_DIR: badSeedFolder() } });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(
      /error: .*my-seeds\/10_skips_ahead\.mjs:3: DM900013131US: pending → delivered is not an allowed transition/,
    );
    expect(refused.stderr).toMatch(/nothing of this run was applied/);
    expect(await snapshot()).toEqual(before);
    const json = await runCli(['seed', 'run', '--json'], { env: { ...env, SHIPTRACK_SEEDS_DIR: badSeedFolder() } });
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'seed_refused', details: { line: 3 } } });
  });

  it('seed run on an empty migrated database, then check is clean; a second run changes no row of any table', async () => {
    const run = JSON.parse(expectSuccess(await runCli(['seed', 'run', '--json'], { env })).stdout) as RunJson;
    expect(run.files.map((f) => [f.name, f.result])).toEqual([
      ['01_locations', 'applied'],
      ['02_demo_world', 'applied'],
    ]);
    expect(run.files[1]?.changes).toMatchObject({ customers: 12, packages: 12, shipments: 12, scans: 40 });
    expect(run.highlights).toHaveLength(12);
    expectSuccess(await runCli(['check'], { env }));

    const before = await snapshot();
    expect(before.packages).toMatch(/^12 /);
    const again = JSON.parse(expectSuccess(await runCli(['seed', 'run', '--json'], { env })).stdout) as RunJson;
    expect(again.files.map((f) => f.result)).toEqual(['rerun', 'rerun']);
    expect(await snapshot()).toEqual(before);
  });

  it('each story shows in track --json: status, delivery, flags and the exception reason', async () => {
    const numbers = Array.from({ length: 12 }, (_, i) => demoNumber(i + 1));
    const tracked = parseTrackJson(expectSuccess(await runCli(['track', ...numbers, '--json'], { env })).stdout);
    expect(tracked.notFound).toEqual([]);
    const byNumber = new Map(tracked.packages.map((p) => [p.trackingNumber, p]));
    const expectations: [string, string, string | undefined][] = [
      ['DM900001014US', 'delivered', 'on_time'],
      ['DM900002023US', 'delivered', 'late'],
      ['DM900003032US', 'out_for_delivery', undefined],
      ['DM900004041US', 'delivered', 'on_time'],
      ['DM900005055US', 'exception', undefined],
      ['DM900006060US', 'returned', undefined],
      ['DM900007079US', 'cancelled', undefined],
      ['DM900008088US', 'delivered', undefined],
      ['DM900009097US', 'in_transit', undefined],
    ];
    for (const [number, status, delivery] of expectations) {
      const pkg = byNumber.get(number);
      expect(pkg?.status, number).toBe(status);
      if (delivery !== undefined) expect(pkg?.delivery.kind, number).toBe(delivery);
    }
    expect(byNumber.get('DM900002023US')?.delivery).toMatchObject({ kind: 'late', byMs: 86_400_000 });
    expect(byNumber.get('DM900004041US')?.events.map((e) => e.status)).toContain('attempt_fail');
    expect(byNumber.get('DM900005055US')?.events[0]).toMatchObject({
      status: 'exception',
      reason: 'held by customs: commercial invoice missing',
    });
    expect(
      byNumber
        .get('DM900006060US')
        ?.events.map((e) => e.status)
        .slice(0, 2),
    ).toEqual(['returned', 'return_to_sender']);
    expect(byNumber.get('DM900007079US')?.events.map((e) => e.status)).toEqual(['cancelled']);
    const late = byNumber.get('DM900008088US')?.events.find((e) => e.flags.includes('out_of_order'));
    expect(late?.location?.name).toBe('Memphis Hub');
    expect(byNumber.get('DM900009097US')?.events[0]?.flags).toContain('silent');
  });

  it('and in the matching reports: late in lanes, customs in exceptions, stale in stale', async () => {
    const lanes = rowsOf(
      expectSuccess(await runCli(['report', 'lanes', '--min-shipments', '1', '--json'], { env })).stdout,
      'lanes',
    );
    expect(lanes).toContainEqual(expect.objectContaining({ origin: 'NJ', destination: 'FL', late: 1, late_p50_hours: 24 }));
    const exceptions = rowsOf(expectSuccess(await runCli(['report', 'exceptions', '--json'], { env })).stdout, 'reasons');
    expect(exceptions).toContainEqual(
      expect.objectContaining({ reason: 'held by customs: commercial invoice missing', exceptions: 1 }),
    );
    const stale = rowsOf(expectSuccess(await runCli(['report', 'stale', '--json'], { env })).stdout, 'packages');
    expect(stale.map((r) => r.tracking_number)).toEqual(['DM900009097US']);
  });
});
