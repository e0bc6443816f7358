import type { Config } from '../config.js';
import { median } from '../domain/statistics.js';
import { ShiptrackError, UnavailableError, mapPostgresError } from '../errors.js';
import { redactUrl } from '../redact.js';
import type { Resources } from '../store/resources.js';
import { getMigrationStatus, defaultMigratorOptions, type MigratorOptions } from './migrations.service.js';

export type StoreMode = 'server' | 'embedded' | 'off' | 'postgres';

export interface StoreCheck {
  store: 'PostgreSQL' | 'Redis' | 'MongoDB';
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
    const db = await resources.database();
    const version = await db.knex.raw<{ rows: { version: string }[] }>(`select current_setting('server_version') as version`);
    check.version = version.rows[0]?.version ?? null;
    check.latencyMs = await timeRoundTrips(() => db.knex.raw('select 1'));
    check.reachable = true;
    const status = await getMigrationStatus(db, { ...migrator });
    const applied = status.migrations.filter((m) => m.state === 'applied').length;
    check.detail =
      status.problems > 0
        ? `${status.problems} migration(s) changed or missing`
        : status.pending > 0
          ? `${status.pending} migration(s) pending`
          : `schema up to date (${applied} migrations)`;
    if (status.invalidIndexes.length > 0) check.detail += `; ${status.invalidIndexes.length} invalid index(es)`;
  } catch (error) {
    check.reachable = false;
    check.error = errorOf(error);
  }
  return check;
}

async function checkRedis(resources: Resources): Promise<StoreCheck> {
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
  if (config.redisUrl === undefined) return check;
  try {
    const redis = await resources.redis();
    if (redis === undefined) return check;
    const info = await redis.info('server');
    check.version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? null;
    check.latencyMs = await timeRoundTrips(() => redis.ping());
    check.reachable = true;
  } catch (error) {
    check.reachable = false;
    check.error = errorOf(error);
  }
  return check;
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
  const checks = await Promise.all([
    guard(checkPostgres(resources, migrator), base('PostgreSQL', config.databaseUrl === undefined ? 'embedded' : 'server')),
    guard(checkRedis(resources), base('Redis', 'server')),
    guard(checkMongo(resources), base('MongoDB', 'server')),
  ]);
  return { checks, healthy: checks.every((c) => c.reachable !== false) };
}
