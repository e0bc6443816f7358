import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { calledRedisCommands } from '../../scripts/redis-commands.mjs';

/**
 * The CLI bundle's ioredis defines only the command methods our code or ioredis's own call
 * (scripts/bundle.mjs): every one the sources call must be there, on every client class.
 */
describe('the CLI bundle keeps the Redis commands called', () => {
  it('has a method for each command the sources and ioredis call, and not for the others', async () => {
    const chunks = path.resolve('dist/cli/chunks');
    const built = readdirSync(chunks).filter((name) => /^built-[A-Z0-9]+\.js$/.test(name));
    expect(built, 'the bundled ioredis chunk (npm run build)').toHaveLength(1);
    const ioredis = ((await import(pathToFileURL(path.join(chunks, built[0] ?? '')).href)) as { default: IoredisModule }).default;
    const called = calledRedisCommands([path.resolve('src'), path.resolve('node_modules/ioredis/built')]);
    for (const command of ['get', 'set', 'mget', 'unlink', 'spublish', 'eval', 'select', 'auth', 'info', 'cluster', 'readonly']) {
      expect(called).toContain(command);
    }
    for (const client of [ioredis.Redis, ioredis.Cluster]) {
      const methods = client.prototype as unknown as Record<string, unknown>;
      const missing = called.filter((command) => typeof methods[command] !== 'function' && command !== 'monitor');
      expect(missing, client.name).toEqual([]);
      expect(typeof methods.getBuffer).toBe('function');
      expect(typeof methods.call).toBe('function');
      // A command nothing calls has no method of its own (it stays reachable through `call`).
      expect(methods.hset, client.name).toBeUndefined();
    }
  });
});

interface IoredisModule {
  Redis: abstract new (...args: never[]) => unknown;
  Cluster: abstract new (...args: never[]) => unknown;
}
