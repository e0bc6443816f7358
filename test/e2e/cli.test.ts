import { describe, expect, it } from 'vitest';
import { freePort, runCli } from '../support/cli.js';

describe('the CLI surface', () => {
  it.each([
    [[]],
    [['migrate']],
    [['migrate', 'latest']],
    [['migrate', 'status']],
    [['migrate', 'make']],
    [['doctor']],
    [['report']],
    [['report', 'lanes']],
    [['benchmark']],
  ])('%j --help teaches and exits 0', async (args) => {
    const result = await runCli([...args, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: shiptrack/);
    expect(result.stderr).toBe('');
  });

  it('stops quietly when the reader of its output goes away (| head)', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" bin/shiptrack.js report --help | head -1`], {
      encoding: 'utf8',
    });
    expect(run.stdout).toMatch(/^Usage: shiptrack report/);
    expect(run.stderr).not.toMatch(/EPIPE|Error/);
    expect(run.status).toBe(0);
  });

  it('--help lists the exit codes', async () => {
    const result = await runCli(['--help']);
    expect(result.stdout).toMatch(
      /Exit\s+codes:\s+0\s+ok,\s+1\s+internal\s+error,\s+2\s+bad\s+input,\s+3\s+not\s+found,\s+4\s+conflict\s+or\s+locked,\s+5\s+a\s+store\s+is\s+unavailable,\s+6\s+not\s+permitted,\s+130\s+interrupted\s+\(143\s+on\s+SIGTERM\)/,
    );
  });

  it('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown command is a usage error (exit 2) with a suggestion, no stack trace', async () => {
    const result = await runCli(['migrat']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: unknown command 'migrat'/);
    expect(result.stderr).toMatch(/Did you mean migrate\?/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('an invalid setting names the setting and exits 2, without a stack trace or the password', async () => {
    const result = await runCli(['doctor'], { env: { SHIPTRACK_DATABASE_URL: 'mysql://root:pa55word@db/x' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: SHIPTRACK_DATABASE_URL: expected a postgres:\/\/ URL, got a mysql:\/\/ URL/);
    expect(result.stderr).not.toContain('pa55word');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('errors are JSON on stdout in --json mode', async () => {
    const result = await runCli(['doctor', '--json'], { env: { SHIPTRACK_CONNECT_TIMEOUT: 'whenever' } });
    expect(result.code).toBe(2);
    const body = JSON.parse(result.stdout) as { error: { code: string; message: string; details: { setting: string } } };
    expect(body.error.code).toBe('invalid_config');
    expect(body.error.details.setting).toBe('SHIPTRACK_CONNECT_TIMEOUT');
  });

  it('a PostgreSQL server that is down: a message naming it (no credentials), exit 5, within a few seconds', async () => {
    const port = await freePort();
    const result = await runCli(['migrate', 'status'], {
      env: { SHIPTRACK_DATABASE_URL: `postgres://app:hunter2hunter2@127.0.0.1:${port}/shiptrack` },
    });
    expect(result.code).toBe(5);
    expect(result.ms).toBeLessThan(3000);
    expect(result.stderr.trim()).toBe(`error: PostgreSQL at 127.0.0.1:${port}/shiptrack is unreachable (connection refused)`);
  });

  it('a bad option value is a usage error', async () => {
    const result = await runCli(['migrate', 'up', '--count', 'many']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--count: expected a whole number from 1 to 1,000,000, got "many"/);
  });
});

describe('colour', () => {
  const home = { SHIPTRACK_HOME: '.shiptrack' };
  // eslint-disable-next-line no-control-regex
  const ansi = /\u001b\[/;

  it('is off when output is not a terminal', async () => {
    const result = await runCli(['migrate', 'status'], { env: home });
    expect(result.stdout).not.toMatch(ansi);
  });

  it('can be forced on, and NO_COLOR always wins', async () => {
    const forced = await runCli(['migrate', 'status'], { env: { ...home, FORCE_COLOR: '1' } });
    expect(forced.stdout).toMatch(ansi);
    const none = await runCli(['migrate', 'status'], { env: { ...home, FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(none.stdout).not.toMatch(ansi);
    const flag = await runCli(['migrate', 'status', '--no-color'], { env: { ...home, FORCE_COLOR: '1' } });
    expect(flag.stdout).not.toMatch(ansi);
  });
});
