import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { runCli, tempDir } from '../support/cli.js';

interface RunJson {
  id: string;
  suite: string;
  harnessOverheadUs: number;
  environment: { postgres: string; data: Record<string, number> };
  scenarios: {
    scenario: string;
    concurrency: number;
    summary: {
      count: number;
      errors: number;
      p50: number;
      p90: number;
      p99: number;
      p999: number;
      max: number;
      throughput: number;
    };
  }[];
  comparison?: { regressions: number };
}

/** Open and close tags balance, and the document is one <svg> element. */
function wellFormedSvg(text: string): boolean {
  if (!/^(<\?xml[^>]*\?>\s*)?<svg/.test(text.trimStart()) || !text.includes('xmlns="http://www.w3.org/2000/svg"')) return false;
  const stack: string[] = [];
  for (const match of text.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing === '/') continue;
    if (closing === '/') {
      if (stack.pop() !== name) return false;
    } else stack.push(name ?? '');
  }
  return stack.length === 0;
}

describe.skipIf(!inject('postgresAvailable'))('benchmark on a server', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;
  const dir = tempDir();
  beforeAll(async () => {
    testDb = await createTestDatabase('st_bench_e2e');
    env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01'], { env })).code).toBe(0);
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('runs scenarios at each concurrency, prints JSON, stores the run and writes the report with plots', async () => {
    const report = path.join(dir, 'PERF.md');
    const args = ['benchmark', 'noop', 'track-db', 'report-status', 'scan-single', '--duration', '300ms', '--warmup', '50ms'];
    const result = await runCli([...args, '--concurrency', '1,2', '--as-of', '2026-11-01', '--report', report, '--json'], {
      env,
    });
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout) as RunJson;
    expect(run.scenarios.map((s) => `${s.scenario}×${s.concurrency}`)).toEqual([
      'noop×1',
      'noop×2',
      'track-db×1',
      'track-db×2',
      'report-status×1',
      'report-status×2',
    ]);
    for (const { summary } of run.scenarios) {
      expect(summary.count).toBeGreaterThan(0);
      expect(summary.errors).toBe(0);
      expect(summary.p50).toBeGreaterThan(0);
      expect(summary.p50).toBeLessThanOrEqual(summary.p90);
      expect(summary.p90).toBeLessThanOrEqual(summary.p99);
      expect(summary.p99).toBeLessThanOrEqual(summary.max);
      expect(summary.throughput).toBeGreaterThan(0);
    }
    expect(run.harnessOverheadUs).toBeGreaterThan(0);
    expect(run.environment.data.packages).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/skipped scan-single: records scans in this database: pass --allow-writes/);
    expect(result.stderr).toContain(`stored as run ${run.id}`);

    const markdown = readFileSync(report, 'utf8');
    expect(markdown).toMatch(/^# /m);
    expect(markdown).toContain('track-db');
    const svgs = readdirSync(dir).filter((f) => f.endsWith('.svg'));
    expect(svgs.length).toBeGreaterThan(0);
    for (const svg of svgs) {
      expect(markdown).toContain(`(${svg})`);
      expect(wellFormedSvg(readFileSync(path.join(dir, svg), 'utf8')), svg).toBe(true);
    }

    const history = await runCli(['report', 'benchmarks', '--json'], { env });
    expect(history.code).toBe(0);
    const rows = (JSON.parse(history.stdout) as { tables: { rows: { id: string }[] }[] }).tables[0]?.rows ?? [];
    expect(rows.map((r) => r.id)).toContain(run.id);
  });

  it('the regression gate exits 1 on an injected slowdown, and 0 within the threshold', async () => {
    const common = ['benchmark', 'track-db', '--duration', '300ms', '--warmup', '50ms', '--concurrency', '1'];
    const first = await runCli([...common, '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const firstId = (JSON.parse(first.stdout) as RunJson).id;
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      // A baseline ten times faster than this machine can be: every scenario now looks slower.
      const stored = await client.query<{ id: string; results: { scenarios: { summary: { p50: number } }[] } }>(
        `select id, results from doc_benchmark_runs where id = $1`,
        [firstId],
      );
      const base = stored.rows[0];
      expect(base).toBeDefined();
      const results = structuredClone(base?.results) as { scenarios: { summary: { p50: number } }[] };
      for (const s of results.scenarios) s.summary.p50 /= 10;
      await client.query(
        `insert into doc_benchmark_runs (id, started_at, suite, environment, parameters, results)
         select 'fast-baseline', started_at - interval '1 day', suite, environment, parameters, $1::jsonb from doc_benchmark_runs where id = $2`,
        [JSON.stringify(results), base?.id],
      );
    } finally {
      await client.end();
    }
    const slower = await runCli([...common, '--no-store', '--baseline', 'fast-baseline', '--fail-if-slower', '10%'], { env });
    expect(slower.code).toBe(1);
    expect(slower.stdout).toMatch(/regression/i);
    // Against the first run itself, 1000 % allows eleven times its p50: no noise reaches that in a
    // few hundred milliseconds (1000 % over the tenfold-fast baseline left 10 % of room, and failed).
    const lenient = await runCli([...common, '--no-store', '--baseline', firstId, '--fail-if-slower', '1000%'], { env });
    expect(lenient.code).toBe(0);
  });

  it('refuses bad options with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['benchmark', '--fail-if-slower', '10%'], /--fail-if-slower needs --baseline/],
      [['benchmark', '--duration', 'forever'], /--duration: "forever" is not a duration/],
      [['benchmark', '--concurrency', '0,4'], /--concurrency: expected a whole number from 1 to 256, got "0"/],
      [['benchmark', 'warp-drive'], /no scenario is called "warp-drive"/],
      [['benchmark', '--suite', 'fastest'], /argument 'fastest' is invalid/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { env });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
    }
    const missing = await runCli(['benchmark', 'noop', '--baseline', 'no-such-run', '--duration', '100ms'], { env });
    expect(missing.code).toBe(3);
  });
});

describe('benchmark on the embedded default', () => {
  it('measures the harness and a report there too', async () => {
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01'], { cwd })).code).toBe(0);
    const result = await runCli(
      ['benchmark', 'noop', 'report-overdue', '--duration', '200ms', '--warmup', '0ms', '--concurrency', '1', '--json'],
      {
        cwd,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout) as RunJson;
    expect(run.scenarios.map((s) => s.scenario)).toEqual(['noop', 'report-overdue']);
    expect(existsSync(path.join(cwd, '.shiptrack'))).toBe(true);
  });
});
