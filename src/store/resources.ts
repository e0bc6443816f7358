import type { Redis } from 'ioredis';
import type { Client as PgClient } from 'pg';
import type { Config } from '../config.js';
import type { DocumentStore } from './documents/document-store.js';
import { openDatabase, type Database, type OpenDatabaseOptions } from './database.js';

/**
 * The stores a command uses, opened on first use and closed in reverse order, always.
 * A command that never asks for MongoDB never loads its driver.
 */
export interface Resources extends AsyncDisposable {
  readonly config: Config;
  database(): Promise<Database>;
  /**
   * A plain pg connection without knex (servers only; undefined on the embedded database), for
   * one-query commands where loading knex would be most of the time.
   */
  sqlClient(): Promise<PgClient | undefined>;
  /** Redis, or undefined when no Redis is configured (the cache is off). */
  redis(): Promise<Redis | undefined>;
  /** MongoDB when configured, otherwise the PostgreSQL JSONB store. */
  documents(): Promise<DocumentStore>;
  close(): Promise<void>;
}

export interface ResourceOptions {
  database?: OpenDatabaseOptions;
  /** Bound on connecting to Redis, for commands that must not wait for the cache. */
  redisConnectTimeoutMs?: number;
  /** Receives one-time notices about the mode in force (e.g. the cache being off). */
  notice?: (line: string) => void;
}

export function openResources(config: Config, options: ResourceOptions = {}): Resources {
  const closers: (() => Promise<void>)[] = [];
  let database: Promise<Database> | undefined;
  let sqlClient: Promise<PgClient | undefined> | undefined;
  let redis: Promise<Redis | undefined> | undefined;
  let documents: Promise<DocumentStore> | undefined;
  let closed = false;

  function once<T>(open: () => Promise<T>, close: (value: T) => Promise<void>): Promise<T> {
    if (closed) return Promise.reject(new Error('resources are closed'));
    const promise = open();
    closers.push(async () => {
      const value = await promise.catch(() => undefined);
      if (value !== undefined) await close(value);
    });
    return promise;
  }

  const resources: Resources = {
    config,
    database() {
      database ??= once(
        () => openDatabase(config, options.database),
        (db) => db.close(),
      );
      return database;
    },
    sqlClient() {
      sqlClient ??= once(
        async () => {
          if (config.databaseUrl === undefined) return undefined;
          const { openPgClient } = await import('./pg-client.js');
          return openPgClient(config, config.databaseUrl, options.database?.applicationName);
        },
        async (client) => {
          await client?.end();
        },
      );
      return sqlClient;
    },
    redis() {
      redis ??= once(
        async () => {
          if (config.redisUrl === undefined) {
            options.notice?.('cache off: no Redis configured (set SHIPTRACK_REDIS_URL); answers come from PostgreSQL');
            return undefined;
          }
          const { openRedis } = await import('./redis.js');
          return openRedis(
            options.redisConnectTimeoutMs === undefined ? config : { ...config, connectTimeoutMs: options.redisConnectTimeoutMs },
            config.redisUrl,
          );
        },
        async (client) => {
          if (client === undefined) return;
          const { closeRedis } = await import('./redis.js');
          await closeRedis(client);
        },
      );
      return redis;
    },
    documents() {
      documents ??= once(
        async () => {
          if (config.mongoUrl !== undefined) {
            const { openMongoDocumentStore } = await import('./documents/mongo.js');
            return openMongoDocumentStore(config, config.mongoUrl);
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
