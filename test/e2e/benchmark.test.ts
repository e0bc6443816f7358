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
    roundP50s: number[];
    openLoop?: {
      ratePerSecond: number;
      slackMs: number;
      scheduled: number;
      late: number;
      dropped: number;
      summary: { count: number; errors: number; p50: number; p90: number; p99: number; p999: number; throughput: number };
    };
  }[];
  parameters: { rounds: number; rate?: number | null };
  comparison?: {
    regressions: number;
    rows: { verdict: string; changePct: number; currentRounds: number[]; baselineRounds: number[]; test: { pValue: number } }[];
  };
}

interface StoredResults {
  scenarios: { summary: { p50: number }; roundP50s?: number[] }[];
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
    expect(run.parameters.rounds).toBe(3);
    for (const { summary, roundP50s } of run.scenarios) {
      expect(roundP50s).toHaveLength(3);
      for (const p50 of roundP50s) expect(p50).toBeGreaterThan(0);
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

  it('the regression gate exits 1 on an injected slowdown, and 0 on noise, a lenient threshold or too few rounds', async () => {
    const common = ['benchmark', 'track-db', '--duration', '300ms', '--warmup', '50ms', '--concurrency', '1'];
    const first = await runCli([...common, '--rounds', '5', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const firstId = (JSON.parse(first.stdout) as RunJson).id;
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: testDb.url });
    await client.connect();
    /** A copy of the first run, its round p50s changed by `change`; without rounds, shaped as a run stored before them. */
    const insertBaseline = async (id: string, change: (rounds: number[]) => number[], withRounds = true): Promise<void> => {
      const stored = await client.query<{ results: StoredResults }>(`select results from doc_benchmark_runs where id = $1`, [
        firstId,
      ]);
      const results = structuredClone(stored.rows[0]?.results);
      expect(results?.scenarios[0]?.roundP50s).toHaveLength(5);
      for (const s of results?.scenarios ?? []) {
        const rounds = change(s.roundP50s ?? []);
        s.summary.p50 = [...rounds].sort((a, b) => a - b)[Math.floor(rounds.length / 2)] ?? Number.NaN;
        if (withRounds) s.roundP50s = rounds;
        else delete s.roundP50s;
      }
      await client.query(
        `insert into doc_benchmark_runs (id, started_at, suite, environment, parameters, results)
         select $1, started_at - interval '1 day', suite, environment,
                case when $3 then parameters else parameters - 'rounds' end, $2::jsonb
           from doc_benchmark_runs where id = $4`,
        [id, JSON.stringify(results), withRounds, firstId],
      );
    };
    try {
      // Ten times faster than this machine can be: a real slowdown in every round.
      await insertBaseline('fast-baseline', (rounds) => rounds.map((p) => p / 10));
      // The median twice as fast, but two rounds far slower than anything here: what the spread explains.
      await insertBaseline('noisy-baseline', (rounds) => {
        const m = [...rounds].sort((a, b) => a - b)[2] ?? Number.NaN;
        return [m / 20, m / 10, m / 2, m * 10, m * 20];
      });
      // Ten times faster, stored before rounds existed: one p50, a single sample.
      await insertBaseline('old-baseline', (rounds) => rounds.map((p) => p / 10), false);
    } finally {
      await client.end();
    }

    const slower = await runCli([...common, '--no-store', '--baseline', 'fast-baseline', '--fail-if-slower', '10%', '--json'], {
      env,
    });
    expect(slower.code, slower.stderr).toBe(1);
    const caught = (JSON.parse(slower.stdout) as RunJson).comparison?.rows[0];
    expect(caught?.verdict).toBe('regression');
    expect(caught?.changePct).toBeGreaterThan(100);
    // 5 rounds by default with a baseline; all 5 slower than all 5 of the baseline: p = 2 / C(10, 5).
    expect(caught?.currentRounds).toHaveLength(5);
    expect(caught?.baselineRounds).toHaveLength(5);
    expect(caught?.test.pValue).toBeCloseTo(2 / 252, 9);
    const text = await runCli([...common, '--no-store', '--baseline', 'fast-baseline', '--fail-if-slower', '10%'], { env });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/│ track-db .* 5 → 5 │\s+0\.008 │.* REGRESSION │/);
    expect(text.stdout).toContain('1 regression (p50 > +10 %, p < 0.05)');

    const noisy = await runCli([...common, '--no-store', '--baseline', 'noisy-baseline', '--fail-if-slower', '10%'], { env });
    expect(noisy.code, noisy.stdout).toBe(0);
    expect(noisy.stdout).toMatch(/│ track-db .* │ not significant │/);
    expect(noisy.stdout).toContain('no regressions');

    const old = await runCli([...common, '--no-store', '--baseline', 'old-baseline', '--fail-if-slower', '10%'], { env });
    expect(old.code, old.stdout).toBe(0);
    expect(old.stdout).toMatch(/│ track-db .* 1 → 5 │.* too few rounds │/);
    const oneLine = old.stdout.replace(/\s+/g, ' ');
    expect(oneLine).toContain('was stored before rounds: each of its p50s is a single sample, so this comparison is weak');
    expect(oneLine).toContain('not enough rounds to judge track-db ×1: 1 round in the baseline against 5 here');

    // Against the first run itself, 1000 % allows eleven times its p50: no noise reaches that in a
    // few hundred milliseconds (1000 % over the tenfold-fast baseline left 10 % of room, and failed).
    const lenient = await runCli([...common, '--no-store', '--baseline', firstId, '--fail-if-slower', '1000%'], { env });
    expect(lenient.code, lenient.stdout).toBe(0);
  });

