import { Worker } from 'node:worker_threads';
import { generatePackage } from '../domain/seed/generator.js';
import type { SeedParams, SeedSizes } from '../domain/seed/types.js';
import { profileNames, profiles, isProfileName } from '../domain/seed/profiles.js';
import type { ProfileName } from '../domain/seed/types.js';
import { ConflictError, InterruptedError, UsageError, mapPostgresError } from '../errors.js';
import { countOption, dateTimeOption, shareOption, type OptionValue } from '../options.js';
import type { Resources } from '../store/resources.js';
import type { CheckReport } from './check.service.js';
import type { DrainResult } from './outbox.service.js';
import type { ServiceWarning } from './warnings.js';
import { compiledModule } from '../package-root.js';
import { copyInto, quoteIdent } from '../store/copy.js';
import { rebuildRollups } from '../store/rollups.js';
import type { DocumentStore, DocumentsTarget } from '../store/documents/document-store.js';
import { columns, customerText, locationText, type ChunkOptions } from './seed-encoding.js';
import type { SeedWorkerChunk, SeedWorkerInput } from './seed-worker.js';
import type { Database } from '../store/database.js';
import { withSession, type Session } from '../store/session.js';

/**
 * `shiptrack seed`: generated rows streamed into PostgreSQL with COPY, in one transaction, so an
 * interrupted or failed seed leaves the tables exactly as they were. Into empty tables, keys,
 * foreign keys and indexes are dropped first and built after the load (5× faster than loading
 * into a constrained table), then the tables are analyzed.
 */

export const seedTables = ['customers', 'locations', 'packages', 'shipments', 'tracking_events'] as const;
export type SeedTable = (typeof seedTables)[number];

export type SeedMode = 'empty' | 'append' | 'truncate';

export type SeedPhase = 'customers' | 'locations' | 'packages' | 'constraints' | 'rollups' | 'analyze' | 'documents';

export interface SeedProgress {
  phase: SeedPhase;
  done: number;
  total: number;
  /** Rows written in this phase so far, all tables together (packages phase: with events). */
  rows: number;
}

export interface SeedOptions {
  sizes: SeedSizes;
  seed: number;
  asOf: Date;
  mode: SeedMode;
  /** Share of events (0…1) that also get a raw scan document. */
  documentsShare: number;
  /**
   * Where raw scan documents go: the PostgreSQL document table (no MongoDB configured), or the
   * outbox, from which they are delivered to MongoDB after the commit.
   */
  documentsTarget: DocumentsTarget;
  /** Packages per COPY round (memory is proportional to it). */
  chunkPackages?: number;
  signal?: AbortSignal;
  onProgress?: (progress: SeedProgress) => void;
}

export interface SeedSummary {
  mode: SeedMode;
  seed: number;
  asOf: string;
  constraintsRebuilt: boolean;
  rows: Record<SeedTable, number>;
  documents: { store: 'postgres' | 'outbox'; count: number };
  seconds: number;
  rowsPerSecond: number;
  phases: { phase: SeedPhase; seconds: number }[];
  /** A few tracking numbers that were loaded, to try `shiptrack track` with. */
  sampleTrackingNumbers: string[];
}

/** pg_locks: classid 21781, objid 2 (migrations use objid 1). */
const seedLock = [21781, 2] as const;

