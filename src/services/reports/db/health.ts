import type { Finding } from '../report.js';
import { toNullableNumber, toNumber, type ReportReader } from '../report.js';

/**
 * "Why is it slow right now": what `report db` reads of the server's live state, on a server only.
 * Sessions (who blocks whom, long queries, idle transactions, connections against the limit),
 * what holds back vacuum (the oldest xmin: a session, a replication slot or a prepared
 * transaction), sequences near their end, foreign keys without an index, and replication.
 */

export interface SessionRow {
  pid: number;
  role: string | null;
  application: string | null;
  state: string | null;
  waitEvent: string | null;
  /** ms since the transaction began, the query began, the state last changed. */
  xactMs: number | null;
  queryMs: number | null;
  stateMs: number | null;
  /** Age in transactions of the snapshot it holds (backend_xmin), or null. */
  xminAge: number | null;
  /** The query, its literals replaced by `?` (redactQuery). */
  query: string;
  blockedBy: number[];
}

export interface XminHolder {
  kind: 'session' | 'replication slot' | 'prepared transaction';
  name: string;
  age: number;
}

export interface SequenceRow {
  sequence: string;
  lastValue: number;
  /** The smaller of the sequence's maximum and what the column it feeds can hold. */
  limit: number;
  column: string | null;
  columnType: string | null;
  /** Rows the owning table received per day since its statistics began, or null. */
  perDay: number | null;
}

export interface ForeignKeyRow {
  table: string;
  constraint: string;
  columns: string[];
  referenced: string;
  tableBytes: number;
}

export interface ReplicationRow {
  replica: string;
  state: string | null;
  lagBytes: number | null;
  replayLagMs: number | null;
}

export interface SlotRow {
  slot: string;
  active: boolean;
  retainedBytes: number | null;
}

export interface HealthSnapshot {
  sessions: SessionRow[];
  connections: { state: string; count: number }[];
  maxConnections: number;
  xminHolders: XminHolder[];
  multixactAge: number;
  sequences: SequenceRow[];
  foreignKeys: ForeignKeyRow[];
  replication: ReplicationRow[];
  slots: SlotRow[];
}

/**
 * A query as pg_stat_activity shows it, without the values in it: string and number literals
 * become `?` (a password or a customer's address in a literal must not reach a report).
 */
