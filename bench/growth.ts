/**
 * How cost grows with the data: seed time and memory, track p50/p99 and every report, at each
 * profile, each against its limit measured in the same run.
 *
 *   npm run bench:growth -- --profiles tiny,small,medium --runs 5 --lookups 5000 --results growth.jsonl
 *   npm run bench:growth -- --profiles large --runs 5 --no-copy-limit --results growth.jsonl
 *   npm run bench:growth -- --render growth.jsonl --plot docs/performance-growth.svg > growth.md
 *   npm run bench:growth -- --render growth.jsonl --plot docs/performance-growth.svg --into docs/PERFORMANCE.md
 *
 * Per profile: a fresh database, migrated; `shiptrack seed --documents 0` as a child process (wall
 * time, peak RSS); its limit, the same rows loaded by `psql \copy` with the same builds
 * (bench/seed-limit.ts; skipped with --no-copy-limit, as it doubles the time at `large`). Then,
 * alternating A and B in every round (which goes first alternates too): the track read through
 * the library on one connection (named prepared statement, no cache) against the same statement
 * prepared on a bare pg client; and every report against its hand-written SQL
 * (bench/reports-sql.ts). One JSON line per profile is appended to --results; --render turns the
 * lines into a Markdown table and a log-log SVG plot.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createTracker } from '../src/services/track.service.js';
import { openDatabase } from '../src/store/database.js';
import { openPgClient } from '../src/store/pg-client.js';
import { trackQuery } from '../src/store/track-query.js';
import { reportRuns } from './report-runs.js';
import { handWritten } from './reports-sql.js';
import { admin, asOf, cli, copyLimit, exportRows, freshDatabase, runMeasured } from './seed-limit.js';
import { median, percentile, sampleNumbers } from './support.js';
import { formatLatency as fmt } from '../src/render/benchmark.render.js';

interface Args {
  profiles: string[];
  runs: number;
  lookups: number;
  copyLimit: boolean;
  results: string;
  render: string | undefined;
  plot: string | undefined;
  /** With --render: write the section into this Markdown report instead of printing it. */
  into: string | undefined;
  keep: boolean;
  adminUrl: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    profiles: ['tiny', 'small', 'medium'],
    runs: 5,
    lookups: 5000,
    copyLimit: true,
    results: 'growth.jsonl',
    render: undefined,
    plot: undefined,
    into: undefined,
    keep: false,
    adminUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--no-copy-limit') args.copyLimit = false;
    else if (flag === '--keep') args.keep = true;
    else {
      i += 1;
      if (flag === '--profiles') args.profiles = value.split(',');
      else if (flag === '--runs') args.runs = Number(value);
      else if (flag === '--lookups') args.lookups = Number(value);
      else if (flag === '--results') args.results = value;
      else if (flag === '--render') args.render = value;
      else if (flag === '--plot') args.plot = value;
      else if (flag === '--into') args.into = value;
      else throw new Error(`unknown option ${flag}`);
    }
  }
  return args;
}

/** A measured figure and its limit (both medians over the rounds), ms. */
interface Pair {
  ms: number;
  limitMs: number | null;
  /** Median of the per-round ratios (ms / limit). */
  ratio: number | null;
  /** Lowest and highest per-round ms. */
  min: number;
  max: number;
}

interface GrowthLine {
  profile: string;
  packages: number;
  events: number;
  databaseBytes: number;
  measuredAt: string;
  /** The commit of the build measured (git rev-parse), when known. */
  commit?: string | null;
  runs: number;
  seed: { ms: number; peakMb: number; limitMs: number | null };
  track: { p50: Pair; p99: Pair; lookups: number };
  reports: Record<string, Pair>;
}

function pair(ours: number[], limit: number[]): Pair {
  const ratios = limit.length === ours.length ? ours.map((o, i) => o / (limit[i] ?? Number.NaN)) : [];
  return {
    ms: median(ours),
    limitMs: limit.length === 0 ? null : median(limit),
    ratio: ratios.length === 0 ? null : median(ratios),
    min: Math.min(...ours),
    max: Math.max(...ours),
  };
}

/** Per-lookup times of `work` over the numbers, sorted. */
async function lookups(numbers: readonly string[], count: number, work: (n: string) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const n = numbers[(i * 104_729 + 13) % numbers.length] ?? '';
    const started = performance.now();
    await work(n);
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b);
}

