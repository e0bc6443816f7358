/**
 * Whole `shiptrack track N`, `migrate status` and one-statement report processes (start, connect,
 * answer, exit) against `node -e 0`, measured in the same run: issue #17 asks for at most 2.0 ×
 * `node -e 0` for `track` and 2.5 × for `migrate status`.
 *
 *   npm run bench:track-process -- --database-url postgres://…/db --redis-url redis://…/14 --runs 30 \
 *     [--baseline <another checkout, built>]
 *
 * The database must be migrated and seeded (the first tracking number found is used; --number
 * picks another). Each round runs every variant once, in a rotating order, with output sent to
 * /dev/null as a user's redirect would; the cache is filled (untimed) at the start of every
 * round. Prints each variant's median wall time with min–max, and its ratio to the median of
 * `node -e 0` (with the range of the same ratio taken round by round). With --baseline, every
 * variant runs in that build too, in the same rotation, and each is given against it as well.
 * The warm-up rounds (3 by default) also write each command's code cache (src/cli/launch.cts),
 * as a user's first runs do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { median, medianAndSpread } from './support.js';

interface Args {
  databaseUrl: string;
  redisUrl: string;
  runs: number;
  warmup: number;
  number: string | undefined;
  baseline: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    databaseUrl: process.env.SHIPTRACK_BENCH_DATABASE_URL ?? '',
    redisUrl: process.env.SHIPTRACK_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14',
    runs: 30,
    warmup: 3,
    number: undefined,
    baseline: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--redis-url') args.redisUrl = value;
    else if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--warmup') args.warmup = Number(value);
    else if (flag === '--number') args.number = value;
    else if (flag === '--baseline') args.baseline = path.resolve(value, 'bin/shiptrack.js');
    else throw new Error(`unknown option ${flag}`);
  }
  if (args.databaseUrl === '') throw new Error('--database-url is required: a migrated and seeded database');
  if (!Number.isInteger(args.runs) || args.runs < 3) throw new Error('--runs: at least 3');
  return args;
}

async function firstTrackingNumber(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ tracking_number: string }>('select tracking_number from packages limit 1');
    const number = result.rows[0]?.tracking_number;
    if (number === undefined) throw new Error('the database has no packages: seed it first');
    return number;
  } finally {
    await client.end();
  }
}

interface Variant {
  name: string;
  args: string[];
}

/**
 * Wall time of one process, in ms; throws if it fails (a failing variant measures nothing). It
 * runs in an empty folder, as a DBA's would: a checkout's own ./migrations is not a team's.
 */
function timeProcess(variant: Variant, env: NodeJS.ProcessEnv, cwd: string): number {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, variant.args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`${variant.name} exited ${String(run.status)}: ${run.stderr.toString().trim()}`);
  return elapsed;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const number = args.number ?? (await firstTrackingNumber(args.databaseUrl));
  const cli = path.resolve('bin/shiptrack.js');
  const cwd = mkdtempSync(path.join(tmpdir(), 'shiptrack-process-'));
  const env = {
    ...process.env,
    SHIPTRACK_DATABASE_URL: args.databaseUrl,
    SHIPTRACK_REDIS_URL: args.redisUrl,
    NO_COLOR: '1',
  };
  const commands: [string, string[]][] = [
    ['track (cache hit)', ['track', number]],
    ['track --json (cache hit)', ['track', number, '--json']],
    ['track --no-cache (database)', ['track', number, '--no-cache']],
    ['track --json --no-cache (database)', ['track', number, '--json', '--no-cache']],
    ['migrate status', ['migrate', 'status']],
    ['migrate status --json', ['migrate', 'status', '--json']],
    ['report status', ['report', 'status']],
    ['report overdue', ['report', 'overdue']],
  ];
  const builds: [string, string][] = [
    ['', cli],
    ...(args.baseline === undefined ? [] : [[' [baseline]', args.baseline] as [string, string]]),
  ];
  const variants: Variant[] = [
    { name: 'node -e 0', args: ['-e', '0'] },
    ...commands.flatMap(([name, words]) =>
      builds.map(([suffix, bin]): Variant => ({ name: `${name}${suffix}`, args: [bin, ...words] })),
    ),
  ];
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // The cached answer lives 60 s: each round first asks once, untimed, so that the cache-hit
  // variants that follow really are hits (checked below).
  const fill = (): string => {
    const run = spawnSync(process.execPath, [cli, 'track', number, '--json'], { cwd, env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`track ${number} exited ${String(run.status)}: ${run.stderr.trim()}`);
    return (JSON.parse(run.stdout) as { packages: { source: string }[] }).packages[0]?.source ?? 'nothing';
  };
  for (let round = -args.warmup; round < args.runs; round += 1) {
    fill();
    // Rotate the order so no variant always runs right after the same neighbour.
    const offset = ((round % variants.length) + variants.length) % variants.length;
    for (let i = 0; i < variants.length; i += 1) {
      const variant = variants[(i + offset) % variants.length] as Variant;
      const elapsed = timeProcess(variant, env, cwd);
      if (round >= 0) times.get(variant.name)?.push(elapsed);
    }
  }
  if (fill() !== 'cache') throw new Error('the cache did not answer: is Redis configured and reachable?');
  const baseline = median(times.get('node -e 0') ?? []);
  const lines = [
    `whole processes, tracking number ${number}, ${args.runs} rounds (+${args.warmup} warm-up)`,
    'ms, median (min–max); ratios: of medians (min–max of the per-round ratios)',
  ];
  const spread = (ratios: number[]): string => `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  // Each variant on a line of its own and its figures under it: the output fits 80 columns.
  for (const variant of variants) {
    const values = times.get(variant.name) ?? [];
    const cell = medianAndSpread(values);
    // Per round as well: each process against the `node -e 0` of its own round.
    const ratios = values.map((v, round) => v / (times.get('node -e 0')?.[round] ?? Number.NaN));
    const ratio =
      variant.name === 'node -e 0' ? '' : `  ${(median(values) / baseline).toFixed(2)} × node -e 0 (${spread(ratios)})`;
    lines.push(`  ${variant.name}`, `      ${cell}${ratio}`);
  }
  if (args.baseline !== undefined) {
    lines.push('this build against the baseline:');
    for (const [name] of commands) {
      const ours = times.get(name) ?? [];
      const theirs = times.get(`${name} [baseline]`) ?? [];
      const perRound = ours.map((v, round) => v / (theirs[round] ?? Number.NaN));
      lines.push(`  ${name.padEnd(36)} ${(median(ours) / median(theirs)).toFixed(2)} (${spread(perRound)})`);
    }
  }
  rmSync(cwd, { recursive: true, force: true });
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
