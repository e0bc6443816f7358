import { readHealth, redactQuery, type HealthSnapshot } from './health.js';
import { migrationTable } from '../../migrations.service.js';
import { toIso, toNullableNumber, toNumber, type ReportReader } from '../report.js';
import { findDuplicateIndexes, type Coverage, type IndexShape } from './indexes.js';
import { compareText } from '../../../domain/units.js';
import { UsageError } from '../../../errors.js';

/**
 * What `report db` reads, once and in one snapshot, from PostgreSQL's own statistics: server
 * settings, tables with a bloat estimate, indexes, the slowest statements and the migration
 * state, typed and in numbers. The rules and the tables are pure functions of it. Every query
 * reads catalogs and statistics views only, so it runs under a role granted `pg_read_all_data`
 * and `pg_read_all_stats`, and on the embedded PGlite.
 */

/** pg_stat_statements as this session sees it. */
export interface StatementsModule {
  /** The module is loaded (shared_preload_libraries): its settings exist. */
  loaded: boolean;
  /** The server has the extension's files. */
  available: boolean;
  /** The extension's version in this database, or null when it is not created here. */
  version: string | null;
  /** The extension's schema, quoted by the server, or null. */
  schema: string | null;
  /** This role may select from its view. */
  readable: boolean;
}

export interface ServerInfo {
  database: string;
  /** When the database's statistics were last reset (ISO), or null: since they began. */
  statsReset: string | null;
  databaseBytes: number;
  blocksHit: number;
  blocksRead: number;
  /** Transactions since the database's oldest unfrozen transaction id. */
  xidAge: number;
  trackCountsOff: boolean;
  autovacuumOff: boolean;
  sharedBuffersBytes: number;
  /**
   * shared_preload_libraries, or null when it is empty or this role may not see it (it is
   * superuser-only without pg_read_all_settings).
   */
  preload: string | null;
  statementsModule: StatementsModule;
}

export interface TableStats {
  table: string;
  tableBytes: number;
  indexBytes: number;
  /** n_live_tup, or reltuples while the counters have not seen the rows (after a restore). */
  liveRows: number;
  deadRows: number;
  /** Dead of live and dead rows, or null when there are none. */
  deadShare: number | null;
  seqScans: number | null;
  indexScans: number | null;
  /** Buffer cache hit ratio of its heap, or null before any access. */
  cacheHit: number | null;
  lastVacuum: string | null;
  lastAutovacuum: string | null;
  lastAutoanalyze: string | null;
  /** autovacuum_enabled = false on this table. */
  autovacuumDisabled: boolean;
  /** Pages beyond those its rows need, as of its last ANALYZE; null when it was never analyzed. */
  bloat: { bytes: number; share: number } | null;
}

export interface IndexStats {
  index: string;
  table: string;
  /** The definition after USING: `btree (tracking_number)`. */
  definition: string;
  bytes: number;
  scans: number;
  cacheHit: number | null;
  valid: boolean;
  /** CREATE INDEX CONCURRENTLY is building it. */
  building: boolean;
  /** The constraint it backs (p, u or x), or the foreign key (f) that references through it. */
  constraint: { type: string; name: string } | null;
  /** What it enforces: primary key, unique, exclusion, foreign key target, unique index, replica identity, or null. */
  enforces: string | null;
  /** The index that makes this one redundant, and how. */
  coveredBy: { index: string; kind: Coverage } | null;
  /** Pages beyond those its entries need (a B-tree on columns, as of the last ANALYZE), or null. */
  bloat: { bytes: number; share: number } | null;
}

export interface Statement {
  query: string | null;
  role: string | null;
  calls: number;
  totalMs: number;
  meanMs: number;
  rows: number;
  /** Of the total time of every statement of this database. */
  share: number | null;
}

export interface Statements {
  slowest: Statement[];
  /** How many statements of this database pg_stat_statements tracks. */
  all: number;
  /** When pg_stat_statements was last reset (ISO; version 1.9 on), or null. */
  since: string | null;
}

