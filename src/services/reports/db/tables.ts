import { formatBytes, formatNumber } from '../../../domain/units.js';
import { migrationTable } from '../../migrations.service.js';
import type { ReportRow, ReportTable } from '../report.js';
import type { DbSnapshot, ServerInfo } from './snapshot.js';

/** The tables of `report db`: pure functions of the snapshot. */

const statementTextLength = 120;
const definitionLength = 80;

function count(n: number): string {
  return formatNumber(Math.round(n));
}

function shorten(text: string | null, length: number): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

function statsSince(server: ServerInfo): string {
  return server.statsReset === null ? 'since statistics began' : `since the statistics reset of ${server.statsReset}`;
}

export function tablesTable({ tables, server }: DbSnapshot, limit: number): ReportTable {
  const rows = tables.slice(0, limit).map((t): ReportRow => ({
    table: t.table,
    total_bytes: t.tableBytes + t.indexBytes,
    table_bytes: t.tableBytes,
    index_bytes: t.indexBytes,
    live_rows: t.liveRows,
    dead_rows: t.deadRows,
    dead_share: t.deadShare,
    bloat_bytes: t.bloat?.bytes ?? null,
    bloat_share: t.bloat?.share ?? null,
    seq_scan: t.seqScans,
    idx_scan: t.indexScans,
    cache_hit: t.cacheHit,
    last_autovacuum: t.lastAutovacuum,
    last_autoanalyze: t.lastAutoanalyze,
  }));
  const sum = (pick: (t: (typeof tables)[number]) => number): number => tables.reduce((s, t) => s + pick(t), 0);
  return {
    name: 'tables',
    title: 'Tables by total size',
    columns: [
      { key: 'table', header: 'table', kind: 'text' },
      { key: 'total_bytes', header: 'total', kind: 'bytes' },
      { key: 'total_bar', header: '', kind: 'bar', of: 'total_bytes', priority: 4 },
      { key: 'table_bytes', header: 'table', kind: 'bytes', priority: 3 },
      { key: 'index_bytes', header: 'indexes', kind: 'bytes', priority: 3 },
      { key: 'live_rows', header: 'rows (est.)', kind: 'integer', priority: 2 },
      { key: 'dead_rows', header: 'dead', kind: 'integer', priority: 3 },
      { key: 'dead_share', header: 'dead %', kind: 'percent', priority: 2 },
      { key: 'bloat_bytes', header: 'bloat (est.)', kind: 'bytes', priority: 4 },
      { key: 'bloat_share', header: 'bloat %', kind: 'percent', priority: 3 },
      { key: 'seq_scan', header: 'seq scans', kind: 'integer', priority: 4 },
      { key: 'idx_scan', header: 'idx scans', kind: 'integer', priority: 4 },
      { key: 'cache_hit', header: 'cache hit', kind: 'percent', priority: 3 },
      { key: 'last_autovacuum', header: 'last autovacuum', kind: 'timestamp', priority: 5 },
      { key: 'last_autoanalyze', header: 'last autoanalyze', kind: 'timestamp', priority: 5 },
    ],
    rows,
    totals: {
      table: 'all tables',
      total_bytes: sum((t) => t.tableBytes + t.indexBytes),
      table_bytes: sum((t) => t.tableBytes),
      index_bytes: sum((t) => t.indexBytes),
    },
    caption: `showing ${count(rows.length)} of ${count(tables.length)} tables; the database takes ${formatBytes(server.databaseBytes)}`,
  };
}

