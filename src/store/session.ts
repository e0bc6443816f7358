import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type pgUtils from 'pg/lib/utils.js';
import { InterruptedError, mapPostgresError } from '../errors.js';
import { sessionPool, type Database } from './database.js';
import { queryPrepared, type PreparedValue } from './prepared-read.js';

/**
 * One way to hold a database session for work that must stay on one connection: its backend is
 * cancelled on abort, an advisory lock is held for the work when asked, session settings are
 * applied for the work and reset afterwards, and the connection always goes back to the pool.
 */

export interface AdvisoryLock {
  /** The lock's two keys, as pg_locks shows them (classid, objid). */
  readonly key: readonly [number, number];
  /** How long to wait while another session holds it; 0 tries once. */
  readonly waitMs: number;
  /** Called once when the lock is held elsewhere and the session starts to wait. */
  readonly onWait?: () => void;
  /** The error to throw when the lock was not granted in time. */
  readonly busy: () => Error;
}

export interface SessionOptions {
  /** On abort, whatever the session runs is cancelled on the server. */
  readonly signal?: AbortSignal | undefined;
  readonly advisoryLock?: AdvisoryLock | undefined;
  /** statement_timeout for the work (0: none); the connection's own otherwise. */
  readonly statementTimeoutMs?: number | undefined;
  /** Shown in pg_stat_activity while the work runs (and by `migrate unlock`). */
  readonly applicationName?: string | undefined;
  /**
   * Run the work in one transaction: opened in the session's first round trip (with the settings,
   * local to it: nothing to reset), committed after the work, rolled back if it fails.
   */
  readonly transaction?: SessionTransaction | undefined;
}

export interface SessionTransaction {
  /** e.g. `isolation level repeatable read read only` */
  readonly mode: string;
  /** More settings for the transaction only (`work_mem`, `jit`): names and values we write, never user text. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * The work runs exactly one statement (`raw`, once). On a server the transaction, its settings,
   * that statement and the commit then go in one round trip: a simple-protocol query, the
   * statement's bindings written into it as the literals pg would have sent as parameters (text,
   * of unknown type, so the server resolves them the same way). A second statement is a bug.
   */
  readonly single?: boolean;
  /**
   * The work runs statements we write through `raw` and `rawMany` only, never on `connection` or in
   * `transaction`: on a server the transaction and its settings then go with the work's first
   * statement instead of a round trip of their own, its bindings written in as for `single`.
   */
  readonly rawOnly?: boolean;
}

