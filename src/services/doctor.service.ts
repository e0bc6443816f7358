import type { Cluster } from 'ioredis';
import type { Config } from '../config.js';
import { median } from '../domain/statistics.js';
import { formatBytes } from '../domain/units.js';
import { ShiptrackError, UnavailableError, mapPostgresError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { openPgClient } from '../store/pg-client.js';
import { clientState, parseLsn, replicaNodes, type ReplicaNode } from '../store/replicas.js';
import type { CitusInfo } from '../store/citus.js';
import type { Resources } from '../store/resources.js';
import { defaultMigratorOptions, migrationStatusFrom, type MigratorOptions } from './migrations.service.js';

export type StoreMode = 'server' | 'embedded' | 'off' | 'postgres' | 'replica' | 'cluster' | 'master';

export interface ReplicaCheck {
  /** Still a standby (false: promoted, so not a replica of this primary any more). */
  standby: boolean;
  replayedLsn: string | null;
  /** WAL bytes the primary has written that the replica has not replayed; null without the primary. */
  lagBytes: number | null;
  /** 0 when it has replayed all it received; else since its last replayed commit. */
  lagMs: number;
  /** Its WAL receiver runs (false: it lost the primary). */
  receiving: boolean;
  /** Within SHIPTRACK_MAX_REPLICA_LAG and a standby: reads go to it. */
  serving: boolean;
}

export interface StoreCheck {
  store: 'PostgreSQL' | 'PostgreSQL replica' | 'Redis' | 'Redis node' | 'MongoDB';
  /** What serves this role: a server, the embedded database, PostgreSQL tables, or nothing. */
  mode: StoreMode;
  configured: boolean;
  target: string;
  reachable: boolean | null;
  version: string | null;
  /** Median round trip of three pings, in milliseconds. */
  latencyMs: number | null;
  /** Migration state for PostgreSQL; what the mode means for the others. */
  detail: string;
  error: { code: string; message: string } | null;
  /** For a replica: where it stands against the primary. */
  replica?: ReplicaCheck;
  /** For a Citus coordinator: its workers and shards. */
  citus?: CitusInfo;
}

export interface DoctorReport {
  checks: StoreCheck[];
  healthy: boolean;
}

async function timeRoundTrips(ping: () => Promise<unknown>, count = 3): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    await ping();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

/** Rejects when `work` takes longer than `ms`, so no check can hang the report. */
async function withDeadline<T>(work: Promise<T>, ms: number, store: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(store, `${store} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function errorOf(error: unknown): { code: string; message: string } {
  const mapped = mapPostgresError(error);
  if (mapped instanceof ShiptrackError) return { code: mapped.code, message: mapped.message };
  return { code: 'error', message: error instanceof Error ? error.message : String(error) };
}

async function checkPostgres(
  resources: Resources,
  migrator: Pick<MigratorOptions, 'directory' | 'compiledDirectory'>,
): Promise<StoreCheck> {
  const config = resources.config;
  const embedded = config.databaseUrl === undefined;
  const check: StoreCheck = {
    store: 'PostgreSQL',
    mode: embedded ? 'embedded' : 'server',
    configured: !embedded,
    target: embedded ? `${config.home} (PGlite)` : redactUrl(config.databaseUrl ?? ''),
    reachable: null,
    version: null,
    latencyMs: null,
    detail: '',
    error: null,
  };
  try {
    // Plain statements: in the CLI, one connection without knex (a Citus coordinator apart).
    const read = await resources.readRows();
    const [version] = await read<{ version: string }>(`select current_setting('server_version') as version`);
    check.version = version?.version ?? null;
    check.latencyMs = await timeRoundTrips(() => read('select 1'));
    check.reachable = true;
    const status = await migrationStatusFrom(read, { ...migrator });
    const applied = status.migrations.filter((m) => m.state === 'applied').length;
    check.detail =
      status.problems > 0
        ? `${status.problems} migration(s) changed or missing`
        : status.pending > 0
          ? `${status.pending} migration(s) pending`
          : `schema up to date (${applied} migrations)`;
    if (status.invalidIndexes.length > 0) check.detail += `; ${status.invalidIndexes.length} invalid index(es)`;
    const { readCitusVersion, readCitusInfo, describeCitus } = await import('../store/citus.js');
    const citusVersion = embedded ? null : await readCitusVersion(read);
    if (citusVersion !== null) {
      // A Citus coordinator: its version, workers (each reached through it) and shards.
      // What Citus says of its workers is extra: a worker that does not answer, or a role that
      // may not ask, is reported as such, not as the coordinator being down.
      const citus = await resources
        .database()
        .then((db) => readCitusInfo(db.knex, citusVersion))
        .catch((error: unknown) => {
          check.detail += `; Citus: could not read the cluster (${errorOf(error).message})`;
          return null;
        });
      if (citus !== null) {
        check.citus = citus;
        check.detail += `; ${describeCitus(citus)}`;
        const down = citus.workers.filter((w) => !w.reachable);
        if (down.length > 0) {
          check.error = {
            code: 'citus_worker_unreachable',
            message: `Citus workers unreachable: ${down.map((w) => w.node).join(', ')}`,
          };
        }
      }
    }
  } catch (error) {
    check.reachable = false;
    check.error = errorOf(error);
  }
  return check;
}

/** The primary's current WAL position, for how far each replica is behind; null when it cannot say. */
async function primaryPosition(resources: Resources): Promise<string | null> {
  if (resources.config.databaseUrl === undefined || resources.config.replicaUrls.length === 0) return null;
  try {
    const read = await resources.readRows();
    const rows = await read<{ lsn: string | null }>(
      'select case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn',
    );
    return rows[0]?.lsn ?? null;
  } catch {
    return null;
  }
}

/** Each configured replica, on a connection of its own: reachable, a standby, how far behind. */
async function checkReplica(node: ReplicaNode, primaryLsn: Promise<string | null>): Promise<StoreCheck> {
  const check: StoreCheck = {
    store: 'PostgreSQL replica',
    mode: 'replica',
    configured: true,
    target: redactUrl(node.config.databaseUrl ?? ''),
    reachable: null,
    version: null,
    latencyMs: null,
    detail: '',
    error: null,
  };
  let client: Awaited<ReturnType<typeof openPgClient>> | undefined;
  try {
    client = await openPgClient(node.config, 'shiptrack doctor');
    const connected = client;
    const version = await connected.query<{ version: string }>(`select current_setting('server_version') as version`);
    check.version = version.rows[0]?.version ?? null;
    check.latencyMs = await timeRoundTrips(() => connected.query('select 1'));
    const state = await clientState(connected);
    check.reachable = true;
    // A frozen primary must not make a healthy replica look unreachable: its position is waited
    // for a moment only, and the bytes behind are then unknown.
    const primary = await Promise.race([
      primaryLsn,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000).unref()),
    ]);
    const lagBytes =
      primary === null || state.replayedLsn === null
        ? null
        : Math.max(0, Number(parseLsn(primary) - parseLsn(state.replayedLsn)));
    const serving = state.standby && state.lagMs <= node.config.maxReplicaLagMs;
    check.replica = {
      standby: state.standby,
      replayedLsn: state.replayedLsn,
      lagBytes,
      lagMs: state.lagMs,
      receiving: state.receiving,
      serving,
    };
    check.detail = !state.standby
      ? 'not a standby (promoted?): not used for reads; point SHIPTRACK_DATABASE_URL at it if it is the new primary'
      : [
          `replayed ${state.replayedLsn ?? '—'}`,
          `${lagBytes === null ? '? B' : formatBytes(lagBytes)} and ${Math.round(state.lagMs)} ms behind`,
          state.receiving ? null : 'not receiving WAL from the primary',
          serving ? 'serving reads' : `skipped: more than ${node.config.maxReplicaLagMs} ms behind`,
        ]
          .filter((part) => part !== null)
          .join('; ');
  } catch (error) {
    check.reachable = false;
    check.error = errorOf(error);
  } finally {
    await client?.end().catch(() => undefined);
  }
  return check;
}

async function checkRedis(resources: Resources): Promise<StoreCheck[]> {
  const config = resources.config;
  const check: StoreCheck = {
    store: 'Redis',
    mode: config.redisUrl === undefined ? 'off' : 'server',
    configured: config.redisUrl !== undefined,
    target: config.redisUrl === undefined ? '—' : redactUrl(config.redisUrl),
    reachable: null,
    version: null,
    latencyMs: null,
    detail: config.redisUrl === undefined ? 'cache and live channel off (set SHIPTRACK_REDIS_URL)' : 'cache and live channel',
    error: null,
  };
  if (config.redisUrl === undefined) return [check];
  try {
    const redis = await resources.redis();
    if (redis === undefined) return [check];
    const { isCluster } = await import('../store/redis.js');
    if (isCluster(redis)) return await checkRedisCluster(redis, check);
    const info = await redis.info('server');
    check.version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? null;
    check.latencyMs = await timeRoundTrips(() => redis.ping());
    check.reachable = true;
  } catch (error) {
    check.reachable = false;
    check.error = errorOf(error);
  }
  return [check];
}

const field = (text: string, name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(text)?.[1];

/**
 * A Redis Cluster: the cluster's own state and slot coverage (CLUSTER INFO), then one row per
 * node it reports (CLUSTER NODES): role, address, and whether it is failing.
 */
async function checkRedisCluster(redis: Cluster, check: StoreCheck): Promise<StoreCheck[]> {
  check.mode = 'cluster';
  const info = await redis.cluster('INFO');
  const nodes = (await redis.cluster('NODES')) as string;
  const server = await redis.info('server');
  check.version = field(server, 'redis_version') ?? null;
  check.latencyMs = await timeRoundTrips(() => redis.ping());
  check.reachable = true;
  const state = field(info, 'cluster_state') ?? 'unknown';
  const slotsOk = Number(field(info, 'cluster_slots_ok') ?? 0);
  const rows = nodes
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .map(([id = '', address = '', flags = '', master = '-']) => ({
      id,
      address: address.split('@')[0] ?? address,
      master: flags.includes('master'),
      failing: /fail/.test(flags),
      of: master,
    }))
    // Each master, then its replicas.
    .sort((a, b) => {
      const group = (r: { id: string; master: boolean; of: string }): string => (r.master ? r.id : r.of);
      return group(a).localeCompare(group(b)) || Number(b.master) - Number(a.master) || a.address.localeCompare(b.address);
    });
  const addressOf = new Map(rows.map((r) => [r.id, r.address]));
  const masters = rows.filter((r) => r.master && !r.failing).length;
  check.detail = `cache and live channel on a cluster: ${state}, ${slotsOk} of 16384 slots served, ${masters} masters, ${rows.length - masters} other nodes`;
  if (state !== 'ok' || slotsOk < 16_384) check.error = { code: 'cluster_degraded', message: check.detail };
  return [
    check,
    ...rows.map((r): StoreCheck => ({
      store: 'Redis node',
      mode: r.master ? 'master' : 'replica',
      configured: true,
      target: r.address,
      reachable: !r.failing,
      version: null,
      latencyMs: null,
      detail: r.failing
        ? 'failing (the cluster has marked it down)'
        : r.master
          ? 'master'
          : `replica of ${addressOf.get(r.of) ?? r.of}`,
      error: r.failing ? { code: 'node_failing', message: `${r.address} is marked failing by the cluster` } : null,
    })),
  ];
}

async function checkMongo(resources: Resources): Promise<StoreCheck> {
  const config = resources.config;
  const check: StoreCheck = {
    store: 'MongoDB',
    mode: config.mongoUrl === undefined ? 'postgres' : 'server',
    configured: config.mongoUrl !== undefined,
    target: config.mongoUrl === undefined ? 'doc_* tables in PostgreSQL' : redactUrl(config.mongoUrl),
    reachable: null,
    version: null,
    latencyMs: null,
    detail:
      config.mongoUrl === undefined
        ? 'documents kept in PostgreSQL JSONB (set SHIPTRACK_MONGO_URL for MongoDB)'
        : `document store (database ${config.mongoDatabase})`,
    error: null,
  };
  if (config.mongoUrl === undefined) return check;
  try {
    const store = await resources.documents();
    const pings: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const info = await store.ping();
      check.version = info.version;
      pings.push(info.latencyMs);
    }
    check.latencyMs = median(pings);
    check.reachable = true;
  } catch (error) {
    check.reachable = false;
    check.error = errorOf(error);
  }
  return check;
}

/**
 * One row per store: mode, reachability, version, latency and (PostgreSQL) migration state.
 * The three checks run at once, each bounded, so the report never hangs on a frozen server.
 */
export async function runDoctor(
  resources: Resources,
  migrator: Pick<MigratorOptions, 'directory' | 'compiledDirectory'> = defaultMigratorOptions(),
): Promise<DoctorReport> {
  const config: Config = resources.config;
  const bound = config.connectTimeoutMs * 2 + 2000;
  const guard = async (work: Promise<StoreCheck>, fallback: () => StoreCheck): Promise<StoreCheck> => {
    try {
      return await withDeadline(work, bound, fallback().store);
    } catch (error) {
      return { ...fallback(), reachable: false, error: errorOf(error) };
    }
  };
  const guardMany = async (work: Promise<StoreCheck[]>, fallback: () => StoreCheck): Promise<StoreCheck[]> => {
    try {
      return await withDeadline(work, bound, fallback().store);
    } catch (error) {
      return [{ ...fallback(), reachable: false, error: errorOf(error) }];
    }
  };
  const base =
    (store: StoreCheck['store'], mode: StoreMode): (() => StoreCheck) =>
    () => ({
      store,
      mode,
      configured: true,
      target: '',
      reachable: false,
      version: null,
      latencyMs: null,
      detail: '',
      error: null,
    });
  const nodes = config.databaseUrl === undefined ? [] : replicaNodes(config);
  const primaryLsn = nodes.length === 0 ? Promise.resolve(null) : primaryPosition(resources);
  const checks = await Promise.all([
    guard(checkPostgres(resources, migrator), base('PostgreSQL', config.databaseUrl === undefined ? 'embedded' : 'server')),
    ...nodes.map((node) =>
      guard(checkReplica(node, primaryLsn), () => ({
        ...base('PostgreSQL replica', 'replica')(),
        target: redactUrl(node.config.databaseUrl ?? ''),
      })),
    ),
    guardMany(checkRedis(resources), base('Redis', 'server')),
    guard(checkMongo(resources), base('MongoDB', 'server')),
  ]);
  const all = checks.flat();
  return { checks: all, healthy: all.every((c) => c.reachable !== false && c.error === null) };
}