export function indexesTable({ indexes, server }: DbSnapshot, limit: number): ReportTable {
  const rows = indexes.slice(0, limit).map((i): ReportRow => ({
    index: i.index,
    table: i.table,
    definition: shorten(i.definition, definitionLength),
    bytes: i.bytes,
    idx_scan: i.scans,
    unused: i.valid && i.scans === 0,
    duplicate_of: i.coveredBy?.index ?? null,
    enforces: i.enforces,
    valid: i.valid,
    cache_hit: i.cacheHit,
    bloat_bytes: i.bloat?.bytes ?? null,
  }));
  return {
    name: 'indexes',
    title: 'Indexes by size',
    columns: [
      { key: 'index', header: 'index', kind: 'text' },
      { key: 'table', header: 'table', kind: 'text', priority: 3 },
      { key: 'definition', header: 'definition', kind: 'text', priority: 3 },
      { key: 'bytes', header: 'size', kind: 'bytes' },
      { key: 'bytes_bar', header: '', kind: 'bar', of: 'bytes', priority: 4 },
      { key: 'idx_scan', header: 'scans', kind: 'integer' },
      { key: 'unused', header: 'unused', kind: 'text', priority: 2 },
      { key: 'duplicate_of', header: 'duplicate of', kind: 'text', priority: 3 },
      { key: 'enforces', header: 'enforces', kind: 'text', priority: 4 },
      { key: 'valid', header: 'valid', kind: 'text', priority: 2 },
      { key: 'cache_hit', header: 'cache hit', kind: 'percent', priority: 4 },
      { key: 'bloat_bytes', header: 'bloat', kind: 'bytes', priority: 4 },
    ],
    rows,
    caption: `showing ${count(rows.length)} of ${count(indexes.length)} indexes; scans ${statsSince(server)}; bloat estimated for B-trees on columns`,
  };
}

export function cacheTable({ caches, server }: DbSnapshot): ReportTable {
  return {
    name: 'cache',
    title: 'Buffer cache hit ratios',
    columns: [
      { key: 'scope', header: 'of', kind: 'text' },
      { key: 'hits', header: 'hits', kind: 'integer' },
      { key: 'reads', header: 'reads', kind: 'integer' },
      { key: 'hit_ratio', header: 'hit ratio', kind: 'percent' },
    ],
    rows: caches.map((c) => ({ scope: c.scope, hits: c.hits, reads: c.reads, hit_ratio: c.hitRatio })),
    caption: `${statsSince(server)}; shared_buffers is ${formatBytes(server.sharedBuffersBytes)}`,
  };
}

export function statementsTable({ statements }: DbSnapshot): ReportTable {
  const rows = (statements?.slowest ?? []).map((s): ReportRow => ({
    query: shorten(s.query, statementTextLength),
    role: s.role,
    calls: s.calls,
    total_ms: s.totalMs,
    mean_ms: s.meanMs,
    rows: s.rows,
    share: s.share,
  }));
  return {
    name: 'statements',
    title: 'Statements by total time (pg_stat_statements)',
    columns: [
      { key: 'query', header: 'statement', kind: 'text' },
      { key: 'role', header: 'role', kind: 'text', priority: 4 },
      { key: 'calls', header: 'calls', kind: 'integer', priority: 2 },
      { key: 'total_ms', header: 'total', kind: 'ms' },
      { key: 'mean_ms', header: 'mean', kind: 'ms', priority: 2 },
      { key: 'rows', header: 'rows', kind: 'integer', priority: 3 },
      { key: 'share', header: 'share', kind: 'percent', priority: 2 },
    ],
    rows,
    caption:
      statements === null
        ? 'pg_stat_statements cannot be read here (see the findings)'
        : `showing ${count(rows.length)} of ${count(statements.all)} statements of this database` +
          (statements.since === null ? '' : ` since ${statements.since}`),
  };
}

export function migrationsTable({ migrations }: DbSnapshot): ReportTable {
  return {
    name: 'migrations',
    title: 'Migrations',
    columns: [
      { key: 'applied', header: 'applied', kind: 'integer' },
      { key: 'latest', header: 'latest', kind: 'text' },
      { key: 'applied_at', header: 'applied at', kind: 'timestamp', priority: 2 },
      { key: 'batch', header: 'batch', kind: 'integer', priority: 3 },
    ],
    rows:
      migrations.state === 'applied'
        ? [{ applied: migrations.applied, latest: migrations.latest, applied_at: migrations.appliedAt, batch: migrations.batch }]
        : [],
    caption: `from ${migrationTable}; \`shiptrack migrate status\` shows pending migrations`,
  };
}