async function measureProfile(args: Args, profile: string): Promise<GrowthLine> {
  const name = `shiptrack_bench_growth_${profile}`;
  const limitDb = `shiptrack_bench_growth_limit`;
  const url = await freshDatabase(args.adminUrl, name);
  const seeded = await runMeasured(
    process.execPath,
    [cli, 'seed', '--profile', profile, '--seed', '42', '--as-of', asOf, '--documents', '0', '--json'],
    { ...process.env, SHIPTRACK_DATABASE_URL: url },
  );
  if (seeded.code !== 0) throw new Error(`seed of ${profile} exited ${seeded.code}`);
  const rows = (JSON.parse(seeded.stdout) as { rows: Record<string, number> }).rows;
  process.stderr.write(`${profile}: seed ${(seeded.ms / 1000).toFixed(1)} s, peak ${seeded.peakMb.toFixed(0)} MB\n`);
  let seedLimitMs: number | null = null;
  if (args.copyLimit) {
    const work = mkdtempSync(path.join(tmpdir(), 'shiptrack-growth-'));
    try {
      exportRows(url, work);
      seedLimitMs = await copyLimit(args.adminUrl, limitDb, work);
    } finally {
      rmSync(work, { recursive: true, force: true });
      await admin(args.adminUrl, (c) => c.query(`drop database if exists "${limitDb}" with (force)`));
    }
    process.stderr.write(`${profile}: psql \\copy limit ${(seedLimitMs / 1000).toFixed(1)} s\n`);
  }

  const config = loadConfig({ env: { SHIPTRACK_DATABASE_URL: url }, envFile: null });
  const db = await openDatabase(config, { applicationName: 'shiptrack bench growth', statementTimeoutMs: 0 });
  const toolClient = await openPgClient(config, 'shiptrack bench growth');
  const bare = new pg.Client({ connectionString: url });
  await bare.connect();
  // The settings the tool gives its report transactions, given once to the bare session.
  await bare.query(`set work_mem = '64MB'; set jit = off`);
  const now = new Date(asOf);
  try {
    const size = await bare.query<{ bytes: string }>('select pg_database_size(current_database())::text as bytes');
    const numbers = await sampleNumbers(bare, 20_000);
    const tracker = createTracker({ source: { kind: 'client', client: toolClient } });
    const tool = (n: string): Promise<unknown> => tracker.track(n, { useCache: false });
    const limit = (n: string): Promise<unknown> => bare.query({ name: trackQuery.name, text: trackQuery.text, values: [n] });
    const warm = Math.min(2000, args.lookups);
    await lookups(numbers, warm, tool);
    await lookups(numbers, warm, limit);
    const t = { p50: [] as number[], p99: [] as number[], l50: [] as number[], l99: [] as number[] };
    for (let round = 0; round < args.runs; round += 1) {
      const sides = [
        async () => {
          const s = await lookups(numbers, args.lookups, tool);
          t.p50.push(percentile(s, 50));
          t.p99.push(percentile(s, 99));
        },
        async () => {
          const s = await lookups(numbers, args.lookups, limit);
          t.l50.push(percentile(s, 50));
          t.l99.push(percentile(s, 99));
        },
      ];
      for (const side of round % 2 === 0 ? sides : sides.reverse()) await side();
    }
    process.stderr.write(`${profile}: track done\n`);

    const { reports, context } = await reportRuns(db, now);
    const measured: Record<string, Pair> = {};
    for (const [report, run] of reports) {
      const sql = handWritten[report];
      await run();
      if (sql !== undefined) await sql(bare, context);
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let round = 0; round < args.runs; round += 1) {
        const sides = [
          async () => {
            const started = performance.now();
            await run();
            ours.push(performance.now() - started);
          },
          async () => {
            if (sql === undefined) return;
            const started = performance.now();
            await sql(bare, context);
            theirs.push(performance.now() - started);
          },
        ];
        for (const side of round % 2 === 0 ? sides : sides.reverse()) await side();
      }
      measured[report] = pair(ours, theirs);
    }
    process.stderr.write(`${profile}: reports done\n`);
    return {
      profile,
      packages: rows.packages ?? 0,
      events: rows.tracking_events ?? 0,
      databaseBytes: Number(size.rows[0]?.bytes ?? 0),
      measuredAt: new Date().toISOString(),
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || null,
      runs: args.runs,
      seed: { ms: seeded.ms, peakMb: seeded.peakMb, limitMs: seedLimitMs },
      track: { p50: pair(t.p50, t.l50), p99: pair(t.p99, t.l99), lookups: args.lookups },
      reports: measured,
    };
  } finally {
    await bare.end();
    await toolClient.end();
    await db.close();
    if (!args.keep) await admin(args.adminUrl, (c) => c.query(`drop database if exists "${name}" with (force)`));
  }
}

