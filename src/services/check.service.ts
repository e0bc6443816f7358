import { createHash } from 'node:crypto';
import { allowedTransitions, packageStatuses } from '../domain/status.js';
import { parseJobs, type OptionValue } from '../options.js';
import type { Database } from '../store/database.js';
import type { Resources } from '../store/resources.js';
import {
  facilityCountsDifferencesSql,
  inFlightDifferencesSql,
  laneCountsDifferencesSql,
  laneRollups,
  rebuildRollups,
  statusCountsDifferencesSql,
  statusCountsSql,
} from '../store/rollups.js';
import { withSession } from '../store/session.js';
import { readReport, type NamedQuery, type ReportReader } from './reports/report.js';

/**
 * Consistency checks over whatever data is there (DOMAIN §1–3): what the write path and the
 * seeder promise, verified with SQL written independently of them.
 */

export interface CheckResult {
  check: string;
  description: string;
  violations: number;
  /** Up to five tracking numbers (or ids) that violate it. */
  samples: string[];
}

export interface CheckReport {
  checks: CheckResult[];
  ok: boolean;
}

const allowedPairs = packageStatuses.flatMap((from) => allowedTransitions[from].map((to) => `${from}>${to}`));

// S10: two letters, eight digits, check digit (weights 8 6 4 2 3 5 9 7; 11 - sum mod 11, where
// 10 → 0 and 11 → 5), two letters. The digit is looked up by the sum mod 11: an expression, not
// a subquery per row (2.2 s → 0.9 s over 1M packages).
const s10Valid = `(
  tracking_number ~ '^[A-Z]{2}[0-9]{9}[A-Z]{2}$'
  and substr(tracking_number, 11, 1)::int = ('{5,0,9,8,7,6,5,4,3,2,1}'::int[])[1 + (
        8 * substr(tracking_number, 3, 1)::int + 6 * substr(tracking_number, 4, 1)::int +
        4 * substr(tracking_number, 5, 1)::int + 2 * substr(tracking_number, 6, 1)::int +
        3 * substr(tracking_number, 7, 1)::int + 5 * substr(tracking_number, 8, 1)::int +
        9 * substr(tracking_number, 9, 1)::int + 7 * substr(tracking_number, 10, 1)::int) % 11])`;

/**
 * One query that proves one or more checks: it returns a row { check_name, sample } per violation.
 * The two checks over the events' history share one pass: reading and windowing every event is
 * most of the time `check` takes, so it is done once.
 */
interface CheckPass {
  name: string;
  checks: readonly { check: string; description: string }[];
  sql: string;
  bindings?: unknown[];
}

const finalStatuses = `('delivered', 'returned', 'cancelled')`;

/**
 * Events with what the write path knows about them: a scan after a final status is history (it
 * never moved the status), one that arrived after a later-dated scan is out of order, and a
 * forced transition carries its reason. Every pair of consecutive events in time is judged by the
 * state machine (DOMAIN §2: an out-of-order event at its place in the timeline, against the events
 * before and after it, as `scan` judges it), except into a forced event, out of a forced event
 * that arrived after its successor (forced in between), and history after a final status.
 * The latest accepted event of a package is the first final one if there is one, else its last.
 * Every window runs in the order of the (package, time, id) index, so the events are read in
 * index order and never sorted (a descending window for out_of_order cost a sort of every event,
 * a fifth of the pass). Its frame of following rows makes min() start over at each row: k²/2
 * steps for a package of k events, nothing at a few dozen, seconds for one of 20,000.
 * `scope` limits the packages read (`where …` on package_id).
 */
const annotatedEvents = (scope: string): string => `
  select package_id, event_id, status, event_timestamp, forced_reason,
         lag(status) over in_time as previous,
         coalesce(lag(forced_reason is not null) over in_time and lag(recorded_at) over in_time > recorded_at, false)
           as after_forced_insert,
         lead(event_id) over in_time is null as is_last,
         coalesce(recorded_at > min(recorded_at) over (partition by package_id order by event_timestamp, event_id
                                                       rows between 1 following and unbounded following), false) as out_of_order,
         count(*) filter (where status in ${finalStatuses}) over in_time > (status in ${finalStatuses})::int as after_final
    from tracking_events
   ${scope}
  window in_time as (partition by package_id order by event_timestamp, event_id rows between unbounded preceding and current row)`;

