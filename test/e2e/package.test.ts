import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, startOwnRedis, tempDir, type OwnServer } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { parseTrackJson } from '../support/track-json.js';

const run = promisify(execFile);

interface ExampleAnswer {
  source: string;
  package: { currentStatus: string };
}

/**
 * What a DBA or another team gets from `npm i`: the package packed as it would be published,
 * installed into an empty folder, its CLI and its library used from there.
 */
describe.skipIf(!inject('postgresAvailable') || !inject('redisAvailable'))(
  'the packed package, installed into an empty folder',
  () => {
    let app: string;
    let installed: string;
    let testDb: TestDatabase;
    let redis: OwnServer;
    let env: Record<string, string>;

    beforeAll(async () => {
      const packed = tempDir('shiptrack-pack-');
      // The build is there already (npm test builds first): pack it as it is.
      const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packed], {
        maxBuffer: 16 * 1024 * 1024,
      });
      const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
      app = tempDir('shiptrack-app-');
      writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'ops-tools', private: true, type: 'module' }));
      await run(
        'npm',
        [
          'install',
          path.join(packed, filename),
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--ignore-scripts',
          '--loglevel=error',
        ],
        { cwd: app, maxBuffer: 16 * 1024 * 1024 },
      );
      installed = path.join(app, 'node_modules', 'shiptrack');
      [testDb, redis] = await Promise.all([createTestDatabase('st_package'), startOwnRedis()]);
      env = { SHIPTRACK_DATABASE_URL: testDb.url, SHIPTRACK_REDIS_URL: `redis://127.0.0.1:${redis.port}` };
    }, 240_000);

    afterAll(async () => {
      await redis?.stop();
      await testDb?.drop();
    });

    it('ships what it needs: the built CLI and library, the migrations with their checksums, the examples, the licence', () => {
      const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
      expect(Object.keys(pkg.exports)).toContain('.');
      for (const file of [
        'LICENSE',
        'examples/track-and-scan.mjs',
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/migrations/checksums.json',
        'seeds/02_demo_world.ts',
        'dist/seeds/02_demo_world.js',
        'dist/seeds/reference/places.js',
        'dist/seeds/checksums.json',
      ]) {
        expect(() => readFileSync(path.join(installed, file)), file).not.toThrow();
      }
    });

    it('migrates, seeds and tracks with the installed CLI; examples/track-and-scan.mjs sees its own scan at once', async () => {
      const cli = path.join(installed, 'bin', 'shiptrack.js');
      const migrated = await runCli(['migrate', 'latest'], { script: cli, cwd: app, env });
      expect(migrated.code, migrated.stderr).toBe(0);
      const seeded = await runCli(['seed', '--as-of', '2026-11-01', '--json'], { script: cli, cwd: app, env });
      expect(seeded.code, seeded.stderr).toBe(0);
      const stale = await runCli(['report', 'stale', '--hours', '1', '--as-of', '2026-11-01', '--json'], {
        script: cli,
        cwd: app,
        env,
      });
      const inFlight = (
        JSON.parse(stale.stdout) as { tables: { name: string; rows: { tracking_number: string }[] }[] }
      ).tables.find((t) => t.name === 'packages')?.rows[0]?.tracking_number;
      if (inFlight === undefined) throw new Error('no package in flight in the seeded world');

      // The cache holds the package's answer before the example scans it.
      await runCli(['track', inFlight, '--json'], { script: cli, cwd: app, env });
      const cached = await runCli(['track', inFlight, '--json'], { script: cli, cwd: app, env });
      expect(parseTrackJson(cached.stdout).packages[0]?.source).toBe('cache');

      copyFileSync(path.join(installed, 'examples', 'track-and-scan.mjs'), path.join(app, 'track-and-scan.mjs'));
      const example = await runCli([inFlight], { script: path.join(app, 'track-and-scan.mjs'), cwd: app, env });
      expect(example.code, example.stderr).toBe(0);
      const printed = JSON.parse(example.stdout) as {
        recorded: { outcome: string };
        answer: ExampleAnswer;
      };
      expect(printed.recorded.outcome).toBe('accepted');
      expect(printed.answer.source).toBe('database');
      expect(printed.answer.package.currentStatus).toBe('exception');

      const after = await runCli(['track', inFlight, '--json'], { script: cli, cwd: app, env });
      expect(parseTrackJson(after.stdout).packages[0]?.status).toBe('exception');
    });

    it('runs the shipped seed files from the installed copy on a fresh embedded database, then check is clean', async () => {
      const cli = path.join(installed, 'bin', 'shiptrack.js');
      const cwd = tempDir('shiptrack-app-embedded-');
      expect((await runCli(['migrate', 'latest'], { script: cli, cwd })).code).toBe(0);
      const seeded = await runCli(['seed', 'run', '--json'], { script: cli, cwd });
      expect(seeded.code, seeded.stderr).toBe(0);
      const files = (JSON.parse(seeded.stdout) as { files: { name: string; result: string }[] }).files;
      expect(files.map((f) => [f.name, f.result])).toEqual([
        ['01_locations', 'applied'],
        ['02_demo_world', 'applied'],
      ]);
      expect((await runCli(['check'], { script: cli, cwd })).code).toBe(0);
      const customs = await runCli(['track', 'DM900005055US', '--json'], { script: cli, cwd });
      expect(parseTrackJson(customs.stdout).packages[0]?.status).toBe('exception');
    });

    it("keeps the team's own migrations in ./migrations of the project, run after shiptrack's own", async () => {
      const cli = path.join(installed, 'bin', 'shiptrack.js');
      const made = await runCli(['migrate', 'make', 'add note', '--json'], { script: cli, cwd: app, env });
      expect(made.code, made.stderr).toBe(0);
      const { file } = JSON.parse(made.stdout) as { file: string };
      expect(path.dirname(file)).toBe(path.join(app, 'migrations'));
      writeFileSync(
        file,
        `export async function up(knex) { await knex.raw('alter table packages add column note text'); }
export async function down(knex) { await knex.raw('alter table packages drop column note'); }
`,
      );
      const latest = await runCli(['migrate', 'latest', '--json'], { script: cli, cwd: app, env });
      expect(latest.code, latest.stderr).toBe(0);
      const applied = (JSON.parse(latest.stdout) as { migrations: { name: string }[] }).migrations.map((m) => m.name);
      expect(applied).toEqual([path.basename(file, '.mjs')]);
      const status = JSON.parse((await runCli(['migrate', 'status', '--json'], { script: cli, cwd: app, env })).stdout) as {
        migrations: { name: string; state: string }[];
      };
      expect(status.migrations.at(-1)).toEqual(expect.objectContaining({ name: path.basename(file, '.mjs'), state: 'applied' }));
    });
  },
);