/** Rows in each seeded table: exact for small tables, the planner's estimate past a million. */
export async function countSeedTables(db: Database): Promise<Record<SeedTable, number>> {
  const counts = {} as Record<SeedTable, number>;
  try {
    for (const table of seedTables) {
      const estimate = await db.knex.raw<{ rows: { n: number }[] }>(
        `select greatest(reltuples, 0)::bigint as n from pg_class where oid = ?::regclass`,
        [table],
      );
      const approx = estimate.rows[0]?.n ?? 0;
      if (approx > 1_000_000) {
        counts[table] = approx;
        continue;
      }
      const exact = await db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::bigint as n from ${quoteIdent(table)}`);
      counts[table] = exact.rows[0]?.n ?? 0;
    }
  } catch (error) {
    throw mapPostgresError(error);
  }
  return counts;
}

interface SavedDefinition {
  table: string;
  name: string;
  kind: 'primary' | 'unique' | 'foreign' | 'index';
  sql: string;
}

/** Keys, unique constraints, foreign keys and indexes of the seeded tables, as re-runnable DDL. */
async function saveDefinitions(session: Session): Promise<SavedDefinition[]> {
  const constraints = await session.raw<{ table: string; name: string; type: string; def: string }>(
    `select c.conrelid::regclass::text as table, c.conname as name, c.contype as type, pg_get_constraintdef(c.oid) as def
       from pg_constraint c
      where c.conrelid = any (?::regclass[]) and c.contype in ('p', 'u', 'f')`,
    [seedTables as unknown as string[]],
  );
  const indexes = await session.raw<{ table: string; name: string; def: string }>(
    `select i.indrelid::regclass::text as table, x.relname as name, pg_get_indexdef(i.indexrelid) as def
       from pg_index i join pg_class x on x.oid = i.indexrelid
      where i.indrelid = any (?::regclass[])
        and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.contype in ('p', 'u', 'x'))`,
    [seedTables as unknown as string[]],
  );
  const kinds: Record<string, SavedDefinition['kind']> = { p: 'primary', u: 'unique', f: 'foreign' };
  return [
    ...constraints.rows.map((c) => ({
      table: c.table,
      name: c.name,
      kind: kinds[c.type] ?? 'index',
      sql: `alter table ${quoteIdent(c.table)} add constraint ${quoteIdent(c.name)} ${c.def}`,
    })),
    ...indexes.rows.map((i) => ({ table: i.table, name: i.name, kind: 'index' as const, sql: i.def })),
  ];
}

async function dropDefinitions(session: Session, saved: SavedDefinition[]): Promise<void> {
  // Foreign keys first: they depend on the keys they reference.
  for (const d of saved.filter((s) => s.kind === 'foreign')) {
    await session.raw(`alter table ${quoteIdent(d.table)} drop constraint ${quoteIdent(d.name)}`);
  }
  for (const d of saved.filter((s) => s.kind === 'primary' || s.kind === 'unique')) {
    await session.raw(`alter table ${quoteIdent(d.table)} drop constraint ${quoteIdent(d.name)}`);
  }
  for (const d of saved.filter((s) => s.kind === 'index')) await session.raw(`drop index ${quoteIdent(d.name)}`);
}

async function maxId(session: Session, table: string, column: string): Promise<number> {
  const result = await session.raw<{ max: number | null }>(
    `select max(${quoteIdent(column)})::bigint as max from ${quoteIdent(table)}`,
  );
  return result.rows[0]?.max ?? 0;
}

/**
 * The triggers a load switches off: those of migration 700 that list changed packages, and those
 * that keep the rollups (rebuilt after a load instead) — per statement on one server (migration
 * 20261203000100), per row on Citus (migration 20261204000300). Truncate triggers stay on.
 */
async function loadTriggers(session: Session): Promise<[string, string][]> {
  const found = await session.raw<{ table: string; trigger: string }>(
    `select c.relname as table, t.tgname as trigger
       from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where not t.tgisinternal and c.relname in ('packages', 'shipments', 'tracking_events') and pg_table_is_visible(c.oid)
        and t.tgname ~ '_(consistency|rollups)_(insert|update|delete|row)$'
      order by 1, 2`,
  );
  return found.rows.map((r) => [r.table, r.trigger]);
}

/** Seeds the database; see the module comment for the guarantees. */
export async function seedDatabase(db: Database, options: SeedOptions): Promise<SeedSummary> {
  const session = {
    signal: options.signal,
    statementTimeoutMs: 0,
    applicationName: 'shiptrack seed',
    advisoryLock: {
      key: seedLock,
      waitMs: 0,
      busy: () =>
        new ConflictError('seed_running', 'another seed is running on this database', {
          hint: 'wait for it to finish; two seeds at once would fight over keys',
        }),
    },
  };
  return withSession(db, session, (s) => seedInSession(s, options));
}

async function seedInSession(session: Session, options: SeedOptions): Promise<SeedSummary> {
  const started = performance.now();
  const phases: SeedSummary['phases'] = [];
  const signal = options.signal;
  const chunkPackages = options.chunkPackages ?? 5_000;

  const checkAbort = (): void => {
    if (signal?.aborted) throw new InterruptedError('seed interrupted');
  };

  let inTransaction = false;
  try {
    await session.raw('begin');
    inTransaction = true;

    // The consistency triggers would list every package loaded: a new epoch instead, which makes
    // the next `report consistency` prove every package (migration 700). Both end with this
    // transaction, whichever way it ends.
    await session.raw(`select set_config('shiptrack.track_changes', 'off', true)`);
    await session.raw('update consistency_state set epoch = epoch + 1, epoch_xact = pg_current_xact_id()');
    // On Citus: foreign keys to reference tables are added back over one connection per node
    // (Citus refuses them after parallel work in the same transaction), and the row triggers of
    // distributed tables may be switched off and on. ANALYZE follows the commit there: Citus
    // refuses it in a transaction that read a reference table's placement on this node.
    const distributed = session.db.distributed === true;
    if (distributed) {
      await session.raw(`set local citus.multi_shard_modify_mode to 'sequential'`);
      await session.raw(`set local citus.enable_unsafe_triggers to on`);
    }
    const lookupTables = distributed ? ', package_numbers' : '';
    const triggers = await loadTriggers(session);

    if (options.mode === 'truncate') {
      await session.raw(`truncate ${seedTables.map(quoteIdent).join(', ')}${lookupTables}, doc_raw_scans restart identity`);
      await session.raw(`delete from document_outbox where collection = 'raw_scans'`);
    }
    const nonEmpty: string[] = [];
    for (const table of [...seedTables, 'doc_raw_scans']) {
      const any = await session.raw(`select 1 from ${quoteIdent(table)} limit 1`);
      if (any.rows.length > 0) nonEmpty.push(table);
    }
    if (options.mode === 'empty' && nonEmpty.length > 0) {
      throw new ConflictError('database_not_empty', `the database already has data (${nonEmpty.join(', ')})`, {
        hint: 'pass --append to add to it, or --truncate to replace it',
      });
    }
    const rebuild = nonEmpty.length === 0;
    const offsets =
      rebuild || options.mode !== 'append'
        ? { customer: 0, location: 0, package: 0 }
        : {
            customer: await maxId(session, 'customers', 'customer_id'),
            location: await maxId(session, 'locations', 'location_id'),
            package: await maxId(session, 'packages', 'package_id'),
          };
    const params: SeedParams = { ...options.sizes, seed: options.seed, asOf: options.asOf, offsets };

    let saved: SavedDefinition[] = [];
    if (rebuild) {
      saved = await saveDefinitions(session);
      await dropDefinitions(session, saved);
      // Truncating the (empty) tables in this transaction allows COPY … FREEZE: rows are written
      // already frozen, which saves the load its visibility bookkeeping and later vacuums.
      await session.raw(`truncate ${seedTables.map(quoteIdent).join(', ')}${lookupTables}`);
      // Off as well as told to list nothing: a trigger with a transition table makes PostgreSQL
      // keep a copy of every row a statement writes, whether the trigger lists it or not (at
      // medium the seed took 37.5–38.6 s with the copies, 36.9–37.8 s without). The truncate holds
      // the tables already; the triggers are on again before the commit.
      for (const [table, trigger] of triggers) {
        await session.raw(`alter table ${quoteIdent(table)} disable trigger ${quoteIdent(trigger)}`);
      }
    }
    const freeze = rebuild;

    const rows: Record<SeedTable, number> = {
      customers: 0,
      locations: 0,
      packages: 0,
      shipments: 0,
      tracking_events: 0,
    };
    const timed = async (phase: SeedPhase, work: () => Promise<void>): Promise<void> => {
      const t = performance.now();
      await work();
      phases.push({ phase, seconds: (performance.now() - t) / 1000 });
    };

    await timed('customers', async () => {
      rows.customers = await copyGenerated(session, 'customers', params.customers, (a, b) => customerText(params, a, b), {
        phase: 'customers',
        options,
        checkAbort,
        freeze,
      });
    });
    await timed('locations', async () => {
      rows.locations = await copyGenerated(session, 'locations', params.locations, (a, b) => locationText(params, a, b), {
        phase: 'locations',
        options,
        checkAbort,
        freeze,
      });
    });

    let documents = 0;
    const [documentTable, documentColumns] =
      options.documentsTarget === 'outbox'
        ? (['document_outbox', columns.document_outbox] as const)
        : (['doc_raw_scans', columns.doc_raw_scans] as const);
    await timed('packages', async () => {
      const producer = startChunkProducer(params, params.packages, chunkPackages, {
        documentsShare: options.documentsShare,
        documentsTarget: options.documentsTarget,
      });
      const stop = (): void => producer.stop();
      signal?.addEventListener('abort', stop);
      let written = 0;
      try {
        for await (const chunk of producer.chunks()) {
          await copyInto(session.db.mode, session.connection, 'packages', columns.packages, chunk.packages, freeze);
          await copyInto(session.db.mode, session.connection, 'shipments', columns.shipments, chunk.shipments, freeze);
          await copyInto(session.db.mode, session.connection, 'tracking_events', columns.tracking_events, chunk.events, freeze);
          await copyInto(session.db.mode, session.connection, documentTable, documentColumns, chunk.documents);
          checkAbort();
          rows.packages += chunk.packageCount;
          rows.shipments += chunk.packageCount;
          rows.tracking_events += chunk.eventCount;
          documents += chunk.documentCount;
          written += chunk.packageCount * 2 + chunk.eventCount;
          options.onProgress?.({ phase: 'packages', done: rows.packages, total: params.packages, rows: written });
        }
      } finally {
        signal?.removeEventListener('abort', stop);
        producer.stop();
      }
    });

    if (rebuild) {
      await timed('constraints', async () => {
        const order: SavedDefinition['kind'][] = ['primary', 'unique', 'foreign', 'index'];
        const ordered = order.flatMap((kind) => saved.filter((d) => d.kind === kind));
        let done = 0;
        for (const definition of ordered) {
          checkAbort();
          options.onProgress?.({ phase: 'constraints', done, total: ordered.length, rows: 0 });
          await session.raw(definition.sql);
          done += 1;
        }
        options.onProgress?.({ phase: 'constraints', done, total: ordered.length, rows: 0 });
      });
    }

    // Citus: the loaded packages' numbers into the lookup that keeps them unique across shards.
    if (distributed) {
      await session.raw(
        `insert into package_numbers (tracking_number, package_id)
         select tracking_number, package_id from packages where package_id > ?`,
        [offsets.package],
      );
    }

    // Identity columns must continue after the keys the loader chose.
    for (const [table, column] of [
      ['customers', 'customer_id'],
      ['locations', 'location_id'],
      ['packages', 'package_id'],
      ['shipments', 'shipment_id'],
      ['tracking_events', 'event_id'],
    ] as const) {
      await session.raw(
        `select setval(pg_get_serial_sequence(?, ?), greatest((select max(${quoteIdent(column)}) from ${quoteIdent(table)}), 1))`,
        [table, column],
      );
    }

    if (rebuild) {
      for (const [table, trigger] of triggers) {
        await session.raw(`alter table ${quoteIdent(table)} enable trigger ${quoteIdent(trigger)}`);
      }
      // Appended rows were counted by the triggers as they came; a load with them off is counted here.
      await timed('rollups', async () => {
        options.onProgress?.({ phase: 'rollups', done: 0, total: 1, rows: 0 });
        // The loaded tables are held already (truncated in this transaction): the rollups too.
        await rebuildRollups(session.raw, { distributed, truncate: true });
        options.onProgress?.({ phase: 'rollups', done: 1, total: 1, rows: 0 });
      });
    }

    const analyze = (): Promise<void> =>
      timed('analyze', async () => {
        options.onProgress?.({ phase: 'analyze', done: 0, total: 1, rows: 0 });
        await session.raw(`analyze ${[...seedTables, 'doc_raw_scans'].map(quoteIdent).join(', ')}${lookupTables}`);
        options.onProgress?.({ phase: 'analyze', done: 1, total: 1, rows: 0 });
      });
    if (!distributed) await analyze();

    checkAbort();
    await session.raw('commit');
    inTransaction = false;
    if (distributed) await analyze();

    const seconds = (performance.now() - started) / 1000;
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    return {
      mode: options.mode,
      seed: options.seed,
      asOf: options.asOf.toISOString(),
      constraintsRebuilt: rebuild,
      rows,
      documents: { store: options.documentsTarget, count: documents },
      seconds,
      rowsPerSecond: total / seconds,
      phases,
      sampleTrackingNumbers: Array.from(
        { length: Math.min(3, params.packages) },
        (_, i) => generatePackage(params, i).pkg.tracking_number,
      ),
    };
  } catch (error) {
    if (inTransaction) await session.raw('rollback').catch(() => undefined);
    if (signal?.aborted) {
      throw new InterruptedError(
        'seed interrupted: nothing was loaded, the tables are as they were (the transaction was rolled back)',
        {
          cause: error,
        },
      );
    }
    throw mapPostgresError(session.reasonFor(error));
  }
}

/** Streams `count` generated rows into a table, 50,000 rows per COPY. */
async function copyGenerated(
  session: Session,
  table: 'customers' | 'locations',
  count: number,
  text: (start: number, end: number) => string,
  progress: { phase: SeedPhase; options: SeedOptions; checkAbort: () => void; freeze: boolean },
): Promise<number> {
  const batch = 50_000;
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch);
    const chunk = text(start, end);
    progress.checkAbort();
    await copyInto(session.db.mode, session.connection, table, columns[table], chunk, progress.freeze);
    progress.options.onProgress?.({ phase: progress.phase, done: end, total: count, rows: end });
  }
  return count;
}

interface ChunkProducer {
  chunks(): AsyncIterable<SeedWorkerChunk>;
  stop(): void;
}

/** Runs the generator in a worker thread, `ahead` chunks in advance, bounded in memory. */
function startChunkProducer(params: SeedParams, total: number, chunkPackages: number, chunkOptions: ChunkOptions): ChunkProducer {
  const input: SeedWorkerInput = { params, start: 0, total, chunkPackages, ahead: 2, options: chunkOptions };
  const worker = new Worker(compiledModule(import.meta.url, 'services/seed-worker.js'), {
    workerData: input,
    // The generator's garbage stays small: a tight heap keeps the process's memory flat.
    resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 },
  });
  const queue: (SeedWorkerChunk | 'done')[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (message: SeedWorkerChunk | 'done') => {
    queue.push(message);
    notify();
  });
  worker.on('error', (error: Error) => {
    failure = error;
    notify();
  });
  worker.on('exit', (code) => {
    if (code !== 0 && failure === undefined) failure = new Error(`the seed generator stopped (exit ${code})`);
    notify();
  });
  let stopped = false;
  return {
    async *chunks() {
      for (;;) {
        const next = queue.shift();
        if (next === 'done') return;
        if (next !== undefined) {
          worker.postMessage('more');
          yield next;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (stopped) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      void worker.terminate();
      notify();
    },
  };
}

export interface SeedRequest {
  /** Data size (DOMAIN §5); `packages`, `customers` and `locations` override it. */
  profile?: ProfileName | undefined;
  packages?: OptionValue | undefined;
  customers?: OptionValue | undefined;
  locations?: OptionValue | undefined;
  /** Random seed: the same seed, sizes and asOf give the same rows (default 1). */
  seed?: OptionValue | undefined;
  /** The "now" of the generated data (default: today 00:00 UTC). */
  asOf?: string | Date | undefined;
  /** Share of events that also get a raw scan document, 0…1 (default 0.01). */
  documents?: OptionValue | undefined;
  /** empty (refused when there is data), append, or truncate (erases the seeded tables first). */
  mode?: SeedMode | undefined;
  /**
   * Asked before `truncate` erases rows, with the rows each table has; false stops with nothing
   * erased. Without it, `truncate` erases.
   */
  confirmErase?: ((rows: Record<SeedTable, number>) => Promise<boolean>) | undefined;
  /** Prove the data afterwards, as `check` does. */
  verify?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: SeedProgress) => void) | undefined;
}

export interface SeedReport extends SeedSummary {
  /** Raw scans handed to MongoDB after the commit (only with MongoDB configured). */
  delivery?: DrainResult;
  /** The consistency proof, when asked for with `verify`. */
  checks?: CheckReport;
  warnings: ServiceWarning[];
}

/** Start of the current UTC day: the default "now" of the generated world. */
function startOfUtcDay(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** Checks a seed request against its limits, before any store is opened. */
function seedSettings(request: SeedRequest): { sizes: SeedSizes; seed: number; asOf: Date; share: number; mode: SeedMode } {
  const profileName = request.profile ?? 'tiny';
  if (!isProfileName(profileName)) {
    throw new UsageError(`--profile: expected one of ${profileNames.join(', ')}, got "${String(profileName)}"`);
  }
  const profile = profiles[profileName];
  const size = (value: OptionValue | undefined, flag: string, fallback: number, min: number, max: number): number =>
    value === undefined ? fallback : countOption(value, flag, min, max);
  return {
    sizes: {
      packages: size(request.packages, '--packages', profile.packages, 0, 100_000_000),
      customers: size(request.customers, '--customers', profile.customers, 2, 100_000_000),
      locations: size(request.locations, '--locations', profile.locations, 2, 1_000_000),
    },
    seed: countOption(request.seed ?? 1, '--seed', 0, 2 ** 31 - 1),
    asOf: request.asOf === undefined ? startOfUtcDay() : dateTimeOption(request.asOf, '--as-of'),
    share: shareOption(request.documents ?? 0.01, '--documents'),
    mode: request.mode ?? 'empty',
  };
}

/**
 * `seed`, the whole use case: confirm an erase, load the generated world in one transaction,
 * then bring MongoDB along (its collections, the clean-up a truncate needs, the raw scans waiting
 * in the outbox) and, when asked, prove the result.
 */
export async function seed(resources: Resources, request: SeedRequest = {}): Promise<SeedReport> {
  const settings = seedSettings(request);
  // Minutes of COPY and index builds at the larger profiles: no statement timeout.
  const long = resources.forLongWork();
  const db = await long.database();
  if (settings.mode === 'truncate' && request.confirmErase !== undefined) {
    const rows = await countSeedTables(db);
    if (Object.values(rows).some((n) => n > 0) && !(await request.confirmErase(rows))) {
      throw new InterruptedError('nothing was erased');
    }
  }
  const summary = await seedDatabase(db, {
    sizes: settings.sizes,
    seed: settings.seed,
    asOf: settings.asOf,
    mode: settings.mode,
    documentsShare: settings.share,
    documentsTarget: long.documentsTarget,
    signal: request.signal,
    onProgress: request.onProgress,
  });
  const report: SeedReport = { ...summary, warnings: [] };
  if (long.documentsTarget === 'outbox' && summary.documents.count > 0) {
    const { drainDocuments } = await import('./outbox.service.js');
    // The relational tables were emptied in the seed's transaction; MongoDB follows here.
    const prepare = async (store: DocumentStore): Promise<void> => {
      await store.ensureSchema();
      if (settings.mode === 'truncate') await store.deleteAllRawScans();
    };
    report.delivery = await drainDocuments(long, { signal: request.signal, prepare });
    if (report.delivery.error !== null) {
      const { error: reason, remaining: waiting } = report.delivery;
      report.warnings.push({ code: 'documents_waiting', store: 'MongoDB', reason, waiting });
    }
  }
  if (request.verify === true) {
    const { runConsistencyChecks } = await import('./check.service.js');
    report.checks = await runConsistencyChecks(db, { connections: 2, signal: request.signal });
  }
  return report;
}
