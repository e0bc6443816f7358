import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import type { Config } from '../config.js';
import { ExitCode, ShiptrackError, UnavailableError } from '../errors.js';
import { createScrubber } from '../redact.js';
import { parseRedisEndpoints } from './redis-url.js';

/**
 * One Redis server, or a Redis Cluster (several host:port pairs in the URL): the cache's commands
 * are the same; what differs (one socket to cork, multi-key commands, pub/sub) asks isCluster.
 */
export type RedisClient = Redis | Cluster;

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
}

/**
 * Opens a Redis connection that never waits without bound: no offline queue (a command on a
 * dead connection fails at once), a command timeout, one connection attempt per command.
 */
export async function openRedis(config: Config, options: { confirm?: boolean } = {}): Promise<RedisClient> {
  const url = config.redisUrl;
  if (url === undefined) throw new Error('no Redis is configured');
  // Through the default export (module.exports): the same object whether Node loads ioredis as
  // CommonJS or the CLI bundle inlines it; the bundle's namespace lacks the named export.
  const { default: ioredis } = await import('ioredis');
  // The cache is optional: reaching it (connect, AUTH, the first PING) costs at most its timeout,
  // once, however the time is split between the steps.
  const budgetMs = Math.min(config.connectTimeoutMs, config.redisCommandTimeoutMs);
  const connection = {
    connectTimeout: budgetMs,
    commandTimeout: config.redisCommandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // The ready check (INFO) has no timeout of its own; a PING below, bounded by commandTimeout, does its job.
    enableReadyCheck: false,
    disconnectTimeout: 100,
    // ioredis waits for the replies to its CLIENT SETNAME/SETINFO before it lets a command go:
    // an unconfirmed connection sends none, so its first command leaves with the connection.
    ...(options.confirm === false ? {} : { connectionName: 'shiptrack' }),
    disableClientInfo: true,
  };
  const endpoints = parseRedisEndpoints(url);
  let redis: RedisClient;
  if (!('error' in endpoints) && endpoints.cluster) {
    // A node that fails is dropped and the slots are read again from the others: a command for a
    // slot whose master died fails within its timeout (the cache falls back to PostgreSQL), and
    // once a replica is promoted the commands reach it, without a restart.
    redis = new ioredis.Cluster(
      endpoints.nodes.map(({ host, port }) => ({ host, port })),
      {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: false,
        slotsRefreshTimeout: budgetMs,
        slotsRefreshInterval: 5_000,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        maxRedirections: 4,
        redisOptions: {
          ...connection,
          username: endpoints.username,
          password: endpoints.password,
          ...(endpoints.tls ? { tls: {} } : {}),
        },
      },
    );
  } else {
    redis = new ioredis.Redis(url, { lazyConnect: true, ...connection, retryStrategy: () => null });
  }
  // Without a listener ioredis prints connection errors itself; they are reported by the caller.
  // connect() rejects with a generic "Connection is closed": the socket's own error says why.
  let socketError: unknown;
  redis.on('error', (error: unknown) => {
    socketError ??= error;
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connect timed out after ${budgetMs} ms`)), budgetMs);
  });
  try {
    await Promise.race([
      (async () => {
        await redis.connect();
        // Unconfirmed (for writes that must not be lost): commands go out as soon as the socket is
        // up; a frozen Redis keeps them in its socket buffer and applies them when it wakes.
        if (options.confirm !== false) await redis.ping();
      })(),
      deadline,
    ]);
  } catch (error) {
    redis.disconnect();
    throw mapRedisError(socketError ?? error, config.secrets);
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

/**
 * Lets the commands sent in this tick leave in one socket write. Each write is a system call that
 * also runs loopback TCP for Redis; with four readers waiting, one per command was most of the CPU
 * a cache hit cost (ioredis's auto-pipelining batches too, but through a pipeline object per batch
 * and one batch in flight at a time, which cost more than it saved here).
 */
export function writeTogether(redis: RedisClient): void {
  // One socket per node in a cluster: commands go to their slots' nodes, nothing to cork here.
  if (isCluster(redis)) return;
  // Undefined until the first connection.
  const stream = redis.stream as Socket | undefined;
  if (stream === undefined || stream.writableCorked > 0) return;
  stream.cork();
  process.nextTick(() => stream.uncork());
}

/** Deletes every key that starts with `prefix` (SCAN, then UNLINK in batches: never KEYS). */
export async function deleteKeysWithPrefix(redis: RedisClient, prefix: string): Promise<void> {
  // A cluster's keys live on its masters: each is scanned, and each key unlinked by itself (keys
  // of different slots cannot go in one command).
  const servers: Redis[] = isCluster(redis) ? redis.nodes('master') : [redis];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      if (isCluster(redis)) await Promise.all(keys.map((key) => redis.unlink(key)));
      else await server.unlink(...keys);
    } while (cursor !== '0');
  }
}

/**
 * Closes the connection. With replies still pending, QUIT waits for them; with none (the usual
 * case: every command was awaited), the socket is simply ended, which saves a command round trip
 * and 5–10 ms of a one-shot `track`. A hard disconnect is the fallback either way.
 */
export async function closeRedis(redis: RedisClient): Promise<void> {
  // A function, not a narrowed variable: the status changes while we await.
  const hasEnded = (): boolean => redis.status === 'end';
  if (hasEnded()) return;
  const ended = new Promise<void>((resolve) => {
    redis.once('end', () => resolve());
    setTimeout(resolve, 1000).unref();
  });
  const pending = isCluster(redis) ? redis.nodes().some((node) => node.commandQueue.length > 0) : redis.commandQueue.length > 0;
  if (redis.status === 'ready' && pending) {
    try {
      await redis.quit();
    } catch {
      // fall through to disconnect
    }
  }
  if (!hasEnded()) redis.disconnect();
  await ended;
}

/**
 * ioredis errors can carry the AUTH command and its arguments (the password): only the code
 * and a scrubbed message survive.
 */
export function mapRedisError(error: unknown, secrets: readonly string[]): ShiptrackError {
  const scrub = createScrubber(secrets);
  const raw = error as { code?: unknown; message?: unknown };
  const code = typeof raw.code === 'string' ? raw.code : undefined;
  const message = typeof raw.message === 'string' ? raw.message : 'unknown error';
  let text: string;
  if (code === 'ECONNREFUSED') text = 'Redis is unreachable (connection refused)';
  else if (/timed? ?out/i.test(message) || code === 'ETIMEDOUT') text = 'Redis did not answer in time';
  else if (/WRONGPASS|NOAUTH|invalid password/i.test(message)) text = 'Redis: authentication failed';
  else if (/NOPERM/.test(message)) {
    return new ShiptrackError('permission_denied', ExitCode.notPermitted, `Redis: ${scrub(message.split('\n')[0] ?? message)}`, {
      hint: "the Redis user's ACL does not allow this command or key: see ACL GETUSER",
      details: { store: 'Redis' },
    });
  } else text = `Redis: ${scrub(message.split('\n')[0] ?? message)}`;
  return new UnavailableError('Redis', text, { details: code === undefined ? undefined : { errno: code } });
}