/** The part of a pg Client the first round trip of a transaction session uses. */
interface SimpleQueryClient {
  query(text: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>;
  escapeLiteral(text: string): string;
  /** The backend's pid, from the server's key data at connect time. */
  processID?: number | null;
}

type Encode = (typeof pgUtils)['prepareValue'];
let encoder: Promise<Encode> | undefined;

/**
 * pg's own prepareValue, imported once. Imported, not required: the CLI's bundle then uses the pg
 * it carries, not a second copy. A CommonJS module's exports are its default export, in Node as in
 * the bundle; an encoder that is not there fails loudly rather than sending every value as NULL.
 */
function pgEncoder(): Promise<Encode> {
  encoder ??= import('pg/lib/utils.js').then(({ default: utils }) => {
    if (typeof utils.prepareValue !== 'function') throw new Error("pg's prepareValue was not found in pg/lib/utils.js");
    return utils.prepareValue;
  });
  return encoder;
}

/**
 * A statement with knex's `?` placeholders (`\?` a literal question mark) in pg's `$n` form, and
 * its bindings as the text pg would send for each (bytea as `\x…`): what knex's `toNative()`
 * and pg give, without loading knex (test/unit/positional-form.test.ts holds them equal), for a
 * prepared read on a plain connection.
 */
export async function positionalForm(
  sql: string,
  bindings: readonly unknown[],
): Promise<{ text: string; values: PreparedValue[] }> {
  const encode = await pgEncoder();
  let placeholders = 0;
  const text = sql.replace(/\\\?|\?\??/g, (found) => {
    if (found === '\\?') return '?';
    if (found === '??') throw new Error('positionalForm: identifier placeholders (??) are not supported');
    placeholders += 1;
    return `$${placeholders}`;
  });
  if (placeholders !== bindings.length) {
    throw new Error(`positionalForm: ${placeholders} placeholders for ${bindings.length} bindings`);
  }
  const values = bindings.map((binding): PreparedValue => {
    const value = encode(binding);
    return Buffer.isBuffer(value) ? `\\x${value.toString('hex')}` : value;
  });
  return { text, values };
}

/**
 * `sql` with its knex bindings written in as literals: each as the text pg would send for it as a
 * parameter, quoted, so of unknown type like a parameter; null as NULL. Only for SQL we write: a
 * `$n` inside its string literals would be taken for a placeholder.
 */
async function inlineBindings(client: SimpleQueryClient, sql: string, bindings: readonly Knex.RawBinding[]): Promise<string> {
  const positional = await positionalForm(sql, bindings);
  return positional.text.replace(/\$(\d+)/g, (_, n: string) => {
    const value = positional.values[Number(n) - 1] ?? null;
    return value === null ? 'NULL' : client.escapeLiteral(String(value));
  });
}

/**
 * What a pooled connection in use needs around it, on a server: the server's reason when it ended
 * the session (it arrives as the client's 'error' event; the next statement only hears that the
 * client is not queryable), and a cancel on abort, sent from another pooled connection, that must
 * land before the connection goes back to the pool.
 */
interface ConnectionWatch {
  readonly reasonFor: (error: unknown) => unknown;
  /** Cancels what the backend `pid` runs (nothing on the embedded database, or without a pid). */
  readonly cancel: (pid: number | undefined) => void;
  /** Resolves once a cancel sent has been answered. */
  readonly settled: () => Promise<void>;
  readonly stop: () => void;
}

function watchConnection(db: Database, connection: unknown): ConnectionWatch {
  let lost: unknown;
  let cancelling: Promise<unknown> | undefined;
  const onError = (error: unknown): void => {
    lost ??= error;
  };
  if (db.mode === 'server') (connection as EventEmitter).on('error', onError);
  return {
    reasonFor: (error) =>
      lost !== undefined && /is not queryable/.test(String((error as { message?: unknown } | null)?.message)) ? lost : error,
    cancel: (pid) => {
      if (db.mode === 'server' && pid !== undefined) {
        cancelling = db.knex.raw('select pg_cancel_backend(?)', [pid]).catch(() => undefined);
      }
    },
    settled: async () => {
      await cancelling;
    },
    stop: () => {
      if (db.mode === 'server') (connection as EventEmitter).removeListener('error', onError);
    },
  };
}

export interface Session {
  readonly db: Database;
  /** The pooled connection: a pg Client on a server, the PGlite instance when embedded. */
  readonly connection: unknown;
  /** The backend's process id (what pg_cancel_backend and pg_locks name). */
  readonly pid: number | undefined;
  readonly raw: <T = unknown>(sql: string, bindings?: readonly Knex.RawBinding[]) => Promise<{ rows: T[] }>;
  /**
   * Statements without bindings, each read as `raw` would: on a server in one round trip (one
   * simple-protocol message; in the session's transaction, one snapshot as ever), one after
   * another on the embedded database. An error in one fails them all.
   */
  readonly rawMany: (statements: readonly string[]) => Promise<{ rows: unknown[] }[]>;
  /** A knex transaction on this session's connection. */
  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>, config?: Knex.TransactionConfig): Promise<T>;
  /** The error to report for `error`: the server's reason, when pg only says the client is gone. */
  readonly reasonFor: (error: unknown) => unknown;
  /**
   * Resolves once a cancel sent on abort has been answered, so that it can no longer land on a
   * later statement. `raw` waits for it by itself; clean-up sent on `connection` directly (a
   * rollback, a drop) must await it first.
   */
  readonly settled: () => Promise<void>;
}

const lockPollMs = 200;

/** pg's own read timeout on a client (its `query_timeout`): long work must not hit it. */
interface PgReadTimeout {
  connectionParameters?: { query_timeout?: number | false };
}

