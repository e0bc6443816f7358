import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import type * as mongodb from 'mongodb';
import type { CollectionInfo, Document, IndexDescription, Long, MongoClient, WriteError } from 'mongodb';
import type { Config } from '../../config.js';
import { ConfigError, ConflictError, ExitCode, ShiptrackError, UnavailableError } from '../../errors.js';
import { createScrubber, redactUrl, secretsInUrls, type Scrubber } from '../../redact.js';
import {
  documentCollections,
  type BenchmarkRunDocument,
  type DocumentStore,
  type DocumentStoreInfo,
  type RawScanDocument,
  type StatementCounters,
  type StatementSnapshotDocument,
} from './document-store.js';
import {
  assertBenchmarkRunDocument,
  assertRawScanDocument,
  assertStatementSnapshotDocument,
  checkLimit,
  uniqueById,
} from './validation.js';

type MongoDriver = typeof mongodb;

/** The MongoDB document store owns its client: close it when done. */
export interface MongoDocumentStore extends DocumentStore {
  readonly kind: 'mongodb';
  close(): Promise<void>;
}

/** Documents as stored: `_id` is the document id, fields are snake_case. */
interface RawScanRecord {
  _id: string;
  tracking_number: string;
  event_id: Long | number | null;
  scanned_at: Date;
  source: string;
  payload: Document;
}

interface BenchmarkRunRecord {
  _id: string;
  started_at: Date;
  suite: string;
  environment: Document;
  parameters: Document;
  results: Document;
}

interface StatementSnapshotRecord {
  _id: string;
  server: string;
  taken_at: Date;
  stats_reset: Date | null;
  statements: StatementCounters[];
  truncated: boolean;
}

const duplicateKey = 11000;
const documentValidationFailure = 121;
const namespaceExists = 48;

const rawScansValidator: Document = {
  $jsonSchema: {
    bsonType: 'object',
    required: ['_id', 'tracking_number', 'scanned_at', 'source', 'payload'],
    properties: {
      _id: { bsonType: 'string' },
      tracking_number: { bsonType: 'string', minLength: 1 },
      // We write longs; other writers' plain numbers arrive as int or double.
      event_id: { bsonType: ['long', 'int', 'double', 'null'] },
      scanned_at: { bsonType: 'date' },
      source: { bsonType: 'string', minLength: 1 },
      payload: { bsonType: 'object' },
    },
  },
};

const benchmarkRunsValidator: Document = {
  $jsonSchema: {
    bsonType: 'object',
    required: ['_id', 'started_at', 'suite', 'environment', 'parameters', 'results'],
    properties: {
      _id: { bsonType: 'string' },
      started_at: { bsonType: 'date' },
      suite: { bsonType: 'string', minLength: 1 },
      environment: { bsonType: 'object' },
      parameters: { bsonType: 'object' },
      results: { bsonType: 'object' },
    },
  },
};

const statementSnapshotsValidator: Document = {
  $jsonSchema: {
    bsonType: 'object',
    required: ['_id', 'server', 'taken_at', 'statements', 'truncated'],
    properties: {
      _id: { bsonType: 'string' },
      server: { bsonType: 'string', minLength: 1 },
      taken_at: { bsonType: 'date' },
      stats_reset: { bsonType: ['date', 'null'] },
      statements: { bsonType: 'array' },
      truncated: { bsonType: 'bool' },
    },
  },
};

const collectionSpecs: readonly { name: string; validator: Document; indexes: IndexDescription[] }[] = [
  {
    name: documentCollections.rawScans,
    validator: rawScansValidator,
    indexes: [
      { key: { tracking_number: 1, scanned_at: 1 } },
      // Unique where an event is known: scans without one (null) stay out of the index.
      // Queries must repeat the $type condition for the planner to use this partial index.
      { key: { event_id: 1 }, unique: true, partialFilterExpression: { event_id: { $type: 'number' } } },
    ],
  },
  {
    name: documentCollections.benchmarkRuns,
    validator: benchmarkRunsValidator,
    indexes: [{ key: { started_at: -1 } }, { key: { suite: 1, started_at: -1 } }],
  },
  {
    name: documentCollections.statementSnapshots,
    validator: statementSnapshotsValidator,
    indexes: [{ key: { server: 1, taken_at: 1 } }],
  },
];

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function writeErrorsOf(error: { writeErrors: WriteError | readonly WriteError[] }): readonly WriteError[] {
  const { writeErrors } = error;
  return Array.isArray(writeErrors) ? (writeErrors as readonly WriteError[]) : [writeErrors as WriteError];
}

