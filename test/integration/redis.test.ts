import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { UnavailableError } from '../../src/errors.js';
import { closeRedis, openRedis } from '../../src/store/redis.js';
import { startOwnRedis, type OwnServer } from '../support/cli.js';
import { testRedisUrl } from '../support/env.js';

describe.skipIf(!inject('redisAvailable'))('Redis connections', () => {
  it('connects to the shared server, answers, and closes with QUIT', async () => {
    const config = loadConfig({ env: { SHIPTRACK_REDIS_URL: testRedisUrl }, envFile: null });
    const redis = await openRedis(config);
    expect(await redis.ping()).toBe('PONG');
    await closeRedis(redis);
    expect(redis.status).toBe('end');
  });

  describe('a server of our own', () => {
    let server: OwnServer;
    const password = 'redis-auth-Secret-42';
    beforeAll(async () => {
      server = await startOwnRedis(['--requirepass', password]);
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('a wrong password is reported without the password, in the message or anywhere in the error', async () => {
      const url = `redis://:wrong-${password}@127.0.0.1:${server.port}`;
      const config = loadConfig({ env: { SHIPTRACK_REDIS_URL: url }, envFile: null });
      const error = await openRedis(config).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as UnavailableError).message).toBe('Redis: authentication failed');
      const everything = JSON.stringify(error) + String((error as Error).stack) + JSON.stringify((error as Error).cause ?? null);
      expect(everything).not.toContain(password);
    });

    it('the right password works', async () => {
      const url = `redis://:${password}@127.0.0.1:${server.port}`;
      const redis = await openRedis(loadConfig({ env: { SHIPTRACK_REDIS_URL: url }, envFile: null }));
      expect(await redis.ping()).toBe('PONG');
      await closeRedis(redis);
    });

    it('a frozen server fails within connect timeout + command timeout, and commands never queue', async () => {
      const url = `redis://:${password}@127.0.0.1:${server.port}`;
      const config = loadConfig({
        env: { SHIPTRACK_REDIS_URL: url, SHIPTRACK_CONNECT_TIMEOUT: '500ms', SHIPTRACK_REDIS_TIMEOUT: '200ms' },
        envFile: null,
      });
      server.freeze();
      try {
        const started = performance.now();
        const error = await openRedis(config).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(UnavailableError);
        expect((error as UnavailableError).message).toBe('Redis did not answer in time');
        expect(performance.now() - started).toBeLessThan(1500);
      } finally {
        server.thaw();
      }
    });
  });
});