export type MigrationState =
  | { state: 'missing' | 'unreadable' | 'empty' }
  | { state: 'applied'; applied: number; latest: string; appliedAt: string | null; batch: number };

export interface CacheScope {
  scope: string;
  hits: number;
  reads: number;
  hitRatio: number | null;
}

export interface DbSnapshot {
  embedded: boolean;
  server: ServerInfo;
  /** Largest first. */
  tables: TableStats[];
  /** Largest first. */
  indexes: IndexStats[];
  /** Buffer cache hits and reads of the tables' heaps, of the indexes, and of the whole database. */
  caches: CacheScope[];
  /** The slowest statements, or null when pg_stat_statements cannot be read. */
  statements: Statements | null;
  migrations: MigrationState;
  /** On a Citus coordinator: where the shards are; null elsewhere. */
  citus: CitusLayout | null;
  /** The server's live state (sessions, vacuum horizon, sequences, replication); null when embedded. */
  health: HealthSnapshot | null;
}

/** A Citus cluster's shards: by node (balance) and by table (skew between a table's shards). */
export interface CitusLayout {
  nodes: { node: string; shards: number; bytes: number }[];
  tables: { table: string; type: string; shards: number; bytes: number; largestShardBytes: number; meanShardBytes: number }[];
  /**
   * citus_stat_statements: how each statement of this database was executed (one shard by its
   * key, or many), most calls first; null when it is not tracked (citus.stat_statements_track).
   */
  statements: { query: string; executor: string; partitionKey: string | null; calls: number }[] | null;
}

interface ServerRow {
  database: string;
  stats_reset: Date | null;
  blks_hit: unknown;
  blks_read: unknown;
  database_bytes: unknown;
  xid_age: unknown;
  track_counts: string | null;
  autovacuum: string | null;
  shared_buffers_bytes: unknown;
  preload: string | null;
  pss_loaded: boolean;
  pss_available: boolean;
  pss_version: string | null;
  pss_schema: string | null;
  pss_readable: boolean | null;
  migrations_exists: boolean;
  migrations_readable: boolean | null;
  citus: boolean;
}

interface TableRow {
  relid: number;
  table: string;
  table_bytes: unknown;
  index_bytes: unknown;
  reltuples: unknown;
  n_live_tup: unknown;
  n_dead_tup: unknown;
  seq_scan: unknown;
  idx_scan: unknown;
  last_vacuum: Date | null;
  last_autovacuum: Date | null;
  last_autoanalyze: Date | null;
  heap_blks_hit: unknown;
  heap_blks_read: unknown;
  autovacuum_disabled: boolean;
}

interface BloatRow {
  relid: number;
  relpages: unknown;
  reltuples: unknown;
  tuple_bytes: unknown;
  block_size: unknown;
  fillfactor: unknown;
}

interface IndexRow {
  index_oid: number;
  table_oid: number;
  index: string;
  table: string;
  bytes: unknown;
  idx_scan: unknown;
  idx_blks_hit: unknown;
  idx_blks_read: unknown;
  is_unique: boolean;
  is_primary: boolean;
  is_valid: boolean;
  is_replica_identity: boolean;
  building: boolean;
  constraint_type: string | null;
  constraint_name: string | null;
  key_count: number;
  keys: string;
  opclasses: string;
  collations: string;
  options: string;
  expressions: string | null;
  predicate: string | null;
  method: string;
  definition: string;
  relpages: unknown;
  reltuples: unknown;
  fillfactor: unknown;
  block_size: unknown;
}

interface StatementRow {
  role: string | null;
  calls: unknown;
  total_ms: unknown;
  mean_ms: unknown;
  rows: unknown;
  query: string | null;
  all_ms: unknown;
  all_statements: unknown;
}

interface MigrationRow {
  applied: unknown;
  name: string;
  applied_at: Date;
  batch: number;
}

const constraintLabels: Record<string, string> = { p: 'primary key', u: 'unique', x: 'exclusion', f: 'foreign key target' };

/** Hits of hits and reads, or null before any access. */
export function hitRatio(hits: number, reads: number): number | null {
  return hits + reads === 0 ? null : hits / (hits + reads);
}