function mapServerCode(code: unknown, message: string, cause: unknown): ShiptrackError | undefined {
  switch (code) {
    case duplicateKey:
      return new ConflictError('unique_violation', message, { cause, details: { mongoCode: code } });
    case documentValidationFailure:
      return new ShiptrackError('constraint_violation', ExitCode.usage, message, { cause, details: { mongoCode: code } });
    case 50: // MaxTimeMSExpired
      return new ShiptrackError('statement_timeout', ExitCode.unavailable, `MongoDB: operation timed out (${message})`, {
        cause,
        details: { mongoCode: code },
      });
    case 18: // AuthenticationFailed
      return new UnavailableError('MongoDB', 'MongoDB: authentication failed', { cause, details: { mongoCode: code } });
    case 13: // Unauthorized
      return new ShiptrackError('permission_denied', ExitCode.usage, `MongoDB: ${message}`, {
        cause,
        details: { mongoCode: code },
        hint: 'the MongoDB user lacks a privilege this command needs (readWrite, and dbAdmin for ensureSchema)',
      });
    case 85: // IndexOptionsConflict
    case 86: // IndexKeySpecsConflict
      return new ConflictError('index_conflict', `MongoDB: ${message}`, {
        cause,
        details: { mongoCode: code },
        hint: 'an index with the same name or keys but other options exists; drop it and run again',
      });
    default:
      return undefined;
  }
}

/** Maps a driver error into the error family, once; unknown errors pass through. */
function mapMongoError(driver: MongoDriver, error: unknown, scrub: Scrubber): unknown {
  if (error instanceof ShiptrackError || !(error instanceof Error)) return error;
  if (error instanceof driver.MongoBulkWriteError) {
    const first = writeErrorsOf(error)[0];
    if (first !== undefined) {
      return mapServerCode(first.code, scrub(first.errmsg ?? error.message), error) ?? error;
    }
    // A network or driver failure during the bulk write is wrapped; map what is inside.
    const inner: unknown = error.errorResponse;
    if (inner instanceof Error && inner !== error) return mapMongoError(driver, inner, scrub);
  }
  if (
    error instanceof driver.MongoServerSelectionError ||
    error instanceof driver.MongoNetworkError ||
    error instanceof driver.MongoTopologyClosedError ||
    error instanceof driver.MongoNotConnectedError
  ) {
    return new UnavailableError('MongoDB', `MongoDB is unavailable: ${scrub(error.message)}`, { cause: error });
  }
  if (error instanceof driver.MongoOperationTimeoutError) {
    return new ShiptrackError('statement_timeout', ExitCode.unavailable, `MongoDB: ${scrub(error.message)}`, { cause: error });
  }
  if (error instanceof driver.MongoServerError) {
    return mapServerCode(error.code, scrub(error.message), error) ?? error;
  }
  return error;
}

function toNumberOrNull(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && 'toNumber' in value && typeof value.toNumber === 'function') {
    return (value.toNumber as () => number).call(value);
  }
  return Number(value);
}

function toRawScan(record: RawScanRecord): RawScanDocument {
  return {
    id: record._id,
    trackingNumber: record.tracking_number,
    eventId: toNumberOrNull(record.event_id),
    scannedAt: record.scanned_at,
    source: record.source,
    payload: record.payload,
  };
}

function toBenchmarkRun(record: BenchmarkRunRecord): BenchmarkRunDocument {
  return {
    id: record._id,
    startedAt: record.started_at,
    suite: record.suite,
    environment: record.environment,
    parameters: record.parameters,
    results: record.results,
  };
}

function toStatementSnapshot(record: StatementSnapshotRecord): StatementSnapshotDocument {
  return {
    id: record._id,
    server: record.server,
    takenAt: record.taken_at,
    statsReset: record.stats_reset,
    statements: record.statements,
    truncated: record.truncated,
  };
}