export function redactQuery(query: string): string {
  return query
    .replace(/\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g, '?')
    .replace(/[EeBbXxUu]?&?'(?:[^']|'')*'/g, '?')
    .replace(/(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
}

interface ActivityRow {
  pid: number;
  role: string | null;
  application: string | null;
  state: string | null;
  wait_event: string | null;
  xact_ms: unknown;
  query_ms: unknown;
  state_ms: unknown;
  xmin_age: unknown;
  query: string | null;
  blocked_by: number[] | null;
  this_database: boolean;
}

export async function readHealth(reader: ReportReader): Promise<HealthSnapshot> {
  // Asked for at once: on a server one round trip.
  const activityRead = reader.rows<ActivityRow>(
    'sessions',
    `select a.pid, a.usename::text as role, a.application_name as application, a.state,
            a.wait_event_type || ':' || a.wait_event as wait_event,
            extract(epoch from clock_timestamp() - a.xact_start) * 1000 as xact_ms,
            extract(epoch from clock_timestamp() - a.query_start) * 1000 as query_ms,
            extract(epoch from clock_timestamp() - a.state_change) * 1000 as state_ms,
            age(a.backend_xmin) as xmin_age, left(a.query, 2000) as query, pg_blocking_pids(a.pid) as blocked_by,
            a.datname = current_database() as this_database
       from pg_stat_activity a
      where a.backend_type = 'client backend' and a.pid <> pg_backend_pid()`,
  );
  const stateRead = reader.rows<{
    max_connections: unknown;
    multixact_age: unknown;
    slots: { slot: string; active: boolean; xmin_age: number | null; retained: number | null }[] | null;
    prepared: { gid: string; age: number }[] | null;
    replication: { replica: string; state: string | null; lag_bytes: number | null; replay_lag_ms: number | null }[] | null;
  }>(
    'server state',
    `select current_setting('max_connections')::int as max_connections,
            (select mxid_age(datminmxid) from pg_database where datname = current_database()) as multixact_age,
            (select json_agg(json_build_object(
                      'slot', slot_name, 'active', active,
                      'xmin_age', greatest(age(xmin), age(catalog_xmin)),
                      'retained', case when pg_is_in_recovery() then null
                                       else pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) end))
               from pg_replication_slots) as slots,
            (select json_agg(json_build_object('gid', gid, 'age', age(transaction))) from pg_prepared_xacts) as prepared,
            (select json_agg(json_build_object(
                      'replica', coalesce(nullif(application_name, ''), host(client_addr), 'local'), 'state', state,
                      'lag_bytes', case when pg_is_in_recovery() then null else pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) end,
                      'replay_lag_ms', extract(epoch from replay_lag) * 1000))
               from pg_stat_replication) as replication`,
  );
  const sequencesRead = reader.rows<{
    sequence: string;
    last_value: unknown;
    max_value: unknown;
    column_name: string | null;
    column_type: string | null;
    per_day: unknown;
  }>(
    'sequences',
    `select s.schemaname || '.' || s.sequencename as sequence, s.last_value, s.max_value,
            o.table_name || '.' || o.column_name as column_name, o.column_type,
            o.inserts / nullif(extract(epoch from clock_timestamp() - o.since) / 86400, 0) as per_day
       from pg_sequences s
       left join lateral (
         select d.refobjid::regclass::text as table_name, a.attname::text as column_name,
                format_type(a.atttypid, a.atttypmod) as column_type, pg_stat_get_tuples_inserted(d.refobjid) as inserts,
                coalesce((select stats_reset from pg_stat_database where datname = current_database()),
                         pg_postmaster_start_time()) as since
           from pg_depend d
           join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
          where d.classid = 'pg_class'::regclass and d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
            and d.deptype in ('a', 'i')
          limit 1) o on true
      where s.last_value is not null`,
  );
  const foreignKeysRead = reader.rows<{
    table: string;
    constraint: string;
    columns: string[];
    referenced: string;
    bytes: unknown;
  }>(
    'foreign keys without an index',
    `select c.conrelid::regclass::text as "table", c.conname::text as "constraint",
            (select array_agg(a.attname::text order by k.ord) from unnest(c.conkey) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as columns,
            c.confrelid::regclass::text as referenced, pg_relation_size(c.conrelid) as bytes
       from pg_constraint c
       join pg_namespace n on n.oid = c.connamespace
      where c.contype = 'f' and n.nspname not in ('pg_catalog', 'information_schema')
        and not exists (
          select 1 from pg_index i
           where i.indrelid = c.conrelid and i.indisvalid and i.indpred is null
             and (select array_agg(x order by x) from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) x)
               = (select array_agg(x order by x) from unnest(c.conkey) x))`,
  );
  const [activity, [state], sequences, foreignKeys] = await Promise.all([
    activityRead,
    stateRead,
    sequencesRead,
    foreignKeysRead,
  ]);
  const sessions = activity.map((a): SessionRow & { thisDatabase: boolean } => ({
    pid: a.pid,
    role: a.role,
    application: a.application,
    state: a.state,
    waitEvent: a.wait_event,
    xactMs: toNullableNumber(a.xact_ms),
    queryMs: toNullableNumber(a.query_ms),
    stateMs: toNullableNumber(a.state_ms),
    xminAge: toNullableNumber(a.xmin_age),
    query: redactQuery(a.query ?? ''),
    blockedBy: a.blocked_by ?? [],
    thisDatabase: a.this_database,
  }));
  const counts = new Map<string, number>();
  for (const s of sessions) counts.set(s.state ?? 'unknown', (counts.get(s.state ?? 'unknown') ?? 0) + 1);
  const holders: XminHolder[] = [
    ...sessions.flatMap((s): XminHolder[] =>
      s.xminAge === null ? [] : [{ kind: 'session', name: `pid ${s.pid} (${s.application || s.role || '?'})`, age: s.xminAge }],
    ),
    ...(state?.slots ?? []).flatMap((s): XminHolder[] =>
      s.xmin_age === null ? [] : [{ kind: 'replication slot', name: s.slot, age: s.xmin_age }],
    ),
    ...(state?.prepared ?? []).map((p): XminHolder => ({ kind: 'prepared transaction', name: p.gid, age: p.age })),
  ].sort((a, b) => b.age - a.age);
  return {
    sessions: sessions.filter((s) => s.thisDatabase).map(({ thisDatabase: _here, ...s }) => s),
    connections: [...counts].map(([s, count]) => ({ state: s, count })).sort((a, b) => b.count - a.count),
    maxConnections: toNumber(state?.max_connections),
    xminHolders: holders,
    multixactAge: toNumber(state?.multixact_age),
    sequences: sequences.map((s) => {
      const columnMax = /^integer$/.test(s.column_type ?? '')
        ? 2_147_483_647
        : /^smallint$/.test(s.column_type ?? '')
          ? 32_767
          : Number.POSITIVE_INFINITY;
      return {
        sequence: s.sequence,
        lastValue: toNumber(s.last_value),
        limit: Math.min(toNumber(s.max_value), columnMax),
        column: s.column_name,
        columnType: s.column_type,
        perDay: toNullableNumber(s.per_day),
      };
    }),
    foreignKeys: foreignKeys.map((f) => ({
      table: f.table,
      constraint: f.constraint,
      columns: f.columns,
      referenced: f.referenced,
      tableBytes: toNumber(f.bytes),
    })),
    replication: (state?.replication ?? []).map((r) => ({
      replica: r.replica,
      state: r.state,
      lagBytes: r.lag_bytes,
      replayLagMs: r.replay_lag_ms,
    })),
    slots: (state?.slots ?? []).map((s) => ({ slot: s.slot, active: s.active, retainedBytes: s.retained })),
  };
}

export interface HealthThresholds {
  /** A lock wait longer than this is reported with the session holding it. */
  blockedMs: number;
  longQueryMs: number;
  idleInTransactionMs: number;
  /** Sessions past this share of max_connections. */
  connectionsShare: number;
  /** A snapshot this many transactions old holds vacuum back. */
  xminAge: number;
  multixactAgeWarn: number;
  /** Share of a sequence's (or its column's) range used. */
  sequenceShareWarn: number;
  sequenceShareProblem: number;
  /** A foreign key's table smaller than this gets no finding: scanning it is cheap. */
  foreignKeyMinBytes: number;
  replicaLagBytes: number;
  replicaLagMs: number;
  /** An inactive slot retaining more WAL than this. */
  slotRetainedBytes: number;
}

export const healthThresholds: HealthThresholds = {
  blockedMs: 5_000,
  longQueryMs: 5 * 60_000,
  idleInTransactionMs: 60_000,
  connectionsShare: 0.8,
  xminAge: 10_000_000,
  multixactAgeWarn: 400_000_000,
  sequenceShareWarn: 0.5,
  sequenceShareProblem: 0.8,
  foreignKeyMinBytes: 10 * 1024 * 1024,
  replicaLagBytes: 256 * 1024 * 1024,
  replicaLagMs: 60_000,
  slotRetainedBytes: 1024 * 1024 * 1024,
};

const quoted = (name: string): string => name;

/** Each finding of the live state, with the figures its sentence and its fix need. */
export function checkHealth(health: HealthSnapshot | null, t: HealthThresholds = healthThresholds): Finding[] {
  if (health === null) return [];
  const findings: Finding[] = [];
  const byPid = new Map(health.sessions.map((s) => [s.pid, s]));
  for (const s of health.sessions) {
    if (s.blockedBy.length > 0 && (s.stateMs ?? 0) >= t.blockedMs) {
      const blocker = byPid.get(s.blockedBy[0] ?? -1);
      findings.push({
        level: 'warn',
        code: 'blocked_session',
        subject: `pid ${s.pid}`,
        figures: {
          waiting_ms: s.stateMs,
          wait_event: s.waitEvent,
          query: s.query,
          blocked_by: s.blockedBy,
          blocker_state: blocker?.state ?? null,
          blocker_query: blocker?.query ?? null,
          blocker_xact_ms: blocker?.xactMs ?? null,
          blocker_application: blocker?.application ?? null,
        },
      });
    } else if (s.state === 'active' && (s.queryMs ?? 0) >= t.longQueryMs) {
      findings.push({
        level: 'warn',
        code: 'long_running_query',
        subject: `pid ${s.pid}`,
        figures: { query_ms: s.queryMs, query: s.query, application: s.application, threshold_ms: t.longQueryMs },
      });
    }
    if (s.state?.startsWith('idle in transaction') === true && (s.stateMs ?? 0) >= t.idleInTransactionMs) {
      findings.push({
        level: 'warn',
        code: 'idle_in_transaction',
        subject: `pid ${s.pid}`,
        figures: {
          idle_ms: s.stateMs,
          xact_ms: s.xactMs,
          query: s.query,
          application: s.application,
          threshold_ms: t.idleInTransactionMs,
        },
      });
    }
  }
  const sessions = health.connections.reduce((sum, c) => sum + c.count, 0);
  if (health.maxConnections > 0 && sessions >= health.maxConnections * t.connectionsShare) {
    findings.push({
      level: 'warn',
      code: 'connections_near_limit',
      subject: 'max_connections',
      figures: {
        sessions,
        max_connections: health.maxConnections,
        by_state: health.connections.map((c) => `${c.state} ${c.count}`).join(', '),
      },
    });
  }
  const oldest = health.xminHolders[0];
  if (oldest !== undefined && oldest.age >= t.xminAge) {
    findings.push({
      level: 'warn',
      code: 'xmin_horizon',
      subject: `${oldest.kind} ${quoted(oldest.name)}`,
      figures: { age: oldest.age, kind: oldest.kind, threshold: t.xminAge },
    });
  }
  if (health.multixactAge >= t.multixactAgeWarn) {
    findings.push({ level: 'warn', code: 'multixact_age', subject: 'database', figures: { age: health.multixactAge } });
  }
  for (const s of health.sequences) {
    const share = s.limit > 0 ? s.lastValue / s.limit : 0;
    if (share < t.sequenceShareWarn) continue;
    findings.push({
      level: share >= t.sequenceShareProblem ? 'problem' : 'warn',
      code: 'sequence_exhaustion',
      subject: s.sequence,
      figures: {
        share,
        last_value: s.lastValue,
        limit: s.limit,
        column: s.column,
        column_type: s.columnType,
        days_left: s.perDay !== null && s.perDay > 0 ? (s.limit - s.lastValue) / s.perDay : null,
      },
    });
  }
  for (const f of health.foreignKeys) {
    if (f.tableBytes < t.foreignKeyMinBytes) continue;
    findings.push({
      level: 'info',
      code: 'foreign_key_without_index',
      subject: f.constraint,
      figures: { table: f.table, columns: f.columns.join(', '), referenced: f.referenced, bytes: f.tableBytes },
    });
  }
  for (const r of health.replication) {
    if ((r.lagBytes ?? 0) >= t.replicaLagBytes || (r.replayLagMs ?? 0) >= t.replicaLagMs) {
      findings.push({
        level: 'warn',
        code: 'replica_lag',
        subject: r.replica,
        figures: { lag_bytes: r.lagBytes, replay_lag_ms: r.replayLagMs, state: r.state },
      });
    }
  }
  for (const s of health.slots) {
    if (!s.active && (s.retainedBytes ?? 0) >= t.slotRetainedBytes) {
      findings.push({ level: 'warn', code: 'inactive_slot', subject: s.slot, figures: { retained_bytes: s.retainedBytes } });
    }
  }
  return findings;
}