async function readServer(reader: ReportReader): Promise<ServerRow> {
  // Each read of pg_settings builds the whole view (~0.75 ms): plain settings come from
  // current_setting(), which any role may call. pg_stat_statements' own settings exist only while
  // it is loaded (current_setting(…, true) is null otherwise). shared_preload_libraries is
  // superuser-only through current_setting() (an error would abort the read-only transaction), so
  // pg_settings, which hides the row instead, is read for it, and pg_available_extensions (every
  // extension's control file) is read, only when the advice needs them: the module not loaded, or
  // not installed. Uncorrelated subqueries run when first needed, so those run only then. The
  // history table's name is ours, written in: a query without bindings goes as one simple-protocol
  // message, where a bound one is parsed, bound and executed (1 ms more for this one).
  const [row] = await reader.rows<ServerRow>(
    'server, settings and extensions',
    `select current_database() as database, d.stats_reset, d.blks_hit, d.blks_read,
            pg_database_size(current_database()) as database_bytes,
            (select age(datfrozenxid) from pg_database where datname = current_database()) as xid_age,
            current_setting('track_counts') as track_counts, current_setting('autovacuum') as autovacuum,
            pg_size_bytes(current_setting('shared_buffers')) as shared_buffers_bytes,
            case when current_setting('pg_stat_statements.max', true) is null
                 then (select setting from pg_settings where name = 'shared_preload_libraries') end as preload,
            current_setting('pg_stat_statements.max', true) is not null as pss_loaded,
            x.extversion is not null or exists (select 1 from pg_available_extensions where name = 'pg_stat_statements')
              as pss_available,
            x.extversion as pss_version, quote_ident(n.nspname) as pss_schema,
            has_table_privilege(to_regclass(quote_ident(n.nspname) || '.pg_stat_statements'), 'select') as pss_readable,
            to_regclass('${migrationTable}') is not null as migrations_exists,
            has_table_privilege(to_regclass('${migrationTable}'), 'select') as migrations_readable,
            exists (select 1 from pg_extension where extname = 'citus') as citus
       from (select 1) as one
       left join pg_stat_database d on d.datname = current_database()
       left join pg_extension x on x.extname = 'pg_stat_statements'
       left join pg_namespace n on n.oid = x.extnamespace`,
  );
  if (row === undefined) throw new Error('the server returned no row for its own settings');
  return row;
}

/** A table's columns by number, with the average width ANALYZE saw (null: no statistics). */
type ColumnWidths = Map<number, number | null>;

