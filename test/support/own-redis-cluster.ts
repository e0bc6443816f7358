import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, tempDir, waitForPort } from './cli.js';

/**
 * A Redis 7 Cluster of the test's own: three masters with one replica each (six `redis-server`
 * processes), on free loopback ports, each in a temporary directory of its own, for tests of the
 * cache on Redis Cluster. A short node timeout (1 s) and a replica validity factor of 0 make a
 * failover take a few seconds. No persistence (`--save ''`, no AOF). Never the shared server.
 *
 * The fixture asks the nodes themselves (CLUSTER NODES, CLUSTER INFO) over short connections; a
 * frozen or stopped node is not asked, so masterFor a slot whose master is frozen throws.
 */
export interface ClusterNode {
  port: number;
  /** SIGSTOP on the node's process. */
  freeze(): void;
  thaw(): void;
  /** SIGKILL (thawed first); its directory and nodes-P.conf stay, so start() rejoins the cluster. Idempotent. */
  stop(): Promise<void>;
  /** start again after stop, same port and dir */
  start(): Promise<void>;
}

export interface OwnRedisCluster {
  /** all 6 nodes; masters first at creation time */
  nodes: ClusterNode[];
  /**
   * `redis://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` — the three masters' host:port pairs as a comma list after one redis://
   * (the format the product will accept: several host:port pairs separated by commas = a cluster). Fixed at creation: after a
   * failover it still names the killed master, as a user's configured seed list would.
   */
  url: string;
  /** the node that currently serves `key`'s slot as master (CLUSTER KEYSLOT + CLUSTER SHARDS/NODES) */
  masterFor(key: string): Promise<ClusterNode>;
  /**
   * kills the master serving `key` (SIGKILL), then waits (bounded, e.g. 20 s) until its replica has been promoted and CLUSTER
   * INFO says cluster_state:ok on the surviving nodes
   */
  failMasterFor(key: string): Promise<{ killed: ClusterNode; promoted: ClusterNode }>;
  /** stops all, idempotent */
  stop(): Promise<void>;
}

const slotCount = 16384;
/** Bound on waiting for the cluster to form, and for a failover to complete. */
const settleMs = 20_000;

function redisMajor(bin: string): number | string {
  let out: string;
  try {
    out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return `${bin} not found on PATH`;
  }
  const major = Number(/(?:v=|redis-cli )(\d+)\./.exec(out)?.[1]);
  return Number.isFinite(major) ? major : `cannot tell ${bin}'s version from '${out.trim()}'`;
}

/** Why a cluster of the test's own cannot start here, or undefined when it can. */
export function ownRedisClusterUnavailable(): string | undefined {
  for (const bin of ['redis-server', 'redis-cli']) {
    const major = redisMajor(bin);
    if (typeof major === 'string') return major;
    // --cluster-port (a bus port of our choosing), CLUSTER SHARDS and sharded pub/sub are Redis 7.
    if (major < 7) return `${bin} is version ${major}; a Redis 7 Cluster needs 7 or newer`;
  }
  return undefined;
}

// Servers still running when the process exits (a failed hook, a crash): killed.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const server of running) {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
    }
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 50 ms until it is true; throws `message()` after timeoutMs. */
/**
 * Until `check` finds nothing wrong (returns undefined); what it found last, or the error it threw,
 * goes into `explain`'s message when the time is up.
 */
async function untilSettled(
  check: () => Promise<string | undefined>,
  timeoutMs: number,
  explain: (problem: string) => string,
): Promise<void> {
  let problem = 'not checked yet';
  await until(
    async () => {
      const found = await check().catch((error: unknown) => String(error));
      if (found === undefined) return true;
      problem = found;
      return false;
    },
    timeoutMs,
    () => explain(problem),
  );
}

async function until(probe: () => Promise<boolean>, timeoutMs: number, message: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() >= deadline) throw new Error(message());
    await sleep(50);
  }
}

/**
 * One command on one node over a short-lived connection, bounded by timeoutMs: a frozen or
 * stopped node fails instead of hanging.
 */
async function ask(port: number, args: [string, ...string[]], timeoutMs = 2000): Promise<unknown> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(...args);
  } finally {
    redis.disconnect();
  }
}

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string;
  port: number;
  flags: Set<string>;
  /** The master's id, for a replica. */
  masterId: string | undefined;
  /** Inclusive ranges; slots being imported or migrated (`[…]`) are left out. */
  slots: Array<[number, number]>;
}

function parseNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.trim().split(' ');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        flags: new Set(flags.split(',')),
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range): [number, number] => {
            const [from, to = from] = range.split('-').map(Number);
            return [from!, to!];
          }),
      };
    });
}

