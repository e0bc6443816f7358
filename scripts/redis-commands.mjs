// Which of ioredis's command methods the CLI bundle keeps (scripts/bundle.mjs).
//
// When it loads, ioredis defines a method, and a …Buffer twin, for each of Redis's ~480 commands
// on each client class (Redis, Cluster, Pipeline): ~1,900 functions, ~10 ms of a `track` cache
// hit. The CLI calls a few dozen. The bundle's copy keeps the commands that our compiled code or
// ioredis's own code call as a method (`.get(`, `.getBuffer(`, found by name, so a Map's `.get(`
// keeps GET too: it keeps more than it needs, never less); any other command stays reachable
// through `call`. The library (dist/src) is not bundled: its ioredis keeps them all.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(js|ts)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

/** The Redis commands ioredis knows that the code (.js, .ts) under `dirs` calls as methods, sorted. */
export function calledRedisCommands(dirs) {
  const known = new Set(createRequire(import.meta.url)('@ioredis/commands').list);
  const called = new Set(['sentinel']); // ioredis adds it to the list itself, for Sentinel
  for (const file of dirs.flatMap(sourceFiles)) {
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/\.([a-z]+?)(?:Buffer)?\(/g)) {
      if (known.has(name)) called.add(name);
    }
  }
  return [...called].sort();
}