async function readTables(
  reader: ReportReader,
): Promise<{ tables: TableRow[]; bloat: BloatRow[]; widths: Map<number, ColumnWidths> }> {
  // Bloat: expected pages are reltuples rows of the average width ANALYZE saw (pg_stats), with
  // tuple header, null bitmap, alignment, line pointer and fillfactor; against relpages of the same
  // ANALYZE. pg_stats is read per table (its privilege check on every column of the database
  // took 7 ms when joined whole); a table with a column ANALYZE has not seen gets no estimate.
  // What pg_stat_user_tables and pg_statio_user_tables show comes from the statistics functions
  // those views are made of (planning the views cost more than running this).
  // The columns' widths serve the indexes' bloat estimate too (readIndexes): pg_stats is read once.
  const rows = await reader.rows<
    TableRow & Omit<BloatRow, 'relid'> & { estimable: boolean; attnums: number[]; widths: (number | null)[] }
  >(
    'tables and bloat estimate',
    `select c.oid as relid, c.oid::regclass::text as "table",
            coalesce(pg_table_size(c.oid), 0) as table_bytes, coalesce(pg_indexes_size(c.oid), 0) as index_bytes,
            c.reltuples, pg_stat_get_live_tuples(c.oid) as n_live_tup, pg_stat_get_dead_tuples(c.oid) as n_dead_tup,
            pg_stat_get_numscans(c.oid) as seq_scan,
            (select sum(pg_stat_get_numscans(i.indexrelid))::bigint from pg_index i where i.indrelid = c.oid) as idx_scan,
            greatest(pg_stat_get_last_vacuum_time(c.oid), pg_stat_get_last_autovacuum_time(c.oid)) as last_vacuum,
            pg_stat_get_last_autovacuum_time(c.oid) as last_autovacuum,
            pg_stat_get_last_autoanalyze_time(c.oid) as last_autoanalyze,
            case when c.relkind <> 'p' then pg_stat_get_blocks_hit(c.oid) end as heap_blks_hit,
            case when c.relkind <> 'p' then pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid) end as heap_blks_read,
            exists (select 1 from pg_options_to_table(c.reloptions) o
                     where o.option_name = 'autovacuum_enabled' and o.option_value in ('false', 'off', 'no', '0')) as autovacuum_disabled,
            k.with_stats = k.natts and c.reltuples > 0 and c.relpages > 0 as estimable, c.relpages, k.attnums, k.widths,
            ceil((23 + case when k.has_nulls then ceil(k.natts / 8.0) else 0 end) / 8.0) * 8
              + ceil(k.data_width / 8.0) * 8 + 4 as tuple_bytes,
            current_setting('block_size')::int as block_size,
            coalesce((select o.option_value::int from pg_options_to_table(c.reloptions) o where o.option_name = 'fillfactor'), 100)
              as fillfactor
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       cross join lateral (
         select count(*) as natts, count(st.avg_width) as with_stats,
                sum(st.avg_width * (1 - st.null_frac)) as data_width, bool_or(st.null_frac > 0) as has_nulls,
                array_agg(a.attnum order by a.attnum) as attnums,
                array_agg(st.avg_width * (1 - st.null_frac) order by a.attnum) as widths
           from pg_attribute a
           left join pg_stats st
             on st.schemaname = n.nspname and st.tablename = c.relname and st.attname = a.attname and not st.inherited
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) k
      where c.relkind in ('r', 't', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`,
  );
  const widths = new Map(
    rows.map((r): [number, ColumnWidths] => [r.relid, new Map(r.attnums.map((attnum, i) => [attnum, r.widths[i] ?? null]))]),
  );
  return { tables: rows, bloat: rows.filter((r) => r.estimable), widths };
}

async function readIndexes(reader: ReportReader): Promise<IndexRow[]> {
  // What pg_stat_user_indexes and pg_statio_user_indexes show, read from the catalogs and the
  // statistics functions those views are made of: planning the two views joined took 5 ms.
  return reader.rows<IndexRow>(
    'indexes',
    `select x.indexrelid as index_oid, x.indrelid as table_oid, x.indexrelid::regclass::text as index,
            x.indrelid::regclass::text as "table", coalesce(pg_relation_size(x.indexrelid), 0) as bytes,
            pg_stat_get_numscans(x.indexrelid) as idx_scan, pg_stat_get_blocks_hit(x.indexrelid) as idx_blks_hit,
            pg_stat_get_blocks_fetched(x.indexrelid) - pg_stat_get_blocks_hit(x.indexrelid) as idx_blks_read,
            x.indisunique as is_unique, x.indisprimary as is_primary, x.indisvalid as is_valid,
            x.indisreplident as is_replica_identity,
            x.indexrelid in (select p.index_relid from pg_stat_progress_create_index p) as building,
            con.contype as constraint_type, con.conname as constraint_name,
            x.indnkeyatts as key_count, x.indkey::text as keys, x.indclass::text as opclasses,
            x.indcollation::text as collations, x.indoption::text as options,
            pg_get_expr(x.indexprs, x.indrelid) as expressions, pg_get_expr(x.indpred, x.indrelid) as predicate,
            am.amname as method, substr(d.def, strpos(d.def, ' USING ') + 7) as definition,
            i.relpages, i.reltuples, current_setting('block_size')::int as block_size,
            coalesce((select o.option_value::int from pg_options_to_table(i.reloptions) o where o.option_name = 'fillfactor'), 90)
              as fillfactor
       from pg_index x
       join pg_class t on t.oid = x.indrelid
       join pg_namespace n on n.oid = t.relnamespace
       join pg_class i on i.oid = x.indexrelid
       join pg_am am on am.oid = i.relam
       cross join lateral (select pg_get_indexdef(x.indexrelid) as def) d
       -- One pass over pg_constraint (it has no index on conindid): the constraint an index enforces.
       left join (
         select distinct on (c.conindid) c.conindid, c.contype::text as contype, c.conname::text as conname from pg_constraint c
          where c.contype in ('p', 'u', 'x', 'f') order by c.conindid, c.contype = 'f', c.conname) con on con.conindid = x.indexrelid
      where t.relkind in ('r', 't', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`,
  );
}

