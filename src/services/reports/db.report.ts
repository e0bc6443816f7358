import { formatBytes } from '../../domain/units.js';
import type { Database } from '../../store/database.js';
import { migrationTable } from '../migrations.service.js';
import {
  readReport,
  reportResult,
  toIso,
  toNullableNumber,
  toNumber,
  type Finding,
  type FindingLevel,
  type ReportOptions,
  type ReportReader,
  type ReportResult,
  type ReportRow,
} from './report.js';

/**
 * `report db`: what a DBA checks first, read from PostgreSQL's own statistics: sizes, unused,
 * duplicate and invalid indexes, dead tuples and bloat, cache hit ratios, the slowest statements
 * and the migration history. Every query reads catalogs and statistics views only, so the report
 * runs under a role granted `pg_read_all_data` and `pg_read_all_stats`, and on the embedded PGlite.
 */

/** An unused index smaller than this is not worth a finding. */
const unusedIndexMinBytes = 1024 * 1024;
const deadShareThreshold = 0.2;
const deadRowsThreshold = 10_000;
const bloatShareThreshold = 0.3;
const bloatBytesThreshold = 10 * 1024 * 1024;
const cacheHitTarget = 0.99;
const cacheHitPoor = 0.95;
/** Fewer buffer accesses than this say nothing about a cache. */
const cacheMinAccesses = 10_000;
/** Transaction IDs; autovacuum forces a freeze at 200 million, the server stops near 2,100 million. */
const xidAgeWarn = 1_000_000_000;
const xidAgeProblem = 1_500_000_000;
const statementTextLength = 120;
const definitionLength = 80;

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
  /** Null when the role may not see it (it is superuser-only without pg_read_all_settings). */
  preload: string | null;
  pss_loaded: boolean;
  pss_available: boolean;
  pss_version: string | null;
  pss_schema: string | null;
  pss_readable: boolean | null;
  migrations_exists: boolean;
  migrations_readable: boolean | null;
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

/** The columns of one index, as pg_index stores them: what decides whether one index covers another. */
export interface IndexShape {
  oid: number;
  tableOid: number;
  method: string;
  /** Key column numbers (0 for an expression). */
  keys: number[];
  /** INCLUDE column numbers. */
  include: number[];
  opclasses: string[];
  collations: string[];
  options: string[];
  expressions: string | null;
  predicate: string | null;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  /** Backs a primary key, unique or exclusion constraint. */
  constraint: boolean;
}

/**
 * Whether `b` makes `a` redundant: same method, predicate and expressions, and `a`'s key columns
 * (with their operator classes, collations and ordering) are `b`'s or a leading prefix of them
 * (prefixes for btree only). A unique index is covered only by a unique index on the same keys.
 */
export function coverage(a: IndexShape, b: IndexShape): 'same' | 'prefix' | null {
  if (a.oid === b.oid || a.tableOid !== b.tableOid || !b.valid) return null;
  if (a.method !== b.method || a.predicate !== b.predicate || a.expressions !== b.expressions) return null;
  const n = a.keys.length;
  if (n === 0 || n > b.keys.length) return null;
  if (a.method !== 'btree' && n !== b.keys.length) return null;
  for (let i = 0; i < n; i += 1) {
    if (a.keys[i] !== b.keys[i] || a.opclasses[i] !== b.opclasses[i]) return null;
    if (a.collations[i] !== b.collations[i] || a.options[i] !== b.options[i]) return null;
  }
  const bColumns = new Set([...b.keys, ...b.include]);
  if (!a.include.every((c) => bColumns.has(c))) return null;
  const sameKeys = n === b.keys.length;
  if (a.unique && !(b.unique && sameKeys)) return null;
  return sameKeys && a.include.length === b.include.length ? 'same' : 'prefix';
}

/** Which index to keep of two identical ones: the one backing a constraint, then primary, unique, older. */
function keepRank(i: IndexShape): number[] {
  return [i.constraint ? 1 : 0, i.primary ? 1 : 0, i.unique ? 1 : 0, -i.oid];
}

function ranksAbove(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}

