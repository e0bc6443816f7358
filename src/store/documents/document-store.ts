/**
 * The document store: what is document-shaped (DOMAIN §4). Two implementations share one
 * contract suite: MongoDB through the official driver, and PostgreSQL JSONB tables.
 */

/** The full message behind a tracking event, as the scanner or partner carrier sent it. */
export interface RawScanDocument {
  /** Stable id: the same scan delivered twice has the same id (outbox redelivery is a no-op). */
  id: string;
  trackingNumber: string;
  /** The tracking_events.event_id this scan produced, when known. */
  eventId: number | null;
  /** When the scan happened (the event's timestamp). */
  scannedAt: Date;
  /** Where it came from: "scanner", "partner:ups", … */
  source: string;
  /** Schemaless body: device, operator, GPS, temperature, reason, carrier codes, … */
  payload: Record<string, unknown>;
}

/** One `benchmark` run: environment, parameters and results, kept to compare runs over time. */
export interface BenchmarkRunDocument {
  id: string;
  startedAt: Date;
  suite: string;
  environment: Record<string, unknown>;
  parameters: Record<string, unknown>;
  results: Record<string, unknown>;
}

/** One statement's counters in pg_stat_statements, as a snapshot keeps them. */
export interface StatementCounters {
  /** pg_stat_statements' queryid, as text (a 64-bit integer). */
  queryId: string;
  /** Its text with literals replaced by `?`, cut to 200 characters. */
  query: string;
  calls: number;
  totalMs: number;
  rows: number;
}

/** pg_stat_statements of one database at one moment: what `report db --since` compares with. */
export interface StatementSnapshotDocument {
  id: string;
  /** Whose statistics: `database@address:port` as the server names itself. */
  server: string;
  takenAt: Date;
  /** When pg_stat_statements was last reset, or null when the server does not say. */
  statsReset: Date | null;
  /** The busiest statements by total time; `truncated` when the server tracked more. */
  statements: StatementCounters[];
  truncated: boolean;
}

/**
 * Where a write's raw scans go: PostgreSQL's document table (no MongoDB configured), or the
 * transactional outbox, from which they are delivered to MongoDB after the commit.
 */
export type DocumentsTarget = 'postgres' | 'outbox';

export interface DocumentStoreInfo {
  kind: 'mongodb' | 'postgres';
  version: string;
  latencyMs: number;
}

export interface DocumentStore {
  readonly kind: 'mongodb' | 'postgres';
  /** Creates collections/tables, indexes and validators if missing; safe to call repeatedly. */
  ensureSchema(): Promise<void>;
  /** Round trip and server version. */
  ping(): Promise<DocumentStoreInfo>;
  /** Inserts scans; ids already present are left as they are. Returns how many were new. */
  insertRawScans(docs: readonly RawScanDocument[]): Promise<number>;
  /** Scans of one tracking number, oldest first. */
  findRawScans(trackingNumber: string, options?: { limit?: number }): Promise<RawScanDocument[]>;
  findRawScanByEventId(eventId: number): Promise<RawScanDocument | null>;
  /** The scans of many events at once (reports); events without a scan are absent from the result. */
  findRawScansByEventIds(eventIds: readonly number[]): Promise<RawScanDocument[]>;
  countRawScans(): Promise<number>;
  /** Up to `size` raw scans picked at random (consistency sampling). */
  sampleRawScans(size: number): Promise<RawScanDocument[]>;
  /** Removes every raw scan (what `seed --truncate` does to the relational tables). Returns how many. */
  deleteAllRawScans(): Promise<number>;
  insertBenchmarkRun(run: BenchmarkRunDocument): Promise<void>;
  /** Newest first. */
  listBenchmarkRuns(options?: { limit?: number; suite?: string }): Promise<BenchmarkRunDocument[]>;
  findBenchmarkRun(id: string): Promise<BenchmarkRunDocument | null>;
  insertStatementSnapshot(snapshot: StatementSnapshotDocument): Promise<void>;
  /**
   * The newest snapshot of `server` taken at or before `at`; when there is none, the oldest taken
   * after it; null when `server` has none.
   */
  findStatementSnapshot(server: string, at: Date): Promise<StatementSnapshotDocument | null>;
  /** Removes the snapshots of `server` taken before `before`. Returns how many. */
  deleteStatementSnapshots(server: string, before: Date): Promise<number>;
}

/** Collection (MongoDB) and table (PostgreSQL) names. */
export const documentCollections = {
  rawScans: 'raw_scans',
  benchmarkRuns: 'benchmark_runs',
  statementSnapshots: 'statement_snapshots',
} as const;
