import { allowedTransitions, packageStatuses } from '../domain/status.js';
import { mapPostgresError } from '../errors.js';
import type { Database } from '../store/database.js';

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

// S10: two letters, eight digits, check digit (weights 8 6 4 2 3 5 9 7; 10 → 0, 11 → 5), two letters.
const s10Valid = `(
  tracking_number ~ '^[A-Z]{2}[0-9]{9}[A-Z]{2}$'
  and substr(tracking_number, 11, 1)::int = (
    select case c when 10 then 0 when 11 then 5 else c end
      from (select 11 - (
        8 * substr(tracking_number, 3, 1)::int + 6 * substr(tracking_number, 4, 1)::int +
        4 * substr(tracking_number, 5, 1)::int + 2 * substr(tracking_number, 6, 1)::int +
        3 * substr(tracking_number, 7, 1)::int + 5 * substr(tracking_number, 8, 1)::int +
        9 * substr(tracking_number, 9, 1)::int + 7 * substr(tracking_number, 10, 1)::int) % 11 as c) d))`;

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
 * forced transition carries its reason. None of those is a violation of the state machine.
 * The latest accepted event of a package is the first final one if there is one, else its last.
 * `scope` limits the packages read (`where …` on package_id), or is empty.
 */
const annotatedEvents = (scope: string): string => `
  select package_id, event_id, status, event_timestamp, forced_reason,
         lag(status) over in_time as previous,
         lead(event_id) over in_time is null as is_last,
         coalesce(recorded_at > min(recorded_at) over (partition by package_id order by event_timestamp desc, event_id desc
                                                       rows between unbounded preceding and 1 preceding), false) as out_of_order,
         coalesce(bool_or(status in ${finalStatuses}) over (in_time rows between unbounded preceding and 1 preceding),
                  false) as after_final
    from tracking_events
   ${scope}
  window in_time as (partition by package_id order by event_timestamp, event_id)`;

/**
 * The checks, over every package, or with `scoped` over the packages of a `scope` CTE that the
 * runner puts in front (package ids, bound first).
 */
function consistencyPasses(scoped: boolean): CheckPass[] {
  const inScope = (column: string): string => (scoped ? `${column} in (select package_id from scope)` : 'true');
  return [
    {
      name: 'event history',
      checks: [
        { check: 'status_matches_last_event', description: 'current_status is the status of the latest accepted event' },
        { check: 'legal_transitions', description: 'every consecutive pair of events follows the state machine' },
      ],
      sql: `with history as (
              select package_id,
                     bool_or(previous is not null and forced_reason is null and not out_of_order and not after_final
                             and (previous || '>' || status) <> all (?::text[])) as illegal_transition,
                     max(status) filter (where not after_final and (is_last or status in ${finalStatuses})) as last_status
                from (${annotatedEvents(scoped ? `where ${inScope('package_id')}` : '')}) e
               group by package_id)
            select c.check_name, p.tracking_number as sample
              from packages p
              left join history h on h.package_id = p.package_id
             cross join lateral (
                   select 'status_matches_last_event' as check_name
                    where h.last_status is distinct from p.current_status
                      and not (h.last_status is null and p.current_status = 'pending')
                   union all
                   select 'legal_transitions' where h.illegal_transition) c
             where ${inScope('p.package_id')}`,
      bindings: [allowedPairs],
    },
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
      name: 'valid_tracking_numbers',
      checks: [
        { check: 'valid_tracking_numbers', description: 'tracking numbers are valid UPU S10 numbers (check digit included)' },
      ],
      sql: `select 'valid_tracking_numbers' as check_name, tracking_number as sample
              from packages where not ${s10Valid} and ${inScope('package_id')}`,
    },
  ];
}

/**
 * One pass as a query returning, per check that has violations, their count and up to five
 * samples; scoped passes get the `scope` CTE of package ids (the first binding).
 */
function passSql(pass: CheckPass, scoped: boolean): string {
  const scope = scoped ? 'scope as (select unnest(?::bigint[]) as package_id), ' : '';
  return `with ${scope}v as (${pass.sql})
         select v.check_name, count(*)::bigint as violations, (array_agg(sample order by sample))[1:5] as samples
           from v group by v.check_name`;
}

/** Runs one named query and returns its rows: a knex connection, or a report's read-only reader. */
export type CheckQuery = <Row>(name: string, sql: string, bindings: readonly unknown[]) => Promise<Row[]>;

/**
 * Runs every check through `query`; `ok` is false when any has violations. With `packageIds`,
 * only those packages (and their whole histories) are checked: a spot check.
 */
export async function collectConsistencyChecks(
  query: CheckQuery,
  options: { packageIds?: readonly number[] } = {},
): Promise<CheckReport> {
  const scoped = options.packageIds !== undefined;
  const checks: CheckResult[] = [];
  for (const pass of consistencyPasses(scoped)) {
    const rows = await query<{ check_name: string; violations: number; samples: string[] | null }>(
      pass.name,
      passSql(pass, scoped),
      scoped ? [options.packageIds, ...(pass.bindings ?? [])] : (pass.bindings ?? []),
    );
    for (const { check, description } of pass.checks) {
      const row = rows.find((r) => r.check_name === check);
      checks.push({ check, description, violations: row?.violations ?? 0, samples: row?.samples ?? [] });
    }
  }
  return { checks, ok: checks.every((c) => c.violations === 0) };
}

/** Runs every check on the database; `ok` is false when any has violations. */
export async function runConsistencyChecks(db: Database): Promise<CheckReport> {
  try {
    return await collectConsistencyChecks(async <Row>(_name: string, sql: string, bindings: readonly unknown[]) => {
      const result = await db.knex.raw<{ rows: Row[] }>(sql, bindings as never);
      return result.rows;
    });
  } catch (error) {
    throw mapPostgresError(error);
  }
}