/**
 * Which packages a query proves: all of them, a list (a spot check), an id range (one share of
 * a run split across connections), or those listed as changed since the last proof. Every
 * kind but `all` is a `scope` CTE, bound first.
 */
type Scope =
  | { kind: 'all' }
  | { kind: 'ids'; ids: readonly number[] }
  | { kind: 'range'; first: number; last: number }
  | { kind: 'changed' };

function scopeCte(scope: Scope): { sql: string; bindings: unknown[] } {
  switch (scope.kind) {
    case 'all':
      return { sql: '', bindings: [] };
    case 'ids':
      return { sql: 'scope as (select unnest(?::bigint[]) as package_id), ', bindings: [scope.ids] };
    case 'range':
      return { sql: 'scope as (select ?::bigint as first, ?::bigint as last), ', bindings: [scope.first, scope.last] };
    case 'changed':
      return { sql: 'scope as (select distinct package_id from consistency_changes), ', bindings: [] };
  }
}

function scopePredicate(scope: Scope, column: string): string {
  switch (scope.kind) {
    case 'all':
      return 'true';
    case 'ids':
    case 'changed':
      return `${column} in (select package_id from scope)`;
    case 'range':
      return `${column} between (select first from scope) and (select last from scope)`;
  }
}

const latestStatusCheck = {
  check: 'status_matches_last_event',
  description: 'current_status is the status of the latest accepted event',
};
const transitionsCheck = {
  check: 'legal_transitions',
  description: 'every consecutive pair of events follows the state machine',
};
/** A package (p) whose status is not what its history (h) gives. */
const wrongLatestStatus = `h.last_status is distinct from p.current_status
                      and not (h.last_status is null and p.current_status = 'pending')`;

/**
 * The event history of the packages in scope, per package: whether a transition breaks the state
 * machine, and the status its latest accepted event gives. Binds the allowed pairs.
 */
function historySql(scope: Scope, inScope: (column: string) => string): string {
  return `select package_id,
                     bool_or(previous is not null and forced_reason is null and not after_forced_insert and not after_final
                             and (previous || '>' || status) <> all (?::text[])) as illegal_transition,
                     max(status) filter (where not after_final and (is_last or status in ${finalStatuses})) as last_status
                from (${annotatedEvents(scope.kind === 'all' ? '' : `where ${inScope('package_id')}`)}) e
               group by package_id`;
}

/**
 * The event-history checks: one pass on one server. On Citus, two: it cannot push a LATERAL union
 * down to the shards, while a package joined with its own history (both on package_id) runs on
 * each shard group.
 */
function historyPasses(scope: Scope, inScope: (column: string) => string, distributed: boolean): CheckPass[] {
  const history = historySql(scope, inScope);
  if (!distributed) {
    return [
      {
        name: 'event history',
        checks: [latestStatusCheck, transitionsCheck],
        sql: `with history as (${history})
            select c.check_name, p.tracking_number as sample
              from packages p
              left join history h on h.package_id = p.package_id
             cross join lateral (
                   select 'status_matches_last_event' as check_name
                    where ${wrongLatestStatus}
                   union all
                   select 'legal_transitions' where h.illegal_transition) c
             where ${inScope('p.package_id')}`,
        bindings: [allowedPairs],
      },
    ];
  }
  return [
    {
      name: 'event history: latest status',
      checks: [latestStatusCheck],
      sql: `select 'status_matches_last_event' as check_name, p.tracking_number as sample
              from packages p left join (${history}) h on h.package_id = p.package_id
             where ${wrongLatestStatus} and ${inScope('p.package_id')}`,
      bindings: [allowedPairs],
    },
    {
      name: 'event history: transitions',
      checks: [transitionsCheck],
      sql: `select 'legal_transitions' as check_name, p.tracking_number as sample
              from packages p join (${history}) h on h.package_id = p.package_id
             where h.illegal_transition and ${inScope('p.package_id')}`,
      bindings: [allowedPairs],
    },
  ];
}