function parseVersion(version: string | null): number[] {
  return (version ?? '0').split('.').map((part) => Number.parseInt(part, 10) || 0);
}

function atLeast(version: number[], major: number, minor: number): boolean {
  const [a = 0, b = 0] = version;
  return a > major || (a === major && b >= minor);
}

/** How many statements `report db` lists: a whole number of 1 or more, else a UsageError. */
export function statementLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new UsageError(`limit: expected a whole number of 1 or more, got ${limit}`);
  return limit;
}

/** pg_stat_statements' time columns for its version: renamed in 1.8 (PostgreSQL 13). */
export function statementTimeColumns(version: string | null): { total: string; mean: string } {
  return atLeast(parseVersion(version), 1, 8)
    ? { total: 'total_exec_time', mean: 'mean_exec_time' }
    : { total: 'total_time', mean: 'mean_time' };
}

async function readStatements(reader: ReportReader, server: ServerRow, limit: number): Promise<Statements | null> {
  if (!server.pss_loaded || server.pss_schema === null || server.pss_readable !== true) return null;
  const version = parseVersion(server.pss_version);
  // The schema is the extension's, quoted by the server.
  const { total, mean } = statementTimeColumns(server.pss_version);
  const view = `${server.pss_schema}.pg_stat_statements`;
  // The limit is written in (statementLimit) so that both reads go in one round trip.
  const [rows, info] = await Promise.all([
    reader.rows<StatementRow>(
      'pg_stat_statements',
      `select s.userid::regrole::text as role, s.calls, s.${total} as total_ms, s.${mean} as mean_ms, s.rows,
              left(s.query, 1000) as query, sum(s.${total}) over () as all_ms, count(*) over () as all_statements
         from ${view} s
        where s.dbid = (select oid from pg_database where datname = current_database())
        order by s.${total} desc
        limit ${statementLimit(limit)}`,
    ),
    atLeast(version, 1, 9)
      ? reader.rows<{ stats_reset: Date | null }>(
          'pg_stat_statements_info',
          `select stats_reset from ${server.pss_schema}.pg_stat_statements_info`,
        )
      : [],
  ]);
  const since = info[0]?.stats_reset ?? null;
  const slowest = rows.map((s): Statement => {
    const allMs = toNumber(s.all_ms);
    return {
      // Utility statements keep their literals in pg_stat_statements (a password in ALTER ROLE).
      query: s.query === null ? null : redactQuery(s.query),
      role: s.role,
      calls: toNumber(s.calls),
      totalMs: toNumber(s.total_ms),
      meanMs: toNumber(s.mean_ms),
      rows: toNumber(s.rows),
      share: allMs === 0 ? null : toNumber(s.total_ms) / allMs,
    };
  });
  return { slowest, all: toNumber(rows[0]?.all_statements), since: toIso(since) };
}

async function readMigrations(reader: ReportReader, server: ServerRow): Promise<MigrationState> {
  if (!server.migrations_exists) return { state: 'missing' };
  if (server.migrations_readable !== true) return { state: 'unreadable' };
  const [row] = await reader.rows<MigrationRow>(
    'migrations',
    `select (select count(*) from ${migrationTable}) as applied, name, applied_at, batch
       from ${migrationTable} order by id desc limit 1`,
  );
  if (row === undefined) return { state: 'empty' };
  return {
    state: 'applied',
    applied: toNumber(row.applied),
    latest: row.name,
    appliedAt: toIso(row.applied_at),
    batch: row.batch,
  };
}