async function takeAdvisoryLock(session: Session, lock: AdvisoryLock, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + lock.waitMs;
  let announced = false;
  for (;;) {
    const result = await session.raw<{ locked: boolean }>('select pg_try_advisory_lock(?, ?) as locked', [...lock.key]);
    if (result.rows[0]?.locked === true) return;
    if (signal?.aborted) throw new InterruptedError('interrupted while waiting for a lock');
    if (Date.now() >= deadline) throw lock.busy();
    if (!announced) {
      lock.onWait?.();
      announced = true;
    }
    await sleep(lockPollMs);
  }
}

/**
 * Opens a transaction and applies `settings` local to it, and reads the backend's pid: on a
 * server in one round trip (a simple-protocol query of two statements, the values quoted by pg).
 */
async function begin(
  db: Database,
  connection: unknown,
  raw: Session['raw'],
  mode: string,
  settings: readonly [string, string][],
): Promise<{ rows: { pid: number }[] }> {
  if (db.mode !== 'server') {
    await raw(`begin ${mode}`);
    return raw<{ pid: number }>(
      `select pg_backend_pid() as pid${settings.map((_, i) => `, set_config(?, ?, true) as s${i}`).join('')}`,
      settings.flat(),
    );
  }
  const client = connection as SimpleQueryClient;
  const results = await client.query(
    `begin ${mode}; select ${['pg_backend_pid() as pid', ...localSettings(client, settings)].join(', ')}`,
  );
  const last = Array.isArray(results) ? results[results.length - 1] : results;
  return { rows: (last?.rows ?? []) as { pid: number }[] };
}

/** `set_config(name, value, true)` for each setting, quoted by pg: local to the transaction. */
function localSettings(client: SimpleQueryClient, settings: readonly [string, string][]): string[] {
  return settings.map(([name, value]) => `set_config(${client.escapeLiteral(name)}, ${client.escapeLiteral(value)}, true)`);
}

/** `begin` and the settings local to the transaction, as statements for a simple-protocol query. */
function opening(client: SimpleQueryClient, mode: string, settings: readonly [string, string][]): string[] {
  const configured = localSettings(client, settings);
  return [`begin ${mode}`, ...(configured.length > 0 ? [`select ${configured.join(', ')}`] : [])];
}

/** A statement ends where the next begins: a trailing `;` would send an empty one, with no result. */
function statementOf(sql: string): string {
  // Walked back by hand: a regular expression anchored at the end retries from every blank.
  let end = sql.length;
  while (end > 0 && (sql[end - 1] === ';' || (sql[end - 1] ?? '').trim() === '')) end -= 1;
  return sql.slice(0, end);
}

