import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { displayWidth } from '../../src/render/text.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { cleanEnv, cliPath, runCli, tempDir } from '../support/cli.js';
import { testRedisUrl } from '../support/env.js';

/**
 * Every command's default output fits the terminal it is printed on: run in a real 80-column
 * terminal (a tmux pane), and piped with COLUMNS=60, no line is wider.
 */

const tmuxFound = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
if (!tmuxFound)
  process.stderr.write('\n  ⚠ tmux is NOT INSTALLED: the 80-column terminal test (test/e2e/fit.test.ts) is SKIPPED\n');
// A tmux server of this file's own, its socket in a folder removed after the file.
const socket = path.join(tempDir('shiptrack-tmux-'), 'socket');

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: cleanEnv({}) });
  if (result.status !== 0) throw new Error(`tmux ${args[0] ?? ''} failed: ${result.stderr}`);
  return result.stdout;
}

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

const widest = (text: string): { width: number; line: string } =>
  text
    .split('\n')
    .map((line) => ({ width: displayWidth(line.trimEnd()), line }))
    .reduce((a, b) => (b.width > a.width ? b : a), { width: 0, line: '' });

let sessions = 0;

/**
 * Runs the CLI in a tmux pane `columns` wide (stdout is a terminal) and returns what the pane
 * shows, wrapped lines joined again (`capture-pane -J`): each line as the program wrote it.
 */
async function inTerminal(
  args: readonly string[],
  env: Record<string, string>,
  cwd: string,
  columns = 80,
): Promise<{ screen: string; code: number }> {
  const session = `fit${(sessions += 1)}`;
  const marker = `__shiptrack_fit_exit_${session}__`;
  const vars = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  const command = ['env', '-u', 'COLUMNS', ...vars, process.execPath, cliPath, ...args].map(quote).join(' ');
  tmux(
    'new-session',
    '-d',
    '-x',
    String(columns),
    '-y',
    '50',
    '-s',
    session,
    '-c',
    cwd,
    `${command}; echo "${marker} $?"; sleep 120`,
  );
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const screen = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session);
      const done = new RegExp(`^${marker} (\\d+)$`, 'm').exec(screen);
      if (done !== null) return { screen: screen.slice(0, done.index), code: Number(done[1]) };
      if (Date.now() > deadline) throw new Error(`${args.join(' ')} did not finish in the terminal:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    tmux('kill-session', '-t', session);
  }
}

describe.skipIf(!inject('postgresAvailable'))('output fits the terminal, on a seeded server database', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;
  let commands: string[][];
  const cwd = tempDir();

  beforeAll(async () => {
    testDb = await createTestDatabase('st_fit');
    env = {
      SHIPTRACK_DATABASE_URL: testDb.url,
      ...(inject('redisAvailable') ? { SHIPTRACK_REDIS_URL: testRedisUrl } : {}),
    };
    expect((await runCli(['migrate', 'latest'], { env, cwd })).code).toBe(0);
    expect((await runCli(['seed', '--documents', '0.2'], { env, cwd })).code).toBe(0);
    const run = ['benchmark', 'track-db', '--count', '20', '--warmup', '0ms', '--concurrency', '1'];
    expect((await runCli(run, { env, cwd })).code).toBe(0);
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    const busiest = await client
      .query<{ id: string }>('select sender_id as id from packages group by sender_id order by count(*) desc limit 1')
      .finally(() => client.end());
    // The package with the longest journey and the longest place names: the hardest to fit.
    const longest = await runCli(['report', 'stale', '--hours', '1', '--limit', '50', '--json'], { env, cwd });
    const numbers = (JSON.parse(longest.stdout) as { tables: { name: string; rows: { tracking_number: string }[] }[] }).tables
      .find((t) => t.name === 'packages')
      ?.rows.map((r) => r.tracking_number)
      .slice(0, 3);
    commands = [
      ['track', ...(numbers ?? [])],
      ['track', numbers?.[0] ?? '', '--oldest-first', '--utc'],
      ['migrate', 'status'],
      ['doctor'],
      ...[
        ['status'],
        ['overdue'],
        ['lanes', '--since', '60d'],
        ['facilities'],
        ['stale'],
        ['exceptions'],
        ['customer', String(busiest.rows[0]?.id)],
        ['metadata', '--where', 'fragile=true'],
        ['db'],
        ['benchmarks'],
        ['consistency'],
      ].map((report) => ['report', ...report]),
    ];
  });

  afterAll(async () => {
    if (tmuxFound) spawnSync('tmux', ['-S', socket, 'kill-server'], { stdio: 'ignore' });
    await testDb?.drop();
  });

  it.skipIf(!tmuxFound)(
    tmuxFound
      ? 'in an 80-column terminal (a tmux pane), no line of any command is wider than 80'
      : 'SKIPPED: tmux is not installed, so nothing ran in an 80-column terminal (install tmux)',
    async () => {
      for (const args of commands) {
        const { screen, code } = await inTerminal(args, env, cwd);
        const name = args.join(' ');
        expect([0, 4], `${name} exit code\n${screen}`).toContain(code);
        // It ran to its output: a table, or track's last line.
        expect(screen, name).toMatch(args[0] === 'track' ? /answered from the (database|cache)/ : /┌─/);
        expect(screen, name).not.toMatch(/Warning|error:/);
        const { width, line } = widest(screen);
        expect(width, `${name}: ${line}`).toBeLessThanOrEqual(80);
      }
    },
  );

  it('piped with COLUMNS=60 every line fits 60 columns, and --wide shows every column', async () => {
    for (const args of commands) {
      const result = await runCli(args, { env: { ...env, COLUMNS: '60' }, cwd });
      const name = args.join(' ');
      expect([0, 4], `${name}: ${result.stderr}`).toContain(result.code);
      const { width, line } = widest(result.stdout);
      expect(width, `${name}: ${line}`).toBeLessThanOrEqual(60);
    }
    const wide = await runCli(['report', 'db', '--wide'], { env: { ...env, COLUMNS: '60' }, cwd });
    expect(wide.stdout).toMatch(/│ table\s+│\s+total │\s+│\s+table │ indexes │ rows \(est\.\) │ dead │ .* last autoanalyze │/);
    expect(widest(wide.stdout).width).toBeGreaterThan(60);
  });
});
