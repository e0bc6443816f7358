import { checkHealth, healthThresholds, type HealthThresholds } from './health.js';
import { migrationTable } from '../../migrations.service.js';
import type { Finding, FindingLevel } from '../report.js';
import type { DbSnapshot, IndexStats } from './snapshot.js';

/**
 * The checks of `report db`: each a pure function of the snapshot and the thresholds, returning
 * findings as data (the renderers write the sentences).
 */

export interface DbThresholds {
  /** An unused index smaller than this is not worth a finding. */
  unusedIndexMinBytes: number;
  deadShare: number;
  deadRows: number;
  bloatShare: number;
  bloatBytes: number;
  /** Bloat from this share on is a warning, below it information. */
  bloatShareWarn: number;
  cacheHitTarget: number;
  /** Below this a cache hit ratio is a warning, between this and the target information. */
  cacheHitPoor: number;
  /** Fewer buffer accesses than this say nothing about a cache. */
  cacheMinAccesses: number;
  /** A Citus node with more than this many times the bytes of the lightest is out of balance. */
  citusImbalance: number;
  /** A distributed table whose largest shard is more than this many times its mean is skewed. */
  citusSkew: number;
  /** Below this size, balance and skew are noise. */
  citusMinBytes: number;
  /** The live state's thresholds (db/health.ts). */
  health: HealthThresholds;
  /** Transaction ids; autovacuum forces a freeze at 200 million, the server stops near 2,100 million. */
  xidAgeWarn: number;
  xidAgeProblem: number;
}

export const dbThresholds: DbThresholds = {
  unusedIndexMinBytes: 1024 * 1024,
  deadShare: 0.2,
  deadRows: 10_000,
  bloatShare: 0.3,
  bloatBytes: 10 * 1024 * 1024,
  bloatShareWarn: 0.5,
  cacheHitTarget: 0.99,
  cacheHitPoor: 0.95,
  cacheMinAccesses: 10_000,
  xidAgeWarn: 1_000_000_000,
  xidAgeProblem: 1_500_000_000,
  citusImbalance: 1.5,
  citusSkew: 2,
  citusMinBytes: 100 * 1024 * 1024,
  health: healthThresholds,
};

export type DbRule = (snapshot: DbSnapshot, thresholds: DbThresholds) => Finding[];

/** Counters off, or autovacuum off server-wide (the embedded database has no autovacuum worker). */
export const serverSettings: DbRule = ({ server, embedded }) => {
  const findings: Finding[] = [];
  if (server.trackCountsOff) findings.push({ level: 'warn', code: 'track_counts_off', subject: 'track_counts', figures: {} });
  if (server.autovacuumOff && !embedded) {
    findings.push({ level: 'warn', code: 'autovacuum_off', subject: 'autovacuum', figures: {} });
  }
  return findings;
};

export const xidAge: DbRule = ({ server }, t) => {
  if (server.xidAge < t.xidAgeWarn) return [];
  return [
    {
      level: server.xidAge >= t.xidAgeProblem ? 'problem' : 'warn',
      code: 'xid_wraparound',
      subject: server.database,
      figures: { xid_age: server.xidAge, warn_age: t.xidAgeWarn, problem_age: t.xidAgeProblem },
    },
  ];
};

export const deadTuples: DbRule = ({ tables, server, embedded }, t) =>
  tables
    .filter((table) => table.deadRows > t.deadRows && (table.deadShare ?? 0) > t.deadShare)
    .map((table): Finding => ({
      level: 'warn',
      code: 'dead_tuples',
      subject: table.table,
      figures: {
        dead_rows: table.deadRows,
        live_rows: table.liveRows,
        dead_share: table.deadShare,
        last_vacuum: table.lastVacuum,
        table_autovacuum: !table.autovacuumDisabled,
        // Null: the embedded database has no autovacuum worker to blame.
        server_autovacuum: embedded ? null : !server.autovacuumOff,
        min_dead_rows: t.deadRows,
        min_dead_share: t.deadShare,
      },
    }));

/** A table's or an index's estimated bloat past both floors (share and bytes), as a finding. */
function bloatFinding(
  code: 'table_bloat' | 'index_bloat',
  subject: string,
  bloat: { bytes: number; share: number } | null,
  t: DbThresholds,
  figures: Finding['figures'] = {},
): Finding[] {
  if (bloat === null || bloat.share < t.bloatShare || bloat.bytes < t.bloatBytes) return [];
  return [
    {
      level: bloat.share >= t.bloatShareWarn ? 'warn' : 'info',
      code,
      subject,
      figures: {
        ...figures,
        bloat_bytes: bloat.bytes,
        bloat_share: bloat.share,
        min_bloat_share: t.bloatShare,
        min_bloat_bytes: t.bloatBytes,
      },
    },
  ];
}

