import type {
  CellValue,
  ColumnKind,
  Figures,
  Finding,
  Note,
  ReportColumn,
  ReportResult,
  ReportRow,
  ReportTable,
} from '../services/reports/report.js';
import { formatBytes, formatNumber } from '../domain/units.js';
import { formatDuration } from '../options.js';
import type { Style } from './style.js';
import { renderTable, type Column } from './table.js';
import { fitProse } from './text.js';

/** Reports as terminal tables, CSV and Markdown: pure functions of the report's data. */

const numericKinds: ReadonlySet<ColumnKind> = new Set(['integer', 'decimal', 'percent', 'hours', 'bytes', 'ms']);
const sparkChars = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const barEighths = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const barWidth = 16;

export { formatBytes };

export function formatHours(hours: number): string {
  const sign = hours < 0 ? '−' : '';
  const h = Math.abs(hours);
  if (h < 1) return `${sign}${Math.round(h * 60)} min`;
  if (h < 48) return `${sign}${h.toFixed(1)} h`;
  return `${sign}${(h / 24).toFixed(1)} d`;
}

/** A sparkline of counts: one character per value, scaled to the largest; an empty slot is blank. */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) => (v <= 0 || max === 0 ? ' ' : (sparkChars[Math.min(7, Math.floor((v / max) * 7.999))] ?? '█')))
    .join('');
}

/** A horizontal bar for `value` out of `max`, in eighths of a character. */
export function bar(value: number, max: number, width = barWidth): string {
  if (!(max > 0) || !(value > 0)) return '';
  const eighths = Math.round((Math.min(value, max) / max) * width * 8);
  return '█'.repeat(Math.floor(eighths / 8)) + (barEighths[eighths % 8] ?? '');
}

