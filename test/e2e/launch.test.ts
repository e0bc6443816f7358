import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../support/cli.js';

/**
 * How the CLI starts (src/cli/launch.cts): its one-script bundle, compiled from V8's code cache
 * kept per user, per build of the bundle, per Node and per command.
 */

const bundle = readFileSync(path.resolve('dist/cli/shiptrack.cjs'), 'utf8');
const bundleId = /^\/\/ shiptrack-cli ([0-9a-f]{32})\n/.exec(bundle)?.[1] ?? '';
const cacheName = (command: string): string => `cli-${bundleId}-${process.version}-${process.arch}-${command}.v8`;
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('the CLI launcher', () => {
  it('writes a code cache for each command on its first runs, each adding to it, then only reads it', async () => {
    expect(bundleId, 'the bundle names its content on its first line (npm run build)').toMatch(/^[0-9a-f]{32}$/);
    const dir = path.join(tempDir('shiptrack-code-cache-'), 'cache');
    const env = { SHIPTRACK_CODE_CACHE: dir };
    const file = path.join(dir, cacheName('other'));
    // The file's first byte counts the runs that wrote it (src/cli/launch.cts, `generations`).
    const written: number[] = [];
    for (const generation of [1, 2, 3]) {
      const run = await runCli(['--version'], { env });
      expect(run).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
      expect(readdirSync(dir)).toEqual([cacheName('other')]);
      expect(readFileSync(file)[0]).toBe(generation);
      written.push(statSync(file).mtimeMs);
    }
    expect(new Set(written).size).toBe(3);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).size).toBeGreaterThan(10_000);

    // A cache V8 refused would be written again: the same file, untouched, was read and accepted.
    const fourth = await runCli(['--version'], { env });
    expect(fourth).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(statSync(file).mtimeMs).toBe(written[2]);
    expect(readFileSync(file)[0]).toBe(3);

    // Each command has its own, whatever comes before it.
    expect((await runCli(['--json', 'track', '--help'], { env })).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([cacheName('other'), cacheName('track')]);
  });

  it('compiles from the cache a command that imports packages left out of the bundle (the embedded database)', async () => {
    const env = { SHIPTRACK_CODE_CACHE: tempDir('shiptrack-code-cache-'), SHIPTRACK_HOME: tempDir('shiptrack-home-') };
    for (const run of ['writes the cache', 'reads it']) {
      const status = await runCli(['migrate', 'status', '--json'], { env });
      expect(status.code, `${run}: ${status.stderr}`).toBe(0);
      expect((JSON.parse(status.stdout) as { migrations: unknown[] }).migrations.length).toBeGreaterThan(0);
    }
    expect(readdirSync(env.SHIPTRACK_CODE_CACHE)).toEqual([cacheName('migrate')]);
    // Dynamic imports go through the launcher's own import() (scripts/bundle.mjs).
    expect(bundle).not.toMatch(/\bimport\(/);
  });

  it('replaces a cache V8 refuses, and runs all the same', async () => {
    const dir = tempDir('shiptrack-code-cache-');
    const file = path.join(dir, cacheName('other'));
    writeFileSync(file, Buffer.alloc(4096, 7));
    const result = await runCli(['--version'], { env: { SHIPTRACK_CODE_CACHE: dir } });
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(readFileSync(file)[0]).toBe(1);
    expect(statSync(file).size).toBeGreaterThan(10_000);
  });

  it('keeps its cache under XDG_CACHE_HOME by default, writes none when turned off, and works where it cannot write', async () => {
    const xdg = tempDir('shiptrack-xdg-');
    expect((await runCli(['--version'], { env: { XDG_CACHE_HOME: xdg } })).code).toBe(0);
    expect(readdirSync(path.join(xdg, 'shiptrack'))).toEqual([cacheName('other')]);

    const unused = tempDir('shiptrack-xdg-');
    for (const off of ['off', '0']) {
      const result = await runCli(['--version'], { env: { XDG_CACHE_HOME: unused, SHIPTRACK_CODE_CACHE: off } });
      expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
    expect(readdirSync(unused)).toEqual([]);

    // Code compiled for coverage or a profiler counts what it runs: no cache is made of it.
    const counted = tempDir('shiptrack-code-cache-');
    const coverage = await runCli(['--version'], {
      env: { NODE_V8_COVERAGE: tempDir('shiptrack-coverage-'), SHIPTRACK_CODE_CACHE: counted },
    });
    const profiled = await runCli(['--version'], {
      env: { SHIPTRACK_CODE_CACHE: counted },
      nodeArgs: ['--cpu-prof', '--cpu-prof-dir', tempDir('shiptrack-profile-')],
    });
    for (const result of [coverage, profiled]) expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(readdirSync(counted)).toEqual([]);

    // A file where the folder should be: no cache, no complaint.
    const blocked = path.join(tempDir('shiptrack-code-cache-'), 'not-a-folder');
    writeFileSync(blocked, 'x');
    const result = await runCli(['--version'], { env: { SHIPTRACK_CODE_CACHE: blocked } });
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('removes caches not written for 30 days when it writes one', async () => {
    const dir = tempDir('shiptrack-code-cache-');
    const old = path.join(dir, 'cli-0123456789abcdef0123456789abcdef-v20.0.0-x64-track.v8');
    const recent = path.join(dir, 'cli-0123456789abcdef0123456789abcdef-v20.0.0-x64-report.v8');
    const other = path.join(dir, 'notes.txt');
    for (const file of [old, recent, other]) writeFileSync(file, 'x');
    const monthAgo = new Date(Date.now() - 31 * 86_400_000);
    utimesSync(old, monthAgo, monthAgo);
    utimesSync(other, monthAgo, monthAgo);
    expect((await runCli(['--version'], { env: { SHIPTRACK_CODE_CACHE: dir } })).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([cacheName('other'), path.basename(recent), 'notes.txt'].sort());
  });

  it('gives each of the CLI’s commands a cache of its own', () => {
    // The compiled launcher (npm run build): requiring it runs nothing.
    const launcher = createRequire(import.meta.url)('../../dist/src/cli/launch.cjs') as { commands: readonly string[] };
    const commandFiles = readdirSync('src/cli/commands').map((name) => name.replace(/\.ts$/, ''));
    expect([...launcher.commands].sort()).toEqual(commandFiles.sort());
  });
});
