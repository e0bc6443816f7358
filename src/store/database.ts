import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Knex } from 'knex';
import type pg from 'pg';
import type { PgDialect as KnexPgDialect } from './knex-driver.js';
import type { Config } from '../config.js';
import { mapPostgresError, UnavailableError } from '../errors.js';
import { redactUrl } from '../redact.js';

export type DatabaseMode = 'server' | 'embedded';

/** The system of record: a knex instance over a PostgreSQL server or the embedded PGlite. */
export interface Database {
  readonly knex: Knex;
  readonly mode: DatabaseMode;
  /** Human description without credentials: a redacted URL or the data directory. */
  readonly target: string;
  /** Set once the server stopped answering (store/liveness.ts): why the work in flight failed. */
  failure(): Error | undefined;
  /**
   * A Citus coordinator with shiptrack's distributed layout (migration 20261204000300: the
   * package_numbers lookup exists), as of the pool's newest connection; absent or false elsewhere.
   */
  readonly distributed?: boolean;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Overrides the configured statement timeout (0 = none), e.g. for long migrations. */
  statementTimeoutMs?: number;
  /** Largest pool size for server mode. */
  poolMax?: number;
  applicationName?: string;
  /** Embedded mode: how long to wait for another process using the data directory. */
  embeddedLockWaitMs?: number;
  /** Embedded mode: told once when another process has the data directory and this one waits. */
  onWait?: ((line: string) => void) | undefined;
}

// int8 (counts, bigint keys) as numbers: our keys stay far below 2^53; numeric stays a string.
const int8Oid = 20;
function parseInt8(value: string): number {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : Number.NaN;
}

/** knex logs some failures to the console itself; shiptrack reports errors once, its own way. */
export const silentKnexLog = {
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  deprecate: () => undefined,
};

/**
 * What names the configured database without credentials: its redacted URL, or the embedded data
 * folder. Also its identity for Redis keys, so `track` and `scan` must derive it here alike.
 */
export function databaseTarget(config: Config): string {
  return config.databaseUrl === undefined ? embeddedDataDir(config) : redactUrl(config.databaseUrl);
}

/** A short id of a database target (databaseTarget()): what keys and files are named by per database. */
export function databaseId(databaseTarget: string): string {
  return createHash('sha256').update(databaseTarget).digest('hex').slice(0, 12);
}

export function embeddedDataDir(config: Config): string {
  return path.join(config.home, 'pgdata');
}

/** Opens the configured database: the server at `databaseUrl`, or the embedded one under `home`. */
export async function openDatabase(config: Config, options: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.databaseUrl === undefined) {
    const { openEmbeddedDatabase } = await import('./embedded.js');
    return openEmbeddedDatabase(config, {
      lockWaitMs: options.embeddedLockWaitMs,
      statementTimeoutMs: options.statementTimeoutMs,
      onWait: options.onWait,
    });
  }
  return openServerDatabase(config, options);
}

/** The configured server's URL; the embedded database has none. */
export function requireServerUrl(config: Config): string {
  if (config.databaseUrl === undefined) throw new Error('no PostgreSQL server is configured (the embedded database is in use)');
  return config.databaseUrl;
}

interface PgTypes {
  getTypeParser(oid: number, format: 'text'): unknown;
}

/**
 * Connection settings for the pg driver, shared by the knex pool and the plain client: every
 * wait bounded, int8 parsed as a number.
 */
export function pgConnectionConfig(
  config: Config,
  pgTypes: PgTypes,
  options: Pick<OpenDatabaseOptions, 'statementTimeoutMs' | 'applicationName'> = {},
): Record<string, unknown> {
  const statementTimeout = options.statementTimeoutMs ?? config.statementTimeoutMs;
  const connection: Record<string, unknown> = {
    connectionString: requireServerUrl(config),
    connectionTimeoutMillis: config.connectTimeoutMs,
    lock_timeout: config.lockTimeoutMs,
    application_name: options.applicationName ?? 'shiptrack',
    keepAlive: true,
    types: { getTypeParser: (oid: number) => (oid === int8Oid ? parseInt8 : pgTypes.getTypeParser(oid, 'text')) },
  };
  if (statementTimeout > 0) {
    connection.statement_timeout = statementTimeout;
    // Client-side bound too: a frozen server never answers, so a server-side timeout never fires.
    connection.query_timeout = statementTimeout + config.connectTimeoutMs;
  }
  return connection;
}

/** A statement without parameters, and its rows. */
export type ReadRows = <Row>(sql: string) => Promise<Row[]>;

/** Statements through knex: on `conn` (a connection a caller holds, e.g. its lock's), or the pool's. */
export function readRowsWith(knex: Knex, conn?: unknown): ReadRows {
  return async <Row>(sql: string) => {
    const query = knex.raw<{ rows: Row[] }>(sql);
    return (await (conn === undefined ? query : query.connection(conn))).rows;
  };
}