export async function withSession<T>(db: Database, options: SessionOptions, work: (session: Session) => Promise<T>): Promise<T> {
  const pool = sessionPool(db.knex);
  const connection: unknown = await pool.acquireConnection().catch((error: unknown) => {
    throw mapPostgresError(error);
  });
  const watch = watchConnection(db, connection);
  const { reasonFor, settled } = watch;
  // Ctrl-C cancels whatever the backend runs; its transaction then rolls back. The embedded
  // database runs one statement at a time: nothing to cancel.
  let pid: number | undefined;
  const onAbort = (): void => watch.cancel(pid);
  // A `rawOnly` transaction's opening statements, until they go with the work's first statement.
  let unopened: string[] = [];
  const send = async (statements: readonly string[]): Promise<{ rows: unknown[] }[]> => {
    await settled();
    if (db.mode !== 'server') {
      const results: { rows: unknown[] }[] = [];
      for (const statement of statements) results.push(await db.knex.raw<{ rows: unknown[] }>(statement).connection(connection));
      return results;
    }
    const prefix = unopened;
    unopened = [];
    const all = [...prefix, ...statements.map(statementOf)];
    if (all.length === 0) return [];
    // Without bindings knex passes the text through as it is: one simple-protocol message, one
    // result per statement.
    const results = await db.knex.raw<{ rows: unknown[] } | { rows: unknown[] }[]>(all.join(';\n')).connection(connection);
    return (Array.isArray(results) ? results : [results]).slice(prefix.length);
  };
  const raw = async <R>(sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<{ rows: R[] }> => {
    if (unopened.length > 0) {
      // The first statement goes with the transaction's opening, its bindings written in as a
      // single session's are (inlineBindings): statements of a `rawOnly` work are ours.
      const statement = bindings.length === 0 ? sql : await inlineBindings(connection as SimpleQueryClient, sql, bindings);
      return ((await send([statement]))[0] ?? { rows: [] }) as { rows: R[] };
    }
    await settled();
    return db.knex.raw<{ rows: R[] }>(sql, bindings).connection(connection);
  };

  /**
   * The `raw` of a single-statement session (`SessionTransaction.single`): its one statement is
   * sent with the transaction, its settings and the commit around it, in one round trip.
   */
  const oneStatement = (mode: string): Session['raw'] => {
    const client = connection as SimpleQueryClient;
    let sent = false;
    return async <R>(sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<{ rows: R[] }> => {
      if (sent) throw new Error('a single-statement session was asked to run a second statement');
      sent = true;
      await settled();
      const statements = opening(client, mode, settings);
      const statement = await inlineBindings(client, sql, bindings);
      // Until the commit has run, a failure leaves the transaction open: the finally rolls it back.
      inTransaction = true;
      const results = await client.query(`${statements.join('; ')}; ${statement}; commit`);
      inTransaction = false;
      const all = Array.isArray(results) ? results : [results];
      return { rows: (all[statements.length]?.rows ?? []) as R[] };
    };
  };

  const readTimeout = db.mode === 'server' ? (connection as PgReadTimeout).connectionParameters : undefined;
  const savedReadTimeout = readTimeout?.query_timeout;
  let locked = false;
  let changedSettings = false;
  let inTransaction = false;
  const settings: [string, string][] = [];
  try {
    if (options.statementTimeoutMs !== undefined) settings.push(['statement_timeout', String(options.statementTimeoutMs)]);
    if (options.applicationName !== undefined) settings.push(['application_name', options.applicationName]);
    // Inside a caller's transaction (a knex transaction given as the database), the work joins it.
    const joined = (db.knex as { isTransaction?: boolean }).isTransaction === true;
    const transaction = joined ? undefined : options.transaction;
    settings.push(...Object.entries(options.transaction?.settings ?? {}));
    // A single statement on a server needs no first round trip: the pid is the connection's own
    // (from the server's key data), and the transaction goes with the statement.
    const single = transaction?.single === true && db.mode === 'server' ? transaction : undefined;
    // Nor one whose work only reads through `raw`: the transaction goes with its first statement.
    const deferred = single === undefined && transaction?.rawOnly === true && db.mode === 'server' ? transaction : undefined;
    const first =
      single !== undefined || deferred !== undefined
        ? { rows: [{ pid: (connection as SimpleQueryClient).processID ?? undefined }] }
        : await (
            transaction === undefined
              ? raw<{ pid: number }>(
                  `select pg_backend_pid() as pid${settings.map((_, i) => `, set_config(?, ?, false) as s${i}`).join('')}`,
                  settings.flat(),
                )
              : begin(db, connection, raw, transaction.mode, settings)
          ).catch((error: unknown) => {
            throw mapPostgresError(reasonFor(error));
          });
    if (deferred !== undefined) unopened = opening(connection as SimpleQueryClient, deferred.mode, settings);
    inTransaction = transaction !== undefined && single === undefined;
    changedSettings = settings.length > 0 && transaction === undefined;
    if (readTimeout !== undefined && options.statementTimeoutMs !== undefined) {
      // The client-side bound follows the server-side one: none for work that runs for minutes.
      readTimeout.query_timeout = options.statementTimeoutMs === 0 ? false : options.statementTimeoutMs + 5_000;
    }
    pid = first.rows[0]?.pid;
    if (options.signal?.aborted === true) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    // A single-statement session's one `raw`, which its `rawMany` goes through too: one guard.
    const one = single === undefined ? undefined : oneStatement(single.mode);
    const session: Session = {
      db,
      connection,
      pid,
      raw: one ?? raw,
      rawMany: one === undefined ? send : (statements) => oneOf(statements, one),
      transaction:
        single === undefined && deferred === undefined
          ? (fn, config) => db.knex.transaction(fn, { ...config, connection })
          : () =>
              Promise.reject(
                new Error(`a ${single === undefined ? 'raw-only' : 'single-statement'} session has no transactions`),
              ),
      reasonFor,
      settled,
    };
    if (options.advisoryLock !== undefined) {
      // A session-level lock, taken before the work's statements (and outside a single one).
      await takeAdvisoryLock({ ...session, raw }, options.advisoryLock, options.signal);
      locked = true;
    }
    const value = await work(session);
    if (inTransaction) {
      // A transaction never opened (a `rawOnly` work that ran nothing) has nothing to commit.
      if (unopened.length > 0) unopened = [];
      else await raw('commit');
      inTransaction = false;
    }
    return value;
  } catch (error) {
    // The server stopped answering: that, not the closed socket, is why the work failed.
    throw db.failure() ?? mapPostgresError(reasonFor(error));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // The cancel must land before the connection goes back to the pool, not on its next user.
    await settled();
    if (inTransaction && unopened.length === 0) await raw('rollback').catch(() => undefined);
    // If the connection broke, the server already dropped the lock and the settings with it.
    if (locked && options.advisoryLock !== undefined) {
      await raw('select pg_advisory_unlock(?, ?)', [...options.advisoryLock.key]).catch(() => undefined);
    }
    if (changedSettings) {
      await raw(`select set_config(name, reset_val, false) from pg_settings where name = any (?::text[])`, [
        settings.map(([name]) => name),
      ]).catch(() => undefined);
    }
    if (readTimeout !== undefined) readTimeout.query_timeout = savedReadTimeout;
    watch.stop();
    // knex discards a connection that errored instead of handing it out again.
    await pool.releaseConnection(connection);
  }
}

/**
 * One read statement on a pooled server connection, alone in autocommit, as a named prepared
 * statement (store/prepared-read.ts): it sees the snapshot it takes, with no transaction, settings
 * or commit around it, so on a connection that has run it before it costs one Bind and Execute.
 * For a report of one statement that reads maintained tables and index ranges: the pool's
 * connections have JIT off (store/database.ts), and it needs no larger work_mem. On abort its
 * backend is cancelled, as in withSession. `bindings` are knex's (`?`), sent as pg would send them.
 */
export async function readStatement<R>(
  db: Database,
  signal: AbortSignal | undefined,
  name: string,
  sql: string,
  bindings: readonly Knex.RawBinding[] = [],
): Promise<R[]> {
  if (db.mode !== 'server') throw new Error('readStatement needs a server');
  const prepared = await positionalForm(sql, bindings);
  const pool = sessionPool(db.knex);
  const connection = (await pool.acquireConnection().catch((error: unknown) => {
    throw mapPostgresError(error);
  })) as Parameters<typeof queryPrepared>[0];
  const watch = watchConnection(db, connection);
  const onAbort = (): void => watch.cancel((connection as SimpleQueryClient).processID ?? undefined);
  try {
    if (signal?.aborted === true) throw new InterruptedError('interrupted');
    signal?.addEventListener('abort', onAbort, { once: true });
    return await queryPrepared<R>(connection, { name, text: prepared.text }, prepared.values);
  } catch (error) {
    throw db.failure() ?? mapPostgresError(watch.reasonFor(error));
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await watch.settled();
    watch.stop();
    await pool.releaseConnection(connection);
  }
}

/** `rawMany` on a single-statement session: one statement, as its `raw`. */
async function oneOf(statements: readonly string[], raw: Session['raw']): Promise<{ rows: unknown[] }[]> {
  const [statement] = statements;
  if (statement === undefined) return [];
  if (statements.length > 1) throw new Error('a single-statement session was asked to run several statements');
  return [await raw(statement)];
}

/** `count` sessions held at once (for work split across connections), released in reverse. */
export async function withSessions<T>(
  db: Database,
  count: number,
  options: SessionOptions,
  work: (sessions: Session[]) => Promise<T>,
): Promise<T> {
  const held: Session[] = [];
  const next = async (): Promise<T> => {
    if (held.length >= count) return work(held);
    return withSession(db, options, async (session) => {
      held.push(session);
      return next();
    });
  };
  return next();
}