function isNumber(value: CellValue | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** One cell as people read it. */
export function formatCell(kind: ColumnKind, value: CellValue | undefined): string {
  if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (Array.isArray(value)) return kind === 'spark' ? sparkline(value) : value.join(' ');
  switch (kind) {
    case 'integer':
      return isNumber(value) ? formatNumber(Math.round(value)) : String(value);
    case 'decimal':
      return isNumber(value) ? formatNumber(value, 3) : String(value);
    case 'percent':
      return isNumber(value) ? `${(value * 100).toFixed(1)} %` : String(value);
    case 'hours':
      return isNumber(value) ? formatHours(value) : String(value);
    case 'bytes':
      return isNumber(value) ? formatBytes(value) : String(value);
    case 'ms':
      return isNumber(value) ? `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms` : String(value);
    case 'timestamp': {
      const text = String(value);
      return /^\d{4}-\d{2}-\d{2}T/.test(text) ? `${text.slice(0, 16).replace('T', ' ')} UTC` : text;
    }
    default:
      return String(value);
  }
}

function barCell(table: ReportTable, column: ReportColumn, row: ReportRow): string {
  const key = column.of ?? column.key;
  const max = Math.max(0, ...table.rows.map((r) => (isNumber(r[key]) ? r[key] : 0)));
  const value = row[key];
  return isNumber(value) ? bar(value, max) : '';
}

function cellText(table: ReportTable, column: ReportColumn, row: ReportRow, isTotal: boolean): string {
  if (column.kind === 'bar') return isTotal ? '' : barCell(table, column, row);
  if (isTotal && !(column.key in row)) return '';
  return formatCell(column.kind, row[column.key]);
}

function figure(figures: Figures, key: string): string {
  const value = figures[key];
  if (value === null || value === undefined) return '';
  return Array.isArray(value) ? value.join(' ') : String(value);
}

function amount(figures: Figures, key: string): number {
  const value = figures[key];
  return typeof value === 'number' ? value : 0;
}

const count = (figures: Figures, key: string): string => formatCell('integer', amount(figures, key));
const percent = (figures: Figures, key: string): string => formatCell('percent', amount(figures, key));
const bytes = (figures: Figures, key: string): string => formatBytes(amount(figures, key));
const took = (figures: Figures, key: string): string => formatDuration(Math.round(amount(figures, key)));
/** A statement's time, to the precision of a fast query: 0.42 ms. */
const ms = (figures: Figures, key: string): string => formatCell('ms', amount(figures, key));
const pidOf = (subject: string): string => subject.replace(/^pid /, '');

function shorten(text: string, length: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

function statsSince(figures: Figures): string {
  const reset = figure(figures, 'stats_reset');
  return reset === '' ? 'since statistics began' : `since the statistics reset of ${reset}`;
}

/** Why dead tuples stay: the table's or the server's autovacuum setting (none on the embedded database). */
function vacuumHint(figures: Figures): string {
  if (typeof figures.server_autovacuum !== 'boolean') return '';
  if (figures.table_autovacuum === false)
    return '; autovacuum is disabled on this table (autovacuum_enabled = false) — re-enable it';
  if (!figures.server_autovacuum) return '; autovacuum is off server-wide';
  return '; if autovacuum runs, check for long-running transactions or replication slots holding dead rows back';
}

function redundancy(figures: Figures): string {
  const definition = shorten(figure(figures, 'definition'), 80);
  const other = figure(figures, 'covered_by');
  return figures.kind === 'same'
    ? `duplicates ${other} (${definition})`
    : `is covered by ${other}: its columns (${definition}) lead ${figure(figures, 'covered_by_definition') || '?'}`;
}

/** Why a redundant index that enforces something stays, or which constraint to drop instead. */
function constraintDuty(table: string, figures: Figures): string {
  const name = figure(figures, 'constraint');
  const enforces = figure(figures, 'enforces');
  if (enforces === 'foreign key target') return `the foreign key ${name} references through it: it cannot simply be dropped`;
  if (figures.constraint === null) return 'it is the replica identity: it stays';
  if (figures.repeats_constraint === true) {
    return (
      `it backs the ${enforces} constraint ${name}, which repeats ${figure(figures, 'covered_by_constraint')}: ` +
      `drop the redundant constraint (alter table ${table} drop constraint ${name}) if no foreign key depends on it`
    );
  }
  return `it backs the ${enforces} constraint ${name}, so it stays`;
}

function statementsAdvice(figures: Figures): string {
  const preload = figure(figures, 'preload');
  const keeping = preload === '' ? '' : ` (keeping '${preload}')`;
  const restart = `set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf${keeping} and restart PostgreSQL`;
  const enable = `${restart}, then run \`create extension pg_stat_statements;\` in this database`;
  switch (figure(figures, 'state')) {
    case 'embedded':
      return 'the embedded database (PGlite) has no pg_stat_statements: use a PostgreSQL server for statement timings';
    case 'not_available':
      return `pg_stat_statements is not available on this server: install PostgreSQL's contrib package, then ${enable}`;
    case 'not_enabled':
      return `pg_stat_statements is not enabled, so there are no statement timings: ${enable}`;
    case 'not_loaded':
      return `the pg_stat_statements extension is installed but the module is not loaded, so its view cannot be read: ${restart}`;
    case 'not_installed':
      return 'pg_stat_statements is loaded but not installed in this database: run `create extension pg_stat_statements;`';
    default:
      return `this role may not read ${figure(figures, 'schema')}.pg_stat_statements: grant it select on that view`;
  }
}

/** How a raw scan document disagrees with the event it names. */
function mismatch(figures: Figures): string {
  const [ours, theirs, event] = [figure(figures, 'document_value'), figure(figures, 'event_value'), figure(figures, 'event_id')];
  switch (figure(figures, 'field')) {
    case 'tracking_number':
      return `tracking number ${ours}, but event ${event} belongs to ${theirs}`;
    case 'scanned_at':
      return `scanned at ${ours}, but the event is at ${theirs}`;
    case 'status':
      return `status ${ours}, but the event is ${theirs}`;
    default:
      return `event ${event} does not exist in PostgreSQL`;
  }
}

type Sentence = (subject: string, figures: Figures) => string;

/** The sentence of each kind of finding, written from its subject and figures. */
const findingSentences: Record<string, Sentence> = {
  track_counts_off: () =>
    'track_counts is off: scan, dead-tuple and cache counters stay at zero and autovacuum cannot work — turn it on',
  autovacuum_off: () =>
    'autovacuum is off server-wide: dead tuples pile up and planner statistics go stale — set autovacuum = on ' +
    '(only anti-wraparound vacuums still run)',
  xid_wraparound: (s, f) =>
    `database ${s} is ${count(f, 'xid_age')} transactions old (the server stops writes near 2,100 million): ` +
    'run VACUUM (FREEZE) on its oldest tables',
  dead_tuples: (s, f) =>
    `table ${s} has ${percent(f, 'dead_share')} dead tuples (${count(f, 'dead_rows')} dead, ${count(f, 'live_rows')} live; ` +
    `last vacuum ${figure(f, 'last_vacuum') || 'never'}) — run VACUUM (ANALYZE) ${s}${vacuumHint(f)}`,
  table_bloat: (s, f) =>
    `table ${s} is an estimated ${bytes(f, 'bloat_bytes')} (${percent(f, 'bloat_share')}) larger than its rows need — ` +
    'VACUUM makes the space reusable; VACUUM FULL (locks the table) or pg_repack gives it back',
  index_bloat: (s, f) =>
    `index ${s} on ${figure(f, 'table')} is an estimated ${bytes(f, 'bloat_bytes')} (${percent(f, 'bloat_share')}) larger than ` +
    `its entries need — rebuild it without blocking writes: reindex index concurrently ${s}`,
  index_building: (s, f) => `index ${s} on ${figure(f, 'table')} is being built (CREATE INDEX CONCURRENTLY in progress)`,
  invalid_index: (s, f) =>
    `index ${s} on ${figure(f, 'table')} is INVALID (a failed CREATE INDEX CONCURRENTLY or REINDEX): queries do not use it ` +
    `but writes still maintain it — drop it and create it again (drop index concurrently ${s}; then create index concurrently …)`,
  duplicate_index: (s, f) =>
    `index ${s} on ${figure(f, 'table')} ${redundancy(f)}; ${bytes(f, 'bytes')}, ${count(f, 'idx_scan')} scans — consider dropping it`,
  duplicate_constraint_index: (s, f) =>
    `index ${s} on ${figure(f, 'table')} ${redundancy(f)}, but ${constraintDuty(figure(f, 'table'), f)}`,
  unused_index: (s, f) =>
    `index ${s} on ${figure(f, 'table')} has ${count(f, 'idx_scan')} scans ${statsSince(f)} and is ${bytes(f, 'bytes')} — consider dropping it`,
  cache_hit_ratio: (s, f) =>
    `the buffer cache hit ratio of ${s} is ${percent(f, 'hit_ratio')} ` +
    `(${count(f, 'reads')} reads of ${formatCell('integer', amount(f, 'hits') + amount(f, 'reads'))} ${statsSince(f)}): ` +
    `the working set may not fit shared_buffers (${bytes(f, 'shared_buffers_bytes')}), or bulk loads and sequential scans read cold data`,
  pg_stat_statements_missing: (_s, f) => statementsAdvice(f),
  blocked_session: (s, f) =>
    `${s} has waited ${took(f, 'waiting_ms')} for a lock (${figure(f, 'wait_event')}) held by pid ${figure(f, 'blocked_by')} ` +
    `(${figure(f, 'blocker_state') || '?'}, in a transaction for ${took(f, 'blocker_xact_ms')}: ${shorten(figure(f, 'blocker_query'), 120)}); ` +
    `it waits to run: ${shorten(figure(f, 'query'), 120)} — end the holder with select pg_cancel_backend(${String(f.blocked_by).split(',')[0] ?? ''}) ` +
    '(or pg_terminate_backend) if it should not hold the lock',
  long_running_query: (s, f) =>
    `${s} (${figure(f, 'application') || '?'}) has run one query for ${took(f, 'query_ms')}: ${shorten(figure(f, 'query'), 120)} — ` +
    `cancel it with select pg_cancel_backend(${pidOf(s)}), or give such work a statement_timeout`,
  idle_in_transaction: (s, f) =>
    `${s} (${figure(f, 'application') || '?'}) has been idle in an open transaction for ${took(f, 'idle_ms')} ` +
    `(its last query: ${shorten(figure(f, 'query'), 100)}): it holds its locks and holds vacuum back — ` +
    `end it with select pg_terminate_backend(${pidOf(s)}); set idle_in_transaction_session_timeout to stop it recurring`,
  connections_near_limit: (_s, f) =>
    `${count(f, 'sessions')} sessions of max_connections ${count(f, 'max_connections')} (${figure(f, 'by_state')}): ` +
    'new connections will be refused — pool them (PgBouncer), or close idle ones',
  xmin_horizon: (s, f) =>
    `the oldest snapshot is held by ${s}, ${count(f, 'age')} transactions old: vacuum cannot remove rows deleted since — ` +
    (figure(f, 'kind') === 'replication slot'
      ? `drop the slot if nothing consumes it: select pg_drop_replication_slot('${s.replace(/^replication slot /, '')}')`
      : figure(f, 'kind') === 'prepared transaction'
        ? `commit or roll it back: ROLLBACK PREPARED '${s.replace(/^prepared transaction /, '')}'`
        : 'end that session or its transaction'),
  multixact_age: (_s, f) =>
    `the database's multixact age is ${count(f, 'age')} (the server stops near 2,100 million): run VACUUM (FREEZE) on its largest tables`,
  sequence_exhaustion: (s, f) =>
    `sequence ${s} has used ${percent(f, 'share')} of its range (${count(f, 'last_value')} of ${count(f, 'limit')}` +
    `${figure(f, 'column') === '' ? '' : `, feeding ${figure(f, 'column')} ${figure(f, 'column_type')}`})` +
    `${typeof f.days_left === 'number' ? `, about ${formatNumber(Math.round(f.days_left))} days left at the rate since statistics began` : ''} — ` +
    `alter the column to bigint${figure(f, 'column') === '' ? '' : ` (alter table … alter column … type bigint rewrites the table: plan it)`}`,
  foreign_key_without_index: (s, f) =>
    `foreign key ${s} on ${figure(f, 'table')} (${figure(f, 'columns')}) → ${figure(f, 'referenced')} has no index on its columns: ` +
    `every delete or key update on ${figure(f, 'referenced')} scans ${figure(f, 'table')} (${bytes(f, 'bytes')}) — ` +
    `create index concurrently on ${figure(f, 'table')} (${figure(f, 'columns')})`,
  replica_lag: (s, f) =>
    `replica ${s} (${figure(f, 'state') || '?'}) is ${bytes(f, 'lag_bytes')} and ${took(f, 'replay_lag_ms')} behind: ` +
    'reads there are stale and the primary keeps the WAL it still needs — check its disk, network and replay (pg_stat_wal_receiver on it)',
  inactive_slot: (s, f) =>
    `replication slot ${s} is inactive and retains ${bytes(f, 'retained_bytes')} of WAL on the primary's disk — ` +
    `drop it if nothing will read it again: select pg_drop_replication_slot('${s}')`,
  citus_node_imbalance: (s, f) =>
    `Citus node ${s} holds ${bytes(f, 'bytes')} against ${bytes(f, 'lightest_bytes')} on the lightest of ${count(f, 'nodes')} nodes — ` +
    'move shards with select citus_rebalance_start(); (see citus_rebalance_status())',
  citus_shard_skew: (s, f) =>
    `distributed table ${s}: its largest shard is ${bytes(f, 'largest_shard_bytes')}, ${amount(f, 'skew').toFixed(1)}× the mean of its ` +
    `${count(f, 'shards')} shards — a hot distribution key: look for a value with far more rows than the others`,
  statements_hidden: (_s, f) =>
    `${count(f, 'hidden')} of the slowest statements belong to other roles and hide their text: ` +
    'grant pg_read_all_stats to this role to see them',
  statement_slower: (s, f) =>
    `since ${figure(f, 'since')} this statement takes ${ms(f, 'mean_ms')} a call, against ${ms(f, 'mean_before_ms')} before ` +
    `(${count(f, 'calls')} calls, ${ms(f, 'added_ms')} more in all): ${shorten(s, 160)} — read its plan (EXPLAIN (ANALYZE, BUFFERS)) ` +
    'for a changed plan, a grown table or stale statistics (ANALYZE)',
  statement_history_empty: (_s, f) =>
    `no snapshot of the statements was kept at or before ${figure(f, 'asked')} nor since: this run keeps the first — ` +
    'compare later with --since',
  statement_history_reset: (_s, f) =>
    `pg_stat_statements was reset at ${figure(f, 'reset') || '?'}, after the snapshot of ${figure(f, 'since')}: ` +
    'the counters cannot be compared across a reset',
  statement_snapshot_not_stored: (_s, f) =>
    `the statements' snapshot was not kept (${figure(f, 'reason')}): \`--since\` needs a role that may write the document store, on the primary`,
  index_advice: (s, f) =>
    `${s}; — the planner's cost of ${shorten(figure(f, 'query'), 160)} falls from ${figure(f, 'cost_before')} to ` +
    `${figure(f, 'cost_after')} (${(amount(f, 'cost_before') / Math.max(amount(f, 'cost_after'), 1e-9)).toFixed(1)}×, ` +
    `at least ${figure(f, 'factor')}× asked) with it as a hypothetical index; ${count(f, 'calls')} calls of ${ms(f, 'mean_ms')}`,
  index_advice_unavailable: (_s, f) =>
    figure(f, 'reason') === 'embedded'
      ? 'index advice needs a PostgreSQL server: the embedded database has neither pg_stat_statements nor hypopg'
      : figure(f, 'reason') === 'no_statements'
        ? 'index advice needs pg_stat_statements (see its finding) to find the slow statements'
        : f.hypopg_available === true
          ? 'index advice needs the hypopg extension in this database: run `create extension hypopg;`'
          : "index advice needs hypopg: install the server's package (postgresql-NN-hypopg), then `create extension hypopg;`",
  migrations_missing: (s, f) =>
    f.table_exists === false
      ? `there is no ${s} table: shiptrack has not migrated this database — run \`shiptrack migrate latest\``
      : `${s} is empty: no migration has been applied — run \`shiptrack migrate latest\``,
  migrations_unreadable: (s) =>
    `this role may not read ${s}, so the migration state is unknown: grant it select (or pg_read_all_data)`,
  healthy: () => 'no invalid, unused or duplicate index, no vacuum backlog, caches warm',
  outbox_backlog: (_s, f) =>
    `${count(f, 'waiting')} document(s) wait in the outbox, the oldest since ${figure(f, 'oldest')}` +
    `${figure(f, 'last_error') === '' ? '' : ` (last error: ${figure(f, 'last_error')})`}; deliver with \`shiptrack outbox drain\``,
  document_mismatch: (s, f) =>
    typeof f.more === 'number' ? `… and ${count(f, 'more')} more mismatches` : `raw scan ${s}: ${mismatch(f)}`,
  consistent: () => 'no inconsistency found',
};

/** A consistency check's finding: its code is the check's name, so the set of codes is open. */
const checkViolation: Sentence = (_s, f) =>
  `${count(f, 'violations')} ${amount(f, 'violations') === 1 ? 'violation' : 'violations'} of "${figure(f, 'description')}", e.g. ${figure(f, 'samples')}`;

/** For a code without a sentence (a newer service than renderer): its words, subject and figures. */
function plainSentence(code: string, subject: string | null, figures: Figures): string {
  const values = Object.keys(figures).map((key) => `${key} ${figure(figures, key)}`);
  const head = [code.replace(/_/g, ' '), subject ?? ''].filter((part) => part !== '').join(': ');
  return values.length === 0 ? head : `${head} (${values.join(', ')})`;
}

/** The sentence a reader reads for a finding: the renderers' wording of its data. */
export function findingSentence(finding: Finding): string {
  const sentence =
    findingSentences[finding.code] ??
    (typeof finding.figures.violations === 'number' && typeof finding.figures.description === 'string'
      ? checkViolation
      : undefined);
  return sentence === undefined
    ? plainSentence(finding.code, finding.subject, finding.figures)
    : sentence(finding.subject ?? '', finding.figures);
}

/** Why a consistency proof read every package. */
function fullProofReason(figures: Figures): string {
  const reason = figure(figures, 'reason');
  switch (reason) {
    case 'asked':
      return '--full';
    case 'first':
      return 'no earlier proof to build on';
    case 'distributed':
      return 'the Citus layout keeps no list of changed packages';
    case 'bulk_load':
      return 'a bulk load or TRUNCATE since the last full proof';
    case 'new_checks':
      return 'the checks changed since the last full proof (a new release)';
    case 'many_changes':
      return `${count(figures, 'changed')} packages changed since the last full proof`;
    default:
      return reason;
  }
}

/** The sentence of each kind of note. */
const noteSentences: Record<string, (figures: Figures) => string> = {
  in_flight: (f) => `${count(f, 'packages')} in flight (not delivered, returned or cancelled)`,
  metadata_matches: (f) =>
    `${count(f, 'matching')} of ${count(f, 'packages')} packages match (${f.share === null ? '0 %' : percent(f, 'share')})`,
  late_deliveries_only: (f) =>
    `late p50/p90/max are of the late deliveries only; "how late" counts them in ${figure(f, 'buckets')}`,
  dwell: () =>
    'dwell: time from a scan at the facility to the same package’s next scan, anywhere; scans without a later one are left out',
  reasons_recorded: (f) =>
    `reasons come from the raw scan documents: recorded for ${count(f, 'recorded')} of ${count(f, 'events')} events`,
  no_benchmark_runs: () => 'no runs stored yet: `shiptrack benchmark` stores each run',
  spot_check: (f) =>
    `spot check: the PostgreSQL checks read ${count(f, 'packages')} packages drawn at random` +
    `${f.of_about === null ? '' : ` (of about ${count(f, 'of_about')})`} with their whole histories; ` +
    'without --packages every package is proven',
  proof_changes: (f) =>
    `the PostgreSQL checks read the ${count(f, 'changed')} package(s) changed since the full proof of ` +
    `${figure(f, 'proven_at') || '?'} (listed by triggers; the others are as that proof found them); --full proves every package`,
  proof_full: (f) =>
    `the PostgreSQL checks read every package and event (${fullProofReason(f)})` +
    `${amount(f, 'connections') > 1 ? ` on ${figure(f, 'connections')} connections sharing one snapshot` : ''}: ` +
    (figure(f, 'reason') === 'distributed'
      ? 'expect seconds on large databases, spread over the workers; every run proves every package'
      : 'expect seconds on large databases; a clean proof is recorded, and the next run reads only the packages changed since'),
  proof_not_recorded: (f) => `the proof was not recorded (${figure(f, 'reason')}): the next run proves the same again`,
  scan_counters: (f) =>
    `scan and cache counters count this server ${statsSince(f)}: scans on replicas are not seen here, and a freshly seeded ` +
    'or restored database has few scans, so judge unused indexes over a representative period of traffic' +
    (f.unused_found === true ? ' before dropping any' : ''),
  bloat_estimated: () =>
    'bloat is estimated: pg_class.relpages against the pages reltuples rows of pg_stats average width would fill (tuple header, ' +
    'alignment, line pointer and fillfactor included), both as of the last ANALYZE; tables never analyzed have no estimate; ' +
    "for a B-tree on columns, its entries at the key columns' average width against its pages",
  cache_shared_buffers: () =>
    'cache hit ratios count PostgreSQL shared buffers only; a "read" may still come from the operating system page cache',
  pending_migrations: () =>
    'pending migrations are not visible from the database: `shiptrack migrate status` compares it with the migration files',
  embedded_counters: () =>
    'embedded database (PGlite): one session, no autovacuum worker and no pg_stat_statements; most counters stay near zero',
};

/** The sentence of a note. */
export function noteSentence(note: Note): string {
  const sentence = noteSentences[note.code];
  if (sentence !== undefined) return sentence(note.figures);
  return plainSentence(note.code, null, note.figures);
}

export type FindingJson = Finding & { message: string };
export type NoteJson = Note & { message: string };
export type ReportJson = Omit<ReportResult, 'findings' | 'notes'> & { findings: FindingJson[]; notes: NoteJson[] };

/** The report as `--json` prints it: each finding and note carries its sentence (`message`) beside its data. */
export function reportForJson(result: ReportResult): ReportJson {
  return {
    ...result,
    findings: result.findings.map((f) => ({ ...f, message: findingSentence(f) })),
    notes: result.notes.map((n) => ({ ...n, message: noteSentence(n) })),
  };
}

const findingMarks = { ok: '✔', info: 'ℹ', warn: '!', problem: '✘' } as const;

type TextRow = { row: ReportRow; total: boolean };

/** The short form of a timestamp in a narrow table: without " UTC" (the "as of" line says so). */
function shortTimestamp(text: string): string {
  return text.endsWith(' UTC') ? text.slice(0, -4) : text;
}

/**
 * A report column in a terminal table. Numbers, bars, sparklines and timestamps are never cut;
 * the text a one-row table (a record: a customer) cannot show goes under the row rather than away.
 */
function textColumn(table: ReportTable, column: ReportColumn, style: Style): Column<TextRow> {
  const numeric = numericKinds.has(column.kind);
  const drawn = column.kind === 'bar' || column.kind === 'spark';
  const paint = ({ total }: TextRow, text: string): string => (total ? style.bold(text) : drawn ? style.accent(text) : text);
  return {
    header: column.header,
    align: numeric ? 'right' : 'left',
    priority: column.priority ?? 1,
    cut: column.kind === 'text',
    below: table.rows.length === 1 && (column.kind === 'text' || column.kind === 'timestamp'),
    value: (r) => paint(r, cellText(table, column, r.row, r.total)),
    ...(column.kind === 'timestamp'
      ? { short: (r: TextRow) => paint(r, shortTimestamp(cellText(table, column, r.row, r.total))) }
      : {}),
  };
}

/** A finding's line(s): its mark, then its sentence wrapped under itself. */
function findingLines(finding: Finding, style: Style): string[] {
  const mark = findingMarks[finding.level];
  const painted =
    finding.level === 'problem'
      ? style.bad(mark)
      : finding.level === 'warn'
        ? style.warn(mark)
        : finding.level === 'ok'
          ? style.ok(mark)
          : style.dim(mark);
  const lines = fitProse(findingSentence(finding), { ...style, width: style.width - 2 });
  return lines.map((line, i) => `${i === 0 ? painted : ' '} ${line}`);
}

/** Prose at the terminal's width, painted line by line. */
function prose(text: string, style: Style, paint: (line: string) => string, indent = ''): string[] {
  return fitProse(text, style, indent).map(paint);
}

/** The report for a terminal: a title, one table per section, findings and notes, fitted to `style.width`. */
export function renderReportText(result: ReportResult, style: Style): string {
  const out: string[] = prose(result.title, style, style.bold);
  const parameters = Object.entries(result.parameters).map(([k, v]) => `${k}=${String(v)}`);
  out.push(
    ...prose(
      `as of ${formatCell('timestamp', result.asOf)}${parameters.length > 0 ? ` · ${parameters.join(' ')}` : ''}`,
      style,
      style.dim,
      '  ',
    ),
  );
  for (const table of result.tables) {
    out.push('');
    if (result.tables.length > 1) out.push(...prose(table.title, style, style.bold));
    if (table.rows.length === 0) {
      // The caption says why nothing is there (e.g. how many lanes --min-shipments left out).
      out.push(...prose(table.caption === undefined ? '(none)' : `(none) — ${table.caption}`, style, style.dim));
      continue;
    }
    const rows: TextRow[] = table.rows.map((row) => ({ row, total: false }));
    if (table.totals !== undefined) rows.push({ row: table.totals, total: true });
    out.push(
      renderTable(
        table.columns.map((column) => textColumn(table, column, style)),
        rows,
        style,
      ),
    );
    if (table.caption !== undefined) out.push(...prose(table.caption, style, style.dim));
  }
  if (result.findings.length > 0) {
    out.push('');
    for (const f of result.findings) out.push(...findingLines(f, style));
  }
  // Under a heading of their own, each note's sentence keeps the width of a line (no "note: " before it).
  if (result.notes.length > 0) out.push(style.dim('notes:'));
  for (const note of result.notes) out.push(...prose(`· ${noteSentence(note)}`, style, style.dim, '  '));
  out.push(style.dim(`${result.elapsedMs.toFixed(1)} ms`));
  for (const plan of result.plans ?? []) {
    out.push('', style.bold(`plan: ${plan.query}`), plan.plan);
  }
  return out.join('\n');
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function rawValue(value: CellValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(' ');
  if (typeof value === 'number')
    return Number.isFinite(value) ? String(Number.isInteger(value) ? value : Number(value.toFixed(6))) : '';
  return String(value);
}

/** Picks the table for single-table formats: the one named, or the report's last (its detail). */
export function pickTable(result: ReportResult, name: string | undefined): ReportTable | undefined {
  if (name === undefined) return result.tables[result.tables.length - 1];
  return result.tables.find((t) => t.name === name);
}

/** RFC 4180 CSV of one table: machine keys as the header, raw values (fractions, hours, bytes). */
export function renderReportCsv(table: ReportTable): string {
  const columns = table.columns.filter((c) => c.kind !== 'bar');
  const lines = [columns.map((c) => csvField(c.key)).join(',')];
  for (const row of table.rows) lines.push(columns.map((c) => csvField(rawValue(row[c.key]))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function markdownCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** GitHub-flavoured Markdown: headings, pipe tables (numbers right-aligned), bars and sparklines as text. */
export function renderReportMarkdown(result: ReportResult): string {
  const out: string[] = [`## ${markdownCell(result.title)}`, ''];
  const parameters = Object.entries(result.parameters).map(([k, v]) => `\`${k}=${String(v)}\``);
  out.push(`As of ${formatCell('timestamp', result.asOf)}${parameters.length > 0 ? ` · ${parameters.join(' ')}` : ''}.`, '');
  for (const table of result.tables) {
    if (result.tables.length > 1) out.push(`### ${markdownCell(table.title)}`, '');
    if (table.rows.length === 0) {
      out.push(table.caption === undefined ? '_(none)_' : `_(none) — ${markdownCell(table.caption)}_`, '');
      continue;
    }
    out.push(`| ${table.columns.map((c) => markdownCell(c.header === '' ? ' ' : c.header)).join(' | ')} |`);
    out.push(`|${table.columns.map((c) => (numericKinds.has(c.kind) ? ' ---: ' : ' --- ')).join('|')}|`);
    const rows: { row: ReportRow; total: boolean }[] = table.rows.map((row) => ({ row, total: false }));
    if (table.totals !== undefined) rows.push({ row: table.totals, total: true });
    for (const { row, total } of rows) {
      const cells = table.columns.map((c) => {
        const text = markdownCell(cellText(table, c, row, total));
        if (c.kind === 'spark' && text.trim() !== '') return `\`${text}\``;
        return total && text !== '' ? `**${text}**` : text;
      });
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
    if (table.caption !== undefined) out.push(`_${markdownCell(table.caption)}_`, '');
  }
  if (result.findings.length > 0) {
    for (const f of result.findings) out.push(`- **${f.level}** (${f.code}): ${markdownCell(findingSentence(f))}`);
    out.push('');
  }
  for (const note of result.notes) out.push(`> ${markdownCell(noteSentence(note))}`, '');
  for (const plan of result.plans ?? []) out.push(`#### Plan: ${markdownCell(plan.query)}`, '', '```', plan.plan, '```', '');
  return out.join('\n').trimEnd() + '\n';
}
