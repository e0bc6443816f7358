import type { RedisClient } from './redis.js';
import type { Client as PgClient, QueryResultRow } from 'pg';
import type { Config } from '../config.js';
import type { DocumentStore, DocumentsTarget } from './documents/document-store.js';
import { databaseTarget, openDatabase, readRowsWith, type Database, type ReadRows } from './database.js';
import type { EmbeddedClient } from './embedded.js';
import type { ReplicaAccess, ReplicaRouter } from './replicas.js';

/**
 * The stores a use case needs, opened on first use and closed in reverse order, always. What
 * opens them, how big the pool is and which timeouts hold all come from the one Config; a use
 * case that never asks for MongoDB never loads its driver.
 */
export interface Resources extends AsyncDisposable {
  readonly config: Config;
  /** Names the database without credentials (a redacted URL or the embedded folder). */
  readonly databaseTarget: string;
  /** Where raw scans are written: PostgreSQL's document table, or the outbox bound for MongoDB. */
  readonly documentsTarget: DocumentsTarget;
  /**
   * True for a process that runs one command and exits (the CLI): a one-query read then takes
   * one plain connection rather than loading knex and a pool.
   */
  readonly shortLived: boolean;
  database(): Promise<Database>;
  /** True once the database (knex and its pool) has been opened. */
  hasDatabase(): boolean;
  /**
   * A plain pg connection without knex (servers only; undefined on the embedded database), for
   * one-query commands where loading knex would be most of the time.
   */
  sqlClient(): Promise<PgClient | undefined>;
  /**
   * The embedded database without knex (undefined with a server), for the same one-query
   * commands. It holds the embedded database like database() does: a process uses one of them.
   */
  embeddedClient(): Promise<EmbeddedClient | undefined>;
  /**
   * Runs statements without parameters and returns their rows: through the plain connection or
   * the embedded client in a short-lived process that has not opened the pool (`migrate status`
   * needs two reads, and loading knex would be a fifth of its time), else through the pool.
   */
  readRows(): Promise<ReadRows>;
  /**
   * The streaming replicas for reads, through plain pg connections (one-query reads of a
   * short-lived process), or undefined when none is configured.
   */
  replicaClients(): Promise<ReplicaRouter<PgClient> | undefined>;
  /** The same replicas through a pool each (reports, and `track` in a long-lived process). */
  replicaDatabases(): Promise<ReplicaRouter<Database> | undefined>;
  /**
   * Runs a read that tolerates the replica lag bound on a replica that qualifies, else on the
   * primary (`primary: true` forces it); when a replica fails under it (the server gone, or a
   * query cancelled by a conflict with recovery), the replica is left alone for a while and the
   * read runs again on the primary.
   */
  readWith<T>(options: { primary?: boolean }, work: (db: Database) => Promise<T>): Promise<T>;
  /**
   * The same over plain pg connections (`sqlClient`, `replicaClients`), for a read of one prepared
   * statement in a short-lived process: servers only.
   */
  readWithClient<T>(options: { primary?: boolean }, work: (client: PgClient) => Promise<T>): Promise<T>;
  /** RedisClient, or undefined when no Redis is configured (the cache is off). */
  redis(): Promise<RedisClient | undefined>;
  /**
   * Redis for the invalidations after a write, or undefined when none is configured: connected
   * but not confirmed by a reply, so that a Redis that is frozen still receives them and applies
   * them, in order, before it answers anyone who connects later.
   */
  cacheWriter(): Promise<RedisClient | undefined>;
  /** MongoDB when configured, otherwise the PostgreSQL JSONB store. */
  documents(): Promise<DocumentStore>;
  /**
   * The same stores for work that runs for minutes by design (seed, check, a full consistency
   * proof, migrations, benchmarks): its PostgreSQL connections have no statement timeout. Opened
   * on first use beside the interactive ones, closed with them.
   */
  forLongWork(): Resources;
  close(): Promise<void>;
}

export interface ResourceOptions {
  /** See Resources.shortLived. */
  shortLived?: boolean;
  /** Receives one-time notices about the mode in force (e.g. the cache being off). */
  notice?: (line: string) => void;
  /** Told, each time, what happened to a read on the way: a replica skipped or failed, none qualifying. */
  alert?: ((line: string) => void) | undefined;
  /** Told when the work waits for another process (the embedded database it has open). */
  onWait?: ((line: string) => void) | undefined;
}