function serverInfo(row: ServerRow): ServerInfo {
  return {
    database: row.database,
    statsReset: toIso(row.stats_reset),
    databaseBytes: toNumber(row.database_bytes),
    blocksHit: toNumber(row.blks_hit),
    blocksRead: toNumber(row.blks_read),
    xidAge: toNumber(row.xid_age),
    trackCountsOff: row.track_counts === 'off',
    autovacuumOff: row.autovacuum === 'off',
    sharedBuffersBytes: toNumber(row.shared_buffers_bytes),
    preload: row.preload === '' ? null : row.preload,
    statementsModule: {
      loaded: row.pss_loaded,
      available: row.pss_available,
      version: row.pss_version,
      schema: row.pss_schema,
      readable: row.pss_readable === true,
    },
  };
}

function bloatEstimate(b: BloatRow): { bytes: number; share: number } {
  const perPage = ((toNumber(b.block_size) - 24) * toNumber(b.fillfactor)) / 100;
  const expected = Math.ceil((toNumber(b.reltuples) * toNumber(b.tuple_bytes)) / perPage);
  const pages = toNumber(b.relpages);
  const extra = Math.max(0, pages - expected);
  return { bytes: extra * toNumber(b.block_size), share: extra / pages };
}

/**
 * A B-tree entry's bytes: its 8-byte header and the columns' average width (as ANALYZE saw them),
 * aligned to 8, and a 4-byte line pointer. Null unless the index is a B-tree on plain columns that
 * all have statistics, with rows and more than its metapage.
 */
function indexEntryBytes(i: IndexRow, columns: ColumnWidths | undefined): number | null {
  if (i.method !== 'btree' || i.expressions !== null || toNumber(i.reltuples) <= 0 || toNumber(i.relpages) <= 1) return null;
  let width = 0;
  for (const attnum of i.keys.split(' ').map(Number)) {
    const w = columns?.get(attnum);
    if (w === undefined || w === null) return null;
    width += w;
  }
  return 8 + Math.ceil(width / 8) * 8 + 4;
}

/** An index's bloat estimate, or null when it cannot be estimated (see indexEntryBytes). */
function indexBloatEstimate(i: IndexRow, columns: ColumnWidths | undefined): { bytes: number; share: number } | null {
  const entryBytes = indexEntryBytes(i, columns);
  if (entryBytes === null) return null;
  const blockSize = toNumber(i.block_size);
  // The page header (24 bytes) and the B-tree's special space (16); one metapage; leaf pages
  // filled to the fillfactor (default 90).
  const perPage = ((blockSize - 24 - 16) * toNumber(i.fillfactor)) / 100;
  const expected = Math.ceil((toNumber(i.reltuples) * entryBytes) / perPage) + 1;
  const pages = toNumber(i.relpages);
  const extra = Math.max(0, pages - expected);
  return { bytes: extra * blockSize, share: extra / pages };
}

function tableStats(rows: readonly TableRow[], bloat: readonly BloatRow[]): TableStats[] {
  const bloatByTable = new Map(bloat.map((b) => [b.relid, bloatEstimate(b)]));
  return rows
    .map((t): TableStats => {
      const liveStat = toNumber(t.n_live_tup);
      const live = liveStat === 0 && toNumber(t.reltuples) > 0 ? toNumber(t.reltuples) : liveStat;
      const dead = toNumber(t.n_dead_tup);
      return {
        table: t.table,
        tableBytes: toNumber(t.table_bytes),
        indexBytes: toNumber(t.index_bytes),
        liveRows: live,
        deadRows: dead,
        deadShare: live + dead === 0 ? null : dead / (live + dead),
        seqScans: toNullableNumber(t.seq_scan),
        indexScans: toNullableNumber(t.idx_scan),
        cacheHit: hitRatio(toNumber(t.heap_blks_hit), toNumber(t.heap_blks_read)),
        lastVacuum: toIso(t.last_vacuum),
        lastAutovacuum: toIso(t.last_autovacuum),
        lastAutoanalyze: toIso(t.last_autoanalyze),
        autovacuumDisabled: t.autovacuum_disabled,
        bloat: bloatByTable.get(t.relid) ?? null,
      };
    })
    .sort((a, b) => b.tableBytes + b.indexBytes - (a.tableBytes + a.indexBytes) || compareText(a.table, b.table));
}

