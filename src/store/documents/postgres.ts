import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import { ExitCode, SchemaMissingError, ShiptrackError } from '../../errors.js';
import { withPgErrors } from '../database.js';
import { sampleRows } from '../sampling.js';
import {
  assertBenchmarkRunDocument,
  assertRawScanDocument,
  assertStatementSnapshotDocument,
  checkLimit,
  invalidDocument,
  uniqueById,
} from './validation.js';
import {
  documentCollections,
  type BenchmarkRunDocument,
  type DocumentStore,
  type DocumentStoreInfo,
  type RawScanDocument,
  type StatementCounters,
  type StatementSnapshotDocument,
} from './document-store.js';

/** The JSONB tables behind the collections (migrations 20261124000200_documents, 20261204000200_statement_snapshots). */
const tables = {
  rawScans: `doc_${documentCollections.rawScans}`,
  benchmarkRuns: `doc_${documentCollections.benchmarkRuns}`,
  statementSnapshots: `doc_${documentCollections.statementSnapshots}`,
} as const;

/** Rows per INSERT: 1000 × 6 bind parameters stays far below PostgreSQL's 65 535. */
const insertChunkSize = 1000;

interface RawScanRow {
  id: string;
  tracking_number: string;
  event_id: number | string | null;
  scanned_at: Date | string;
  source: string;
  payload: Record<string, unknown>;
}

interface BenchmarkRunRow {
  id: string;
  started_at: Date | string;
  suite: string;
  environment: Record<string, unknown>;
  parameters: Record<string, unknown>;
  results: Record<string, unknown>;
}

interface StatementSnapshotRow {
  id: string;
  server: string;
  taken_at: Date | string;
  stats_reset: Date | string | null;
  statements: StatementCounters[];
  truncated: boolean;
}

const rawScanColumns = ['id', 'tracking_number', 'event_id', 'scanned_at', 'source', 'payload'] as const;
const benchmarkRunColumns = ['id', 'started_at', 'suite', 'environment', 'parameters', 'results'] as const;
const statementSnapshotColumns = ['id', 'server', 'taken_at', 'stats_reset', 'statements', 'truncated'] as const;

function toJson(collection: string, id: string, value: Record<string, unknown>): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw invalidDocument(collection, id, `${id}: not serialisable as JSON (${(error as Error).message})`);
  }
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function toRawScan(row: RawScanRow): RawScanDocument {
  return {
    id: row.id,
    trackingNumber: row.tracking_number,
    eventId: row.event_id === null ? null : Number(row.event_id),
    scannedAt: toDate(row.scanned_at),
    source: row.source,
    payload: row.payload,
  };
}

function toBenchmarkRun(row: BenchmarkRunRow): BenchmarkRunDocument {
  return {
    id: row.id,
    startedAt: toDate(row.started_at),
    suite: row.suite,
    environment: row.environment,
    parameters: row.parameters,
    results: row.results,
  };
}

function toStatementSnapshot(row: StatementSnapshotRow): StatementSnapshotDocument {
  return {
    id: row.id,
    server: row.server,
    takenAt: toDate(row.taken_at),
    statsReset: row.stats_reset === null ? null : toDate(row.stats_reset),
    statements: row.statements,
    truncated: row.truncated,
  };
}

