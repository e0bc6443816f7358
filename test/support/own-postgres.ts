import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, tempDir } from './cli.js';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of the test's own (initdb, pg_ctl) on a free loopback port, which the test
 * may freeze (SIGSTOP on every process of the cluster), thaw, or stop: faults are injected here,
 * never on the shared server. PostgreSQL refuses to run as root, so it runs as `postgres`.
 */
export interface OwnPostgres {
  port: number;
  /** URL of the `postgres` database (trust authentication: any password is accepted). */
  url(database?: string, password?: string): string;
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

/** Where the PostgreSQL binaries are (`pg_config --bindir`), or undefined when there is no pg_config. */
export function binDir(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Why an own cluster cannot start here, or undefined when it can. */
export function ownPostgresUnavailable(): string | undefined {
  const bin = binDir();
  if (bin === undefined || !existsSync(path.join(bin, 'initdb'))) return 'initdb not found (pg_config --bindir)';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root and there is no postgres user to run PostgreSQL as';
    }
  }
  return undefined;
}

/** Every process of the cluster: the postmaster and its children (backends, workers). */
export function clusterPids(postmaster: number): number[] {
  const pids = [postmaster];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Sends `name` to every process of the cluster whose postmaster is `postmaster`, ignoring those gone. */
export function signalCluster(postmaster: number, name: NodeJS.Signals): void {
  for (const pid of clusterPids(postmaster)) {
    try {
      process.kill(pid, name);
    } catch {
      // exited
    }
  }
}

/** Runs a PostgreSQL program as `postgres` when this process is root (PostgreSQL refuses root), else as itself. */
export function runAsPostgres(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);
}

/** A tempDir (removed after the test file) that `postgres` owns, mode 0700, when this process is root. */
export function postgresTempDir(prefix = 'shiptrack-pg-'): string {
  const root = tempDir(prefix);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, uid, gid);
    chmodSync(root, 0o700);
  }
  return root;
}

/** The postmaster's process id, from the postmaster.pid of a running cluster. */
export function postmasterPid(data: string): number {
  return Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Starts a cluster of the test's own on a free loopback port; `settings` are more postgresql.conf lines. */
export async function startOwnPostgres(settings: readonly string[] = []): Promise<OwnPostgres> {
  const bin = binDir() ?? '';
  const root = postgresTempDir('shiptrack-pg-');
  const data = path.join(root, 'data');
  const as = runAsPostgres;
  await as(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  writeFileSync(
    path.join(data, 'postgresql.auto.conf'),
    [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${root}'`,
      'fsync = off',
      ...settings,
      '',
    ].join('\n'),
  );
  await as(path.join(bin, 'pg_ctl'), ['-D', data, '-w', '-t', '30', '-l', path.join(root, 'log'), 'start']);
  const postmaster = postmasterPid(data);
  const signal = (name: NodeJS.Signals): void => signalCluster(postmaster, name);
  return {
    port,
    url: (database = 'postgres', password) =>
      `postgres://postgres${password === undefined ? '' : `:${password}`}@127.0.0.1:${port}/${database}`,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    stop: async () => {
      signal('SIGCONT');
      await as(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    },
  };
}