/** The pg clients a knex pool holds, busy and idle (tarn's resources). */
function pooledClients(knex: Knex): PgSocketOwner[] {
  const pool = (knex.client as { pool?: { used?: { resource: unknown }[]; free?: { resource: unknown }[] } }).pool;
  return [...(pool?.used ?? []), ...(pool?.free ?? [])].map((r) => r.resource as PgSocketOwner);
}

interface PgQueryable {
  query(sql: string, callback: (error: Error | null, result?: { rows: { distributed?: boolean }[] }) => void): void;
}

interface PgSocketOwner {
  connection?: { stream?: { destroy(error?: Error): void } };
}

/**
 * knex's PostgreSQL dialect on the `pg` this module loaded, rather than the one knex requires by
 * itself: the CLI is bundled with pg inside (loading it from the bundle takes ~6 ms less of every
 * `track`), and the type parsers and clients of one process then come from one copy of pg.
 */
function pgDialectOn(PgDialect: typeof KnexPgDialect, driver: typeof pg): typeof Knex.Client {
  class PgDialectOnDriver extends PgDialect {
    _driver(): typeof driver {
      return driver;
    }
  }
  return PgDialectOnDriver as unknown as typeof Knex.Client;
}

async function openServerDatabase(config: Config, options: OpenDatabaseOptions): Promise<Database> {
  const url = requireServerUrl(config);
  const store = `PostgreSQL at ${describeServer(url)}`;
  const [{ knex: knexFactory, PgDialect }, { default: driver }] = await Promise.all([
    import('./knex-driver.js'),
    import('./pg-driver.js'),
  ]);
  const connection = pgConnectionConfig(config, driver.types, options);
  let distributed = false;
  const knex = knexFactory({
    client: pgDialectOn(PgDialect, driver),
    version: '15',
    connection,
    pool: {
      min: 0,
      max: options.poolMax ?? config.poolSize,
      idleTimeoutMillis: 10_000,
      // A backend whose client vanished (killed, or gone after a frozen server woke up) stops its
      // query within 2 s and lets go of its locks, instead of running on until it next writes to
      // us (PostgreSQL 14 and later; older servers have no such setting and skip it). No statement
      // of ours gains from JIT compilation: short reads and writes, and reports that used to turn
      // it off each time (compiling costs tens of ms when a large table makes a plan look costly).
      // The same round trip says whether this is a Citus coordinator with the distributed layout.
      afterCreate: (conn: PgQueryable, done: (error: Error | null, conn: PgQueryable) => void) => {
        conn.query(
          `select set_config(name, case name when 'jit' then 'off' else '2000' end, false),
                  to_regclass('package_numbers') is not null as distributed
             from pg_settings
            where name in ('client_connection_check_interval', 'jit')`,
          (error, result) => {
            if (error === null && result?.rows[0] !== undefined) distributed = result.rows[0].distributed === true;
            done(error, conn);
          },
        );
      },
    },
    acquireConnectionTimeout: config.connectTimeoutMs + 1000,
    log: silentKnexLog,
  });
  // Connect now, so a server that is down is reported here, by name, rather than by whichever
  // query happens to come first. The connection stays in the pool for that query.
  try {
    const pool = sessionPool(knex);
    await pool.releaseConnection(await pool.acquireConnection());
  } catch (error) {
    await knex.destroy();
    throw mapPostgresError(error, { store });
  }
  let failure: UnavailableError | undefined;
  // Every socket of the pool is closed with the error: the queries waiting on them fail with it.
  // Each gets a copy: knex writes its SQL into the message of the error a query fails with.
  const abandon = (error: UnavailableError): void => {
    for (const client of pooledClients(knex)) {
      const copy = new UnavailableError(store, error.message, { hint: error.hint });
      client.connection?.stream?.destroy(copy);
    }
  };
  const { startWatchdog } = await import('./liveness.js');
  const watchdog = startWatchdog({
    store,
    timeoutMs: config.livenessTimeoutMs,
    connect: async () => {
      const probe = new driver.Client(
        pgConnectionConfig(config, driver.types, { applicationName: 'shiptrack liveness', statementTimeoutMs: 1000 }),
      );
      probe.on('error', () => undefined);
      await probe.connect();
      return probe;
    },
    onDead: (error) => {
      failure = error;
      abandon(error);
    },
  });
  return {
    knex,
    mode: 'server',
    target: databaseTarget(config),
    failure: () => failure,
    get distributed() {
      return distributed;
    },
    close: async () => {
      await watchdog.stop();
      // A frozen server never answers the goodbye: its sockets are closed instead.
      if (failure !== undefined) abandon(failure);
      await knex.destroy();
    },
  };
}

/** host:port/database, never the user or password. */
export function describeServer(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host || 'localhost'}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

/** knex's connection pool, typed: for work that must stay on one session (advisory locks). */
export interface SessionPool {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
}

export function sessionPool(knex: Knex): SessionPool {
  return knex.client as SessionPool;
}

/** Runs a callback, translating driver errors into the error family once. */
export async function withPgErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapPostgresError(error);
  }
}
