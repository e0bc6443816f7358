import { createRequire } from 'node:module';
import { format } from 'node:util';

/**
 * `DEBUG=*` turns on the drivers' own tracing, which users reach for exactly when something is
 * wrong and then paste into tickets: ioredis writes every command with its arguments (an AUTH
 * password among them), knex every query with its bindings. Their `debug` loggers are sent
 * through the same scrubber as everything else shiptrack prints. Loaded only when DEBUG is set.
 */

interface DebugModule {
  log: (...args: unknown[]) => void;
}

export async function scrubDebugOutput(scrub: (text: string) => string): Promise<void> {
  const write = (...args: unknown[]): void => {
    process.stderr.write(`${scrub(format(...args))}\n`);
  };
  // The copy the CLI bundle shares with ioredis and knex (scripts/bundle.mjs gives knex this one
  // rather than its own), or ioredis's own, run from the compiled library.
  const shared = (await import('debug')).default as unknown as DebugModule;
  shared.log = write;
  // Run from the compiled library, knex loads its own version of `debug` from beside it.
  try {
    const fromHere = createRequire(import.meta.url);
    const fromKnex = createRequire(fromHere.resolve('knex/package.json'));
    (fromKnex('debug') as DebugModule).log = write;
  } catch {
    // knex is not installed beside us: nothing of it can print
  }
}
