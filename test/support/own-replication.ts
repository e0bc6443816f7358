import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './cli.js';
import { binDir, ownPostgresUnavailable, postgresTempDir, postmasterPid, runAsPostgres, signalCluster } from './own-postgres.js';

/**
 * A PostgreSQL primary of the test's own and N streaming standbys of it (pg_basebackup), each on
 * a free loopback port, for tests of read-replica routing: replay can be paused, waited for, and
 * a standby promoted; any node frozen, thawed or stopped. Trust authentication: any password is
 * accepted. Never the shared server.
 */
export interface OwnNode {
  port: number;
  /** URL of `database` (default `postgres`) as the superuser `postgres`. */
  url(database?: string, password?: string): string;
  /** SIGSTOP on every process of the node (postmaster, backends, WAL sender or receiver). */
  freeze(): void;
  thaw(): void;
  /** Immediate shutdown; the data directory stays (OwnReplication.stop removes it). Idempotent. */
  stop(): Promise<void>;
  /** Starts the node again after stop(), on the same port and data directory. */
  start(): Promise<void>;
  dataDir: string;
}

export interface OwnReplication {
  primary: OwnNode;
  standbys: OwnNode[];
  /** pg_wal_replay_pause() on standby i (default 0); once it resolves, no further WAL is replayed there. */
  pauseReplay(i?: number): Promise<void>;
  /** pg_wal_replay_resume() on standby i (default 0). */
  resumeReplay(i?: number): Promise<void>;
  /** Waits until standby i (default 0) has replayed the primary's current WAL position; throws after timeoutMs (default 10 s). */
  waitForReplay(i?: number, timeoutMs?: number): Promise<void>;
  /** pg_promote() on standby i (default 0), and waits until it accepts writes. */
  promote(i?: number): Promise<void>;
  /** Stops every node (immediate shutdown, thawed first) and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

/** Why a primary and standbys cannot start here, or undefined when they can. */
export function ownReplicationUnavailable(): string | undefined {
  const reason = ownPostgresUnavailable();
  if (reason !== undefined) return reason;
  if (!existsSync(path.join(binDir() ?? '', 'pg_basebackup'))) return 'pg_basebackup not found (pg_config --bindir)';
  return undefined;
}

// Postmasters still running when the process exits (a failed hook, a crash): shut down immediately.
const running = new Set<number>();
let exitHookInstalled = false;
function track(postmaster: number): void {
  running.add(postmaster);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of running) {
      signalCluster(pid, 'SIGCONT');
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // gone
      }
    }
  });
}

const settingKeys = ['port', 'listen_addresses', 'unix_socket_directories'];

/**
 * Sets this node's own port, address and socket directory in postgresql.auto.conf, plus `extra`,
 * keeping whatever else is there (a standby's primary_conninfo and primary_slot_name, which
 * pg_basebackup -R appended to the primary's copied settings).
 */
function configure(data: string, root: string, port: number, extra: string[]): void {
  const file = path.join(data, 'postgresql.auto.conf');
  const own = [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${root}'`, ...extra];
  const ownKeys = new Set([...settingKeys, ...extra.map((line) => line.split('=')[0]!.trim())]);
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !ownKeys.has(line.split('=')[0]!.trim()));
  // Written in place: the file keeps its owner (postgres) and mode.
  writeFileSync(file, [...kept, ...own, ''].join('\n'));
}

async function startNode(root: string, data: string, extra: string[] = []): Promise<OwnNode> {
  const bin = binDir() ?? '';
  const port = await freePort();
  configure(data, root, port, extra);
  let postmaster: number | undefined;
  const start = async (): Promise<void> => {
    if (postmaster !== undefined) return;
    await runAsPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-w', '-t', '30', '-l', path.join(root, 'log'), 'start']);
    postmaster = postmasterPid(data);
    track(postmaster);
  };
  const signal = (name: NodeJS.Signals): void => {
    if (postmaster !== undefined) signalCluster(postmaster, name);
  };
  await start();
  return {
    port,
    dataDir: data,
    url: (database = 'postgres', password) =>
      `postgres://postgres${password === undefined ? '' : `:${password}`}@127.0.0.1:${port}/${database}`,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    start,
    stop: async () => {
      if (postmaster === undefined) return;
      signal('SIGCONT');
      await runAsPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      running.delete(postmaster);
      postmaster = undefined;
    },
  };
}

/**
 * One short-lived connection, bounded by timeoutMs: a frozen or stopped node fails instead of
 * hanging. The goodbye is not awaited, as a frozen server never acknowledges it.
 */
async function query<Row extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
  timeoutMs = 10_000,
): Promise<Row[]> {
  const bound = Math.max(1, Math.round(timeoutMs));
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: bound, query_timeout: bound });
  try {
    await client.connect();
    return (await client.query<Row>(sql, params)).rows;
  } finally {
    void client.end().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 20 ms until it is true; throws `message()` after timeoutMs. */
async function until(probe: () => Promise<boolean>, timeoutMs: number, message: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() >= deadline) throw new Error(await message());
    await sleep(20);
  }
}