/**
 * The checks over the packages in `scope`, grouped into the queries that prove them; on the Citus
 * layout (`distributed`) in the shapes Citus runs on its shards.
 */
function consistencyPasses(scope: Scope, distributed = false): CheckPass[] {
  const inScope = (column: string): string => scopePredicate(scope, column);
  return [
    ...historyPasses(scope, inScope, distributed),
    {
      name: 'delivered_has_actual_delivery',
      checks: [
        { check: 'delivered_has_actual_delivery', description: 'delivered packages have actual_delivery, and only they do' },
      ],
      sql: `select 'delivered_has_actual_delivery' as check_name, p.tracking_number as sample
              from packages p join shipments s on s.package_id = p.package_id
             where (p.current_status = 'delivered') <> (s.actual_delivery is not null) and ${inScope('p.package_id')}`,
    },
    {
      name: 'every_package_has_a_shipment',
      checks: [{ check: 'every_package_has_a_shipment', description: 'each package has its shipment' }],
      sql: `select 'every_package_has_a_shipment' as check_name, p.tracking_number as sample
              from packages p
             where not exists (select 1 from shipments s where s.package_id = p.package_id) and ${inScope('p.package_id')}`,
    },
    {
      name: 'in_flight_rollup',
      checks: [
        {
          check: 'in_flight_rollup',
          description: 'in_flight_packages lists the packages in flight with their status, latest scan and promise',
        },
      ],
      // Named through a join (Citus cannot push a lookup per row of a derived table to the shards).
      sql: `select 'in_flight_rollup' as check_name, coalesce(p.tracking_number, 'package ' || d.package_id) as sample
              from (${inFlightDifferencesSql(inScope('p.package_id'), inScope('package_id'))}) d
              left join packages p on p.package_id = d.package_id`,
    },
    // A total over every package: proven by full proofs (`check`, `report consistency --full`), not
    // by a proof of the changed packages only. The Citus layout keeps no such rollup.
    ...(scope.kind === 'all' && !distributed
      ? [
          {
            name: 'status_counts_rollup',
            checks: [
              {
                check: 'status_counts_rollup',
                description: 'package_status_counts sums to the packages per status and metadata facets',
              },
            ],
            sql: `select 'status_counts_rollup' as check_name,
                         d.current_status || ' ' || d.facets::text as sample
                    from (${statusCountsDifferencesSql}) d`,
          },
          ...Object.entries(laneRollups).map(([by, rollup]) => ({
            name: rollup.check,
            checks: [{ check: rollup.check, description: `${rollup.table} sums to the deliveries per ${by} lane and day` }],
            sql: `select '${rollup.check}' as check_name, d.day || ': ' || d.origin || ' → ' || d.destination as sample
                    from (${laneCountsDifferencesSql(rollup)}) d`,
          })),
          {
            name: 'facility_counts_rollup',
            checks: [
              { check: 'facility_counts_rollup', description: 'facility_day_counts sums to the scans per facility and day' },
            ],
            sql: `select 'facility_counts_rollup' as check_name, d.day || ': location ' || d.location_id as sample
                    from (${facilityCountsDifferencesSql}) d`,
          },
        ]
      : []),
    {
      name: 'valid_tracking_numbers',
      checks: [
        { check: 'valid_tracking_numbers', description: 'tracking numbers are valid UPU S10 numbers (check digit included)' },
      ],
      sql: `select 'valid_tracking_numbers' as check_name, tracking_number as sample
              from packages where not ${s10Valid} and ${inScope('package_id')}`,
    },
  ];
}

/** One query of a run: a pass over the packages of a scope. */
interface CheckUnit {
  name: string;
  sql: string;
  bindings: unknown[];
}