const owns = (line: NodeLine, slot: number): boolean => line.slots.some(([from, to]) => from <= slot && slot <= to);
const failing = (line: NodeLine): boolean => line.flags.has('fail') || line.flags.has('fail?');

/** A node with what the fixture needs to know beside its public face. */
interface Member {
  node: ClusterNode;
  /** Its cluster node id (stable over restarts: nodes-P.conf keeps it). */
  id: string;
  dir: string;
  /** Started and not stopped since. */
  up(): boolean;
  frozen: boolean;
}

function logTail(dir: string, lines = 15): string {
  const file = path.join(dir, 'redis.log');
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * One cluster-enabled redis-server on `port` (its cluster bus on `busPort`), resolved once it
 * listens; rejects if the process exits first (a port taken meanwhile, a bad option).
 */
async function launch(port: number, busPort: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', path.join(dir, 'redis.log')],
      ...['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', `nodes-${port}.conf`],
      ...['--cluster-node-timeout', '1000', '--cluster-replica-validity-factor', '0', '--cluster-allow-reads-when-down', 'no'],
      // No persistence; a replica's (re)sync starts at once instead of after the default 5 s diskless delay.
      ...['--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'],
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  track(child);
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(`exited (${signal ?? `code ${code}`})`));
  });
  const listening = waitForPort(port, 10_000).then(() => undefined);
  const failure = await Promise.race([listening, exited]);
  if (failure !== undefined || child.exitCode !== null || child.signalCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`redis-server on port ${port} ${failure ?? 'exited'} before it listened:\n${logTail(dir)}`);
  }
  return child;
}

function member(port: number, busPort: number, dir: string, child: ChildProcess, id: string): Member {
  let current: ChildProcess | undefined = child;
  const self: Member = {
    id,
    dir,
    frozen: false,
    up: () => current !== undefined,
    node: {
      port,
      freeze: () => {
        current?.kill('SIGSTOP');
        self.frozen = current !== undefined;
      },
      thaw: () => {
        current?.kill('SIGCONT');
        self.frozen = false;
      },
      stop: async () => {
        const proc = current;
        if (proc === undefined) return;
        current = undefined;
        self.frozen = false;
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGCONT');
        proc.kill('SIGKILL');
        await exited;
      },
      start: async () => {
        if (current !== undefined) return;
        current = await launch(port, busPort, dir);
      },
    },
  };
  return self;
}