function vector(text: string): string[] {
  return text.trim() === '' ? [] : text.trim().split(/\s+/);
}

function shapeOf(row: IndexRow): IndexShape {
  const all = vector(row.keys).map(Number);
  return {
    oid: row.index_oid,
    tableOid: row.table_oid,
    method: row.method,
    keys: all.slice(0, row.key_count),
    include: all.slice(row.key_count),
    opclasses: vector(row.opclasses),
    collations: vector(row.collations),
    options: vector(row.options),
    expressions: row.expressions,
    predicate: row.predicate,
    unique: row.is_unique,
    primary: row.is_primary,
    valid: row.is_valid,
    constraint: row.constraint_type !== null,
  };
}

function enforcedBy(i: IndexRow): string | null {
  if (i.constraint_type !== null) return constraintLabels[i.constraint_type] ?? i.constraint_type;
  if (i.is_unique) return 'unique index';
  return i.is_replica_identity ? 'replica identity' : null;
}

function indexStats(rows: readonly IndexRow[], widths: ReadonlyMap<number, ColumnWidths>): IndexStats[] {
  const duplicates = findDuplicateIndexes(rows.map(shapeOf));
  const names = new Map(rows.map((i) => [i.index_oid, i.index]));
  return rows
    .map((i): IndexStats => {
      const duplicate = duplicates.get(i.index_oid);
      const coveredBy = duplicate === undefined ? undefined : names.get(duplicate.of);
      return {
        index: i.index,
        table: i.table,
        definition: i.definition,
        bytes: toNumber(i.bytes),
        scans: toNumber(i.idx_scan),
        cacheHit: hitRatio(toNumber(i.idx_blks_hit), toNumber(i.idx_blks_read)),
        valid: i.is_valid,
        building: i.building,
        constraint: i.constraint_type === null ? null : { type: i.constraint_type, name: i.constraint_name ?? '' },
        enforces: enforcedBy(i),
        coveredBy: duplicate === undefined || coveredBy === undefined ? null : { index: coveredBy, kind: duplicate.kind },
        bloat: indexBloatEstimate(i, widths.get(i.table_oid)),
      };
    })
    .sort((a, b) => b.bytes - a.bytes || compareText(a.index, b.index));
}

function cacheScopes(server: ServerInfo, tables: readonly TableRow[], indexes: readonly IndexRow[]): CacheScope[] {
  const sum = <T>(rows: readonly T[], pick: (row: T) => unknown): number => rows.reduce((s, r) => s + toNumber(pick(r)), 0);
  return [
    { scope: 'tables (heap)', hits: sum(tables, (t) => t.heap_blks_hit), reads: sum(tables, (t) => t.heap_blks_read) },
    { scope: 'indexes', hits: sum(indexes, (i) => i.idx_blks_hit), reads: sum(indexes, (i) => i.idx_blks_read) },
    { scope: `database ${server.database}`, hits: server.blocksHit, reads: server.blocksRead },
  ].map((c) => ({ ...c, hitRatio: hitRatio(c.hits, c.reads) }));
}

/**
 * Where a Citus cluster keeps its shards (citus_shards: each shard's size, asked of its worker):
 * bytes and shards per node, and per table with its largest shard against the mean.
 */
