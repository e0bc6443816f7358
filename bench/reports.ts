/**
 * Latency of every report, through the library's own report functions, on a seeded database.
 *
 *   npm run bench:reports -- --profile medium --runs 7
 *   npm run bench:reports -- --database-url postgres://…/db --as-of 2026-11-24 --runs 7
 *
 * Seeds a scratch database (unless --database-url names one already seeded), runs each report
 * once to warm the cache, then --runs times, and prints the median with min–max per report,
 * against the target of 150 ms at the medium profile.
 *
 *   npm run bench:reports -- --database-url postgres://…/db --as-of 2026-11-01 --runs 9 --compare-sql
 *
 * also runs, for each report, the hand-written SQL of the same answer (bench/reports-sql.ts) on a
 * bare pg client, alternating the two in every round (which goes first alternates too), and
 * prints both medians and the median of the per-round ratios report / SQL, with its min–max. `report consistency --full` reads every
 * event; it is measured, and the default run over the changes since its proof after it, only
 * with --with-consistency. Those runs write: the full proof is recorded, and before each run of
 * "N changed" N random packages are updated to themselves (the triggers list them, as a scan
 * would).
 *
 *   npm run bench:reports -- --database-url postgres://…/db --as-of 2026-11-01 --only db,lanes --compare-sql
 *
 * runs only the reports whose names start with one of the given words.
 *
 *   npm run bench:reports -- --database-url postgres://…/db --as-of 2026-11-24 --runs 21 --baseline <checkout>
 *
 * also runs each report as another build has it (a checkout built with `npm run build`: its
 * dist/src and dist/bench/report-runs.js, on a pool of its own), in the same rounds and rotation
 * as the other sides, and prints the median of the per-round ratios this build / that one.
 */
import { loadConfig } from '../src/config.js';
import type { ProfileName } from '../src/domain/seed/types.js';
import { createPgDocumentStore } from '../src/store/documents/postgres.js';
import { runConsistencyReport } from '../src/services/reports/consistency.report.js';
import type { ReportResult } from '../src/services/reports/report.js';
import { openDatabase, type Database } from '../src/store/database.js';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { reportRuns, type Measured } from './report-runs.js';
import { handWritten } from './reports-sql.js';
import { median, seedScratchDatabase } from './support.js';

interface Args {
  profile: ProfileName;
  runs: number;
  adminUrl: string;
  databaseUrl: string | undefined;
  asOf: Date;
  withConsistency: boolean;
  compareSql: boolean;
  /** Only the reports whose names start with one of these (--only db,lanes). */
  only: string[];
  /** Another checkout, built: each report is also run as that build has it (--baseline). */
  baseline: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    profile: 'medium',
    runs: 7,
    adminUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    databaseUrl: undefined,
    asOf: new Date('2026-11-01T00:00:00Z'),
    withConsistency: false,
    compareSql: false,
    only: [],
    baseline: undefined,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--with-consistency') {
      args.withConsistency = true;
      continue;
    }
    if (flag === '--compare-sql') {
      args.compareSql = true;
      continue;
    }
    i += 1;
    if (flag === '--profile') args.profile = value as ProfileName;
    else if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--as-of') args.asOf = new Date(value);
    else if (flag === '--only') args.only = value.split(',').map((name) => name.trim());
    else if (flag === '--baseline') args.baseline = path.resolve(value);
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

/** One side of a round: what runs (timed), what runs before it (untimed), its times by round. */
interface Side {
  before?: (() => Promise<unknown>) | undefined;
  run: () => Promise<unknown>;
  times: number[];
}