/** withPgErrors, plus what only documents meet: jsonb refuses \u0000 (SQLSTATE 22P05). */
async function withDocumentErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await withPgErrors(work);
  } catch (error) {
    if (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '22P05') {
      throw new ShiptrackError(
        'invalid_document',
        ExitCode.usage,
        `PostgreSQL cannot store this document: ${(error as Error).message}`,
        {
          cause: error,
          hint: 'JSONB text cannot hold the character \\u0000; remove it from the document',
        },
      );
    }
    throw error;
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * The document store over PostgreSQL JSONB tables, used when no MongoDB is configured. Works on
 * the server and on the embedded PGlite (one statement per query call). The tables come from the
 * migrations; `ensureSchema()` only checks that they are there.
 */
export function createPgDocumentStore(knex: Knex): DocumentStore {
  async function insertChunk(db: Knex, rows: readonly RawScanDocument[]): Promise<number> {
    const inserted = await db(tables.rawScans)
      .insert(
        rows.map((doc) => ({
          id: doc.id,
          tracking_number: doc.trackingNumber,
          event_id: doc.eventId,
          scanned_at: doc.scannedAt,
          source: doc.source,
          payload: toJson(documentCollections.rawScans, doc.id, doc.payload),
        })),
      )
      // Only the id: a different scan claiming an existing event_id is a conflict, not a no-op.
      .onConflict('id')
      .ignore()
      .returning('id');
    return inserted.length;
  }

  return {
    kind: 'postgres',

    ensureSchema: () =>
      withPgErrors(async () => {
        const names = Object.values(tables);
        const result = await knex.raw<{ rows: { present: boolean[] }[] }>(
          'select array(select to_regclass(t) is not null from unnest(?::text[]) with ordinality u(t, i) order by i) as present',
          [names],
        );
        const present = result.rows[0]?.present ?? [];
        const missing = names.filter((_, i) => present[i] !== true);
        if (missing.length > 0) {
          throw new SchemaMissingError('documents tables are missing', { details: { missing } });
        }
      }),

    ping: () =>
      withPgErrors(async (): Promise<DocumentStoreInfo> => {
        const start = performance.now();
        const result = await knex.raw<{ rows: { version: string }[] }>('select version() as version');
        const latencyMs = performance.now() - start;
        const full = result.rows[0]?.version ?? 'unknown';
        return { kind: 'postgres', version: /^PostgreSQL (\S+)/.exec(full)?.[1] ?? full, latencyMs };
      }),

    insertRawScans: (docs) =>
      withDocumentErrors(async () => {
        docs.forEach(assertRawScanDocument);
        const chunks = chunk(uniqueById(docs), insertChunkSize);
        if (chunks.length === 0) return 0;
        if (chunks.length === 1) return insertChunk(knex, chunks[0] ?? []);
        // All or nothing, as with a single statement.
        return knex.transaction(async (trx) => {
          let inserted = 0;
          for (const rows of chunks) inserted += await insertChunk(trx, rows);
          return inserted;
        });
      }),

    findRawScans: (trackingNumber, options = {}) =>
      withPgErrors(async () => {
        const limit = checkLimit(options.limit);
        const query = knex(tables.rawScans)
          .select<RawScanRow[]>(...rawScanColumns)
          .where('tracking_number', trackingNumber)
          .orderBy([
            { column: 'scanned_at', order: 'asc' },
            { column: 'id', order: 'asc' },
          ]);
        if (limit !== undefined) void query.limit(limit);
        return (await query).map(toRawScan);
      }),

    findRawScanByEventId: (eventId) =>
      withPgErrors(async () => {
        if (!Number.isSafeInteger(eventId)) return null;
        const row = await knex(tables.rawScans)
          .where('event_id', eventId)
          .first<RawScanRow | undefined>(...rawScanColumns);
        return row === undefined ? null : toRawScan(row);
      }),

    findRawScansByEventIds: (eventIds) =>
      withPgErrors(async () => {
        const ids = eventIds.filter((id) => Number.isSafeInteger(id));
        if (ids.length === 0) return [];
        const rows = await knex(tables.rawScans)
          .whereRaw('event_id = any(?::bigint[])', [ids])
          .select<RawScanRow[]>(...rawScanColumns);
        return rows.map(toRawScan);
      }),

    sampleRawScans: (size) =>
      withPgErrors(async () => {
        if (!Number.isSafeInteger(size) || size <= 0) return [];
        // Pages drawn at random first on a large table (see `sampleRows`).
        const { rows } = await sampleRows<RawScanRow>(
          async <Row>(_name: string, sql: string, bindings: readonly unknown[]) =>
            (await knex.raw<{ rows: Row[] }>(sql, [...bindings] as Knex.RawBinding[])).rows,
          { table: tables.rawScans, columns: rawScanColumns.join(', '), count: size, noun: 'raw scan' },
        );
        return rows.map(toRawScan);
      }),

    countRawScans: () =>
      withPgErrors(async () => {
        const [row] = await knex(tables.rawScans).count<{ count: number | string }[]>({ count: '*' });
        return Number(row?.count ?? 0);
      }),

    deleteAllRawScans: () =>
      withPgErrors(async () => {
        // Counted in SQL: the embedded driver does not report a DELETE's row count through knex.
        const result = await knex.raw<{ rows: { n: number }[] }>(
          `with deleted as (delete from ${tables.rawScans} returning 1) select count(*)::int as n from deleted`,
        );
        return result.rows[0]?.n ?? 0;
      }),

    insertBenchmarkRun: (run) =>
      withDocumentErrors(async () => {
        assertBenchmarkRunDocument(run);
        const c = documentCollections.benchmarkRuns;
        await knex(tables.benchmarkRuns).insert({
          id: run.id,
          started_at: run.startedAt,
          suite: run.suite,
          environment: toJson(c, run.id, run.environment),
          parameters: toJson(c, run.id, run.parameters),
          results: toJson(c, run.id, run.results),
        });
      }),

    listBenchmarkRuns: (options = {}) =>
      withPgErrors(async () => {
        const limit = checkLimit(options.limit);
        const query = knex(tables.benchmarkRuns)
          .select<BenchmarkRunRow[]>(...benchmarkRunColumns)
          .orderBy([
            { column: 'started_at', order: 'desc' },
            { column: 'id', order: 'desc' },
          ]);
        if (options.suite !== undefined) void query.where('suite', options.suite);
        if (limit !== undefined) void query.limit(limit);
        return (await query).map(toBenchmarkRun);
      }),

    findBenchmarkRun: (id) =>
      withPgErrors(async () => {
        const row = await knex(tables.benchmarkRuns)
          .where('id', id)
          .first<BenchmarkRunRow | undefined>(...benchmarkRunColumns);
        return row === undefined ? null : toBenchmarkRun(row);
      }),

    insertStatementSnapshot: (snapshot) =>
      withDocumentErrors(async () => {
        assertStatementSnapshotDocument(snapshot);
        await knex(tables.statementSnapshots).insert({
          id: snapshot.id,
          server: snapshot.server,
          taken_at: snapshot.takenAt,
          stats_reset: snapshot.statsReset,
          statements: JSON.stringify(snapshot.statements),
          truncated: snapshot.truncated,
        });
      }),

    findStatementSnapshot: (server, at) =>
      withPgErrors(async () => {
        const before = await knex(tables.statementSnapshots)
          .where('server', server)
          .andWhere('taken_at', '<=', at)
          .orderBy('taken_at', 'desc')
          .first<StatementSnapshotRow | undefined>(...statementSnapshotColumns);
        const row =
          before ??
          (await knex(tables.statementSnapshots)
            .where('server', server)
            .andWhere('taken_at', '>', at)
            .orderBy('taken_at', 'asc')
            .first<StatementSnapshotRow | undefined>(...statementSnapshotColumns));
        return row === undefined ? null : toStatementSnapshot(row);
      }),

    deleteStatementSnapshots: (server, before) =>
      withPgErrors(async () => {
        const result = await knex.raw<{ rows: { n: number }[] }>(
          `with deleted as (delete from ${tables.statementSnapshots} where server = ? and taken_at < ? returning 1)
           select count(*)::int as n from deleted`,
          [server, before],
        );
        return result.rows[0]?.n ?? 0;
      }),
  };
}