function cell(p: Pair): string {
  const limit = p.limitMs === null ? '' : ` / ${fmt(p.limitMs)} (${(p.ratio ?? Number.NaN).toFixed(2)}×)`;
  return `${fmt(p.ms)}${limit}`;
}

/** How the figures were made, for the report. */
function growthIntro(lines: readonly GrowthLine[]): string {
  const when = lines
    .map((l) => `${l.profile} ${l.measuredAt.slice(0, 16).replace('T', ' ')} UTC${l.commit == null ? '' : ` at ${l.commit}`}`)
    .join(', ');
  return [
    `Measured with \`npm run bench:growth\` (bench/growth.ts) on the machine of the run above, one profile at a`,
    `time (${when}), each in a fresh database seeded with \`--documents 0\` as of 2026-11-01. Each figure`,
    'has its limit beside it, measured in the same run and alternating with it round by round: for',
    'the seed, `psql \\copy` of the same rows with the same builds, the rollups rebuilt and ANALYZE',
    '(not run at `large`, where it would double the load); for track, the same statement',
    'prepared on a bare pg client; for each report, the hand-written SQL of bench/reports-sql.ts.',
    'Reports with a fixed cost of a few tenths of a millisecond (status, db) show large ratios at',
    'every size: the difference is the transaction and the shaping of the answer, not the query.',
    '',
  ].join('\n');
}

/** The lines of a results file, the last one of each profile, smallest first. */
function readLines(file: string): GrowthLine[] {
  const byProfile = new Map<string, GrowthLine>();
  for (const text of readFileSync(file, 'utf8').split('\n')) {
    if (text.trim() === '') continue;
    const line = JSON.parse(text) as GrowthLine;
    byProfile.set(line.profile, line);
  }
  return [...byProfile.values()].sort((a, b) => a.packages - b.packages);
}

function renderMarkdown(lines: readonly GrowthLine[], plotName: string | undefined): string {
  const reportNames = [...new Set(lines.flatMap((l) => Object.keys(l.reports)))];
  const header = ['', ...lines.map((l) => `${l.profile} (${l.packages.toLocaleString('en-US')} packages)`)];
  const row = (label: string, cells: string[]): string => `| ${[label, ...cells].join(' | ')} |`;
  const out = [
    'Each cell: shiptrack / its limit measured in the same run (ratio, median of the per-round ratios); ms unless',
    `marked. Medians of ${lines.map((l) => l.runs).join('/')} alternating rounds; seed is one run per profile`,
    '(`--documents 0`), its limit `psql \\copy` of the same rows with the same builds and ANALYZE.',
    '',
    row(header[0] ?? '', header.slice(1)),
    row(
      '---',
      lines.map(() => '---:'),
    ),
    row(
      'database size',
      lines.map((l) => `${(l.databaseBytes / 2 ** 30).toFixed(l.databaseBytes > 2 ** 30 ? 1 : 3)} GiB`),
    ),
    row(
      'seed, s',
      lines.map(
        (l) =>
          `${(l.seed.ms / 1000).toFixed(1)}${l.seed.limitMs === null ? '' : ` / ${(l.seed.limitMs / 1000).toFixed(1)} (${(l.seed.ms / l.seed.limitMs).toFixed(2)}×)`}`,
      ),
    ),
    row(
      'seed peak RSS, MiB',
      lines.map((l) => l.seed.peakMb.toFixed(0)),
    ),
    row(
      'track p50 (limit: the same statement prepared on a bare pg client)',
      lines.map((l) => cell(l.track.p50)),
    ),
    row(
      'track p99',
      lines.map((l) => cell(l.track.p99)),
    ),
    ...reportNames.map((name) =>
      row(
        `report ${name}`,
        lines.map((l) => {
          const p = l.reports[name];
          return p === undefined ? '–' : cell(p);
        }),
      ),
    ),
  ];
  if (plotName !== undefined) out.push('', `![How cost grows, log-log](${plotName})`);
  return `${out.join('\n')}\n`;
}

