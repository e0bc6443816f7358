import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import {
  ConflictError,
  InterruptedError,
  MigrationError,
  NotFoundError,
  ShiptrackError,
  UsageError,
  mapPostgresError,
} from '../errors.js';
import { findPackageRoot } from '../package-root.js';
import type { Config } from '../config.js';
import { countOption, durationOption, type OptionValue } from '../options.js';
import type { LintInput, LintResult } from './migration-lint.js';
import { quoteIdent } from '../store/copy.js';
import { readRowsWith, type Database, type ReadRows } from '../store/database.js';
import type { Resources } from '../store/resources.js';
import { withSession } from '../store/session.js';
import { compareText } from '../domain/units.js';

/**
 * A migration runner over knex, for what knex's own migrator lacks: checksums of applied files,
 * a lock that cannot go stale (a session advisory lock dies with its connection), non-transactional
 * migrations with a lock timeout, a dry run, and errors that name the file and the statement.
 */

export const migrationTable = 'shiptrack_migrations';
/** pg_locks shows this as classid 21781, objid 1. */
const lockClassId = 21781;
const lockObjectId = 1;

export interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  /** knex's convention: `export const config = { transaction: false }` for CREATE INDEX CONCURRENTLY. */
  config?: { transaction?: boolean };
  /** `export const lint = { accept: { 'index-not-concurrent': 'the table is empty at this point' } }`. */
  lint?: MigrationLintConfig;
}

/** Lint rules a migration accepts knowingly, each with the reason (`migrate lint`); recorded when applied. */
export interface MigrationLintConfig {
  accept?: Readonly<Record<string, string>>;
}

export interface MigrationFile {
  name: string;
  sourcePath: string;
  modulePath: string;
  checksum: string;
}

export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing';

export interface MigrationStatus {
  name: string;
  state: MigrationState;
  batch: number | null;
  appliedAt: Date | null;
  checksum: string;
  durationMs: number | null;
}

export interface InvalidIndex {
  schema: string;
  table: string;
  index: string;
}

export interface MigrationReport {
  migrations: MigrationStatus[];
  pending: number;
  problems: number;
  invalidIndexes: InvalidIndex[];
}

export interface MigrationRunResult {
  direction: 'up' | 'down';
  batch: number | null;
  /** The batches a rollback reverted (all of them, oldest first). */
  batches?: number[];
  migrations: { name: string; durationMs: number; transactional: boolean }[];
}

export interface DryRunResult {
  direction?: 'up' | 'down';
  migrations: { name: string; batch?: number | null; transactional: boolean; executed: boolean; statements: string[] }[];
}

export interface MigratorOptions {
  /** Folder of migration sources (`*.ts`, `*.js`, `*.mjs`, named `YYYYMMDDHHMMSS_name`). */
  directory: string;
  /** Folder of the compiled `.js` for `.ts` sources. */
  compiledDirectory: string;
  /**
   * A team's own migrations (`.js`/`.mjs` modules exporting `up(knex)` and `down(knex)`, no build
   * step), run after the ones in `directory`, with the same checksums, lock and history.
   */
  teamDirectory?: string | undefined;
  /** How long to wait for another migrator to finish. */
  lockWaitMs?: number;
  /** Bound on each statement (0: none, the default: index builds on big tables take long). */
  statementTimeoutMs?: number;
  signal?: AbortSignal;
  /** Progress lines ("applying x"), for stderr. */
  log?: (line: string) => void;
  /**
   * Attempts at a transactional migration whose lock was not granted within lock_timeout
   * (55P03) or that lost a deadlock (40P01): it rolled back whole, so it is run again after an
   * exponential backoff with jitter (default 5; 1: no retry). Each retry is reported with `log`.
   */
  lockAttempts?: number;
  /** The first backoff (default 500 ms; doubled each time, ±50 % jitter, at most 10 s). */
  lockBackoffMs?: number;
}

/** The sessions holding locks on this schema's tables now, longest-held first: who a DDL waited for. */
async function lockHolders(knex: Knex, conn: unknown): Promise<string[]> {
  try {
    const { rows } = await knex
      .raw<{
        rows: {
          pid: number;
          application: string;
          state: string;
          held_s: number;
          relation: string;
          mode: string;
          query: string;
        }[];
      }>(
        `select l.pid, coalesce(nullif(a.application_name, ''), a.usename::text) as application, a.state,
                round(extract(epoch from clock_timestamp() - a.xact_start))::int as held_s,
                l.relation::regclass::text as relation, l.mode
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.granted and l.locktype = 'relation' and l.pid <> pg_backend_pid() and a.datname = current_database()
            and l.relation in (select c.oid from pg_class c where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p'))
          order by a.xact_start nulls last
          limit 3`,
      )
      .connection(conn);
    return rows.map(
      (r) => `pid ${r.pid} (${r.application}, ${r.state}, in a transaction for ${r.held_s} s) holds ${r.mode} on ${r.relation}`,
    );
  } catch {
    return [];
  }
}

const lockRetryCodes = new Set(['55P03', '40P01']);

const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

const namePattern = /^(\d{14})_([a-z0-9_]+)\.(ts|js|mjs)$/;

/** The migrations shipped with shiptrack: sources in `migrations/`, compiled into `dist/migrations/`. */
export function defaultMigratorOptions(): Pick<MigratorOptions, 'directory' | 'compiledDirectory'> {
  const packageRoot = findPackageRoot();
  return {
    directory: path.join(packageRoot, 'migrations'),
    compiledDirectory: path.join(packageRoot, 'dist', 'migrations'),
  };
}

