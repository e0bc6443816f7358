import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { calledRedisCommands } from '../../scripts/redis-commands.mjs';

/**
 * The CLI bundle's ioredis defines only the command methods our code or ioredis's own call
 * (scripts/bundle.mjs): every one the sources call must be on the list it defines methods from.
 * (The e2e suites run the CLI's Redis paths on the bundle: track, doctor, Redis Cluster.)
 */
describe('the CLI bundle keeps the Redis commands called', () => {
  it('defines a method for each command the sources and ioredis call, and not for the others', () => {
    const bundle = readFileSync(path.resolve('dist/cli/shiptrack.cjs'), 'utf8');
    const filter =
      /(?:const|var|let) called = (?:\/\* @__PURE__ \*\/ )?new Set\((\[[^\]]*\])\);\s*(?:const|var|let) commands = commands_1\.list\.filter\(\(command\) => command !== "monitor" && called\.has\(command\)\);/.exec(
        bundle,
      );
    expect(filter, 'the filtered command list in the bundle (npm run build)').not.toBeNull();
    const kept = JSON.parse(filter?.[1] ?? '[]') as string[];
    const called = calledRedisCommands([path.resolve('src'), path.resolve('node_modules/ioredis/built')]);
    for (const command of ['get', 'set', 'mget', 'unlink', 'spublish', 'eval', 'select', 'auth', 'info', 'cluster', 'readonly']) {
      expect(called).toContain(command);
    }
    expect(called.filter((command) => !kept.includes(command))).toEqual([]);
    // A command nothing calls has no method of its own (it stays reachable through `call`).
    expect(kept).not.toContain('hset');
    expect(kept.length).toBeLessThan(100);
  });
});