const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** A log-log plot: packages across, ms up; each series solid, its limit dashed in the same colour. */
function renderPlot(lines: readonly GrowthLine[]): string {
  const series: { label: string; points: [number, number][]; limit: [number, number][] }[] = [
    {
      label: 'seed (ms)',
      points: lines.map((l) => [l.packages, l.seed.ms]),
      limit: lines.flatMap((l) => (l.seed.limitMs === null ? [] : [[l.packages, l.seed.limitMs] as [number, number]])),
    },
    {
      label: 'track p99',
      points: lines.map((l) => [l.packages, l.track.p99.ms]),
      limit: lines.map((l) => [l.packages, l.track.p99.limitMs ?? Number.NaN]),
    },
    ...[...new Set(lines.flatMap((l) => Object.keys(l.reports)))].map((name) => ({
      label: `report ${name}`,
      points: lines.flatMap((l) => (l.reports[name] === undefined ? [] : [[l.packages, l.reports[name].ms] as [number, number]])),
      limit: lines.flatMap((l) =>
        l.reports[name]?.limitMs == null ? [] : [[l.packages, l.reports[name].limitMs] as [number, number]],
      ),
    })),
  ];
  const all = series.flatMap((s) => [...s.points, ...s.limit]).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
  const log = (v: number): number => Math.log10(v);
  const [x0, x1] = [Math.floor(log(Math.min(...all.map(([x]) => x)))), Math.ceil(log(Math.max(...all.map(([x]) => x))))];
  const [y0, y1] = [Math.floor(log(Math.min(...all.map(([, y]) => y)))), Math.ceil(log(Math.max(...all.map(([, y]) => y))))];
  const [width, height, left, top, legend] = [900, 560, 70, 40, 300];
  const right = width - legend;
  const bottom = height - 50;
  const xOf = (x: number): number => left + ((log(x) - x0) / Math.max(1, x1 - x0)) * (right - left);
  const yOf = (y: number): number => bottom - ((log(y) - y0) / Math.max(1, y1 - y0)) * (bottom - top);
  const px = (n: number): string => n.toFixed(1);
  const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body: string[] = [];
  for (let d = x0; d <= x1; d += 1) {
    const x = xOf(10 ** d);
    body.push(`<line x1="${px(x)}" y1="${top}" x2="${px(x)}" y2="${bottom}" stroke="#ddd"/>`);
    body.push(`<text x="${px(x)}" y="${bottom + 18}" text-anchor="middle">${(10 ** d).toLocaleString('en-US')}</text>`);
  }
  for (let d = y0; d <= y1; d += 1) {
    const y = yOf(10 ** d);
    body.push(`<line x1="${left}" y1="${px(y)}" x2="${right}" y2="${px(y)}" stroke="#ddd"/>`);
    body.push(
      `<text x="${left - 6}" y="${px(y + 4)}" text-anchor="end">${(10 ** d).toLocaleString('en-US', { maximumFractionDigits: 3 })}</text>`,
    );
  }
  body.push(`<text x="${(left + right) / 2}" y="${height - 12}" text-anchor="middle">packages (log scale)</text>`);
  body.push(
    `<text x="16" y="${(top + bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + bottom) / 2})">ms (log scale); dashed: the limit</text>`,
  );
  series.forEach((s, i) => {
    const color = palette[i % palette.length] ?? '#333';
    const dash = i >= palette.length ? ' stroke-width="3"' : ' stroke-width="2"';
    for (const [points, pattern] of [
      [s.points, ''],
      [s.limit, ' stroke-dasharray="5 4"'],
    ] as const) {
      const ok = points.filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
      if (ok.length === 0) continue;
      body.push(
        `<polyline fill="none" stroke="${color}"${dash}${pattern} points="${ok.map(([x, y]) => `${px(xOf(x))},${px(yOf(y))}`).join(' ')}"><title>${esc(s.label)}${pattern === '' ? '' : ' (limit)'}</title></polyline>`,
      );
    }
    const ly = top + 8 + i * 18;
    body.push(`<line x1="${right + 16}" y1="${ly}" x2="${right + 40}" y2="${ly}" stroke="${color}"${dash}/>`);
    body.push(`<text x="${right + 46}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>How cost grows with the data (log-log)</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#888"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render !== undefined) {
    const lines = readLines(args.render);
    if (args.plot !== undefined) writeFileSync(args.plot, renderPlot(lines));
    const markdown = renderMarkdown(lines, args.plot === undefined ? undefined : path.basename(args.plot));
    if (args.into === undefined) {
      process.stdout.write(markdown);
      return;
    }
    // The section replaces its earlier version in the report, or is added at its end.
    const heading = '## How cost grows';
    const report = readFileSync(args.into, 'utf8');
    const start = report.indexOf(`\n${heading}\n`);
    const next = start < 0 ? -1 : report.indexOf('\n## ', start + heading.length + 2);
    const section = `\n${heading}\n\n${growthIntro(lines)}\n${markdown}`;
    const updated =
      start < 0 ? `${report.trimEnd()}\n${section}` : `${report.slice(0, start)}${section}${next < 0 ? '' : report.slice(next)}`;
    writeFileSync(args.into, updated);
    return;
  }
  for (const profile of args.profiles) {
    const line = await measureProfile(args, profile);
    appendFileSync(args.results, `${JSON.stringify(line)}\n`);
  }
}

await main();