/** Sizes, indexes, caches, statements and migrations, `limit` rows of the first two. */
/** On a Citus coordinator: bytes and shards per node, and per table with the skew of its shards. */
function citusTables({ citus }: DbSnapshot): ReportTable[] {
  if (citus === null) return [];
  const total = citus.nodes.reduce((sum, n) => sum + n.bytes, 0);
  return [
    {
      name: 'citus_nodes',
      title: 'Citus: shards by node',
      columns: [
        { key: 'node', header: 'node', kind: 'text' },
        { key: 'shards', header: 'shards', kind: 'integer' },
        { key: 'bytes', header: 'size', kind: 'bytes' },
        { key: 'share', header: 'share', kind: 'percent' },
        { key: 'share_bar', header: '', kind: 'bar', of: 'share', priority: 3 },
      ],
      rows: citus.nodes.map((n) => ({
        node: n.node,
        shards: n.shards,
        bytes: n.bytes,
        share: total === 0 ? 0 : n.bytes / total,
      })),
    },
    {
      name: 'citus_tables',
      title: 'Citus: tables and their shards',
      columns: [
        { key: 'table', header: 'table', kind: 'text' },
        { key: 'type', header: 'type', kind: 'text' },
        { key: 'shards', header: 'shards', kind: 'integer' },
        { key: 'bytes', header: 'size', kind: 'bytes' },
        { key: 'largest_shard_bytes', header: 'largest shard', kind: 'bytes', priority: 2 },
        { key: 'skew', header: 'largest / mean', kind: 'decimal', priority: 2 },
      ],
      rows: citus.tables.map((t) => ({
        table: t.table,
        type: t.type,
        shards: t.shards,
        bytes: t.bytes,
        largest_shard_bytes: t.largestShardBytes,
        skew: t.meanShardBytes === 0 ? null : t.largestShardBytes / t.meanShardBytes,
      })),
    },
    {
      name: 'citus_statements',
      title: 'Statements by how Citus ran them (citus_stat_statements)',
      columns: [
        { key: 'query', header: 'statement', kind: 'text' },
        { key: 'executor', header: 'executor', kind: 'text', priority: 2 },
        { key: 'partition_key', header: 'key', kind: 'text', priority: 3 },
        { key: 'calls', header: 'calls', kind: 'integer' },
      ],
      rows: (citus.statements ?? []).map((st) => ({
        query: shorten(st.query, statementTextLength),
        executor: st.executor,
        partition_key: st.partitionKey,
        calls: st.calls,
      })),
      caption:
        citus.statements === null
          ? "not tracked: set citus.stat_statements_track = 'all' (with pg_stat_statements) to see which statements run on one shard"
          : "with a key: ran on that key's shard (router); without: on every shard",
    },
  ];
}

/** Sessions by state against max_connections, on a server. */
function connectionsTable({ health }: DbSnapshot): ReportTable[] {
  if (health === null) return [];
  const total = health.connections.reduce((sum, c) => sum + c.count, 0);
  return [
    {
      name: 'connections',
      title: `Connections: ${count(total)} of max_connections ${count(health.maxConnections)}`,
      columns: [
        { key: 'state', header: 'state', kind: 'text' },
        { key: 'sessions', header: 'sessions', kind: 'integer' },
        { key: 'share', header: 'of max', kind: 'percent' },
      ],
      rows: health.connections.map((c) => ({
        state: c.state,
        sessions: c.count,
        share: health.maxConnections === 0 ? null : c.count / health.maxConnections,
      })),
    },
  ];
}

export function dbTables(snapshot: DbSnapshot, limit: number): ReportTable[] {
  return [
    tablesTable(snapshot, limit),
    indexesTable(snapshot, limit),
    ...connectionsTable(snapshot),
    ...citusTables(snapshot),
    cacheTable(snapshot),
    statementsTable(snapshot),
    migrationsTable(snapshot),
  ];
}
