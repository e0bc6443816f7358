import { describe, expect, inject, it } from 'vitest';
import { parseTrackJson } from '../support/track-json.js';
import { createTestDatabase } from '../support/databases.js';
import { cleanEnv, cliPath, recordLoads, runCli, startOwnRedis, tempDir, whenStderrSays } from '../support/cli.js';
import { testRedisUrl } from '../support/env.js';

interface SeedJson {
  sampleTrackingNumbers: string[];
}

describe('track on the embedded default', () => {
  it('migrate, seed tiny, track a package: the README first command works with nothing configured', async () => {
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const seeded = await runCli(['seed', '--json'], { cwd });
    const [number] = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers;
    expect(number).toMatch(/^[A-Z]{2}\d{9}US$/);

    const tracked = await runCli(['track', number ?? ''], { cwd });
    expect(tracked.code).toBe(0);
    expect(tracked.stdout).toContain(number);
    // The verdict first, then the journey newest first, in people's words and local times.
    expect(tracked.stdout.split('\n')[0]).toMatch(
      new RegExp(
        `^${number ?? ''}  (Delivered|In transit|Out for delivery|Label created|Ready for pickup|Exception|Delivery attempted|Returning to sender|Returned to sender|Cancelled)`,
      ),
    );
    expect(tracked.stdout).toMatch(/^Promised +\w{3} \d{1,2} \w{3}( \d{4})? \d{2}:\d{2} [A-Z]{2,4}/m);
    expect(tracked.stdout).toMatch(/\d+ scans, newest first · local times · answered from the database/);
    expect(tracked.stdout).not.toMatch(/in_transit|out_for_delivery|attempt_fail/);
    expect(Math.max(...tracked.stdout.split('\n').map((l) => [...l].length))).toBeLessThanOrEqual(80);

    // forgiving input: lower case, spaces, split words
    const spaced = `${number?.slice(0, 2).toLowerCase()} ${number?.slice(2, 6)} ${number?.slice(6, 10)} ${number?.slice(10).toLowerCase()}`;
    const forgiving = await runCli(['track', ...spaced.split(' '), '--json'], { cwd });
    expect(forgiving.code).toBe(0);
    expect(parseTrackJson(forgiving.stdout).packages.map((p) => p.trackingNumber)).toEqual([number]);
  });

  it('bad numbers exit 2 with the exact reason before any store is opened; unknown valid numbers exit 3', async () => {
    const cwd = tempDir();
    const wrong = await runCli(['track', 'RB123456784US'], { cwd });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/error: RB123456784US: check digit is 4, expected 5\nhint: did you mean RB123456785US/);
    for (const input of ["' OR 1=1 --", '{"$gt": ""}', 'x'.repeat(10_240), 'RB123\u202E456785US', '   ']) {
      const result = await runCli(['track', input], { cwd });
      expect(result.code, JSON.stringify(input.slice(0, 20))).toBe(2);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    // nothing was opened: no embedded database was created by those
    const { existsSync } = await import('node:fs');
    expect(existsSync(`${cwd}/.shiptrack`)).toBe(false);

    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const unknown = await runCli(['track', 'RB123456785US'], { cwd });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/error: not found: RB123456785US/);
    const partner = await runCli(['track', '1Z999AA10123456784'], { cwd });
    expect(partner.code).toBe(3);
    expect(partner.stderr).toMatch(/error: not found: 1Z999AA10123456784 \(UPS number\)/);
  });
});