export async function startOwnReplication(options: { standbys?: number } = {}): Promise<OwnReplication> {
  const bin = binDir() ?? '';
  const count = options.standbys ?? 1;
  const roots: string[] = [];
  const nodes: OwnNode[] = [];
  const stop = async (): Promise<void> => {
    // Standbys first, so that none is left retrying a primary that is gone.
    for (const node of [...nodes].reverse()) await node.stop();
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  };
  try {
    const primaryRoot = postgresTempDir('shiptrack-pg-primary-');
    roots.push(primaryRoot);
    const primaryData = path.join(primaryRoot, 'data');
    await runAsPostgres(path.join(bin, 'initdb'), [
      '-D',
      primaryData,
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    // initdb --auth=trust writes this line already; make sure of it, pg_basebackup and the standbys need it.
    const hba = path.join(primaryData, 'pg_hba.conf');
    if (!/^host\s+replication\s+all\s+127\.0\.0\.1\/32\s+trust\s*$/m.test(readFileSync(hba, 'utf8'))) {
      writeFileSync(hba, `${readFileSync(hba, 'utf8')}\nhost replication all 127.0.0.1/32 trust\n`);
    }
    // hot_standby is copied to the standbys with the rest of postgresql.auto.conf; hot_standby_feedback stays off.
    const primary = await startNode(primaryRoot, primaryData, [
      'wal_level = replica',
      'max_wal_senders = 10',
      'hot_standby = on',
      'fsync = off',
    ]);
    nodes.push(primary);

    const standbys: OwnNode[] = [];
    for (let i = 0; i < count; i += 1) {
      const root = postgresTempDir(`shiptrack-pg-standby${i}-`);
      roots.push(root);
      const data = path.join(root, 'data');
      // -R: standby.signal, primary_conninfo and (with -C -S) primary_slot_name; the slot keeps the
      // WAL a frozen or stopped standby has not received yet.
      await runAsPostgres(path.join(bin, 'pg_basebackup'), [
        ...['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', data],
        ...['-R', '-X', 'stream', '-C', '-S', `standby_${i}`, '--no-sync', '-c', 'fast'],
      ]);
      const standby = await startNode(root, data);
      nodes.push(standby);
      standbys.push(standby);
    }

    const standby = (i: number): OwnNode => {
      const node = standbys[i];
      if (node === undefined) throw new Error(`no standby ${i} (there are ${standbys.length})`);
      return node;
    };
    const pauseState = async (node: OwnNode): Promise<string> =>
      (await query<{ state: string }>(node.url(), 'select pg_get_wal_replay_pause_state() as state'))[0]!.state;

    return {
      primary,
      standbys,
      pauseReplay: async (i = 0) => {
        const node = standby(i);
        await query(node.url(), 'select pg_wal_replay_pause()');
        // The startup process checks the request before replaying each record: from here on
        // nothing more is replayed, whether it already says 'paused' or still 'pause requested'.
        await until(
          async () => (await pauseState(node)) !== 'not paused',
          5000,
          async () => `standby ${i}: replay is still '${await pauseState(node)}' after pg_wal_replay_pause()`,
        );
      },
      resumeReplay: async (i = 0) => {
        await query(standby(i).url(), 'select pg_wal_replay_resume()');
      },
      waitForReplay: async (i = 0, timeoutMs = 10_000) => {
        const node = standby(i);
        const deadline = Date.now() + timeoutMs;
        // Each look gets what is left and a grace, so that the last one can still answer: the wait
        // ends within timeoutMs and that grace, and says what it saw last.
        const budget = (): number => Math.max(0, deadline - Date.now()) + 500;
        let lsn: string;
        try {
          lsn = (await query<{ lsn: string }>(primary.url(), 'select pg_current_wal_lsn()::text as lsn', [], budget()))[0]!.lsn;
        } catch (error) {
          throw new Error(`waitForReplay(${i}): the primary did not say its WAL position: ${String(error)}`);
        }
        let seen: string;
        for (;;) {
          try {
            const row = (
              await query<{ done: boolean; at: string | null; paused: string }>(
                node.url(),
                `select coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as done,
                        pg_last_wal_replay_lsn()::text as at, pg_get_wal_replay_pause_state() as paused`,
                [lsn],
                budget(),
              )
            )[0]!;
            if (row.done) return;
            seen = `replayed ${row.at ?? 'nothing'}, replay ${row.paused}`;
          } catch (error) {
            seen = error instanceof Error ? error.message : String(error);
          }
          if (Date.now() >= deadline) break;
          await sleep(Math.min(20, deadline - Date.now()));
        }
        throw new Error(`standby ${i} did not replay the primary's ${lsn} within ${timeoutMs} ms (${seen})`);
      },
      promote: async (i = 0) => {
        const node = standby(i);
        const { promoted } = (
          await query<{ promoted: boolean }>(node.url(), 'select pg_promote(true, 30) as promoted', [], 35_000)
        )[0]!;
        if (!promoted) throw new Error(`standby ${i} was not promoted within 30 s`);
        await until(
          async () =>
            (
              await query<{ writable: boolean }>(
                node.url(),
                `select not pg_is_in_recovery() and current_setting('transaction_read_only') = 'off' as writable`,
              )
            )[0]!.writable,
          10_000,
          () => Promise.resolve(`standby ${i} was promoted and still does not accept writes after 10 s`),
        );
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