export const tableBloat: DbRule = ({ tables }, t) =>
  tables.flatMap((table) => bloatFinding('table_bloat', table.table, table.bloat, t));

export const indexBloat: DbRule = ({ indexes }, t) =>
  indexes.flatMap((index) =>
    index.valid ? bloatFinding('index_bloat', index.index, index.bloat, t, { table: index.table }) : [],
  );

/** An index a failed CREATE INDEX CONCURRENTLY or REINDEX left behind (or one being built now). */
export const invalidIndexes: DbRule = ({ indexes }) =>
  indexes
    .filter((i) => !i.valid)
    .map((i): Finding => ({
      level: i.building ? 'info' : 'problem',
      code: i.building ? 'index_building' : 'invalid_index',
      subject: i.index,
      figures: { table: i.table, bytes: i.bytes },
    }));

/**
 * An index another one covers. One that backs a constraint (or is the replica identity) stays,
 * unless its constraint repeats the covering index's: `repeats_constraint` says so.
 */
export const duplicateIndexes: DbRule = ({ indexes }) => {
  const byName = new Map(indexes.map((i) => [i.index, i]));
  return indexes.flatMap((i): Finding[] => {
    if (i.coveredBy === null) return [];
    const other = byName.get(i.coveredBy.index);
    const figures = {
      table: i.table,
      kind: i.coveredBy.kind,
      definition: i.definition,
      covered_by: i.coveredBy.index,
      covered_by_definition: other?.definition ?? null,
      bytes: i.bytes,
      idx_scan: i.scans,
    };
    if (i.enforces === null || i.enforces === 'unique index') {
      return [{ level: 'warn', code: 'duplicate_index', subject: i.index, figures }];
    }
    const otherConstraint = backedConstraint(other);
    return [
      {
        level: 'info',
        code: 'duplicate_constraint_index',
        subject: i.index,
        figures: {
          ...figures,
          enforces: i.enforces,
          constraint: i.constraint?.name ?? null,
          covered_by_constraint: otherConstraint,
          repeats_constraint:
            i.coveredBy.kind === 'same' && otherConstraint !== null && i.constraint !== null && i.constraint.type !== 'f',
        },
      },
    ];
  });
};

/** The primary key, unique or exclusion constraint an index backs, if any. */
function backedConstraint(index: IndexStats | undefined): string | null {
  const constraint = index?.constraint ?? null;
  return constraint === null || constraint.type === 'f' ? null : constraint.name;
}

export const unusedIndexes: DbRule = ({ indexes, server }, t) =>
  indexes
    .filter((i) => i.valid && i.scans === 0 && i.coveredBy === null && i.enforces === null && i.bytes > t.unusedIndexMinBytes)
    .map((i): Finding => ({
      level: 'warn',
      code: 'unused_index',
      subject: i.index,
      figures: {
        table: i.table,
        idx_scan: i.scans,
        bytes: i.bytes,
        stats_reset: server.statsReset,
        min_bytes: t.unusedIndexMinBytes,
      },
    }));

export const cacheHitRatios: DbRule = ({ caches, server }, t) =>
  caches.flatMap((c): Finding[] => {
    if (c.hitRatio === null || c.hits + c.reads < t.cacheMinAccesses || c.hitRatio >= t.cacheHitTarget) return [];
    return [
      {
        level: c.hitRatio < t.cacheHitPoor ? 'warn' : 'info',
        code: 'cache_hit_ratio',
        subject: c.scope,
        figures: {
          hit_ratio: c.hitRatio,
          hits: c.hits,
          reads: c.reads,
          stats_reset: server.statsReset,
          shared_buffers_bytes: server.sharedBuffersBytes,
          target: t.cacheHitTarget,
          poor: t.cacheHitPoor,
        },
      },
    ];
  });

/** Why pg_stat_statements cannot be read here, or null when it can. */
function statementsState({ embedded, server }: DbSnapshot): string | null {
  const module = server.statementsModule;
  if (embedded) return 'embedded';
  if (!module.available && module.version === null) return 'not_available';
  if (!module.loaded) return module.version === null ? 'not_enabled' : 'not_loaded';
  if (module.version === null) return 'not_installed';
  return module.readable ? null : 'not_readable';
}