/** The reports as the build in `checkout` runs them, on a database it opens itself. */
async function baselineReports(
  checkout: string,
  url: string,
  now: Date,
): Promise<{ reports: Map<string, Measured>; close: () => Promise<void> }> {
  const load = (file: string): Promise<unknown> => import(pathToFileURL(path.join(checkout, 'dist', file)).href);
  const [config, database, runs] = (await Promise.all([
    load('src/config.js'),
    load('src/store/database.js'),
    load('bench/report-runs.js'),
  ])) as [{ loadConfig: typeof loadConfig }, { openDatabase: typeof openDatabase }, { reportRuns: typeof reportRuns }];
  const db = await database.openDatabase(config.loadConfig({ env: { SHIPTRACK_DATABASE_URL: url }, envFile: null }), {
    applicationName: 'shiptrack bench reports (baseline)',
    statementTimeoutMs: 0,
  });
  const { reports } = await runs.reportRuns(db, now);
  return { reports: new Map(reports.map((measured) => [measured[0], measured])), close: () => db.close() };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const url =
    args.databaseUrl ??
    (await seedScratchDatabase(args.adminUrl, 'shiptrack_bench_reports', {
      profile: args.profile,
      asOf: args.asOf.toISOString(),
    }));
  const config = loadConfig({ env: { SHIPTRACK_DATABASE_URL: url }, envFile: null });
  // No statement timeout: `consistency` at `large` runs for minutes (the CLI lifts it too).
  const db: Database = await openDatabase(config, { applicationName: 'shiptrack bench reports', statementTimeoutMs: 0 });
  const now = args.asOf;
  const { reports, context } = await reportRuns(db, now);
  if (args.withConsistency) {
    for (const jobs of [1, 2]) {
      reports.push([
        `consistency --full --jobs ${jobs}`,
        () => runConsistencyReport(db, createPgDocumentStore(db.knex), { now, sample: 500, connections: jobs, full: true }),
      ]);
    }
    // After those, a clean database has its proof recorded: the changes since are what is read.
    const sinceProof = (): Promise<ReportResult> =>
      runConsistencyReport(db, createPgDocumentStore(db.knex), { now, sample: 500, connections: 2 });
    reports.push(['consistency, nothing changed', sinceProof]);
    // What a proof over N changed packages costs depends on N and their histories, not on what
    // changed: a write that changes nothing lists them as a scan would (the triggers fire).
    for (const touched of [1_000, 10_000]) {
      reports.push([
        `consistency, ${touched.toLocaleString('en-US')} changed`,
        sinceProof,
        () =>
          db.knex.raw(
            `update packages set weight = weight
              where package_id in (select package_id from packages tablesample system (5) order by random() limit ?)`,
            [touched],
          ),
      ]);
    }
  }
  const baseline = args.baseline === undefined ? undefined : await baselineReports(args.baseline, url, now);
  const lines = [
    `reports, ${args.databaseUrl === undefined ? `profile ${args.profile}` : 'given database'}, as of ${now.toISOString()}`,
  ];
  if (baseline !== undefined) {
    lines.push(
      `baseline: the build in ${args.baseline ?? ''}, run in the same rounds`,
      `  "× before" = median of the rounds' this build / that one`,
    );
  }
  const client = new pg.Client({ connectionString: url });
  if (args.compareSql) {
    await client.connect();
    // The settings the tool gives its report transactions, given once to the session by hand.
    await client.query(`set work_mem = '64MB'; set jit = off`);
    lines.push(
      `ms per report, ${args.runs} rounds after a warm-up, report and hand-written SQL alternating (a round, and the warm-up, of a report under 20 ms runs it as many times as fill ~20 ms, each side alike): median (min–max); ratio = median of the rounds' report / SQL`,
    );
  } else {
    lines.push(
      `ms per report, ${args.runs} runs after 1 warm-up (a report under 20 ms: per run of a batch filling ~20 ms): median (min–max); target p50 ≤ 150 ms at medium`,
    );
  }
  // Two decimals under 10 ms, where the reports of maintained counts are.
  const fixed = (value: number): string => value.toFixed(value < 10 ? 2 : 1);
  const spread = (values: number[]): string =>
    `${fixed(median(values)).padStart(7)} (${fixed(Math.min(...values))}–${fixed(Math.max(...values))})`;
  try {
    for (const [name, run, before] of reports) {
      if (args.only.length > 0 && !args.only.some((wanted) => name.startsWith(wanted))) continue;
      const sql = args.compareSql ? handWritten[name] : undefined;
      const baselineRun = baseline?.reports.get(name);
      // The sides of a round: this build's report, its hand-written SQL, the baseline's report.
      const report: Side = { before, run, times: [] };
      const bySql: Side | undefined = sql === undefined ? undefined : { run: () => sql(client, context), times: [] };
      const previous: Side | undefined =
        baselineRun === undefined ? undefined : { before: baselineRun[2], run: baselineRun[1], times: [] };
      const sides = [report, bySql, previous].filter((side): side is Side => side !== undefined);
      await before?.();
      const warm = performance.now();
      await run();
      // A report of well under a millisecond is timed over a batch of runs per round (one timer
      // read and a scheduler hiccup would otherwise be most of what is measured): enough runs for
      // ~20 ms, the same number for every side. Reports with a `before` are timed one by one.
      const batch = before === undefined ? Math.min(200, Math.max(1, Math.ceil(20 / (performance.now() - warm)))) : 1;
      if (sql !== undefined && (await sql(client, context)) === 0) throw new Error(`the SQL of ${name} found nothing`);
      // The warm-up is a batch on each side: steady state, with every code path optimised by V8.
      for (const side of sides.slice(1)) {
        await side.before?.();
        await side.run();
      }
      for (let b = 1; b < batch; b += 1) for (const side of sides) await side.run();
      for (let i = 0; i < args.runs; i += 1) {
        // Which side goes first rotates round by round.
        for (const side of [...sides.slice(i % sides.length), ...sides.slice(0, i % sides.length)]) {
          await side.before?.();
          const started = performance.now();
          for (let b = 0; b < batch; b += 1) await side.run();
          side.times.push((performance.now() - started) / batch);
        }
      }
      const ratio = (of: Side): string => {
        const ratios = report.times.map((t, i) => t / (of.times[i] ?? Number.NaN));
        return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
      };
      const m = median(report.times);
      const versus = [
        ...(bySql === undefined ? [] : [`SQL ${spread(bySql.times)}  ratio ${ratio(bySql)}`]),
        ...(previous === undefined ? [] : [`before ${spread(previous.times)}  × before ${ratio(previous)}`]),
      ];
      if (versus.length === 0) {
        lines.push(
          `  ${name.padEnd(30)} ${spread(report.times)}${args.compareSql ? '  (no SQL to compare)' : `  ${m <= 150 ? 'ok' : 'over'}`}`,
        );
      } else {
        // The report on its line, each comparison under it: the output fits 80 columns.
        lines.push(`  ${name.padEnd(30)} report ${spread(report.times)}`, ...versus.map((v) => `      ${v}`));
      }
      process.stderr.write(`${name} done\n`);
    }
    if (args.withConsistency) {
      // The updates above left their pages not all-visible: index-only scans (status, stale,
      // metadata) would visit the heap for them until a vacuum (1M heap fetches in `status`
      // at large after 66k such updates: 604 ms against 364). Leave the database as it was found.
      await db.knex.raw('vacuum (analyze) packages');
    }
  } finally {
    await db.close();
    await baseline?.close();
    if (args.compareSql) await client.end();
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