/** For each redundant index, the index that covers it (of identical ones, one is kept). Pure. */
export function findDuplicateIndexes(indexes: readonly IndexShape[]): Map<number, { of: number; kind: 'same' | 'prefix' }> {
  const duplicates = new Map<number, { of: number; kind: 'same' | 'prefix' }>();
  for (const a of indexes) {
    if (!a.valid) continue;
    let best: { index: IndexShape; kind: 'same' | 'prefix' } | undefined;
    for (const b of indexes) {
      const kind = coverage(a, b);
      if (kind === null) continue;
      if (kind === 'same' && !ranksAbove(keepRank(b), keepRank(a))) continue;
      const better =
        best === undefined ||
        (kind === 'same' && best.kind === 'prefix') ||
        (kind === best.kind &&
          (kind === 'same' ? ranksAbove(keepRank(b), keepRank(best.index)) : b.keys.length < best.index.keys.length));
      if (better) best = { index: b, kind };
    }
    if (best !== undefined) duplicates.set(a.oid, { of: best.index.oid, kind: best.kind });
  }
  return duplicates;
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

function parseVersion(version: string | null): number[] {
  return (version ?? '0').split('.').map((part) => Number.parseInt(part, 10) || 0);
}

function atLeast(version: number[], major: number, minor: number): boolean {
  const [a = 0, b = 0] = version;
  return a > major || (a === major && b >= minor);
}

function ratio(hits: number, reads: number): number | null {
  return hits + reads === 0 ? null : hits / (hits + reads);
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function shorten(text: string | null, length: number): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

const constraintLabels: Record<string, string> = { p: 'primary key', u: 'unique', x: 'exclusion', f: 'foreign key target' };

async function readServer(reader: ReportReader): Promise<ServerRow | undefined> {
  // shared_preload_libraries is superuser-only through current_setting() (an error would abort the
  // read-only transaction); pg_settings hides the row instead. The module's own settings exist only
  // when it is loaded, which is exactly when its view can be read.
  const [row] = await reader.rows<ServerRow>(
    'server, settings and extensions',
    `select current_database() as database, d.stats_reset, d.blks_hit, d.blks_read,
            pg_database_size(current_database()) as database_bytes,
            (select age(datfrozenxid) from pg_database where datname = current_database()) as xid_age,
            (select setting from pg_settings where name = 'track_counts') as track_counts,
            (select setting from pg_settings where name = 'autovacuum') as autovacuum,
            pg_size_bytes(current_setting('shared_buffers')) as shared_buffers_bytes,
            (select setting from pg_settings where name = 'shared_preload_libraries') as preload,
            exists (select 1 from pg_settings where name = 'pg_stat_statements.max') as pss_loaded,
            exists (select 1 from pg_available_extensions where name = 'pg_stat_statements') as pss_available,
            x.extversion as pss_version, quote_ident(n.nspname) as pss_schema,
            has_table_privilege(to_regclass(quote_ident(n.nspname) || '.pg_stat_statements'), 'select') as pss_readable,
            to_regclass(?) is not null as migrations_exists,
            has_table_privilege(to_regclass(?), 'select') as migrations_readable
       from (select 1) as one
       left join pg_stat_database d on d.datname = current_database()
       left join pg_extension x on x.extname = 'pg_stat_statements'
       left join pg_namespace n on n.oid = x.extnamespace`,
    [migrationTable, migrationTable],
  );
  return row;
}

async function readTables(reader: ReportReader): Promise<{ tables: TableRow[]; bloat: BloatRow[] }> {
  const tables = await reader.rows<TableRow>(
    'tables',
    `select s.relid, s.relid::regclass::text as "table",
            coalesce(pg_table_size(s.relid), 0) as table_bytes, coalesce(pg_indexes_size(s.relid), 0) as index_bytes,
            c.reltuples, s.n_live_tup, s.n_dead_tup, s.seq_scan, s.idx_scan,
            greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum, s.last_autovacuum, s.last_autoanalyze,
            io.heap_blks_hit, io.heap_blks_read,
            exists (select 1 from pg_options_to_table(c.reloptions) o
                     where o.option_name = 'autovacuum_enabled' and o.option_value in ('false', 'off', 'no', '0')) as autovacuum_disabled
       from pg_stat_user_tables s
       join pg_class c on c.oid = s.relid
       left join pg_statio_user_tables io on io.relid = s.relid`,
  );
  // Expected pages: reltuples rows of the average width ANALYZE saw (pg_stats), with tuple header,
  // null bitmap, alignment, line pointer and fillfactor; against relpages of the same ANALYZE.
  const bloat = await reader.rows<BloatRow>(
    'bloat estimate',
    `with columns as (
       select a.attrelid as relid, count(*) as natts, count(st.avg_width) as with_stats,
              sum(st.avg_width * (1 - st.null_frac)) as data_width, bool_or(st.null_frac > 0) as has_nulls
         from pg_stat_user_tables t
         join pg_attribute a on a.attrelid = t.relid and a.attnum > 0 and not a.attisdropped
         left join pg_stats st
           on st.schemaname = t.schemaname and st.tablename = t.relname and st.attname = a.attname and not st.inherited
        group by a.attrelid)
     select c.oid as relid, c.relpages, c.reltuples,
            ceil((23 + case when k.has_nulls then ceil(k.natts / 8.0) else 0 end) / 8.0) * 8
              + ceil(k.data_width / 8.0) * 8 + 4 as tuple_bytes,
            current_setting('block_size')::int as block_size,
            coalesce((select o.option_value::int from pg_options_to_table(c.reloptions) o where o.option_name = 'fillfactor'), 100)
              as fillfactor
       from columns k
       join pg_class c on c.oid = k.relid
      where k.with_stats = k.natts and c.reltuples > 0 and c.relpages > 0`,
  );
  return { tables, bloat };
}

async function readIndexes(reader: ReportReader): Promise<IndexRow[]> {
  return reader.rows<IndexRow>(
    'indexes',
    `select x.indexrelid as index_oid, x.indrelid as table_oid, x.indexrelid::regclass::text as index,
            x.indrelid::regclass::text as "table", coalesce(pg_relation_size(x.indexrelid), 0) as bytes,
            s.idx_scan, io.idx_blks_hit, io.idx_blks_read,
            x.indisunique as is_unique, x.indisprimary as is_primary, x.indisvalid as is_valid,
            x.indisreplident as is_replica_identity,
            exists (select 1 from pg_stat_progress_create_index p where p.index_relid = x.indexrelid) as building,
            con.contype as constraint_type, con.conname as constraint_name,
            x.indnkeyatts as key_count, x.indkey::text as keys, x.indclass::text as opclasses,
            x.indcollation::text as collations, x.indoption::text as options,
            pg_get_expr(x.indexprs, x.indrelid) as expressions, pg_get_expr(x.indpred, x.indrelid) as predicate,
            am.amname as method, substr(d.def, strpos(d.def, ' USING ') + 7) as definition
       from pg_stat_user_indexes s
       join pg_index x on x.indexrelid = s.indexrelid
       join pg_class i on i.oid = x.indexrelid
       join pg_am am on am.oid = i.relam
       left join pg_statio_user_indexes io on io.indexrelid = s.indexrelid
       cross join lateral (select pg_get_indexdef(x.indexrelid) as def) d
       left join lateral (
         select c.contype::text as contype, c.conname::text as conname from pg_constraint c
          where c.conindid = x.indexrelid and c.contype in ('p', 'u', 'x', 'f') order by c.contype = 'f', c.conname limit 1) con on true`,
  );
}

async function readStatements(
  reader: ReportReader,
  server: ServerRow,
  limit: number,
): Promise<{ rows: StatementRow[]; since: Date | null } | null> {
  if (!server.pss_loaded || server.pss_schema === null || server.pss_readable !== true) return null;
  const version = parseVersion(server.pss_version);
  // Column names changed in 1.8 (PostgreSQL 13); the schema is the extension's, quoted by the server.
  const [total, mean] = atLeast(version, 1, 8) ? ['total_exec_time', 'mean_exec_time'] : ['total_time', 'mean_time'];
  const view = `${server.pss_schema}.pg_stat_statements`;
  const rows = await reader.rows<StatementRow>(
    'pg_stat_statements',
    `select s.userid::regrole::text as role, s.calls, s.${total} as total_ms, s.${mean} as mean_ms, s.rows,
            left(s.query, 1000) as query, sum(s.${total}) over () as all_ms, count(*) over () as all_statements
       from ${view} s
      where s.dbid = (select oid from pg_database where datname = current_database())
      order by s.${total} desc
      limit ?`,
    [limit],
  );
  let since: Date | null = null;
  if (atLeast(version, 1, 9)) {
    const [info] = await reader.rows<{ stats_reset: Date | null }>(
      'pg_stat_statements_info',
      `select stats_reset from ${server.pss_schema}.pg_stat_statements_info`,
    );
    since = info?.stats_reset ?? null;
  }
  return { rows, since };
}

async function readMigrations(reader: ReportReader, server: ServerRow): Promise<MigrationRow | null | undefined> {
  if (!server.migrations_exists || server.migrations_readable !== true) return undefined;
  const [row] = await reader.rows<MigrationRow>(
    'migrations',
    `select (select count(*) from ${migrationTable}) as applied, name, applied_at, batch
       from ${migrationTable} order by id desc limit 1`,
  );
  return row ?? null;
}

function statementsFinding(server: ServerRow, mode: Database['mode']): Finding | null {
  const keeping = server.preload !== null && server.preload !== '' ? ` (keeping '${server.preload}')` : '';
  const preload = `set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf${keeping} and restart PostgreSQL`;
  const enable = `${preload}, then run \`create extension pg_stat_statements;\` in this database`;
  const level: FindingLevel = 'info';
  const code = 'pg_stat_statements_missing';
  if (mode === 'embedded') {
    return {
      level,
      code,
      message: 'the embedded database (PGlite) has no pg_stat_statements: use a PostgreSQL server for statement timings',
    };
  }
  if (!server.pss_available && server.pss_version === null) {
    return {
      level,
      code,
      message: `pg_stat_statements is not available on this server: install PostgreSQL's contrib package, then ${enable}`,
    };
  }
  if (!server.pss_loaded) {
    return {
      level,
      code,
      message:
        server.pss_version === null
          ? `pg_stat_statements is not enabled, so there are no statement timings: ${enable}`
          : `the pg_stat_statements extension is installed but the module is not loaded, so its view cannot be read: ${preload}`,
    };
  }
  if (server.pss_version === null) {
    return {
      level,
      code,
      message: 'pg_stat_statements is loaded but not installed in this database: run `create extension pg_stat_statements;`',
    };
  }
  if (server.pss_readable !== true) {
    return {
      level,
      code,
      message: `this role may not read ${server.pss_schema ?? ''}.pg_stat_statements: grant it select on that view`,
    };
  }
  return null;
}

/** Why a redundant index that enforces something stays, or which constraint to drop instead. */
function constraintDuty(index: IndexRow, other: IndexRow | undefined, kind: 'same' | 'prefix'): string {
  const name = index.constraint_name ?? '';
  if (index.constraint_type === 'f') return `the foreign key ${name} references through it: it cannot simply be dropped`;
  if (index.constraint_type === null) return 'it is the replica identity: it stays';
  const label = constraintLabels[index.constraint_type] ?? index.constraint_type;
  if (kind === 'same' && other?.constraint_type != null && other.constraint_type !== 'f') {
    return (
      `it backs the ${label} constraint ${name}, which repeats ${other.constraint_name ?? ''}: ` +
      `drop the redundant constraint (alter table ${index.table} drop constraint ${name}) if no foreign key depends on it`
    );
  }
  return `it backs the ${label} constraint ${name}, so it stays`;
}

const levelOrder: Record<FindingLevel, number> = { problem: 0, warn: 1, info: 2, ok: 3 };

/** `report db`: sizes, index health, vacuum and bloat, caches, statements and migrations, with actions. */
export async function runDbReport(db: Database, options: ReportOptions & { limit?: number }): Promise<ReportResult> {
  const limit = options.limit ?? 20;
  const read = await readReport(db, options, async (reader) => {
    const server = await readServer(reader);
    if (server === undefined) throw new Error('the server returned no row for its own settings');
    const { tables, bloat } = await readTables(reader);
    const indexes = await readIndexes(reader);
    const statements = await readStatements(reader, server, limit);
    const migrations = await readMigrations(reader, server);
    return { server, tables, bloat, indexes, statements, migrations };
  });
  const { server, tables, bloat, indexes, statements, migrations } = read.value;
  const findings: Finding[] = [];
  const notes: string[] = [];
  const embedded = db.mode === 'embedded';
  const statsSince =
    server.stats_reset === null ? 'since statistics began' : `since the statistics reset of ${toIso(server.stats_reset)}`;

  if (server.track_counts === 'off') {
    findings.push({
      level: 'warn',
      code: 'track_counts_off',
      message: 'track_counts is off: scan, dead-tuple and cache counters stay at zero and autovacuum cannot work — turn it on',
    });
  }
  if (server.autovacuum === 'off' && !embedded) {
    findings.push({
      level: 'warn',
      code: 'autovacuum_off',
      message:
        'autovacuum is off server-wide: dead tuples pile up and planner statistics go stale — set autovacuum = on ' +
        '(only anti-wraparound vacuums still run)',
    });
  }
  const xidAge = toNumber(server.xid_age);
  if (xidAge >= xidAgeWarn) {
    findings.push({
      level: xidAge >= xidAgeProblem ? 'problem' : 'warn',
      code: 'xid_wraparound',
      message: `database ${server.database} is ${count(xidAge)} transactions old (the server stops writes near 2,100 million): run VACUUM (FREEZE) on its oldest tables`,
    });
  }

  // Tables: sizes, dead tuples, bloat.
  const bloatByTable = new Map(
    bloat.map((b) => {
      const perPage = ((toNumber(b.block_size) - 24) * toNumber(b.fillfactor)) / 100;
      const expected = Math.ceil((toNumber(b.reltuples) * toNumber(b.tuple_bytes)) / perPage);
      const pages = toNumber(b.relpages);
      const extra = Math.max(0, pages - expected);
      return [b.relid, { bytes: extra * toNumber(b.block_size), share: extra / pages }];
    }),
  );
  const tableRows = tables
    .map((t) => {
      const tableBytes = toNumber(t.table_bytes);
      const indexBytes = toNumber(t.index_bytes);
      const liveStat = toNumber(t.n_live_tup);
      const live = liveStat === 0 && toNumber(t.reltuples) > 0 ? toNumber(t.reltuples) : liveStat;
      const dead = toNumber(t.n_dead_tup);
      const estimate = bloatByTable.get(t.relid);
      return {
        source: t,
        row: {
          table: t.table,
          total_bytes: tableBytes + indexBytes,
          table_bytes: tableBytes,
          index_bytes: indexBytes,
          live_rows: live,
          dead_rows: dead,
          dead_share: live + dead === 0 ? null : dead / (live + dead),
          bloat_bytes: estimate?.bytes ?? null,
          bloat_share: estimate?.share ?? null,
          seq_scan: toNullableNumber(t.seq_scan),
          idx_scan: toNullableNumber(t.idx_scan),
          cache_hit: ratio(toNumber(t.heap_blks_hit), toNumber(t.heap_blks_read)),
          last_autovacuum: toIso(t.last_autovacuum),
          last_autoanalyze: toIso(t.last_autoanalyze),
        } satisfies ReportRow,
      };
    })
    .sort((a, b) => b.row.total_bytes - a.row.total_bytes || a.row.table.localeCompare(b.row.table));

  for (const { source, row } of tableRows) {
    if (row.dead_rows > deadRowsThreshold && (row.dead_share ?? 0) > deadShareThreshold) {
      const why = embedded
        ? ''
        : source.autovacuum_disabled
          ? '; autovacuum is disabled on this table (autovacuum_enabled = false) — re-enable it'
          : server.autovacuum === 'off'
            ? '; autovacuum is off server-wide'
            : '; if autovacuum runs, check for long-running transactions or replication slots holding dead rows back';
      findings.push({
        level: 'warn',
        code: 'dead_tuples',
        message:
          `table ${row.table} has ${pct(row.dead_share ?? 0)} dead tuples (${count(row.dead_rows)} dead, ${count(row.live_rows)} live; ` +
          `last vacuum ${toIso(source.last_vacuum) ?? 'never'}) — run VACUUM (ANALYZE) ${row.table}${why}`,
      });
    }
    if ((row.bloat_share ?? 0) >= bloatShareThreshold && (row.bloat_bytes ?? 0) >= bloatBytesThreshold) {
      findings.push({
        level: (row.bloat_share ?? 0) >= 0.5 ? 'warn' : 'info',
        code: 'table_bloat',
        message:
          `table ${row.table} is an estimated ${formatBytes(row.bloat_bytes ?? 0)} (${pct(row.bloat_share ?? 0)}) larger than its rows need — ` +
          'VACUUM makes the space reusable; VACUUM FULL (locks the table) or pg_repack gives it back',
      });
    }
  }

  // Indexes: invalid, duplicate, unused.
  const shapes = indexes.map(shapeOf);
  const duplicates = findDuplicateIndexes(shapes);
  const byOid = new Map(indexes.map((i) => [i.index_oid, i]));
  const indexRows = indexes
    .map((i) => {
      const bytes = toNumber(i.bytes);
      const scans = toNumber(i.idx_scan);
      const enforces =
        i.constraint_type !== null
          ? (constraintLabels[i.constraint_type] ?? i.constraint_type)
          : i.is_unique
            ? 'unique index'
            : i.is_replica_identity
              ? 'replica identity'
              : null;
      const duplicate = duplicates.get(i.index_oid);
      return {
        source: i,
        enforces,
        duplicate,
        row: {
          index: i.index,
          table: i.table,
          definition: shorten(i.definition, definitionLength),
          bytes,
          idx_scan: scans,
          unused: i.is_valid && scans === 0,
          duplicate_of: duplicate === undefined ? null : (byOid.get(duplicate.of)?.index ?? null),
          enforces,
          valid: i.is_valid,
          cache_hit: ratio(toNumber(i.idx_blks_hit), toNumber(i.idx_blks_read)),
        } satisfies ReportRow,
      };
    })
    .sort((a, b) => b.row.bytes - a.row.bytes || a.row.index.localeCompare(b.row.index));

  let unusedFound = false;
  for (const { source, enforces, duplicate, row } of indexRows) {
    if (!source.is_valid) {
      findings.push(
        source.building
          ? {
              level: 'info',
              code: 'index_building',
              message: `index ${row.index} on ${row.table} is being built (CREATE INDEX CONCURRENTLY in progress)`,
            }
          : {
              level: 'problem',
              code: 'invalid_index',
              message:
                `index ${row.index} on ${row.table} is INVALID (a failed CREATE INDEX CONCURRENTLY or REINDEX): queries do not use it ` +
                `but writes still maintain it — drop it and create it again (drop index concurrently ${row.index}; then create index concurrently …)`,
            },
      );
      continue;
    }
    if (duplicate !== undefined) {
      const other = byOid.get(duplicate.of);
      const how =
        duplicate.kind === 'same'
          ? `duplicates ${other?.index ?? '?'} (${row.definition})`
          : `is covered by ${other?.index ?? '?'}: its columns (${row.definition}) lead ${other?.definition ?? '?'}`;
      findings.push(
        enforces === null || enforces === 'unique index'
          ? {
              level: 'warn',
              code: 'duplicate_index',
              message: `index ${row.index} on ${row.table} ${how}; ${formatBytes(row.bytes)}, ${count(row.idx_scan)} scans — consider dropping it`,
            }
          : {
              level: 'info',
              code: 'duplicate_constraint_index',
              message: `index ${row.index} on ${row.table} ${how}, but ${constraintDuty(source, other, duplicate.kind)}`,
            },
      );
      continue;
    }
    if (row.unused && enforces === null && row.bytes > unusedIndexMinBytes) {
      unusedFound = true;
      findings.push({
        level: 'warn',
        code: 'unused_index',
        message: `index ${row.index} on ${row.table} has 0 scans ${statsSince} and is ${formatBytes(row.bytes)} — consider dropping it`,
      });
    }
  }

  // Caches.
  const heapHits = tables.reduce((s, t) => s + toNumber(t.heap_blks_hit), 0);
  const heapReads = tables.reduce((s, t) => s + toNumber(t.heap_blks_read), 0);
  const indexHits = indexes.reduce((s, i) => s + toNumber(i.idx_blks_hit), 0);
  const indexReads = indexes.reduce((s, i) => s + toNumber(i.idx_blks_read), 0);
  const cacheRows = [
    { scope: 'tables (heap)', hits: heapHits, reads: heapReads },
    { scope: 'indexes', hits: indexHits, reads: indexReads },
    { scope: `database ${server.database}`, hits: toNumber(server.blks_hit), reads: toNumber(server.blks_read) },
  ].map((c) => ({ ...c, hit_ratio: ratio(c.hits, c.reads) }));
  for (const c of cacheRows) {
    if (c.hit_ratio === null || c.hits + c.reads < cacheMinAccesses || c.hit_ratio >= cacheHitTarget) continue;
    findings.push({
      level: c.hit_ratio < cacheHitPoor ? 'warn' : 'info',
      code: 'cache_hit_ratio',
      message:
        `the buffer cache hit ratio of ${c.scope} is ${pct(c.hit_ratio)} (${count(c.reads)} reads of ${count(c.hits + c.reads)} ${statsSince}): ` +
        `the working set may not fit shared_buffers (${formatBytes(toNumber(server.shared_buffers_bytes))}), or bulk loads and sequential scans read cold data`,
    });
  }

  // Statements.
  const pssFinding = statementsFinding(server, db.mode);
  if (pssFinding !== null) findings.push(pssFinding);
  const statementRows = (statements?.rows ?? []).map((s) => {
    const allMs = toNumber(s.all_ms);
    return {
      query: shorten(s.query, statementTextLength),
      role: s.role,
      calls: toNumber(s.calls),
      total_ms: toNumber(s.total_ms),
      mean_ms: toNumber(s.mean_ms),
      rows: toNumber(s.rows),
      share: allMs === 0 ? null : toNumber(s.total_ms) / allMs,
    } satisfies ReportRow;
  });
  const hidden = statementRows.filter((s) => s.query === '<insufficient privilege>').length;
  if (hidden > 0) {
    findings.push({
      level: 'info',
      code: 'statements_hidden',
      message: `${hidden} of the slowest statements belong to other roles and hide their text: grant pg_read_all_stats to this role to see them`,
    });
  }

  // Migrations.
  if (!server.migrations_exists) {
    findings.push({
      level: 'warn',
      code: 'migrations_missing',
      message: `there is no ${migrationTable} table: shiptrack has not migrated this database — run \`shiptrack migrate latest\``,
    });
  } else if (migrations === undefined) {
    findings.push({
      level: 'info',
      code: 'migrations_unreadable',
      message: `this role may not read ${migrationTable}, so the migration state is unknown: grant it select (or pg_read_all_data)`,
    });
  } else if (migrations === null) {
    findings.push({
      level: 'warn',
      code: 'migrations_missing',
      message: `${migrationTable} is empty: no migration has been applied — run \`shiptrack migrate latest\``,
    });
  }

  if (!findings.some((f) => f.level === 'warn' || f.level === 'problem')) {
    findings.push({
      level: 'ok',
      code: 'healthy',
      message: 'no invalid, unused or duplicate index, no vacuum backlog, caches warm',
    });
  }
  findings.sort((a, b) => levelOrder[a.level] - levelOrder[b.level]);

  notes.push(
    `scan and cache counters count this server ${statsSince}: scans on replicas are not seen here, and a freshly seeded or restored ` +
      'database has few scans, so judge unused indexes over a representative period of traffic' +
      (unusedFound ? ' before dropping any' : ''),
    'bloat is estimated: pg_class.relpages against the pages reltuples rows of pg_stats average width would fill (tuple header, ' +
      'alignment, line pointer and fillfactor included), both as of the last ANALYZE; tables never analyzed have no estimate',
    'cache hit ratios count PostgreSQL shared buffers only; a "read" may still come from the operating system page cache',
    'pending migrations are not visible from the database: `shiptrack migrate status` compares it with the migration files',
  );
  if (embedded) {
    notes.push(
      'embedded database (PGlite): one session, no autovacuum worker and no pg_stat_statements; most counters stay near zero',
    );
  }

  const shownTables = tableRows.slice(0, limit).map((t) => t.row);
  const shownIndexes = indexRows.slice(0, limit).map((i) => i.row);
  const totalTableBytes = tableRows.reduce((s, t) => s + t.row.total_bytes, 0);
  return reportResult(
    {
      report: 'db',
      title: `Database ${server.database}`,
      parameters: { limit },
      tables: [
        {
          name: 'tables',
          title: 'Tables by total size',
          columns: [
            { key: 'table', header: 'table', kind: 'text' },
            { key: 'total_bytes', header: 'total', kind: 'bytes' },
            { key: 'total_bar', header: '', kind: 'bar', of: 'total_bytes' },
            { key: 'table_bytes', header: 'table', kind: 'bytes' },
            { key: 'index_bytes', header: 'indexes', kind: 'bytes' },
            { key: 'live_rows', header: 'rows (est.)', kind: 'integer' },
            { key: 'dead_rows', header: 'dead', kind: 'integer' },
            { key: 'dead_share', header: 'dead %', kind: 'percent' },
            { key: 'bloat_bytes', header: 'bloat (est.)', kind: 'bytes' },
            { key: 'bloat_share', header: 'bloat %', kind: 'percent' },
            { key: 'seq_scan', header: 'seq scans', kind: 'integer' },
            { key: 'idx_scan', header: 'idx scans', kind: 'integer' },
            { key: 'cache_hit', header: 'cache hit', kind: 'percent' },
            { key: 'last_autovacuum', header: 'last autovacuum', kind: 'timestamp' },
            { key: 'last_autoanalyze', header: 'last autoanalyze', kind: 'timestamp' },
          ],
          rows: shownTables,
          totals: {
            table: 'all tables',
            total_bytes: totalTableBytes,
            table_bytes: tableRows.reduce((s, t) => s + t.row.table_bytes, 0),
            index_bytes: tableRows.reduce((s, t) => s + t.row.index_bytes, 0),
          },
          caption: `showing ${count(shownTables.length)} of ${count(tableRows.length)} tables; the database takes ${formatBytes(toNumber(server.database_bytes))}`,
        },
        {
          name: 'indexes',
          title: 'Indexes by size',
          columns: [
            { key: 'index', header: 'index', kind: 'text' },
            { key: 'table', header: 'table', kind: 'text' },
            { key: 'definition', header: 'definition', kind: 'text' },
            { key: 'bytes', header: 'size', kind: 'bytes' },
            { key: 'bytes_bar', header: '', kind: 'bar', of: 'bytes' },
            { key: 'idx_scan', header: 'scans', kind: 'integer' },
            { key: 'unused', header: 'unused', kind: 'text' },
            { key: 'duplicate_of', header: 'duplicate of', kind: 'text' },
            { key: 'enforces', header: 'enforces', kind: 'text' },
            { key: 'valid', header: 'valid', kind: 'text' },
            { key: 'cache_hit', header: 'cache hit', kind: 'percent' },
          ],
          rows: shownIndexes,
          caption: `showing ${count(shownIndexes.length)} of ${count(indexRows.length)} indexes; scans ${statsSince}`,
        },
        {
          name: 'cache',
          title: 'Buffer cache hit ratios',
          columns: [
            { key: 'scope', header: 'of', kind: 'text' },
            { key: 'hits', header: 'hits', kind: 'integer' },
            { key: 'reads', header: 'reads', kind: 'integer' },
            { key: 'hit_ratio', header: 'hit ratio', kind: 'percent' },
          ],
          rows: cacheRows,
          caption: `${statsSince}; shared_buffers is ${formatBytes(toNumber(server.shared_buffers_bytes))}`,
        },
        {
          name: 'statements',
          title: 'Statements by total time (pg_stat_statements)',
          columns: [
            { key: 'query', header: 'statement', kind: 'text' },
            { key: 'role', header: 'role', kind: 'text' },
            { key: 'calls', header: 'calls', kind: 'integer' },
            { key: 'total_ms', header: 'total', kind: 'ms' },
            { key: 'mean_ms', header: 'mean', kind: 'ms' },
            { key: 'rows', header: 'rows', kind: 'integer' },
            { key: 'share', header: 'share', kind: 'percent' },
          ],
          rows: statementRows,
          caption:
            statements === null
              ? 'pg_stat_statements cannot be read here (see the findings)'
              : `showing ${count(statementRows.length)} of ${count(toNumber(statements.rows[0]?.all_statements))} statements of this database` +
                (statements.since === null ? '' : ` since ${toIso(statements.since)}`),
        },
        {
          name: 'migrations',
          title: 'Migrations',
          columns: [
            { key: 'applied', header: 'applied', kind: 'integer' },
            { key: 'latest', header: 'latest', kind: 'text' },
            { key: 'applied_at', header: 'applied at', kind: 'timestamp' },
            { key: 'batch', header: 'batch', kind: 'integer' },
          ],
          rows:
            migrations === undefined || migrations === null
              ? []
              : [
                  {
                    applied: toNumber(migrations.applied),
                    latest: migrations.name,
                    applied_at: toIso(migrations.applied_at),
                    batch: migrations.batch,
                  },
                ],
          caption: `from ${migrationTable}; \`shiptrack migrate status\` shows pending migrations`,
        },
      ],
      findings,
      notes,
    },
    options,
    read,
  );
}
