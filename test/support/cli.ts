import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'vitest';
import { tempDir } from './temp.js';

export { tempDir };

export const cliPath = path.resolve('bin/shiptrack.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Options for node itself, before the CLI's path (e.g. `--import` a loader hook). */
  nodeArgs?: readonly string[];
  /** Called once the process is running, e.g. to signal it. */
  onSpawn?: (child: ChildProcess) => void;
  /** The script node runs (default: this repository's built CLI). */
  script?: string;
}

/** The environment a user would have: none of this machine's shiptrack or database settings. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(SHIPTRACK_|DATABASE_URL$|REDIS_URL$|MONGO_URL$|FORCE_COLOR$|NO_COLOR$|CI$)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** The command succeeded (otherwise its output is the assertion's message) and printed none of `secrets`. */
export function expectSuccess(result: CliResult, ...secrets: string[]): CliResult {
  expect(result.code, `${result.stderr}${result.stdout}`).toBe(0);
  for (const secret of secrets) expect(result.stdout + result.stderr).not.toContain(secret);
  return result;
}

/** Calls `act` once, the first time the child's stderr (all of it so far) includes `text`. */
export function whenStderrSays(child: ChildProcess, text: string, act: () => void): void {
  let said = '';
  let done = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    said += chunk.toString();
    if (!done && said.includes(text)) {
      done = true;
      act();
    }
  });
}

/** Spawns the built CLI as a user would, and collects stdout, stderr, exit code and wall time. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script ?? cliPath, ...args], {
      cwd: options.cwd ?? tempDir('shiptrack-e2e-'),
      env: cleanEnv(options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
    options.onSpawn?.(child);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface OwnServer {
  port: number;
  child: ChildProcess;
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

async function own(child: ChildProcess, port: number): Promise<OwnServer> {
  await waitForPort(port);
  return {
    port,
    child,
    freeze: () => child.kill('SIGSTOP'),
    thaw: () => child.kill('SIGCONT'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A Redis server of the test's own, on a free port, which the test may freeze with SIGSTOP. */
export async function startOwnRedis(extraArgs: string[] = []): Promise<OwnServer> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: 'ignore' },
  );
  return own(child, port);
}

/**
 * A TCP listener that accepts connections and never answers, as a PostgreSQL server does when
 * its process is frozen: the kernel completes the handshake, nothing replies.
 */
export async function startFrozenListener(): Promise<OwnServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', `require('node:net').createServer(() => {}).listen(${port}, '127.0.0.1')`], {
    stdio: 'ignore',
  });
  const server = await own(child, port);
  server.freeze();
  return server;
}

/**
 * What a CLI run loads, from V8's coverage of it (NODE_V8_COVERAGE, written as the process
 * exits): the URL of every file Node loaded (bin/shiptrack.js, packages left out of the bundle),
 * and each module of the bundle (dist/cli/shiptrack.cjs) that ran, by the path esbuild names the
 * function holding it after (`node_modules/knex/lib/knex.js`, `dist/src/store/knex-driver.js`).
 * Modules the bundle imports statically run at start in any case and are not listed.
 */
export function recordLoads(): { env: Record<string, string>; read: () => string[] } {
  const dir = tempDir('shiptrack-coverage-');
  return {
    env: { NODE_V8_COVERAGE: dir },
    read: () =>
      readdirSync(dir)
        .filter((name) => name.endsWith('.json'))
        .flatMap((name) => (JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as V8Coverage).result)
        .flatMap((script) => [
          script.url,
          ...(script.url.endsWith('/dist/cli/shiptrack.cjs')
            ? script.functions
                .filter((f) => /^(node_modules|dist)\/.+\.[cm]?js(on)?$/.test(f.functionName) && (f.ranges[0]?.count ?? 0) > 0)
                .map((f) => f.functionName)
            : []),
        ]),
  };
}

interface V8Coverage {
  result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
}
