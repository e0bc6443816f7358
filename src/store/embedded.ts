import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.js';
import { ConflictError, UnavailableError } from '../errors.js';
import { embeddedDataDir, silentKnexLog, type Database } from './database.js';

/**
 * PGlite is a single-user PostgreSQL: two processes opening one data directory would corrupt it.
 * A lock file holding the owner's pid serialises processes; a lock whose owner is gone is stale
 * and taken over.
 */
interface LockFile {
  release(): void;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files this process holds: a file naming our pid that is not here is a stale one. */
const heldHere = new Set<string>();

function removeStale(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // another process removed it first; the next attempt decides
  }
}

function tryTakeLock(file: string): number | 'taken' {
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    return 'taken';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  let owner = Number.NaN;
  try {
    owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return Number.NaN;
  }
  if (!Number.isInteger(owner)) {
    // Created but not yet written by its owner, or left empty by a crash long ago.
    const ageMs = Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (ageMs > 5000) removeStale(file);
    return Number.NaN;
  }
  if (owner === process.pid && heldHere.has(file)) return owner;
  if (owner === process.pid || !isProcessAlive(owner)) {
    removeStale(file);
    return Number.NaN;
  }
  return owner;
}

async function acquireLockFile(file: string, waitMs: number): Promise<LockFile> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const result = tryTakeLock(file);
    if (result === 'taken') {
      heldHere.add(file);
      break;
    }
    if (!Number.isNaN(result) && Date.now() >= deadline) {
      throw new ConflictError(
        'embedded_database_locked',
        result === process.pid
          ? 'the embedded database is already open in this process'
          : `the embedded database is in use by another shiptrack process (pid ${result})`,
        { hint: 'wait for it to finish; the embedded database serves one process at a time' },
      );
    }
    await sleep(50);
  }
  const onExit = (): void => release();
  let released = false;
  function release(): void {
    if (released) return;
    released = true;
    heldHere.delete(file);
    process.removeListener('exit', onExit);
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  }
  process.on('exit', onExit);
  return { release };
}

/** How long a second process waits for the embedded database before giving up. */
const embeddedLockWaitMs = 30_000;

export async function openEmbeddedDatabase(
  config: Config,
  options: { lockWaitMs?: number | undefined; statementTimeoutMs?: number | undefined } = {},
): Promise<Database> {
  const lockWaitMs = options.lockWaitMs ?? embeddedLockWaitMs;
  // As on a server: the command's own bound (0 = none, e.g. check) wins over the configured one.
  const statementTimeoutMs = options.statementTimeoutMs ?? config.statementTimeoutMs;
  const dataDir = embeddedDataDir(config);
  try {
    mkdirSync(config.home, { recursive: true });
  } catch (error) {
    throw new UnavailableError(
      'embedded PostgreSQL',
      `cannot create the data directory ${config.home}: ${(error as Error).message}`,
      {
        hint: 'set SHIPTRACK_HOME to a writable directory',
      },
    );
  }
  const lock = await acquireLockFile(path.join(config.home, 'pgdata.lock'), lockWaitMs);
  try {
    const [{ PGlite }, { default: knexFactory }, { default: ClientPgLite }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('knex'),
      import('knex-pglite'),
    ]);
    const pglite = new PGlite(dataDir);
    await pglite.waitReady;
    if (statementTimeoutMs > 0) await pglite.exec(`set statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    await pglite.exec(`set lock_timeout = ${Math.trunc(config.lockTimeoutMs)}`);
    const knex = knexFactory({
      client: ClientPgLite,
      dialect: 'postgres',
      version: '15',
      connection: () => ({ pglite }) as never,
      log: silentKnexLog,
    });
    return {
      knex,
      mode: 'embedded',
      target: dataDir,
      // In this process: it cannot freeze apart from it.
      failure: () => undefined,
      close: async () => {
        try {
          await knex.destroy();
          if (!pglite.closed) await pglite.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    lock.release();
    throw new UnavailableError(
      'embedded PostgreSQL',
      `could not open the embedded database in ${dataDir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