export function openResources(config: Config, options: ResourceOptions = {}): Resources {
  const closers: (() => Promise<void>)[] = [];
  let database: Promise<Database> | undefined;
  let sqlClient: Promise<PgClient | undefined> | undefined;
  let embeddedClient: Promise<EmbeddedClient | undefined> | undefined;
  let redis: Promise<RedisClient | undefined> | undefined;
  let replicaClients: Promise<ReplicaRouter<PgClient> | undefined> | undefined;
  let replicaDatabases: Promise<ReplicaRouter<Database> | undefined> | undefined;
  let cacheWriter: Promise<RedisClient | undefined> | undefined;
  let documents: Promise<DocumentStore> | undefined;
  let longWork: Resources | undefined;
  let closed = false;

  /** The replicas' router over connections that `access` opens, or undefined without replicas. */
  function replicaRouter<C>(access: () => Promise<ReplicaAccess<C>>): Promise<ReplicaRouter<C> | undefined> {
    return once(
      async () => {
        if (config.replicaUrls.length === 0 || config.databaseUrl === undefined) return undefined;
        const { createReplicaRouter } = await import('./replicas.js');
        return createReplicaRouter<C>(config, await access(), { notice: options.alert });
      },
      async (router) => {
        await router?.close();
      },
    );
  }

  function once<T>(open: () => Promise<T>, close: (value: T) => Promise<void>): Promise<T> {
    if (closed) return Promise.reject(new Error('resources are closed'));
    const promise = open();
    closers.push(async () => {
      const value = await promise.catch(() => undefined);
      if (value !== undefined) await close(value);
    });
    return promise;
  }

  /**
   * Runs a read on a replica that qualifies, else on the primary (see Resources.readWith), over
   * the connections of either kind.
   */
  async function routed<C, T>(
    read: { primary?: boolean },
    replicas: () => Promise<ReplicaRouter<C> | undefined>,
    primary: () => Promise<C>,
    work: (connection: C) => Promise<T>,
  ): Promise<T> {
    if (read.primary === true || config.replicaUrls.length === 0) return work(await primary());
    const router = await replicas();
    const choice = await router?.choose({ minLsn: null });
    if (router === undefined || choice === undefined) {
      options.alert?.('no replica qualifies: reading the primary');
      return work(await primary());
    }
    try {
      return await work(choice.connection);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const replicaFailed =
        code === 'store_unavailable' || /conflict with recovery/i.test(String((error as { message?: unknown }).message));
      if (!replicaFailed) throw error;
      router.failed(choice.node, error);
      options.alert?.(`replica ${choice.node.target} failed during the read: reading the primary`);
      return work(await primary());
    }
  }

  const primaryClient = async (): Promise<PgClient> => {
    const client = await resources.sqlClient();
    if (client === undefined) throw new Error('readWithClient needs a PostgreSQL server');
    return client;
  };

  const resources: Resources = {
    config,
    databaseTarget: databaseTarget(config),
    documentsTarget: config.mongoUrl === undefined ? 'postgres' : 'outbox',
    shortLived: options.shortLived ?? false,
    database() {
      database ??= once(
        () => openDatabase(config, { onWait: options.onWait }),
        (db) => db.close(),
      );
      return database;
    },
    hasDatabase: () => database !== undefined,
    sqlClient() {
      sqlClient ??= once(
        async () => {
          if (config.databaseUrl === undefined) return undefined;
          const { openPgClient } = await import('./pg-client.js');
          return openPgClient(config);
        },
        async (client) => {
          if (client === undefined) return;
          const { closePgClient } = await import('./pg-client.js');
          await closePgClient(client);
        },
      );
      return sqlClient;
    },
    embeddedClient() {
      embeddedClient ??= once(
        async () => {
          if (config.databaseUrl !== undefined) return undefined;
          const { openEmbeddedClient } = await import('./embedded.js');
          return openEmbeddedClient(config, { onWait: options.onWait });
        },
        async (client) => {
          await client?.close();
        },
      );
      return embeddedClient;
    },
    async readRows() {
      if (resources.shortLived && !resources.hasDatabase()) {
        const embedded = await resources.embeddedClient();
        if (embedded !== undefined) return async <Row>(sql: string) => (await embedded.query<Row>(sql, [])).rows;
        const client = await resources.sqlClient();
        if (client !== undefined) return async <Row>(sql: string) => (await client.query<Row & QueryResultRow>(sql)).rows;
      }
      return readRowsWith((await resources.database()).knex);
    },
    replicaClients() {
      replicaClients ??= replicaRouter(async () => {
        const [{ clientState }, { openPgClient, closePgClient }] = await Promise.all([
          import('./replicas.js'),
          import('./pg-client.js'),
        ]);
        return { open: (node) => openPgClient(node.config), state: clientState, close: closePgClient };
      });
      return replicaClients;
    },
    replicaDatabases() {
      replicaDatabases ??= replicaRouter(async () => {
        const { databaseState } = await import('./replicas.js');
        return { open: (node) => openDatabase(node.config, {}), state: databaseState, close: (db) => db.close() };
      });
      return replicaDatabases;
    },
    readWith(read, work) {
      return routed(
        read,
        () => resources.replicaDatabases(),
        () => resources.database(),
        work,
      );
    },
    readWithClient(read, work) {
      return routed(read, () => resources.replicaClients(), primaryClient, work);
    },
    redis() {
      redis ??= once(
        async () => {
          if (config.redisUrl === undefined) {
            options.notice?.('cache off: no Redis configured (set SHIPTRACK_REDIS_URL); answers come from PostgreSQL');
            return undefined;
          }
          const { openRedis } = await import('./redis.js');
          return openRedis(config);
        },
        async (client) => {
          if (client === undefined) return;
          const { closeRedis } = await import('./redis.js');
          await closeRedis(client);
        },
      );
      return redis;
    },
    cacheWriter() {
      cacheWriter ??= once(
        async () => {
          if (config.redisUrl === undefined) return undefined;
          const { openRedis } = await import('./redis.js');
          return openRedis(config, { confirm: false });
        },
        async (client) => {
          if (client === undefined) return;
          const { closeRedis } = await import('./redis.js');
          await closeRedis(client);
        },
      );
      return cacheWriter;
    },
    documents() {
      documents ??= once(
        async () => {
          if (config.mongoUrl !== undefined) {
            const { openMongoDocumentStore } = await import('./documents/mongo.js');
            return openMongoDocumentStore(config);
          }
          const { createPgDocumentStore } = await import('./documents/postgres.js');
          return createPgDocumentStore((await resources.database()).knex);
        },
        async (store) => {
          if ('close' in store && typeof store.close === 'function') await (store.close as () => Promise<void>)();
        },
      );
      return documents;
    },
    forLongWork() {
      longWork ??= longWorkOf(resources, once);
      return longWork;
    },
    async close() {
      if (closed) return;
      closed = true;
      const errors: unknown[] = [];
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw errors[0];
    },
    [Symbol.asyncDispose]() {
      return resources.close();
    },
  };
  return resources;
}

type Once = <T>(open: () => Promise<T>, close: (value: T) => Promise<void>) => Promise<T>;

/** See Resources.forLongWork: Redis and MongoDB are shared; PostgreSQL gets its own pool. */
function longWorkOf(parent: Resources, once: Once): Resources {
  const { config } = parent;
  // The embedded database is one session in this process: the same one, its timeout set per session.
  if (config.databaseUrl === undefined) return parent;
  let database: Promise<Database> | undefined;
  let documents: Promise<DocumentStore> | undefined;
  const child: Resources = {
    ...parent,
    database() {
      database ??= once(
        () => openDatabase(config, { statementTimeoutMs: 0 }),
        (db) => db.close(),
      );
      return database;
    },
    hasDatabase: () => database !== undefined,
    documents() {
      if (config.mongoUrl !== undefined) return parent.documents();
      documents ??= (async () => {
        const { createPgDocumentStore } = await import('./documents/postgres.js');
        return createPgDocumentStore((await child.database()).knex);
      })();
      return documents;
    },
    forLongWork: () => child,
  };
  return child;
}