async function connect(driver: MongoDriver, config: Config, url: string, scrub: Scrubber): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new driver.MongoClient(url, {
      appName: 'shiptrack',
      serverSelectionTimeoutMS: config.connectTimeoutMs,
      connectTimeoutMS: config.connectTimeoutMs,
      // A frozen server never answers: bound every socket read, as for PostgreSQL queries.
      socketTimeoutMS: config.statementTimeoutMs > 0 ? config.statementTimeoutMs + config.connectTimeoutMs : 0,
      // JSON semantics, as in the PostgreSQL store: undefined fields are left out, not stored as null.
      ignoreUndefined: true,
    });
  } catch (error) {
    throw new ConfigError('MongoDB URL', `${scrub(messageOf(error))} (value: ${redactUrl(url)})`, {
      cause: error,
      hint: 'expected mongodb://[user:password@]host[:port][/database][?options] or mongodb+srv://…',
    });
  }
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.close().catch(() => undefined);
    const mapped = mapMongoError(driver, error, scrub);
    if (mapped instanceof ShiptrackError && !(mapped instanceof UnavailableError)) throw mapped;
    const reason =
      error instanceof driver.MongoServerError && error.code === 18 ? 'authentication failed' : scrub(messageOf(error));
    throw new UnavailableError('MongoDB', `could not connect to MongoDB at ${redactUrl(url)}: ${reason}`, {
      cause: error,
      hint: 'check SHIPTRACK_MONGO_URL and that the server is running (without it, documents are kept in PostgreSQL)',
    });
  }
}

/**
 * Opens the document store on MongoDB (database `config.mongoDatabase`). The driver is loaded
 * here, on first use, so commands that never touch documents never load it.
 */