/** The passes over `scope` as queries returning, per check that has violations, their count and up to five samples. */
function checkUnits(scope: Scope, distributed: boolean, name?: (pass: CheckPass) => string): CheckUnit[] {
  const cte = scopeCte(scope);
  return consistencyPasses(scope, distributed).map((pass) => ({
    name: name?.(pass) ?? pass.name,
    sql: `with ${cte.sql}v as (${pass.sql})
         select v.check_name, count(*)::bigint as violations, (array_agg(sample order by sample collate "C"))[1:5] as samples
           from v group by v.check_name`,
    bindings: [...cte.bindings, ...(pass.bindings ?? [])],
  }));
}

/** Shares of the package id range per connection: enough that no connection waits long for another. */
const sharesPerConnection = 4;

/**
 * The queries of a run. Alone, one query per pass. Split across connections, the event history
 * (most of the time: every event is read and windowed) is proven in id ranges, one query each,
 * and the other passes stay whole; the slowest come first, so the connections finish together.
 */
async function planUnits(first: NamedQuery, connections: number, scope: Scope, distributed: boolean): Promise<CheckUnit[]> {
  if (scope.kind !== 'all') return checkUnits(scope, distributed);
  const whole = checkUnits({ kind: 'all' }, distributed);
  // On Citus the shards already split the work across the workers: one query per pass.
  if (distributed) return whole;
  if (connections <= 1) return whole;
  const [bounds] = await first<{ first: number | null; last: number | null }>(
    'package id range',
    'select min(package_id)::float8 as first, max(package_id)::float8 as last from packages',
    [],
  );
  const low = bounds?.first ?? null;
  const high = bounds?.last ?? null;
  if (low === null || high === null) return whole;
  const ranged: CheckUnit[] = [];
  const shares = Math.min(connections * sharesPerConnection, high - low + 1);
  const width = Math.ceil((high - low + 1) / shares);
  for (let from = low; from <= high; from += width) {
    const to = Math.min(from + width - 1, high);
    const [share] = checkUnits(
      { kind: 'range', first: from, last: to },
      false,
      (pass) => `${pass.name} (packages ${from}–${to})`,
    );
    ranged.push(share as CheckUnit);
  }
  // Whole passes that read every package first (the tracking numbers' check digits, the rollups),
  // then the shares, then the quick ones.
  const [, ...others] = whole;
  const quick = new Set(['delivered_has_actual_delivery', 'every_package_has_a_shipment']);
  return [...others.filter((u) => !quick.has(u.name)), ...ranged, ...others.filter((u) => quick.has(u.name))];
}

/**
 * Runs `units` on the connections, each taking the next unit when its last is done. After a
 * failure no connection starts another unit; all are awaited, then the first error is thrown.
 */