export function checksumOf(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/** The migration files on disk, in order. */
export function listMigrationFiles(
  options: Pick<MigratorOptions, 'directory' | 'compiledDirectory' | 'teamDirectory'>,
): MigrationFile[] {
  if (!existsSync(options.directory)) {
    throw new NotFoundError(`migrations folder not found: ${options.directory}`);
  }
  const files: MigrationFile[] = [];
  const seen = new Set<string>();
  const add = (directory: string, compiledDirectory: string, team: boolean): void => {
    for (const entry of readdirSync(directory).sort()) {
      if (entry.endsWith('.d.ts')) continue;
      const match = namePattern.exec(entry);
      if (!match) continue;
      if (team && match[3] === 'ts') {
        throw new UsageError(
          `${path.join(directory, entry)}: a team's migrations are .js or .mjs modules (there is no build step)`,
        );
      }
      const name = entry.slice(0, entry.lastIndexOf('.'));
      if (seen.has(name)) throw new ConflictError('duplicate_migration', `two migration files are named ${name}`);
      seen.add(name);
      const sourcePath = path.join(directory, entry);
      const modulePath = match[3] === 'ts' ? path.join(compiledDirectory, `${name}.js`) : sourcePath;
      files.push({ name, sourcePath, modulePath, checksum: checksumOf(readFileSync(sourcePath, 'utf8')) });
    }
  };
  add(options.directory, options.compiledDirectory, false);
  // A team's migrations come after shiptrack's own, whatever their dates.
  if (options.teamDirectory !== undefined && existsSync(options.teamDirectory))
    add(options.teamDirectory, options.teamDirectory, true);
  return files;
}

/** Where the build records the checksum of each migration source it compiled. */
const manifestName = 'checksums.json';

const manifests = new Map<string, ReadonlyMap<string, string>>();

/**
 * The checksums of the sources the build compiled, by migration name: a compiled migration is
 * current when its source's checksum matches, whatever the files' times say (a checkout, an
 * install from a package, a copy can all leave a source newer than its build).
 */
function builtChecksums(compiledDirectory: string): ReadonlyMap<string, string> {
  let manifest = manifests.get(compiledDirectory);
  if (manifest === undefined) {
    const file = path.join(compiledDirectory, manifestName);
    const entries = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
    manifest = new Map(Object.entries(entries));
    manifests.set(compiledDirectory, manifest);
  }
  return manifest;
}

/** Run by the build after compiling: records the checksum of every `.ts` migration source. */
export function writeBuildChecksums(options: Pick<MigratorOptions, 'directory' | 'compiledDirectory'>): number {
  const entries = listMigrationFiles(options)
    .filter((f) => f.sourcePath.endsWith('.ts'))
    .map((f) => [f.name, f.checksum] as const);
  mkdirSync(options.compiledDirectory, { recursive: true });
  writeFileSync(path.join(options.compiledDirectory, manifestName), `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`);
  return entries.length;
}

async function loadMigration(file: MigrationFile): Promise<MigrationModule> {
  if (!existsSync(file.modulePath)) {
    throw new MigrationError(`migration ${file.name} is not built (${path.basename(file.modulePath)} is missing)`, {
      hint: 'run `npm run build`',
    });
  }
  if (file.modulePath !== file.sourcePath && builtChecksums(path.dirname(file.modulePath)).get(file.name) !== file.checksum) {
    throw new MigrationError(`migration ${file.name} changed since it was built`, { hint: 'run `npm run build`' });
  }
  const mod = (await import(pathToFileURL(file.modulePath).href)) as Partial<MigrationModule>;
  if (typeof mod.up !== 'function' || typeof mod.down !== 'function') {
    throw new MigrationError(`migration ${file.name} must export async functions up(knex) and down(knex)`);
  }
  return mod as MigrationModule;
}

interface HistoryRow {
  name: string;
  batch: number;
  applied_at: Date;
  checksum: string;
  duration_ms: number;
}

async function ensureHistoryTable(q: Knex | Knex.Transaction, conn: unknown): Promise<void> {
  await q
    .raw(
      `create table if not exists ${migrationTable} (
        id integer generated by default as identity primary key,
        name text not null unique,
        batch integer not null,
        checksum char(64) not null,
        applied_at timestamptz not null default now(),
        duration_ms integer not null default 0
      )`,
    )
    .connection(conn);
  // The lint rules a migration accepted, with its reasons (added to histories made before).
  await q.raw(`alter table ${migrationTable} add column if not exists lint_accepted jsonb`).connection(conn);
}

async function readHistory(read: ReadRows): Promise<HistoryRow[]> {
  const found = await read<{ table: string | null }>(`select to_regclass('${migrationTable}') as "table"`);
  if (found[0]?.table == null) return [];
  return read<HistoryRow>(`select name, batch, applied_at, checksum, duration_ms from ${migrationTable} order by id`);
}

async function findInvalidIndexes(read: ReadRows): Promise<InvalidIndex[]> {
  return read<InvalidIndex>(
    `select n.nspname as schema, t.relname as "table", i.relname as index
       from pg_index x
       join pg_class i on i.oid = x.indexrelid
       join pg_class t on t.oid = x.indrelid
       join pg_namespace n on n.oid = i.relnamespace
      where not x.indisvalid and n.nspname not in ('pg_catalog', 'information_schema')
      order by 1, 2, 3`,
  );
}

function combine(files: MigrationFile[], history: HistoryRow[]): MigrationStatus[] {
  const byName = new Map(history.map((row) => [row.name, row]));
  const statuses: MigrationStatus[] = [];
  for (const file of files) {
    const row = byName.get(file.name);
    byName.delete(file.name);
    statuses.push({
      name: file.name,
      state: row === undefined ? 'pending' : row.checksum.trim() === file.checksum ? 'applied' : 'changed',
      batch: row?.batch ?? null,
      appliedAt: row?.applied_at ?? null,
      checksum: file.checksum,
      durationMs: row?.duration_ms ?? null,
    });
  }
  for (const row of byName.values()) {
    statuses.push({
      name: row.name,
      state: 'missing',
      batch: row.batch,
      appliedAt: row.applied_at,
      checksum: row.checksum.trim(),
      durationMs: row.duration_ms,
    });
  }
  return statuses.sort((a, b) => compareText(a.name, b.name));
}

/** Applied, pending, changed and missing migrations, and indexes left invalid by failed builds. */
export function getMigrationStatus(db: Database, options: MigratorOptions): Promise<MigrationReport> {
  return migrationStatusFrom(readRowsWith(db.knex), options);
}

/** The same, read with `read` (Resources.readRows: without knex in a short-lived process). */
export async function migrationStatusFrom(read: ReadRows, options: MigratorOptions): Promise<MigrationReport> {
  const files = listMigrationFiles(options);
  try {
    const [history, invalidIndexes] = await Promise.all([readHistory(read), findInvalidIndexes(read)]);
    const migrations = combine(files, history);
    return {
      migrations,
      pending: migrations.filter((m) => m.state === 'pending').length,
      problems: migrations.filter((m) => m.state === 'changed' || m.state === 'missing').length,
      invalidIndexes,
    };
  } catch (error) {
    throw mapPostgresError(error);
  }
}

function assertNoDrift(statuses: MigrationStatus[]): void {
  const drift = statuses.filter((m) => m.state === 'changed' || m.state === 'missing');
  if (drift.length === 0) return;
  const lines = drift.map((m) =>
    m.state === 'changed' ? `${m.name}: file changed after it was applied` : `${m.name}: applied, but its file is gone`,
  );
  throw new ConflictError(
    'migration_checksum_mismatch',
    `applied migrations do not match their files:\n  ${lines.join('\n  ')}`,
    {
      hint: 'restore the original files; to change the schema, add a new migration (`shiptrack migrate make <name>`)',
      details: { migrations: drift.map((m) => ({ name: m.name, state: m.state })) },
    },
  );
}

/** Holds the migration lock on one dedicated connection for the duration of `work`. */
async function withMigrationLock<T>(db: Database, options: MigratorOptions, work: (conn: unknown) => Promise<T>): Promise<T> {
  const lock = {
    key: [lockClassId, lockObjectId] as const,
    waitMs: options.lockWaitMs ?? 60_000,
    onWait: () => options.log?.('waiting for another migration run to finish…'),
    busy: () =>
      new ConflictError('migration_locked', 'another process is running migrations and did not finish in time', {
        hint: '`shiptrack migrate unlock` shows which session holds the lock',
      }),
  };
  const session = {
    // Ctrl-C cancels the running statement from another session; its transaction rolls back.
    signal: options.signal,
    advisoryLock: lock,
    statementTimeoutMs: options.statementTimeoutMs ?? 0,
    applicationName: 'shiptrack migrate',
  };
  return withSession(db, session, (s) => work(s.connection));
}

/** Failures a migration meets that are not its fault, reported with their own exit codes. */
const ownExits = new Set(['store_unavailable', 'statement_timeout', 'lock_timeout', 'deadlock', 'permission_denied']);

function describeFailure(
  file: MigrationFile,
  error: unknown,
  sql: string | undefined,
  options: { signal?: AbortSignal | undefined; transactional: boolean },
): Error {
  if (options.signal?.aborted) {
    if (options.transactional)
      return new InterruptedError(`interrupted while applying ${file.name}; its changes were rolled back`);
    // shiptrack's own migrations build indexes with createIndexConcurrently, which drops an invalid
    // one and builds it again; a team's migration (.mjs/.js) runs its own SQL, which would stop on it.
    const own = file.sourcePath.endsWith('.ts');
    const outside = `interrupted while applying ${file.name}, which runs outside a transaction: the statements before the one interrupted stay applied`;
    return own
      ? new InterruptedError(`${outside}; an index build left invalid is dropped and rebuilt by the next run`, {
          hint: 'run `shiptrack migrate latest` again to finish it',
        })
      : new InterruptedError(
          `${outside}; an index build it interrupted is left invalid (\`shiptrack migrate status\` lists it)`,
          {
            hint: 'drop the invalid index (`drop index concurrently <name>`), then run `shiptrack migrate latest` again',
          },
        );
  }
  if (error instanceof ShiptrackError) return error;
  const pg = error as { code?: string; message?: string; position?: string };
  let message = pg.message ?? String(error);
  // knex prefixes the SQL to the driver message: keep the driver's words, show the SQL separately.
  if (sql !== undefined && message.startsWith(sql)) message = message.slice(sql.length).replace(/^ - /, '');
  const sqlstate = pg.code !== undefined && /^[0-9A-Z]{5}$/.test(pg.code) ? pg.code : undefined;
  const details = {
    file: path.basename(file.sourcePath),
    ...(sqlstate === undefined ? {} : { sqlstate }),
    ...(sql === undefined ? {} : { sql: sql.length > 2000 ? `${sql.slice(0, 2000)}…` : sql }),
  };
  const hint = sql === undefined ? undefined : `statement: ${sql.replace(/\s+/g, ' ').slice(0, 300)}`;
  const mapped = mapPostgresError(error);
  // A store that went away, a lock not granted in time, a privilege the role lacks: their own
  // exit codes (5, 4, 6), named with the migration.
  if (mapped instanceof ShiptrackError && ownExits.has(mapped.code)) {
    const holders = (error as { holders?: string[] }).holders ?? [];
    const held = holders.length > 0 ? `; held by ${holders.join('; ')}` : '';
    return new ShiptrackError(mapped.code, mapped.exitCode, `migration ${details.file}: ${mapped.message}${held}`, {
      cause: error,
      details: { ...details, ...mapped.details },
      hint: mapped.hint ?? hint,
    });
  }
  const state = sqlstate === undefined ? '' : ` (SQLSTATE ${sqlstate})`;
  return new MigrationError(`migration ${details.file} failed: ${message}${state}`, { cause: error, details, hint });
}

/** Records the statement that failed (or else the last one sent), so a failure can name it. */
function trackStatements(knex: Knex): { last(): string | undefined; stop(): void } {
  let last: string | undefined;
  let failed: string | undefined;
  const onQuery = (query: { sql?: string }): void => {
    last = query.sql;
  };
  const onError = (_error: unknown, query: { sql?: string }): void => {
    failed ??= query.sql;
  };
  knex.on('query', onQuery);
  knex.on('query-error', onError);
  return {
    last: () => failed ?? last,
    stop: () => {
      knex.removeListener('query', onQuery);
      knex.removeListener('query-error', onError);
    },
  };
}

async function applyOne(
  knex: Knex,
  conn: unknown,
  file: MigrationFile,
  direction: 'up' | 'down',
  batch: number,
  options: MigratorOptions,
): Promise<{ durationMs: number; transactional: boolean }> {
  const mod = await loadMigration(file);
  const transactional = mod.config?.transaction !== false;
  const tracker = trackStatements(knex);
  const started = performance.now();
  const record = async (q: Knex | Knex.Transaction, durationMs: number): Promise<void> => {
    if (direction === 'up') {
      await q
        .raw(`insert into ${migrationTable} (name, batch, checksum, duration_ms, lint_accepted) values (?, ?, ?, ?, ?)`, [
          file.name,
          batch,
          file.checksum,
          Math.round(durationMs),
          mod.lint?.accept === undefined ? null : JSON.stringify(mod.lint.accept),
        ])
        .connection(conn);
    } else {
      await q.raw(`delete from ${migrationTable} where name = ?`, [file.name]).connection(conn);
    }
  };
  try {
    if (transactional) {
      const attempts = Math.max(1, options.lockAttempts ?? 5);
      for (let attempt = 1; ; attempt += 1) {
        try {
          await knex.transaction(
            async (trx) => {
              await mod[direction](trx);
              if (options.signal?.aborted) throw new InterruptedError();
              await record(trx, performance.now() - started);
            },
            { connection: conn } as Knex.TransactionConfig,
          );
          break;
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (typeof code !== 'string' || !lockRetryCodes.has(code) || options.signal?.aborted === true) throw error;
          const holders = await lockHolders(knex, conn);
          if (attempt >= attempts) {
            // Named with who holds the lock now, for the exit-4 error.
            (error as { holders?: string[] }).holders = holders;
            throw error;
          }
          const base = (options.lockBackoffMs ?? 500) * 2 ** (attempt - 1);
          const waitMs = Math.round(Math.min(10_000, base * (0.5 + Math.random())));
          const what = code === '40P01' ? 'lost a deadlock' : 'did not get its lock in time';
          options.log?.(
            `${file.name} ${what} (attempt ${attempt} of ${attempts}); retrying in ${(waitMs / 1000).toFixed(1)} s` +
              (holders.length > 0 ? `; ${holders[0]}` : ''),
          );
          await sleep(waitMs, undefined, { signal: options.signal }).catch(() => undefined);
          // A function, not the narrowed property: Ctrl-C may have come during the wait.
          if (isAborted(options.signal)) throw new InterruptedError();
        }
      }
    } else {
      // Statements run one by one in autocommit, bounded by lock_timeout on this session.
      await mod[direction](bindToConnection(knex, conn));
      await record(knex, performance.now() - started);
    }
  } catch (error) {
    throw describeFailure(file, error, tracker.last(), { signal: options.signal, transactional });
  } finally {
    tracker.stop();
  }
  return { durationMs: performance.now() - started, transactional };
}

/**
 * A knex whose every query runs on one connection (the one holding the lock). Used for
 * non-transactional migrations, where statements must run outside a transaction block.
 */
function bindToConnection(knex: Knex, conn: unknown): Knex {
  const bound = knex.withUserParams({});
  const client = bound.client as Knex.Client & {
    acquireConnection(): Promise<unknown>;
    releaseConnection(c: unknown): Promise<void>;
  };
  client.acquireConnection = () => Promise.resolve(conn);
  client.releaseConnection = () => Promise.resolve();
  return bound;
}

export async function migrateLatest(db: Database, options: MigratorOptions): Promise<MigrationRunResult> {
  return migrateUp(db, options, Number.POSITIVE_INFINITY);
}

/** Applies up to `count` pending migrations as one batch. */
export async function migrateUp(db: Database, options: MigratorOptions, count = 1): Promise<MigrationRunResult> {
  const files = listMigrationFiles(options);
  return withMigrationLock(db, options, async (conn) => {
    await ensureHistoryTable(db.knex, conn);
    const history = await readHistory(readRowsWith(db.knex, conn));
    const statuses = combine(files, history);
    assertNoDrift(statuses);
    const pending = files.filter((f) => !history.some((h) => h.name === f.name)).slice(0, count);
    const batch = pending.length === 0 ? null : Math.max(0, ...history.map((h) => h.batch)) + 1;
    const result: MigrationRunResult = { direction: 'up', batch, migrations: [] };
    for (const file of pending) {
      if (options.signal?.aborted) throw new InterruptedError(`interrupted before ${file.name}`);
      options.log?.(`applying ${file.name}`);
      const applied = await applyOne(db.knex, conn, file, 'up', batch ?? 1, options);
      result.migrations.push({ name: file.name, ...applied });
    }
    return result;
  });
}

export type RollbackScope = { kind: 'count'; count: number } | { kind: 'batch' } | { kind: 'all' };

/** Reverts the last migration(s): by count, the last batch, or everything. */
/** The applied migrations a rollback of `scope` reverts, newest first. */
function revertTargets(history: readonly HistoryRow[], scope: RollbackScope): HistoryRow[] {
  const applied = [...history].reverse();
  if (scope.kind === 'all') return applied;
  if (scope.kind === 'batch') return applied.filter((h) => h.batch === applied[0]?.batch);
  return applied.slice(0, scope.count);
}

export async function migrateDown(db: Database, options: MigratorOptions, scope: RollbackScope): Promise<MigrationRunResult> {
  const files = listMigrationFiles(options);
  return withMigrationLock(db, options, async (conn) => {
    await ensureHistoryTable(db.knex, conn);
    const history = await readHistory(readRowsWith(db.knex, conn));
    assertNoDrift(combine(files, history));
    const targets = revertTargets(history, scope);
    const batches = [...new Set(targets.map((t) => t.batch))].sort((x, y) => x - y);
    const result: MigrationRunResult = { direction: 'down', batch: targets[0]?.batch ?? null, batches, migrations: [] };
    for (const row of targets) {
      const file = files.find((f) => f.name === row.name);
      if (file === undefined) throw new NotFoundError(`migration file for ${row.name} is gone`);
      if (options.signal?.aborted) throw new InterruptedError(`interrupted before reverting ${file.name}`);
      options.log?.(`reverting ${file.name}`);
      const reverted = await applyOne(db.knex, conn, file, 'down', row.batch, options);
      result.migrations.push({ name: file.name, ...reverted });
    }
    return result;
  });
}

export async function dryRunLatest(db: Database, options: MigratorOptions): Promise<DryRunResult> {
  return dryRun(db, options, 'latest');
}

/** What `migrate down`/`rollback` would run, executed and rolled back like `latest --dry-run`. */
export async function dryRunDown(db: Database, options: MigratorOptions, scope: RollbackScope): Promise<DryRunResult> {
  return dryRun(db, options, scope);
}

/**
 * Runs the migrations a `latest` (up) or a rollback (down) would run inside one transaction that
 * is rolled back, recording every statement: the server checks the SQL, nothing changes.
 * Non-transactional migrations are only recorded.
 */
async function dryRun(db: Database, options: MigratorOptions, plan: 'latest' | RollbackScope): Promise<DryRunResult> {
  const files = listMigrationFiles(options);
  return withMigrationLock(db, options, async (conn) => {
    const history = await readHistory(readRowsWith(db.knex, conn));
    assertNoDrift(combine(files, history));
    const direction = plan === 'latest' ? 'up' : 'down';
    const chosen =
      plan === 'latest'
        ? files.filter((f) => !history.some((h) => h.name === f.name)).map((file) => ({ file, batch: null }))
        : revertTargets(history, plan).map((row) => ({ file: files.find((f) => f.name === row.name), batch: row.batch }));
    const result: DryRunResult = { direction, migrations: [] };
    const rollback = new Error('dry run');
    await db.knex
      .transaction(
        async (trx) => {
          for (const { file, batch } of chosen) {
            if (file === undefined) continue;
            const mod = await loadMigration(file);
            const transactional = mod.config?.transaction !== false;
            const statements: string[] = [];
            const recorder = await createRecordingKnex(statements);
            const listener = (query: { sql?: string; bindings?: unknown[] }): void => {
              if (query.sql !== undefined) statements.push(inlineBindings(db.knex, query.sql, query.bindings));
            };
            try {
              if (transactional) {
                trx.on('query', listener);
                await mod[direction](trx).catch((error: unknown) => {
                  throw describeFailure(file, error, statements.at(-1), { transactional });
                });
              } else {
                await mod[direction](recorder);
              }
            } finally {
              trx.removeListener('query', listener);
              await recorder.destroy();
            }
            result.migrations.push({ name: file.name, batch, transactional, executed: transactional, statements });
          }
          throw rollback;
        },
        { connection: conn } as Knex.TransactionConfig,
      )
      .catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
    return result;
  });
}

function inlineBindings(knex: Knex, sql: string, bindings: unknown[] | undefined): string {
  if (bindings === undefined || bindings.length === 0) return sql;
  try {
    return knex.raw(sql.replace(/\$\d+/g, '?'), bindings as readonly Knex.RawBinding[]).toQuery();
  } catch {
    return sql;
  }
}

/** A knex that records SQL instead of sending it; reads return no rows. */
async function createRecordingKnex(statements: string[]): Promise<Knex> {
  const { knex: knexFactory, PgDialect: PgClient } = await import('../store/knex-driver.js');
  class RecordingClient extends PgClient {
    override acquireConnection(): Promise<never> {
      return Promise.resolve({} as never);
    }
    override releaseConnection(): Promise<void> {
      return Promise.resolve();
    }
    _query(_conn: unknown, obj: { sql: string; bindings?: unknown[]; response?: unknown }): Promise<unknown> {
      statements.push(obj.bindings?.length ? `${obj.sql} -- bindings: ${JSON.stringify(obj.bindings)}` : obj.sql);
      obj.response = { rows: [], rowCount: 0, command: 'SELECT', fields: [] };
      return Promise.resolve(obj);
    }
  }
  return knexFactory({ client: RecordingClient as unknown as typeof Knex.Client, version: '15' });
}

/**
 * The statements a migration's `up` sends, recorded without a database (queries it makes to
 * decide what to do get no rows): what `migrate lint` reads.
 */
export async function recordMigrationStatements(file: MigrationFile): Promise<LintInput> {
  const mod = await loadMigration(file);
  const statements: string[] = [];
  const recorder = await createRecordingKnex(statements);
  try {
    await mod.up(recorder);
  } finally {
    await recorder.destroy();
  }
  return {
    name: file.name,
    sourcePath: file.sourcePath,
    transactional: mod.config?.transaction !== false,
    statements,
    accept: mod.lint?.accept ?? {},
  };
}

/** Lints `files` against the database's tables as they are now. */
export async function lintFiles(db: Database, files: readonly MigrationFile[]): Promise<LintResult> {
  const { catalogTables, lintMigrations } = await import('./migration-lint.js');
  const inputs: LintInput[] = [];
  for (const file of files) inputs.push(await recordMigrationStatements(file));
  return lintMigrations(inputs, await catalogTables(db.knex));
}

/** The pending migrations, linted: what `latest` checks before it applies anything. */
export async function lintPending(db: Database, options: MigratorOptions): Promise<LintResult> {
  const files = listMigrationFiles(options);
  const applied = new Set((await readHistory(readRowsWith(db.knex))).map((h) => h.name));
  return lintFiles(
    db,
    files.filter((f) => !applied.has(f.name)),
  );
}

function lintRefusal(result: LintResult): ConflictError {
  const blocking = result.findings.filter((f) => f.blocking);
  const lines = blocking.map((f) => `${f.migration}${f.line === null ? '' : `:${f.line}`} ${f.rule}: ${f.message} — ${f.fix}`);
  return new ConflictError(
    'migration_lint',
    `nothing applied: ${blocking.length} statement(s) would lock a busy table:\n  ${lines.join('\n  ')}`,
    {
      hint: "rewrite them the safe way, or accept a rule in the migration with a reason: export const lint = { accept: { '<rule>': '<why>' } }",
      details: { findings: blocking },
    },
  );
}

export interface LockHolder {
  pid: number;
  applicationName: string;
  state: string | null;
  since: Date | null;
  query: string | null;
}

/** Who holds the migration lock, and with `terminate`, ends that session (which frees it). */
export async function unlockMigrations(
  db: Database,
  terminate: boolean,
): Promise<{ holder: LockHolder | null; terminated: boolean }> {
  try {
    const result = await db.knex.raw<{ rows: LockHolder[] }>(
      `select l.pid, coalesce(a.application_name, '') as "applicationName", a.state,
              a.backend_start as since, left(a.query, 200) as query
         from pg_locks l left join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.classid = ? and l.objid = ? and l.granted`,
      [lockClassId, lockObjectId],
    );
    const holder = result.rows[0] ?? null;
    if (holder === null || !terminate) return { holder, terminated: false };
    const ended = await db.knex.raw<{ rows: { ok: boolean }[] }>('select pg_terminate_backend(?) as ok', [holder.pid]);
    return { holder, terminated: ended.rows[0]?.ok === true };
  } catch (error) {
    throw mapPostgresError(error);
  }
}

const typeScriptTemplate = `import type { Knex } from 'knex';

// Why this migration exists, and the query plan or incident it answers.

// Set { transaction: false } for CREATE INDEX CONCURRENTLY (see createIndexConcurrently).
export const config = { transaction: true };

export function up(_knex: Knex): Promise<void> {
  // return runStatements(_knex, [\`alter table …\`]);
  return Promise.resolve();
}

export function down(_knex: Knex): Promise<void> {
  return Promise.resolve();
}
`;

const moduleTemplate = `// Why this migration exists, and the query plan or incident it answers.
// Runs after shiptrack's own migrations, in name order, each in a transaction of its own.

// Set { transaction: false } for CREATE INDEX CONCURRENTLY, one statement per knex.raw call.
export const config = { transaction: true };

/** @param {import('knex').Knex} knex */
export async function up(knex) {
  // await knex.raw('alter table packages add column customs_form text');
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  // await knex.raw('alter table packages drop column customs_form');
}
`;

/**
 * Writes a new migration file named with the current UTC time: TypeScript in shiptrack's own
 * folder (built with the rest), a plain module in a team's folder (no build step). Valid as
 * written: an unedited migration does nothing.
 */
export function makeMigration(directory: string, name: string, options: { module?: boolean; now?: Date } = {}): string {
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (slug === '' || slug.length > 100)
    throw new UsageError(`"${name}" is not a usable migration name (use letters, digits and _)`);
  const stamp = (options.now ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14);
  const file = path.join(directory, `${stamp}_${slug}.${options.module === true ? 'mjs' : 'ts'}`);
  if (existsSync(file)) throw new ConflictError('migration_exists', `${file} already exists`);
  mkdirSync(directory, { recursive: true });
  writeFileSync(file, options.module === true ? moduleTemplate : typeScriptTemplate, { flag: 'wx' });
  return file;
}

/** How a migration run is asked for, by a command or a program. */
export interface MigrateRequest {
  /** A folder of migrations other than the ones shipped with shiptrack (sources and their builds). */
  directory?: string | undefined;
  /** How long to wait for another migration run (default 60s). */
  lockWait?: OptionValue | undefined;
  /** Bound on each statement (default 0: none; index builds on big tables take long). */
  statementTimeout?: OptionValue | undefined;
  /**
   * Attempts at a migration whose lock was not granted within lock_timeout, or that lost a
   * deadlock (1–20, default 5): each retry after an exponential backoff with jitter.
   */
  lockAttempts?: OptionValue | undefined;
  signal?: AbortSignal | undefined;
  /** Progress lines ("applying x"). */
  log?: ((line: string) => void) | undefined;
}

/**
 * A team's own migrations folder: SHIPTRACK_MIGRATIONS_DIR, else `./migrations` of the folder the
 * command runs in when it exists and is not shiptrack's own (in shiptrack's repository it is).
 */
export function teamMigrationsDirectory(config: Pick<Config, 'migrationsDir'>, cwd = process.cwd()): string | undefined {
  const shipped = path.resolve(defaultMigratorOptions().directory);
  const candidate = config.migrationsDir ?? path.resolve(cwd, 'migrations');
  if (path.resolve(candidate) === shipped) return undefined;
  if (config.migrationsDir === undefined && !existsSync(candidate)) return undefined;
  return candidate;
}

/** The runner's options from a request, checked before any store is opened. */
export function migratorFor(request: MigrateRequest, config?: Pick<Config, 'migrationsDir'>): MigratorOptions {
  const shipped = defaultMigratorOptions();
  const directory = request.directory === undefined ? undefined : path.resolve(request.directory);
  return {
    directory: directory ?? shipped.directory,
    compiledDirectory: directory ?? shipped.compiledDirectory,
    // --dir (tests, and a migration folder of one's own) replaces the folders altogether.
    teamDirectory: directory === undefined && config !== undefined ? teamMigrationsDirectory(config) : undefined,
    lockWaitMs: durationOption(request.lockWait ?? '60s', '--lock-wait', { min: 0, max: 86_400_000 }),
    statementTimeoutMs: durationOption(request.statementTimeout ?? 0, '--statement-timeout', { min: 0, max: 86_400_000 }),
    lockAttempts: countOption(request.lockAttempts ?? 5, '--lock-attempts', 1, 20),
    signal: request.signal,
    log: request.log,
  };
}

export interface LatestResult extends MigrationRunResult {
  /** MongoDB's collections and indexes, set up after the schema (only with MongoDB configured). */
  documents?: { kind: string; ready: boolean } | undefined;
}

/** `migrate latest`: every pending migration, then the document store's collections. */
export async function migrateToLatest(resources: Resources, request: MigrateRequest = {}): Promise<LatestResult> {
  const migrator = migratorFor(request, resources.config);
  const db = await resources.database();
  // Nothing is applied while a pending statement would lock a busy table (migrate lint).
  const linted = await lintPending(db, migrator);
  if (!linted.ok) throw lintRefusal(linted);
  const result = await migrateLatest(db, migrator);
  if (resources.config.mongoUrl === undefined) return result;
  const store = await resources.documents();
  await store.ensureSchema();
  return { ...result, documents: { kind: store.kind, ready: true } };
}

/** `migrate latest --dry-run`: the SQL each pending migration would run; nothing changes. */
export async function previewMigrations(resources: Resources, request: MigrateRequest = {}): Promise<DryRunResult> {
  const migrator = migratorFor(request, resources.config);
  return dryRunLatest(await resources.database(), migrator);
}

/** `migrate up`: the next `count` pending migrations, as one batch. */
export async function applyMigrations(
  resources: Resources,
  count: OptionValue,
  request: MigrateRequest = {},
): Promise<MigrationRunResult> {
  const n = countOption(count, '--count', 1, 1_000_000);
  const migrator = migratorFor(request, resources.config);
  return migrateUp(await resources.database(), migrator, n);
}

/** What a rollback would revert, and the tables it would drop with the rows they hold now. */
export interface RevertPlan extends DryRunResult {
  batches: number[];
  drops: { table: string; rows: number }[];
}

/** Table names a statement drops: `drop table [if exists] a, "b" [cascade]`. */
function droppedTables(statement: string): string[] {
  const match = /^\s*drop\s+table\s+(?:if\s+exists\s+)?(.+?)(?:\s+(?:cascade|restrict))?\s*;?\s*$/is.exec(statement);
  if (match === null) return [];
  return (match[1] ?? '').split(',').map((t) => t.trim().replace(/"/g, ''));
}

/** `migrate down/rollback --dry-run`: the SQL a rollback would run, and what it would drop. */
export async function previewRevert(
  resources: Resources,
  scope: RollbackScope,
  request: MigrateRequest = {},
): Promise<RevertPlan> {
  const migrator = migratorFor(request, resources.config);
  const db = await resources.database();
  const preview = await dryRunDown(db, migrator, scope);
  const batches = [...new Set(preview.migrations.flatMap((m) => (m.batch == null ? [] : [m.batch])))].sort((a, b) => a - b);
  const tables = [...new Set(preview.migrations.flatMap((m) => m.statements.flatMap(droppedTables)))];
  const drops: RevertPlan['drops'] = [];
  try {
    for (const table of tables) {
      const estimate = await db.knex.raw<{ rows: { n: number | null }[] }>(
        'select greatest(reltuples, 0)::bigint as n from pg_class where oid = to_regclass(?)',
        [table],
      );
      const approx = estimate.rows[0]?.n;
      if (approx === null || approx === undefined) continue;
      const exact =
        approx > 1_000_000
          ? approx
          : ((
              await db.knex.raw<{ rows: { n: number }[] }>(
                `select count(*)::bigint as n from ${table.split('.').map(quoteIdent).join('.')}`,
              )
            ).rows[0]?.n ?? 0);
      drops.push({ table, rows: exact });
    }
  } catch (error) {
    throw mapPostgresError(error);
  }
  return { ...preview, batches, drops };
}

/**
 * `migrate down` (a count) and `migrate rollback` (the last batch, or all). With `confirm`, the
 * plan (what it reverts and drops) is shown to it first, and nothing is reverted unless it says yes.
 */
export async function revertMigrations(
  resources: Resources,
  scope: RollbackScope,
  request: MigrateRequest & { confirm?: ((plan: RevertPlan) => Promise<boolean>) | undefined } = {},
): Promise<MigrationRunResult> {
  if (scope.kind === 'count') countOption(scope.count, '--count', 1, 1_000_000);
  const migrator = migratorFor(request, resources.config);
  if (request.confirm !== undefined) {
    const plan = await previewRevert(resources, scope, request);
    if (plan.migrations.length > 0 && !(await request.confirm(plan))) {
      throw new InterruptedError('nothing was reverted');
    }
  }
  return migrateDown(await resources.database(), migrator, scope);
}
/** `migrate status`: each migration's state, and invalid indexes left by interrupted builds. */
export async function readMigrationStatus(resources: Resources, request: MigrateRequest = {}): Promise<MigrationReport> {
  const migrator = migratorFor(request, resources.config);
  return migrationStatusFrom(await resources.readRows(), migrator);
}

/** The record of deliberate changes to the history: repairs and baselines, with who and why. */
const repairTable = 'shiptrack_migration_repairs';

async function ensureRepairTable(knex: Knex, conn: unknown): Promise<void> {
  await knex
    .raw(
      `create table if not exists ${repairTable} (
        id integer generated by default as identity primary key,
        kind text not null check (kind in ('repair', 'baseline')),
        name text not null,
        old_checksum char(64),
        new_checksum char(64) not null,
        reason text not null,
        done_by text not null default current_user,
        done_at timestamptz not null default now()
      )`,
    )
    .connection(conn);
}

/** A reason is required, and kept: printable, 1–500 characters. */
function checkReason(reason: string | undefined): string {
  const text = (reason ?? '').trim();
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (text === '' || text.length > 500 || /[\u0000-\u001f\u007f]/.test(text)) {
    throw new UsageError('--reason: say why, in 1–500 printable characters (it is recorded with the change)');
  }
  return text;
}

export interface HistoryChange {
  name: string;
  /** The checksum recorded before (null for a baseline, which records the migration afresh). */
  from: string | null;
  to: string;
}

/**
 * `migrate repair`: after a reviewed, deliberate edit of applied migrations, records their files'
 * checksums as the applied ones (Flyway's repair), each with the reason, in
 * shiptrack_migration_repairs. Only migrations whose file changed; all of them, or those named.
 * A migration whose file is gone is not repaired: restore the file.
 */
export async function repairMigrations(
  db: Database,
  options: MigratorOptions,
  request: { names?: readonly string[]; reason?: string },
): Promise<{ repaired: HistoryChange[] }> {
  const reason = checkReason(request.reason);
  return withMigrationLock(db, options, async (conn) => {
    const statuses = combine(listMigrationFiles(options), await readHistory(readRowsWith(db.knex, conn)));
    const wanted = request.names === undefined || request.names.length === 0 ? undefined : new Set(request.names);
    for (const name of wanted ?? []) {
      const status = statuses.find((m) => m.name === name);
      if (status === undefined) throw new UsageError(`no migration ${name} (shiptrack migrate status lists them)`);
      if (status.state === 'missing') {
        throw new ConflictError('migration_missing', `${name} is applied but its file is gone: restore the file, repair cannot`);
      }
      if (status.state !== 'changed')
        throw new UsageError(`${name} is ${status.state}: only a changed migration can be repaired`);
    }
    const history = new Map((await readHistory(readRowsWith(db.knex, conn))).map((r) => [r.name, r.checksum.trim()]));
    const changed = statuses.filter((m) => m.state === 'changed' && (wanted === undefined || wanted.has(m.name)));
    await ensureRepairTable(db.knex, conn);
    const repaired: HistoryChange[] = [];
    await db.knex.transaction(
      async (trx) => {
        for (const m of changed) {
          const from = history.get(m.name) ?? null;
          await trx.raw(`update ${migrationTable} set checksum = ? where name = ?`, [m.checksum, m.name]);
          await trx.raw(
            `insert into ${repairTable} (kind, name, old_checksum, new_checksum, reason) values ('repair', ?, ?, ?, ?)`,
            [m.name, from, m.checksum, reason],
          );
          repaired.push({ name: m.name, from, to: m.checksum });
        }
      },
      { connection: conn } as Knex.TransactionConfig,
    );
    return { repaired };
  });
}

/**
 * `migrate baseline`: for a database whose schema was made by hand (or by another tool), records
 * the migrations up to `through` (default: all) as applied without running them, in batch 0, each
 * with the reason. Refused when any migration is recorded already.
 */
export async function baselineMigrations(
  db: Database,
  options: MigratorOptions,
  request: { through?: string; reason?: string },
): Promise<{ baselined: HistoryChange[] }> {
  const reason = checkReason(request.reason);
  return withMigrationLock(db, options, async (conn) => {
    const files = listMigrationFiles(options);
    const end = request.through === undefined ? files.length - 1 : files.findIndex((f) => f.name === request.through);
    if (end < 0) throw new UsageError(`--through: no migration ${request.through ?? ''} (shiptrack migrate status lists them)`);
    await ensureHistoryTable(db.knex, conn);
    if ((await readHistory(readRowsWith(db.knex, conn))).length > 0) {
      throw new ConflictError(
        'migrations_recorded',
        'this database has migrations recorded already: baseline is for one that has none',
        {
          hint: '`shiptrack migrate status` shows them; `migrate repair` re-records a changed file',
        },
      );
    }
    await ensureRepairTable(db.knex, conn);
    const baselined: HistoryChange[] = [];
    await db.knex.transaction(
      async (trx) => {
        for (const file of files.slice(0, end + 1)) {
          await trx.raw(`insert into ${migrationTable} (name, batch, checksum, duration_ms) values (?, 0, ?, 0)`, [
            file.name,
            file.checksum,
          ]);
          await trx.raw(
            `insert into ${repairTable} (kind, name, old_checksum, new_checksum, reason) values ('baseline', ?, null, ?, ?)`,
            [file.name, file.checksum, reason],
          );
          baselined.push({ name: file.name, from: null, to: file.checksum });
        }
      },
      { connection: conn } as Knex.TransactionConfig,
    );
    return { baselined };
  });
}

export async function repairHistory(
  resources: Resources,
  request: MigrateRequest & { names?: readonly string[]; reason?: string },
): Promise<{ repaired: HistoryChange[] }> {
  const migrator = migratorFor(request, resources.config);
  return repairMigrations(await resources.database(), migrator, request);
}

export async function baselineHistory(
  resources: Resources,
  request: MigrateRequest & { through?: string; reason?: string },
): Promise<{ baselined: HistoryChange[] }> {
  const migrator = migratorFor(request, resources.config);
  return baselineMigrations(await resources.database(), migrator, request);
}

/** `migrate lint`: the pending migrations (or those named, or all of them), linted. */
export async function lintHistory(
  resources: Resources,
  request: MigrateRequest & { names?: readonly string[]; all?: boolean },
): Promise<LintResult> {
  const migrator = migratorFor(request, resources.config);
  const db = await resources.database();
  if (request.all !== true && (request.names === undefined || request.names.length === 0)) return lintPending(db, migrator);
  const files = listMigrationFiles(migrator);
  const wanted = request.names === undefined || request.names.length === 0 ? undefined : new Set(request.names);
  for (const name of wanted ?? []) {
    if (!files.some((f) => f.name === name)) throw new UsageError(`no migration ${name} (shiptrack migrate status lists them)`);
  }
  return lintFiles(db, wanted === undefined ? files : files.filter((f) => wanted.has(f.name)));
}

/** `migrate unlock`: who holds the migration lock; with `force`, ends that session. */
export async function releaseMigrationLock(
  resources: Resources,
  force = false,
): Promise<{ holder: LockHolder | null; terminated: boolean }> {
  return unlockMigrations(await resources.database(), force);
}

/**
 * `migrate make`: a new migration file, in a team's folder (a plain module, created when missing)
 * or, in shiptrack's own repository, beside its migrations (TypeScript, built with the rest).
 */
export function createMigration(
  config: Pick<Config, 'migrationsDir'>,
  name: string,
  directory?: string,
): { file: string; built: boolean } {
  if (directory !== undefined) {
    const file = makeMigration(path.resolve(directory), name, { module: true });
    return { file, built: false };
  }
  const team = config.migrationsDir ?? path.resolve('migrations');
  const shipped = path.resolve(defaultMigratorOptions().directory);
  if (path.resolve(team) === shipped) return { file: makeMigration(shipped, name), built: true };
  return { file: makeMigration(team, name, { module: true }), built: false };
}