export async function startOwnRedisCluster(): Promise<OwnRedisCluster> {
  const members: Member[] = [];
  const taken = new Set<number>();
  const pickPort = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.node.stop()));
  };

  /** Those that can answer: started, not stopped, not frozen. */
  const live = (): Member[] => members.filter((m) => m.up() && !m.frozen);
  const byPort = (port: number): Member | undefined => members.find((m) => m.node.port === port);
  const view = async (m: Member): Promise<NodeLine[]> => parseNodes(String(await ask(m.node.port, ['CLUSTER', 'NODES'])));
  const state = async (m: Member): Promise<string> =>
    /cluster_state:(\w+)/.exec(String(await ask(m.node.port, ['CLUSTER', 'INFO'])))?.[1] ?? 'unknown';
  const keyslot = async (key: string): Promise<number> => {
    let last: unknown;
    for (const m of live()) {
      try {
        return Number(await ask(m.node.port, ['CLUSTER', 'KEYSLOT', key]));
      } catch (error) {
        last = error;
      }
    }
    throw new Error(`no node of the cluster answered CLUSTER KEYSLOT: ${String(last)}`);
  };
  /** The live nodes that, in their own view, are a master serving `slot`. */
  const claimants = async (slot: number): Promise<Member[]> => {
    const found: Member[] = [];
    for (const m of live()) {
      const me = (await view(m).catch((): NodeLine[] => [])).find((line) => line.flags.has('myself'));
      if (me?.flags.has('master') === true && owns(me, slot)) found.push(m);
    }
    return found;
  };
  const owner = async (slot: number, timeoutMs = 5000): Promise<Member> => {
    let seen: Member[] = [];
    // During a failover none or (until the old master hears of it) two may claim the slot: wait for one.
    await until(
      async () => (seen = await claimants(slot)).length === 1,
      timeoutMs,
      () =>
        `slot ${slot}: ${seen.length === 0 ? 'no live node serves it' : `several nodes claim it (ports ${seen.map((m) => m.node.port).join(', ')})`}`,
    );
    return seen[0]!;
  };

  try {
    for (let i = 0; i < 6; i += 1) {
      const dir = tempDir(`shiptrack-redis-cluster-${i}-`);
      // A port and its bus port can still be taken between freePort() and redis-server's bind: try afresh.
      for (let attempt = 1; ; attempt += 1) {
        const port = await pickPort();
        const busPort = await pickPort();
        let child: ChildProcess;
        try {
          child = await launch(port, busPort, dir);
        } catch (error) {
          if (attempt === 3) throw error;
          continue;
        }
        const m = member(port, busPort, dir, child, '');
        members.push(m);
        m.id = String(await ask(port, ['CLUSTER', 'MYID']));
        break;
      }
    }

    const created = await new Promise<string>((resolve, reject) => {
      execFile(
        'redis-cli',
        [
          ...['--cluster', 'create', ...members.map((m) => `127.0.0.1:${m.node.port}`)],
          ...['--cluster-replicas', '1', '--cluster-yes'],
        ],
        { timeout: settleMs, env: { ...process.env, NO_COLOR: '1' } },
        (error, stdout, stderr) => {
          if (error === null) resolve(stdout);
          else reject(new Error(`redis-cli --cluster create failed: ${error.message}\n${stdout}\n${stderr}`));
        },
      );
    });

    // Formed: every node says ok, knows all six, and sees three masters serving all slots and
    // three replicas, each connected to its master and synchronised (ROLE says so).
    let lines: NodeLine[] = [];
    await untilSettled(
      async () => {
        for (const m of members) {
          const info = String(await ask(m.node.port, ['CLUSTER', 'INFO']));
          if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:6\b/.test(info)) {
            return `port ${m.node.port} says ${/cluster_state:\w+/.exec(info)?.[0]}, ${/cluster_known_nodes:\d+/.exec(info)?.[0]}`;
          }
          lines = await view(m);
          const masters = lines.filter((line) => line.flags.has('master') && !failing(line));
          const served = masters.reduce((sum, line) => sum + line.slots.reduce((n, [from, to]) => n + to - from + 1, 0), 0);
          const replicas = lines.filter((line) => line.flags.has('slave') && !failing(line) && line.masterId !== undefined);
          if (masters.length !== 3 || served !== slotCount || replicas.length !== 3) {
            return `port ${m.node.port} sees ${masters.length} masters serving ${served} slots and ${replicas.length} replicas`;
          }
        }
        for (const line of lines.filter((l) => l.flags.has('slave'))) {
          const role = (await ask(line.port, ['ROLE'])) as unknown[];
          if (role[0] !== 'slave' || role[3] !== 'connected') {
            return `replica on port ${line.port} is ${String(role[0])}, link ${String(role[3])}`;
          }
        }
        return undefined;
      },
      settleMs,
      (problem) => `the cluster did not form within ${settleMs} ms: ${problem}\nredis-cli said:\n${created}`,
    );

    // Masters first, by their first slot; then each master's replica, in the same order.
    const masterLines = lines
      .filter((line) => line.flags.has('master'))
      .sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0));
    const ordered = [
      ...masterLines.map((line) => byPort(line.port)!),
      ...masterLines.map((master) => byPort(lines.find((line) => line.masterId === master.id)!.port)!),
    ];
    members.splice(0, members.length, ...ordered);

    const masterFor = async (key: string): Promise<ClusterNode> => (await owner(await keyslot(key))).node;

    const failMasterFor = async (key: string): Promise<{ killed: ClusterNode; promoted: ClusterNode }> => {
      const slot = await keyslot(key);
      const master = await owner(slot);
      const replicaIds = new Set(
        (await view(master)).filter((line) => line.masterId === master.id && !failing(line)).map((line) => line.id),
      );
      const replicas = members.filter((m) => replicaIds.has(m.id) && m.up());
      if (replicas.length === 0)
        throw new Error(`the master on port ${master.node.port} (slot ${slot}) has no replica to promote`);
      await master.node.stop();

      let promoted: Member | undefined;
      await untilSettled(
        async () => {
          const claiming = (await claimants(slot)).filter((m) => replicas.includes(m));
          promoted = claiming[0];
          if (promoted === undefined) {
            return `no replica of port ${master.node.port} serves slot ${slot} yet`;
          }
          // Every survivor is ok and names the promoted node as the slot's master.
          for (const m of live()) {
            const said = await state(m);
            const holder = (await view(m)).find((line) => line.flags.has('master') && owns(line, slot));
            if (said !== 'ok' || holder?.id !== promoted.id) {
              return `port ${m.node.port} says cluster_state:${said}, slot ${slot} on port ${holder?.port ?? 'none'}`;
            }
          }
          return undefined;
        },
        settleMs,
        (problem) => `no failover of port ${master.node.port} within ${settleMs} ms: ${problem}\n${logTail(replicas[0]!.dir)}`,
      );
      return { killed: master.node, promoted: promoted!.node };
    };

    return {
      nodes: members.map((m) => m.node),
      url: `redis://${members
        .slice(0, 3)
        .map((m) => `127.0.0.1:${m.node.port}`)
        .join(',')}`,
      masterFor,
      failMasterFor,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