async function runUnits<Row>(queries: readonly NamedQuery[], units: readonly CheckUnit[]): Promise<Row[]> {
  const rows: Row[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    queries.map(async (query) => {
      while (failure === undefined && next < units.length) {
        const unit = units[next] as CheckUnit;
        next += 1;
        try {
          rows.push(...(await query<Row>(unit.name, unit.sql, unit.bindings)));
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure !== undefined) throw failure.error;
  return rows;
}

/**
 * Runs every check through `reader`, split across its siblings when it has any (connections
 * that see the same snapshot); `ok` is false when any has violations. `packages` says which:
 * all of them, those listed in `consistency_changes` (see `proveConsistency`), or the given ids
 * (a spot check); each with its whole history.
 */
export async function collectConsistencyChecks(
  reader: ReportReader,
  packages: 'all' | 'changed' | readonly number[],
): Promise<CheckReport> {
  const queries = [reader.rows, ...reader.siblings.map((sibling) => sibling.rows)];
  const scope: Scope = typeof packages === 'string' ? { kind: packages } : { kind: 'ids', ids: packages };
  const distributed = reader.distributed === true;
  const units = await planUnits(reader.rows, queries.length, scope, distributed);
  const rows = await runUnits<{ check_name: string; violations: number; samples: string[] | null }>(queries, units);
  const checks: CheckResult[] = [];
  for (const pass of consistencyPasses(scope, distributed)) {
    for (const { check, description } of pass.checks) {
      const found = rows.filter((r) => r.check_name === check);
      checks.push({
        check,
        description,
        violations: found.reduce((sum, r) => sum + r.violations, 0),
        // A row per query that found some (several when the pass ran in id ranges): the first
        // five of all their samples, in byte order as each query sorted them.
        samples: found
          .flatMap((r) => r.samples ?? [])
          .sort()
          .slice(0, 5),
      });
    }
  }
  return { checks, ok: checks.every((c) => c.violations === 0) };
}

/**
 * Incremental proofs. The triggers of migration 700 list every package a statement changes in
 * `consistency_changes`; what they cannot list (TRUNCATE, a seed loading with them off) moves
 * `consistency_state.epoch` on. A full proof that finds nothing wrong records its epoch; while
 * that epoch is current, proving the listed packages proves the database.
 */
export interface ProofState {
  /** The epoch seen by the proof's snapshot (bigint, as text). */
  epoch: string;
  /** When the full proof that can be built on was taken, or null when there is none. */
  provenAt: Date | null;
  /** Why the last full proof cannot be built on although there was one, or null. */
  invalidated: 'bulk load' | 'new checks' | null;
  /** Packages listed as changed, as the snapshot sees them. */
  changed: number;
  /** About how many packages there are (the planner's estimate). */
  packagesAbout: number;
  /** The proof's snapshot (`pg_current_snapshot()`), to remove exactly the changes it saw. */
  snapshot: string;
  /** When that snapshot was taken (the start of the proof's transaction). */
  takenAt: Date;
  /** Whether this role may record the proof (a read-only role may not). */
  writable: boolean;
}

/** Why a proof read every package, or `changes` when it read the listed ones only. */
export type ProofKind =
  'changes' | 'full: asked' | 'full: first' | 'full: bulk load' | 'full: new checks' | 'full: many changes' | 'full: distributed';

export interface Proof {
  kind: ProofKind;
  state: ProofState;
  report: CheckReport;
}

/** Removing this many listed changes or more vacuums the list at once. */
const vacuumAfterRemoving = 10_000;

/**
 * Above this share of the packages (and this many), proving the listed ones costs more than
 * proving all.
 */
const changedShareForFull = 0.1;
const changedForFullAtLeast = 10_000;

/**
 * A digest of the checks (their SQL and the allowed transitions): a proof made by other checks,
 * those of another release, is not built on.
 */
const checksDigest = createHash('sha256')
  .update(JSON.stringify(consistencyPasses({ kind: 'all' }).map((pass) => [pass.sql, pass.bindings ?? []])))
  .digest('hex')
  .slice(0, 16);

async function readProofState(reader: ReportReader): Promise<ProofState> {
  const [row] = await reader.rows<{
    epoch: string;
    proven_at: Date | null;
    same_epoch: boolean;
    same_checks: boolean;
    changed: number;
    packages: number;
    snapshot: string;
    taken_at: Date;
    writable: boolean;
  }>(
    'proof state',
    `select s.epoch::text as epoch, s.proven_at, coalesce(s.proven_epoch = s.epoch, false) as same_epoch,
            coalesce(s.proven_checks = ?, false) as same_checks,
            (select count(distinct package_id) from consistency_changes)::float8 as changed,
            (select greatest(reltuples, 0) from pg_class where oid = 'packages'::regclass)::float8 as packages,
            pg_current_snapshot()::text as snapshot, now() as taken_at,
            has_table_privilege('consistency_state', 'update') and has_table_privilege('consistency_changes', 'delete') as writable
       from consistency_state s`,
    [checksDigest],
  );
  if (row === undefined) throw new Error('consistency_state has no row: was migration 20261124000700 rolled back by hand?');
  return {
    epoch: row.epoch,
    provenAt: row.same_epoch && row.same_checks ? row.proven_at : null,
    invalidated: row.proven_at === null ? null : !row.same_epoch ? 'bulk load' : !row.same_checks ? 'new checks' : null,
    changed: row.changed,
    packagesAbout: row.packages,
    snapshot: row.snapshot,
    takenAt: row.taken_at,
    writable: row.writable,
  };
}

/**
 * Proves the database through `reader`: the packages changed since the last full proof when
 * that proof can be built on (`full` unset), else every package. Record the outcome with
 * `recordProof` once the reader's transaction is over.
 */
export async function proveConsistency(reader: ReportReader, options: { full?: boolean } = {}): Promise<Proof> {
  const state = await readProofState(reader);
  // The Citus layout keeps no list of changed packages (its triggers run per row on the workers).
  const kind: ProofKind =
    reader.distributed === true
      ? 'full: distributed'
      : options.full === true
        ? 'full: asked'
        : state.provenAt === null
          ? state.invalidated === null
            ? 'full: first'
            : `full: ${state.invalidated}`
          : state.changed > changedShareForFull * state.packagesAbout && state.changed > changedForFullAtLeast
            ? 'full: many changes'
            : 'changes';
  const report = await collectConsistencyChecks(reader, kind === 'changes' ? 'changed' : 'all');
  return { kind, state, report };
}

/**
 * Records a proof, in a transaction of its own: a clean one removes the changes its snapshot saw
 * (those committed since stay listed) and, when it was full, becomes the proof to build on (unless
 * a bulk load moved the epoch on meanwhile). A full proof that found violations leaves none to
 * build on; one over the changes that found some removes nothing, so the next run sees them
 * again. Returns why nothing could be recorded (a read-only role or server), or null.
 */
export async function recordProof(db: Database, proof: Proof): Promise<string | null> {
  const { state, kind, report } = proof;
  if (!state.writable) return 'this role may not write consistency_state';
  const full = kind !== 'changes';
  if (!report.ok && !full) return null;
  try {
    const removed = await db.knex.transaction(async (trx) => {
      if (full) {
        if (!report.ok) {
          await trx.raw('update consistency_state set proven_epoch = null, proven_checks = null, proven_at = null');
          return 0;
        }
        // Two full proofs may finish out of order: the later snapshot's time stays.
        const updated = await trx.raw<{ rows: unknown[] }>(
          `update consistency_state
              set proven_at = case when proven_epoch = epoch and proven_checks = ? then greatest(proven_at, ?) else ? end,
                  proven_epoch = epoch, proven_checks = ?
            where epoch = ?::bigint returning epoch`,
          [checksDigest, state.takenAt, state.takenAt, checksDigest, state.epoch],
        );
        if (updated.rows.length === 0) return 0;
      }
      const deleted = await trx.raw<{ rows: { n: number }[] }>(
        `with d as (delete from consistency_changes where pg_visible_in_snapshot(xact, ?::pg_snapshot) returning 1)
         select count(*)::int as n from d`,
        [state.snapshot],
      );
      const removed = deleted.rows[0]?.n ?? 0;
      if (removed >= vacuumAfterRemoving) {
        // This session reports its dead rows to the statistics at commit, not up to 10 s later,
        // after the vacuum below: else they would outlive it in pg_stat_user_tables, and
        // `report db` would flag an empty table (PostgreSQL 15+; older servers send them at commit).
        await trx.raw(
          `do $$ begin
             if current_setting('server_version_num')::int >= 150000 then perform pg_stat_force_next_flush(); end if;
           end $$`,
        );
      }
      return removed;
    });
    // Every run reads the whole list: the dead rows of a large removal would slow each one down
    // until autovacuum came by (1M dead rows: 1.1 s a run), so they go now. The proof is
    // recorded already: a vacuum that fails (or that a role not owning the table may not run,
    // which is only a warning) leaves them to autovacuum.
    if (removed >= vacuumAfterRemoving) await db.knex.raw('vacuum (analyze) consistency_changes').catch(() => undefined);
    return null;
  } catch (error) {
    // A standby, or a lock that would not come: the proof stands, the next run repeats it.
    if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') return error.message;
    throw error;
  }
}

/**
 * Proves every package on the database and records the proof; `ok` is false when any check has
 * violations. On a server, `connections` > 1 splits the work across that many connections,
 * which share one snapshot. On abort the queries are cancelled on the server and it throws
 * InterruptedError.
 */
export async function runConsistencyChecks(
  db: Database,
  options: { connections?: number; signal?: AbortSignal | undefined } = {},
): Promise<CheckReport> {
  const proveAll = (reader: ReportReader): Promise<Proof> => proveConsistency(reader, { full: true });
  const report = { now: new Date(), signal: options.signal, applicationName: 'shiptrack check' };
  const read = await readReport(db, report, proveAll, {
    connections: options.connections,
    // It reads every event by design (minutes at 80M events): no statement timeout.
    statementTimeoutMs: 0,
  });
  await recordProof(db, read.value);
  return read.value.report;
}

/**
 * `check`: proves every package against its whole history on `jobs` connections sharing one
 * snapshot, and records a clean proof for `report consistency` to build on.
 */
export async function checkConsistency(
  resources: Resources,
  options: {
    jobs?: OptionValue | undefined;
    /** First rebuild the rollups from the data (`repairRollups`), then prove. */
    repairRollups?: boolean | undefined;
    signal?: AbortSignal | undefined;
  } = {},
): Promise<CheckReport & { repair?: RollupRepair }> {
  const connections = parseJobs(options.jobs);
  const repair = options.repairRollups === true ? await repairRollups(resources, { signal: options.signal }) : undefined;
  const report = await runConsistencyChecks(await resources.forLongWork().database(), { connections, signal: options.signal });
  return repair === undefined ? report : { ...report, repair };
}

/** What `check --repair-rollups` found and left. */
export interface RollupRepair {
  /** Rows of each rollup that differed from the full query before the rebuild. */
  differed: { inFlight: number; statusCounts: number; laneCounts: number; cityLaneCounts: number; facilityCounts: number };
  /**
   * Rows after it: packages in flight, (status, facets) groups, (day, state lane), (day, city
   * lane) and (day, facility) keys.
   */
  rebuilt: { inFlight: number; statusGroups: number; laneKeys: number; cityLaneKeys: number; facilityKeys: number };
  elapsedMs: number;
}

/**
 * Rebuilds the rollups from the data, in one transaction that first locks packages, shipments,
 * tracking_events and locations against writes (SHARE ROW EXCLUSIVE, waiting at most lock_timeout; reads go
 * on), so no delta is lost meanwhile: the repair after writes that bypassed the triggers
 * (`session_replication_role = replica`, a restore with triggers disabled). Seconds at `medium`.
 */
export async function repairRollups(
  resources: Resources,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<RollupRepair> {
  const started = performance.now();
  const db = await resources.forLongWork().database();
  // The Citus layout keeps only the packages in flight; the per-status counts are counted there.
  const distributed = db.distributed === true;
  return withSession(
    db,
    {
      signal: options.signal,
      statementTimeoutMs: 0,
      applicationName: 'shiptrack check --repair-rollups',
      transaction: { mode: 'isolation level read committed' },
    },
    async (session) => {
      const count = async (sql: string): Promise<number> =>
        Number((await session.raw<{ n: number | string }>(`select count(*) as n from (${sql}) d`)).rows[0]?.n ?? 0);
      await session.raw('lock table packages, shipments, tracking_events, locations in share row exclusive mode');
      const differed = {
        inFlight: await count(inFlightDifferencesSql()),
        statusCounts: distributed ? 0 : await count(statusCountsDifferencesSql),
        laneCounts: distributed ? 0 : await count(laneCountsDifferencesSql(laneRollups.state)),
        cityLaneCounts: distributed ? 0 : await count(laneCountsDifferencesSql(laneRollups.city)),
        facilityCounts: distributed ? 0 : await count(facilityCountsDifferencesSql),
      };
      await rebuildRollups(session.raw, { distributed });
      const rebuilt = {
        inFlight: await count('select 1 from in_flight_packages'),
        statusGroups: await count(distributed ? statusCountsSql : 'select 1 from package_status_counts'),
        laneKeys: distributed ? 0 : await count(`select 1 from ${laneRollups.state.table}`),
        cityLaneKeys: distributed ? 0 : await count(`select 1 from ${laneRollups.city.table}`),
        facilityKeys: distributed ? 0 : await count('select 1 from facility_day_counts'),
      };
      return { differed, rebuilt, elapsedMs: performance.now() - started };
    },
  );
}