describe.skipIf(!inject('postgresAvailable') || !inject('redisAvailable'))('track against servers', () => {
  it('answers from the cache the second time, and from PostgreSQL with one warning when Redis is frozen', async () => {
    const testDb = await createTestDatabase('st_track_e2e');
    try {
      const env = { SHIPTRACK_DATABASE_URL: testDb.url };
      expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
      const seeded = await runCli(['seed', '--json'], { env });
      const number = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers[0] ?? '';
      const redisEnv = { ...env, SHIPTRACK_REDIS_URL: testRedisUrl };
      await runCli(['track', number, '--no-cache'], { env: redisEnv });
      const first = await runCli(['track', number, '--json'], { env: redisEnv });
      const second = await runCli(['track', number, '--json'], { env: redisEnv });
      expect(parseTrackJson(first.stdout).packages[0]?.source).toMatch(/database|cache/);
      expect(parseTrackJson(second.stdout).packages[0]?.source).toBe('cache');
      expect(
        parseTrackJson((await runCli(['track', number, '--json', '--no-cache'], { env: redisEnv })).stdout).packages[0]?.source,
      ).toBe('database');

      // What each path loads: never the MongoDB driver, the prompt library, the seeder's or the
      // benchmark's packages, nor knex (one query needs only pg); a cache hit not even pg.
      // Packages by folder; our own modules by their path (dist/src/…), pg and knex (bundled) also
      // by store/pg-driver.ts and store/knex-driver.ts, which import them.
      const neverLoaded = new RegExp(
        [
          String.raw`node_modules/(mongodb|@inquirer|knex|@electric-sql|pg-copy-streams|hdr-histogram-js|cli-progress)/`,
          String.raw`^dist/src/(store/knex-driver|cli/commands/(seed|benchmark)|services/seed\.service|render/(seed|benchmark)\.render|services/benchmark/.*|cli/(prompts|progress)|store/documents/mongo|store/embedded)\.js$`,
        ].join('|'),
      );
      const hitLoads = recordLoads();
      const hit = await runCli(['track', number, '--json'], { env: { ...redisEnv, ...hitLoads.env } });
      expect(parseTrackJson(hit.stdout).packages[0]?.source).toBe('cache');
      const hitLoaded = hitLoads.read();
      expect(hitLoaded.some((url) => url.endsWith('/bin/shiptrack.js'))).toBe(true); // the coverage saw the CLI start
      expect(hitLoaded).toEqual(expect.arrayContaining(['dist/src/store/track-cache.js', 'dist/src/services/track.service.js'])); // and its modules
      const pgLoaded = (name: string): boolean => /node_modules\/pg\//.test(name) || name === 'dist/src/store/pg-driver.js';
      expect(hitLoaded.filter((name) => neverLoaded.test(name) || pgLoaded(name))).toEqual([]);
      const dbLoads = recordLoads();
      const miss = await runCli(['track', number, '--no-cache'], { env: { ...redisEnv, ...dbLoads.env } });
      expect(miss.code).toBe(0);
      const dbLoaded = dbLoads.read();
      expect(dbLoaded.some(pgLoaded)).toBe(true);
      expect(dbLoaded.filter((name) => neverLoaded.test(name))).toEqual([]);

      const frozen = await startOwnRedis();
      try {
        frozen.freeze();
        const result = await runCli(['track', number], {
          env: { ...env, SHIPTRACK_REDIS_URL: `redis://127.0.0.1:${frozen.port}`, SHIPTRACK_REDIS_TIMEOUT: '300ms' },
        });
        expect(result.code).toBe(0);
        expect(result.stdout).toContain(number);
        expect(result.stderr.match(/warning: cache unavailable/g)).toHaveLength(1);
        expect(result.ms).toBeLessThan(3000);
      } finally {
        await frozen.stop();
      }
    } finally {
      await testDb.drop();
    }
  });
});

describe.skipIf(!inject('postgresAvailable') || !inject('redisAvailable'))('track --watch', () => {
  it('shows a scan recorded by another process while it watches, and stops on Ctrl-C', async () => {
    const testDb = await createTestDatabase('st_watch_e2e');
    try {
      const env = { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_REDIS_URL: testRedisUrl };
      expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
      const seeded = await runCli(['seed', '--json', '--as-of', '2026-11-01'], { env });
      const number = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers[0] ?? '';
      const watch = await runCli(['track', number, '--watch', '--json'], {
        env,
        timeoutMs: 30_000,
        onSpawn: (child) =>
          whenStderrSays(child, 'watching', () => {
            void runCli(['scan', number, '--status', 'exception', '--location', '1', '--at', '2026-11-20T10:00:00Z'], {
              env,
            }).then(() => setTimeout(() => child.kill('SIGINT'), 1500));
          }),
      });
      expect(watch.code).toBe(130);
      const lines = watch.stdout.trim().split('\n');
      const update = JSON.parse(lines.at(-1) ?? '{}') as { events?: { status: string; at: string }[] };
      expect(update.events?.some((e) => e.at === '2026-11-20T10:00:00.000Z' && e.status === 'exception')).toBe(true);
    } finally {
      await testDb.drop();
    }
  });

  it('is refused on the embedded database, which one process holds at a time', async () => {
    const result = await runCli(['track', 'RB123456785US', '--watch']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--watch needs a PostgreSQL server/);
  });
});

describe('track at a terminal with no number', () => {
  it('prompts, refuses an invalid number with its reason as you type, then tracks a valid one', async () => {
    const { spawn, spawnSync } = await import('node:child_process');
    if (spawnSync('script', ['--version']).status !== 0)
      throw new Error('util-linux `script` is needed to give the CLI a terminal');
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const seeded = await runCli(['seed', '--json'], { cwd });
    const number = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers[0] ?? '';
    // `script` runs the CLI on a pseudo-terminal and forwards what we type.
    const child = spawn('script', ['-qfc', `${process.execPath} ${cliPath} track`, '/dev/null'], {
      cwd,
      env: cleanEnv({ SHIPTRACK_HOME: '.shiptrack' }),
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const until = async (text: string): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!screen.includes(text)) {
        if (Date.now() > deadline) throw new Error(`never saw ${JSON.stringify(text)} in:\n${screen.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until('Tracking number:');
    child.stdin.write('RB123456784US\r');
    await until('check digit is 4, expected 5');
    child.stdin.write('\b'.repeat(13));
    child.stdin.write(`${number}\r`);
    await until('answered from the database');
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(screen).toContain(number);
  });

  it('Ctrl-C at the prompt is an interruption: exit 130, no internal error', async () => {
    const { spawn } = await import('node:child_process');
    const cwd = tempDir();
    const child = spawn('script', ['-qefc', `${process.execPath} ${cliPath} track`, '/dev/null'], {
      cwd,
      env: cleanEnv({ SHIPTRACK_HOME: '.shiptrack' }),
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const deadline = Date.now() + 15_000;
    while (!screen.includes('Tracking number:')) {
      if (Date.now() > deadline) throw new Error(`never saw the prompt in:\n${screen.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.stdin.write('\u0003');
    // `script -e` exits with the child's status.
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(130);
    expect(screen).not.toMatch(/internal error|this is a bug/);
  });
});
