import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from 'pg';
import type { Config } from '../config.js';
import { databaseId, describeServer, type Database } from './database.js';

/**
 * Streaming replicas of the primary, for reads that tolerate a bounded lag (`track`, the
 * dashboard reports). A replica is used when it is a standby, reachable, no further behind than
 * SHIPTRACK_MAX_REPLICA_LAG and — when a read must see a write already confirmed — has replayed
 * the WAL up to that write's commit position (its LSN). Replicas are taken in turn; one that
 * fails is left alone for a few seconds. When none qualifies the primary serves.
 */

/** What a replica says of itself, in one query. */
export interface ReplicaState {
  /** pg_is_in_recovery(): false once promoted (then it is not a replica any more). */
  readonly standby: boolean;
  /** pg_last_wal_replay_lsn(), e.g. `0/3000148`. */
  readonly replayedLsn: string | null;
  /**
   * How far behind: 0 when it has replayed all the WAL it received; otherwise the time since the
   * last transaction it replayed committed on the primary.
   */
  readonly lagMs: number;
  /** Whether its WAL receiver runs (false: it has lost the primary, and falls behind it). */
  readonly receiving: boolean;
}

export const replicaStateSql = `select pg_is_in_recovery() as standby, pg_last_wal_replay_lsn()::text as replayed,
       case when pg_last_wal_receive_lsn() is null or pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() then 0
            else greatest(0, floor(extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)) end::float8 as lag_ms,
       exists (select 1 from pg_stat_wal_receiver where pid is not null) as receiving`;

interface StateRow {
  standby: boolean;
  replayed: string | null;
  lag_ms: number | null;
  receiving: boolean | null;
}

export function stateOf(row: StateRow | undefined): ReplicaState {
  return {
    standby: row?.standby === true,
    replayedLsn: row?.replayed ?? null,
    lagMs: Number(row?.lag_ms ?? 0),
    receiving: row?.receiving === true,
  };
}

