import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
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

/** What this process is doing, for a second process that waits for it (no option values: they may hold secrets). */
function describeSelf(): string {
  const words = process.argv
    .slice(2)
    .filter((a) => !a.startsWith('-') && !a.includes('://'))
    .slice(0, 2);
  return `shiptrack ${words.join(' ')}`.trim();
}

/** What the owner of a lock file said it was doing. */
function ownerDoing(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n')[1]?.trim() || 'shiptrack';
  } catch {
    return 'shiptrack';
  }
}

function tryTakeLock(file: string): number | 'taken' {
  try {
    writeFileSync(file, `${process.pid}\n${describeSelf()}\n`, { flag: 'wx' });
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

async function acquireLockFile(file: string, waitMs: number, onWait?: (line: string) => void): Promise<LockFile> {
  const deadline = Date.now() + waitMs;
  let announced = false;
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
    if (!announced && !Number.isNaN(result) && result !== process.pid) {
      announced = true;
      onWait?.(
        `waiting for the embedded database: pid ${result} (${ownerDoing(file)}) has it open; up to ${Math.round(waitMs / 1000)} s`,
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
      if (readFileSync(file, 'utf8').split('\n')[0]?.trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  }
  process.on('exit', onExit);
  return { release };
}

/** How long a second process waits for the embedded database before giving up. */
const embeddedLockWaitMs = 30_000;

export interface EmbeddedOptions {
  lockWaitMs?: number | undefined;
  statementTimeoutMs?: number | undefined;
  /** Told once when another process has the database open and this one starts to wait. */
  onWait?: ((line: string) => void) | undefined;
}

/** The embedded PostgreSQL itself, locked for this process, with the session settings in force. */
async function openPglite(config: Config, options: EmbeddedOptions): Promise<{ pglite: PGlite; lock: LockFile }> {
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
  const lock = await acquireLockFile(path.join(config.home, 'pgdata.lock'), lockWaitMs, options.onWait);
  try {
    const pglite = new (await import('@electric-sql/pglite')).PGlite(dataDir);
    await pglite.waitReady;
    if (statementTimeoutMs > 0) await pglite.exec(`set statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    await pglite.exec(`set lock_timeout = ${Math.trunc(config.lockTimeoutMs)}`);
    return { pglite, lock };
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

export async function openEmbeddedDatabase(config: Config, options: EmbeddedOptions = {}): Promise<Database> {
  const [{ pglite, lock }, { knex: knexFactory }, { default: ClientPgLite }] = await Promise.all([
    openPglite(config, options),
    import('./knex-driver.js'),
    import('knex-pglite'),
  ]);
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
    target: embeddedDataDir(config),
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
}

/** The embedded database without knex, for a one-query command (`track`): loading knex is ~70 ms of it. */
export interface EmbeddedClient {
  query<Row>(text: string, values: unknown[]): Promise<{ rows: Row[] }>;
  close(): Promise<void>;
}

export async function openEmbeddedClient(config: Config, options: EmbeddedOptions = {}): Promise<EmbeddedClient> {
  const { pglite, lock } = await openPglite(config, options);
  return {
    query: async <Row>(text: string, values: unknown[]) => {
      const result = await pglite.query<Row>(text, values);
      return { rows: result.rows };
    },
    close: async () => {
      try {
        if (!pglite.closed) await pglite.close();
      } finally {
        lock.release();
      }
    },
  };
}