  it('--rate adds the open loop beside the closed loop, in JSON and the report, and the run stays loadable', async () => {
    const report = path.join(dir, 'OPEN.md');
    const args = ['benchmark', 'noop', 'track-db', '--rate', '200/s', '--duration', '1s', '--rounds', '1'];
    const result = await runCli([...args, '--concurrency', '2', '--warmup', '100ms', '--report', report, '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout) as RunJson;
    expect(run.parameters.rate).toBe(200);
    expect(run.scenarios.map((s) => `${s.scenario}×${s.concurrency}`)).toEqual(['noop×2', 'track-db×2']);
    for (const { scenario, summary, openLoop } of run.scenarios) {
      // Both sets of percentiles, side by side in each scenario.
      for (const p of [summary.p50, summary.p90, summary.p99, summary.p999]) expect(p, scenario).toBeGreaterThan(0);
      expect(openLoop, scenario).toBeDefined();
      if (openLoop === undefined) continue;
      const open = openLoop.summary;
      for (const p of [open.p50, open.p90, open.p99, open.p999]) expect(p, scenario).toBeGreaterThan(0);
      expect(open.p50).toBeLessThanOrEqual(open.p99);
      expect(openLoop.ratePerSecond).toBe(200);
      expect(openLoop.slackMs).toBe(10);
      // One round of 1 s at 200/s.
      expect(openLoop.scheduled).toBe(200);
      expect(open.count + open.errors + openLoop.dropped).toBe(200);
      expect(open.errors).toBe(0);
      expect(openLoop.late).toBeGreaterThanOrEqual(0);
      // Paced at the rate, where the closed loop runs flat out.
      expect(open.throughput).toBeGreaterThan(150);
      expect(open.throughput).toBeLessThan(210);
      expect(summary.throughput).toBeGreaterThan(open.throughput);
    }
    const noop = run.scenarios[0]?.openLoop;
    expect(noop?.dropped).toBe(0);
    // The open loop charges the scheduler's own lateness, which the closed no-op never sees.
    expect(noop?.summary.p50).toBeGreaterThan(run.scenarios[0]?.summary.p50 ?? Number.NaN);

    const markdown = readFileSync(report, 'utf8');
    expect(markdown).toContain('### Open loop at 200/s');
    expect(markdown).toMatch(
      /^\| scenario \| concurrency \| scheduled \| .* \| closed p99 ms \| open p99 ms \| .* \| late \| dropped \|$/m,
    );
    expect(markdown).toContain('](open-latency-open-loop.svg)');
    expect(wellFormedSvg(readFileSync(path.join(dir, 'open-latency-open-loop.svg'), 'utf8'))).toBe(true);

    // Stored with its open loop, and read back: as a baseline, and as text beside a run without one.
    const again = await runCli(['benchmark', 'noop', '--duration', '100ms', '--rounds', '1', '--concurrency', '2'], {
      env: { ...env, COLUMNS: '200' },
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('Open loop');
    const compared = await runCli(
      ['benchmark', 'noop', '--rate', '200', '--duration', '200ms', '--rounds', '1', '--concurrency', '2', '--no-store'],
      { env: { ...env, COLUMNS: '200' } },
    );
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toContain('Open loop at 200/s, beside the closed loop');
    expect(compared.stdout).toMatch(/│ noop\s+│\s+2 │\s+40 │/);
    const baseline = await runCli(
      ['benchmark', 'noop', '--duration', '100ms', '--rounds', '1', '--baseline', run.id, '--no-store'],
      {
        env,
      },
    );
    expect(baseline.code, baseline.stderr).toBe(0);
    expect(baseline.stdout).toContain(`Compared with run ${run.id}`);
  });

  it('measuring nothing is a usage error that says why, and stores nothing', async () => {
    const pg = await import('pg');
    const runs = async (): Promise<number> => {
      const client = new pg.default.Client({ connectionString: testDb.url });
      await client.connect();
      try {
        const result = await client.query<{ n: number }>('select count(*)::int as n from doc_benchmark_runs');
        return result.rows[0]?.n ?? Number.NaN;
      } finally {
        await client.end();
      }
    };
    const before = await runs();
    const result = await runCli(['benchmark', 'scan', '--duration', '100ms'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /nothing was measured: skipped scan-single, scan-bulk: records scans in this database: pass --allow-writes/,
    );
    expect(result.stdout).toBe('');
    expect(await runs()).toBe(before);
  });

  it('refuses bad options with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['benchmark', '--fail-if-slower', '10%'], /--fail-if-slower needs --baseline/],
      [['benchmark', '--duration', 'forever'], /--duration: "forever" is not a duration/],
      [['benchmark', '--concurrency', '0,4'], /--concurrency: expected a whole number from 1 to 256, got "0"/],
      [['benchmark', 'warp-drive'], /no scenario is called "warp-drive"/],
      [['benchmark', '--suite', 'fastest'], /argument 'fastest' is invalid/],
      [['benchmark', '--rounds', '0'], /--rounds: expected a whole number from 1 to 20, got "0"/],
      [['benchmark', '--rounds', '21'], /--rounds: expected a whole number from 1 to 20, got "21"/],
      [
        ['benchmark', '--rate', 'fast'],
        /--rate: expected operations per second from 1 to 1,000,000 \(e\.g\. 500\/s\), got "fast"/,
      ],
      [['benchmark', '--rate', '0/s'], /--rate: expected operations per second from 1 to 1,000,000/],
      [['benchmark', '--rate', '2000000'], /--rate: expected operations per second from 1 to 1,000,000/],
      [['benchmark', '--suite', 'tuning', '--rate', '100/s'], /--rate needs scenarios: --suite default or all/],
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

    // The experiments need a server: every one skipped is a run that measured nothing, exit 2.
    const tuning = await runCli(['benchmark', '--suite', 'tuning', '--experiments', 'track-index,overdue-index'], { cwd });
    expect(tuning.code, tuning.stderr).toBe(2);
    expect(tuning.stderr).toMatch(/nothing was measured, every experiment was skipped; not stored/);
    expect(tuning.stderr).toMatch(/^ {2}track-index: \S.+$/m);
    expect(tuning.stderr).toMatch(/^ {2}overdue-index: \S.+$/m);
  });
});