export async function openMongoDocumentStore(config: Config): Promise<MongoDocumentStore> {
  const url = config.mongoUrl;
  if (url === undefined) throw new Error('no MongoDB is configured');
  const scrub = createScrubber([...new Set([...config.secrets, ...secretsInUrls([url])])]);
  const driver = await import('mongodb');
  const client = await connect(driver, config, url, scrub);
  const db = client.db(config.mongoDatabase);
  const rawScans = db.collection<RawScanRecord>(documentCollections.rawScans);
  const benchmarkRuns = db.collection<BenchmarkRunRecord>(documentCollections.benchmarkRuns);
  const statementSnapshots = db.collection<StatementSnapshotRecord>(documentCollections.statementSnapshots);

  async function run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw mapMongoError(driver, error, scrub);
    }
  }

  /** Of the scans refused with a duplicate key, those whose id is already stored are no-ops. */
  async function fatalWriteError(
    records: readonly RawScanRecord[],
    writeErrors: readonly WriteError[],
  ): Promise<WriteError | undefined> {
    const nonDuplicate = writeErrors.find((e) => e.code !== duplicateKey);
    if (nonDuplicate !== undefined) return nonDuplicate;
    // Duplicate on _id (already there) or on event_id (another scan claims the event)? Asking
    // for the ids is exact, where parsing the server's message would not be.
    const ids = writeErrors.map((e) => records[e.index]?._id).filter((id): id is string => id !== undefined);
    const present = new Set(
      (await rawScans.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray()).map((doc) => doc._id),
    );
    return writeErrors.find((e) => {
      const id = records[e.index]?._id;
      return id === undefined || !present.has(id);
    });
  }

  const store: MongoDocumentStore = {
    kind: 'mongodb',

    ensureSchema: () =>
      run(async () => {
        const names = collectionSpecs.map((spec) => spec.name);
        const existing = new Map(
          (await db.listCollections<CollectionInfo>({ name: { $in: names } }).toArray()).map((info) => [info.name, info]),
        );
        for (const spec of collectionSpecs) {
          const validation = { validator: spec.validator, validationLevel: 'strict', validationAction: 'error' };
          const info = existing.get(spec.name);
          let created = false;
          if (info === undefined) {
            try {
              await db.createCollection(spec.name, validation);
              created = true;
            } catch (error) {
              // Another process created it first: fall through to update its validator.
              if (!(error instanceof driver.MongoServerError && error.code === namespaceExists)) throw error;
            }
          }
          const options: Document = info?.options ?? {};
          const upToDate =
            isDeepStrictEqual(options.validator, spec.validator) &&
            (options.validationLevel ?? 'strict') === validation.validationLevel &&
            (options.validationAction ?? 'error') === validation.validationAction;
          if (!created && !upToDate) {
            await db.command({ collMod: spec.name, ...validation });
          }
          await db.collection(spec.name).createIndexes(spec.indexes);
        }
      }),

    ping: () =>
      run(async (): Promise<DocumentStoreInfo> => {
        const admin = db.admin();
        const start = performance.now();
        await admin.command({ ping: 1 });
        const latencyMs = performance.now() - start;
        const info = await admin.buildInfo();
        return { kind: 'mongodb', version: typeof info.version === 'string' ? info.version : 'unknown', latencyMs };
      }),

    insertRawScans: (docs) =>
      run(async () => {
        docs.forEach(assertRawScanDocument);
        const records: RawScanRecord[] = uniqueById(docs).map((doc) => ({
          _id: doc.id,
          tracking_number: doc.trackingNumber,
          event_id: doc.eventId === null ? null : driver.Long.fromNumber(doc.eventId),
          scanned_at: doc.scannedAt,
          source: doc.source,
          payload: doc.payload,
        }));
        if (records.length === 0) return 0;
        try {
          const result = await rawScans.insertMany(records, { ordered: false });
          return result.insertedCount;
        } catch (error) {
          if (!(error instanceof driver.MongoBulkWriteError) || error.err !== undefined) throw error;
          const writeErrors = writeErrorsOf(error);
          if (writeErrors.length === 0) throw error;
          const fatal = await fatalWriteError(records, writeErrors);
          if (fatal === undefined) return error.insertedCount;
          // Unordered: the other scans of the batch are stored; this one is refused.
          throw (
            mapServerCode(fatal.code, scrub(fatal.errmsg ?? error.message), error) ??
            new ShiptrackError('write_failed', ExitCode.internal, `MongoDB: ${scrub(fatal.errmsg ?? error.message)}`, {
              cause: error,
              details: { mongoCode: fatal.code },
            })
          );
        }
      }),

    findRawScans: (trackingNumber, options = {}) =>
      run(async () => {
        const limit = checkLimit(options.limit);
        const cursor = rawScans.find({ tracking_number: trackingNumber }).sort({ scanned_at: 1, _id: 1 });
        if (limit !== undefined) cursor.limit(limit);
        return (await cursor.toArray()).map(toRawScan);
      }),

    findRawScanByEventId: (eventId) =>
      run(async () => {
        if (!Number.isSafeInteger(eventId)) return null;
        // 'number' is a server-side $type alias the driver's typings do not list.
        const filter: Document = { event_id: { $eq: eventId, $type: 'number' } };
        const record = await rawScans.findOne(filter);
        return record === null ? null : toRawScan(record);
      }),

    findRawScansByEventIds: (eventIds) =>
      run(async () => {
        const ids = eventIds.filter((id) => Number.isSafeInteger(id));
        if (ids.length === 0) return [];
        const filter: Document = { event_id: { $in: ids } };
        const records = await rawScans.find(filter).toArray();
        return records.map(toRawScan);
      }),

    countRawScans: () => run(() => rawScans.countDocuments({})),

    sampleRawScans: (size) =>
      run(async () => {
        if (!Number.isSafeInteger(size) || size <= 0) return [];
        const records = await rawScans.aggregate<RawScanRecord>([{ $sample: { size } }]).toArray();
        return records.map(toRawScan);
      }),

    deleteAllRawScans: () => run(async () => (await rawScans.deleteMany({})).deletedCount),

    insertBenchmarkRun: (benchmarkRun) =>
      run(async () => {
        assertBenchmarkRunDocument(benchmarkRun);
        await benchmarkRuns.insertOne({
          _id: benchmarkRun.id,
          started_at: benchmarkRun.startedAt,
          suite: benchmarkRun.suite,
          environment: benchmarkRun.environment,
          parameters: benchmarkRun.parameters,
          results: benchmarkRun.results,
        });
      }),

    listBenchmarkRuns: (options = {}) =>
      run(async () => {
        const limit = checkLimit(options.limit);
        const filter = options.suite === undefined ? {} : { suite: options.suite };
        const cursor = benchmarkRuns.find(filter).sort({ started_at: -1, _id: -1 });
        if (limit !== undefined) cursor.limit(limit);
        return (await cursor.toArray()).map(toBenchmarkRun);
      }),

    findBenchmarkRun: (id) =>
      run(async () => {
        const record = await benchmarkRuns.findOne({ _id: id });
        return record === null ? null : toBenchmarkRun(record);
      }),

    insertStatementSnapshot: (snapshot) =>
      run(async () => {
        assertStatementSnapshotDocument(snapshot);
        await statementSnapshots.insertOne({
          _id: snapshot.id,
          server: snapshot.server,
          taken_at: snapshot.takenAt,
          stats_reset: snapshot.statsReset,
          statements: snapshot.statements,
          truncated: snapshot.truncated,
        });
      }),

    findStatementSnapshot: (server, at) =>
      run(async () => {
        const record =
          (await statementSnapshots.findOne({ server, taken_at: { $lte: at } }, { sort: { taken_at: -1 } })) ??
          (await statementSnapshots.findOne({ server, taken_at: { $gt: at } }, { sort: { taken_at: 1 } }));
        return record === null ? null : toStatementSnapshot(record);
      }),

    deleteStatementSnapshots: (server, before) =>
      run(async () => (await statementSnapshots.deleteMany({ server, taken_at: { $lt: before } })).deletedCount),

    close: () => client.close(),
  };
  return store;
}