async function readCitus(reader: ReportReader): Promise<CitusLayout> {
  const rows = await reader.rows<{ node: string; table: string; type: string; shards: number; bytes: unknown; largest: unknown }>(
    'citus shards',
    `select nodename || ':' || nodeport as node, table_name::text as "table", citus_table_type as type,
            count(*)::int as shards, coalesce(sum(shard_size), 0)::bigint as bytes, coalesce(max(shard_size), 0)::bigint as largest
       from citus_shards group by 1, 2, 3`,
  );
  const nodes = new Map<string, { node: string; shards: number; bytes: number }>();
  const tables = new Map<string, { table: string; type: string; shards: number; bytes: number; largestShardBytes: number }>();
  for (const r of rows) {
    const node = nodes.get(r.node) ?? { node: r.node, shards: 0, bytes: 0 };
    node.shards += r.shards;
    node.bytes += toNumber(r.bytes);
    nodes.set(r.node, node);
    const table = tables.get(r.table) ?? { table: r.table, type: r.type, shards: 0, bytes: 0, largestShardBytes: 0 };
    table.shards += r.shards;
    table.bytes += toNumber(r.bytes);
    table.largestShardBytes = Math.max(table.largestShardBytes, toNumber(r.largest));
    tables.set(r.table, table);
  }
  // Tracking is off unless citus.stat_statements_track = 'all', and citus_stat_statements fails
  // unless pg_stat_statements is loaded and its extension created: then it is not tracked.
  const [tracking] = await reader.rows<{ track: string | null; statements: boolean }>(
    'citus statement tracking',
    `select current_setting('citus.stat_statements_track', true) as track,
            current_setting('pg_stat_statements.max', true) is not null
              and exists (select 1 from pg_extension where extname = 'pg_stat_statements') as statements`,
  );
  const statements =
    tracking?.track === 'all' && tracking.statements
      ? (
          await reader.rows<{ query: string | null; executor: string; partition_key: string | null; calls: unknown }>(
            'citus_stat_statements',
            `select left(query, 1000) as query, executor, partition_key, sum(calls)::bigint as calls
               from citus_stat_statements
              where dbid = (select oid from pg_database where datname = current_database())
              group by 1, 2, 3 order by 4 desc limit 20`,
          )
        ).map((r) => ({
          query: redactQuery(r.query ?? ''),
          executor: r.executor,
          partitionKey: r.partition_key === null ? null : redactQuery(r.partition_key),
          calls: toNumber(r.calls),
        }))
      : null;
  return {
    statements,
    nodes: [...nodes.values()].sort((a, b) => compareText(a.node, b.node)),
    tables: [...tables.values()]
      .map((t) => ({ ...t, meanShardBytes: t.shards === 0 ? 0 : t.bytes / t.shards }))
      .sort((a, b) => b.bytes - a.bytes || compareText(a.table, b.table)),
  };
}

/** Reads everything `report db` looks at, in the reader's snapshot; `limit` statements at most. */
export async function readDbSnapshot(reader: ReportReader, limit: number): Promise<DbSnapshot> {
  return (await readDbSnapshotWith(reader, limit, () => Promise.resolve(null))).snapshot;
}

/**
 * readDbSnapshot, and `alongside`: more reads that need only what the server's row says, asked
 * for with the rest (on a server, in the same round trip).
 */
export async function readDbSnapshotWith<A>(
  reader: ReportReader,
  limit: number,
  alongside: (server: ServerInfo) => Promise<A>,
): Promise<{ snapshot: DbSnapshot; alongside: A }> {
  const serverRow = await readServer(reader);
  const server = serverInfo(serverRow);
  // What the server row says is there, asked for at once: on a server one round trip.
  const [{ tables, bloat, widths }, indexes, statements, migrations, citus, health, more] = await Promise.all([
    readTables(reader),
    readIndexes(reader),
    readStatements(reader, serverRow, limit),
    readMigrations(reader, serverRow),
    serverRow.citus ? readCitus(reader) : null,
    reader.mode === 'server' ? readHealth(reader) : null,
    alongside(server),
  ]);
  return {
    snapshot: {
      embedded: reader.mode === 'embedded',
      server,
      tables: tableStats(tables, bloat),
      indexes: indexStats(indexes, widths),
      caches: cacheScopes(server, tables, indexes),
      statements,
      migrations,
      citus,
      health,
    },
    alongside: more,
  };
}