/** An LSN (`16/B374D848`) as a number of bytes, to compare and subtract. */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn.trim());
  if (match === null) throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1] ?? '0'}`) << 32n) + BigInt(`0x${match[2] ?? '0'}`);
}

/** Whether `replayed` is at or past `needed` (a missing replay position is not). */
export function hasReplayed(replayed: string | null, needed: string): boolean {
  return replayed !== null && parseLsn(replayed) >= parseLsn(needed);
}

/** One replica as the router knows it. */
export interface ReplicaNode {
  readonly index: number;
  /** host:port/database, never the user or password. */
  readonly target: string;
  /** The configuration for this replica: the primary's, with this replica's URL. */
  readonly config: Config;
  state: ReplicaState | undefined;
  /** When `state` was read (ms since the epoch). */
  checkedAt: number;
  /** Not tried again before this time after it failed. */
  downUntil: number;
  /** Why it failed last, for notices and `doctor`. */
  failure: string | undefined;
}

/** What a read needs from a replica. */
export interface ReadNeed {
  /**
   * The commit position a read must see (a scan confirmed before it), or null when nothing
   * newer than the lag bound matters.
   */
  readonly minLsn: string | null;
  /** A write is known but not its position: only the primary is sure to have it. */
  readonly primaryOnly?: boolean;
}

/** Where a read goes: a replica and how to query it, or the primary. */
export type ReadChoice<C> = { readonly node: ReplicaNode; readonly connection: C } | undefined;

/** How a replica's connection is opened and asked for its state: a plain client or a pool. */
export interface ReplicaAccess<C> {
  open(node: ReplicaNode): Promise<C>;
  /** Its state, within `timeoutMs`: a frozen replica costs that much, once, then is left alone. */
  state(connection: C, timeoutMs: number): Promise<ReplicaState>;
  close(connection: C): Promise<void>;
}

export interface ReplicaRouterOptions {
  /** A state read this recently is trusted for the lag bound (the replay position only grows). */
  readonly stateTtlMs?: number;
  /** How long a read waits for a replica to replay a needed position before it goes to the primary. */
  readonly waitMs?: number;
  /** How long a replica that failed is left alone. */
  readonly retryMs?: number;
  /** Told once per replica that is skipped or fails, and when none could serve. */
  readonly notice?: (line: string) => void;
}

const pollMs = 5;

export interface ReplicaRouter<C> {
  readonly nodes: readonly ReplicaNode[];
  /** A replica for this read, or undefined: read the primary. */
  choose(need: ReadNeed): Promise<ReadChoice<C>>;
  /** A read on this replica failed: leave it alone for a while. */
  failed(node: ReplicaNode, error: unknown): void;
  /** Closes every connection opened. */
  close(): Promise<void>;
}

export function replicaNodes(config: Config): ReplicaNode[] {
  return config.replicaUrls.map((url, index) => ({
    index,
    target: describeServer(url),
    config: Object.freeze({ ...config, databaseUrl: url, replicaUrls: [] }),
    state: undefined,
    checkedAt: 0,
    downUntil: 0,
    failure: undefined,
  }));
}

/**
 * Chooses replicas in turn, skipping those that failed lately, are not standbys (promoted: the
 * configuration should now name it as the primary), lag beyond the bound, or have not replayed
 * the position the read needs within a short wait.
 */
export function createReplicaRouter<C>(
  config: Config,
  access: ReplicaAccess<C>,
  options: ReplicaRouterOptions = {},
): ReplicaRouter<C> {
  const nodes = replicaNodes(config);
  const stateTtlMs = options.stateTtlMs ?? 1000;
  const waitMs = options.waitMs ?? 250;
  const retryMs = options.retryMs ?? 5000;
  const connections = new Map<number, Promise<C>>();
  const told = new Set<string>();
  const tell = (key: string, line: string): void => {
    if (told.has(key)) return;
    told.add(key);
    options.notice?.(line);
  };
  let next = Math.floor(Math.random() * Math.max(1, nodes.length));
  let closed = false;

  const connectionOf = (node: ReplicaNode): Promise<C> => {
    if (closed) return Promise.reject(new Error('the replicas are closed'));
    let connection = connections.get(node.index);
    if (connection === undefined) {
      connection = access.open(node);
      connections.set(node.index, connection);
      opened.push(connection);
      // A connection that failed to open is opened afresh next time.
      connection.catch(() => connections.delete(node.index));
    }
    return connection;
  };

  const opened: Promise<C>[] = [];
  const failed = (node: ReplicaNode, error: unknown): void => {
    node.downUntil = Date.now() + retryMs;
    node.failure = error instanceof Error ? error.message : String(error);
    const connection = connections.get(node.index);
    connections.delete(node.index);
    // A connection that failed is not used again: closed, without waiting for a frozen server.
    void connection?.then((c) => access.close(c)).catch(() => undefined);
    tell(`down:${node.index}`, `replica ${node.target} failed (${node.failure}): reading elsewhere`);
  };

  const refresh = async (node: ReplicaNode, connection: C): Promise<ReplicaState> => {
    const state = await access.state(connection, config.connectTimeoutMs);
    node.state = state;
    node.checkedAt = Date.now();
    return state;
  };

  /** The replica's state if it can serve `need` (waiting briefly for a needed position), else undefined. */
  const qualify = async (node: ReplicaNode, connection: C, need: ReadNeed): Promise<boolean> => {
    let state =
      node.state !== undefined && Date.now() - node.checkedAt < stateTtlMs ? node.state : await refresh(node, connection);
    if (!state.standby) {
      tell(`promoted:${node.index}`, `${node.target} is not a standby (promoted?): not used as a replica`);
      return false;
    }
    if (state.lagMs > config.maxReplicaLagMs) {
      tell(`lag:${node.index}`, `replica ${node.target} is ${Math.round(state.lagMs)} ms behind (more than the bound): skipped`);
      return false;
    }
    if (!state.receiving) {
      tell(
        `receiving:${node.index}`,
        `replica ${node.target} is not receiving WAL from the primary: its answers may be behind it`,
      );
    }
    const needed = need.minLsn;
    if (needed === null) return true;
    if (hasReplayed(state.replayedLsn, needed)) return true;
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      state = await refresh(node, connection);
      if (hasReplayed(state.replayedLsn, needed)) return true;
    }
    return false;
  };

  return {
    nodes,
    failed,
    async close() {
      closed = true;
      const all = opened.splice(0);
      connections.clear();
      // A replica that froze never answers a goodbye: each close gets a second at most.
      const bounded = (work: Promise<unknown>): Promise<unknown> =>
        Promise.race([work, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      await Promise.all(all.map((c) => bounded(c.then((connection) => access.close(connection))).catch(() => undefined)));
    },
    async choose(need) {
      if (closed || nodes.length === 0 || need.primaryOnly === true) return undefined;
      for (let tried = 0; tried < nodes.length; tried += 1) {
        const node = nodes[(next + tried) % nodes.length] as ReplicaNode;
        if (Date.now() < node.downUntil) continue;
        try {
          const connection = await connectionOf(node);
          if (await qualify(node, connection, need)) {
            next = (node.index + 1) % nodes.length;
            return { node, connection };
          }
        } catch (error) {
          failed(node, error);
        }
      }
      return undefined;
    },
  };
}

/** A replica's state through a plain pg client. */
export async function clientState(client: Client, timeoutMs?: number): Promise<ReplicaState> {
  const query = timeoutMs === undefined ? { text: replicaStateSql } : { text: replicaStateSql, query_timeout: timeoutMs };
  return stateOf((await client.query<StateRow>(query)).rows[0]);
}

/** A replica's state through a knex pool. */
export async function databaseState(db: Database, timeoutMs?: number): Promise<ReplicaState> {
  const query = db.knex.raw<{ rows: StateRow[] }>(replicaStateSql);
  return stateOf((await (timeoutMs === undefined ? query : query.timeout(timeoutMs))).rows[0]);
}

/**
 * The last write this user made here (its commit position), kept in SHIPTRACK_HOME: without Redis,
 * or for `track --no-cache`, a read that follows the user's own scan from another process still
 * waits for a replica that has replayed it. Per database; forgotten after an hour, by then far
 * inside any lag bound.
 */
const rememberedForMs = 3_600_000;

function lastWriteFile(config: Config, databaseTarget: string): string {
  return path.join(config.home, `last-write-${databaseId(databaseTarget)}.lsn`);
}

/** Remembers a write's commit position (best effort: a home that cannot be written is skipped). */
export function rememberWrite(config: Config, databaseTarget: string, lsn: string): void {
  const file = lastWriteFile(config, databaseTarget);
  try {
    mkdirSync(config.home, { recursive: true });
    // Never backwards (another process may have written a later position), and never a half-written
    // file for a reader: a temporary file renamed over the old one.
    const known = rememberedWrite(config, databaseTarget).minLsn;
    if (known !== null && parseLsn(known) >= parseLsn(lsn)) return;
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${lsn}\n`);
    renameSync(temporary, file);
  } catch {
    // the guarantee then rests on Redis and the lag bound
  }
}

/** What a read must see of this user's own last write here, if it was made within the hour. */
export function rememberedWrite(config: Config, databaseTarget: string, now = Date.now()): ReadNeed {
  const file = lastWriteFile(config, databaseTarget);
  try {
    // A stat per read; the file is read again only when it changed (a long-lived process tracks
    // far more often than the user scans).
    // Each write renames a new file over the old one: a new inode.
    const { mtimeMs, ino } = statSync(file);
    if (now - mtimeMs > rememberedForMs) return { minLsn: null };
    const version = `${ino}:${mtimeMs}`;
    const known = remembered.get(file);
    if (known?.version === version) return { minLsn: known.lsn };
    const lsn = readFileSync(file, 'utf8').trim();
    parseLsn(lsn);
    remembered.set(file, { version, lsn });
    return { minLsn: lsn };
  } catch {
    return { minLsn: null };
  }
}

const remembered = new Map<string, { version: string; lsn: string }>();