export const statementTimings: DbRule = (snapshot) => {
  const findings: Finding[] = [];
  const state = statementsState(snapshot);
  const { preload, statementsModule } = snapshot.server;
  if (state !== null) {
    // Only what the advice needs: other roles may not see shared_preload_libraries at all.
    const restart = state === 'not_available' || state === 'not_enabled' || state === 'not_loaded';
    findings.push({
      level: 'info',
      code: 'pg_stat_statements_missing',
      subject: 'pg_stat_statements',
      figures: {
        state,
        ...(restart ? { preload } : {}),
        ...(state === 'not_readable' ? { schema: statementsModule.schema } : {}),
      },
    });
  }
  const slowest = snapshot.statements?.slowest ?? [];
  const hidden = slowest.filter((s) => s.query === '<insufficient privilege>').length;
  if (hidden > 0) {
    findings.push({
      level: 'info',
      code: 'statements_hidden',
      subject: 'pg_stat_statements',
      figures: { hidden, shown: slowest.length },
    });
  }
  return findings;
};

export const migrationState: DbRule = ({ migrations }) => {
  const subject = migrationTable;
  switch (migrations.state) {
    case 'missing':
      return [{ level: 'warn', code: 'migrations_missing', subject, figures: { table_exists: false, applied: 0 } }];
    case 'empty':
      return [{ level: 'warn', code: 'migrations_missing', subject, figures: { table_exists: true, applied: 0 } }];
    case 'unreadable':
      return [{ level: 'info', code: 'migrations_unreadable', subject, figures: {} }];
    default:
      return [];
  }
};

/**
 * A Citus cluster out of balance: a node holding more than `citusImbalance` times the bytes of the
 * lightest (rebalance), or a distributed table whose largest shard is more than `citusSkew` times
 * its mean (a hot distribution key). Only past a size floor: small tables are noise.
 */
export const citusBalance: DbRule = ({ citus }, t) => {
  if (citus === null) return [];
  const findings: Finding[] = [];
  const bytes = citus.nodes.map((n) => n.bytes);
  const heaviest = citus.nodes.find((n) => n.bytes === Math.max(...bytes));
  const lightest = Math.min(...bytes);
  if (
    heaviest !== undefined &&
    citus.nodes.length > 1 &&
    heaviest.bytes > t.citusMinBytes &&
    heaviest.bytes > lightest * t.citusImbalance
  ) {
    findings.push({
      level: 'warn',
      code: 'citus_node_imbalance',
      subject: heaviest.node,
      figures: { bytes: heaviest.bytes, lightest_bytes: lightest, nodes: citus.nodes.length, ratio: t.citusImbalance },
    });
  }
  for (const table of citus.tables) {
    if (table.type !== 'distributed' || table.bytes < t.citusMinBytes || table.meanShardBytes === 0) continue;
    const skew = table.largestShardBytes / table.meanShardBytes;
    if (skew > t.citusSkew) {
      findings.push({
        level: 'warn',
        code: 'citus_shard_skew',
        subject: table.table,
        figures: {
          largest_shard_bytes: table.largestShardBytes,
          mean_shard_bytes: table.meanShardBytes,
          skew,
          shards: table.shards,
        },
      });
    }
  }
  return findings;
};

export const dbRules: readonly DbRule[] = [
  serverSettings,
  xidAge,
  deadTuples,
  tableBloat,
  indexBloat,
  invalidIndexes,
  duplicateIndexes,
  unusedIndexes,
  cacheHitRatios,
  statementTimings,
  migrationState,
  citusBalance,
  ({ health }, t) => checkHealth(health, t.health),
];

const levelOrder: Record<FindingLevel, number> = { problem: 0, warn: 1, info: 2, ok: 3 };

/** Every rule's findings, worst first; `healthy` when nothing warns. */
export function checkDb(snapshot: DbSnapshot, thresholds: DbThresholds = dbThresholds): Finding[] {
  const findings = dbRules.flatMap((rule) => rule(snapshot, thresholds));
  if (!findings.some((f) => f.level === 'warn' || f.level === 'problem')) {
    findings.push({ level: 'ok', code: 'healthy', subject: snapshot.server.database, figures: {} });
  }
  return findings.sort((a, b) => levelOrder[a.level] - levelOrder[b.level]);
}
