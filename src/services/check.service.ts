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

interface CheckDefinition {
  check: string;
  description: string;
  /** Returns rows of { sample } for every violation (counted) — limited by the runner. */
  sql: string;
  bindings?: unknown[];
}

const definitions: CheckDefinition[] = [
  {
    check: 'status_matches_last_event',
    description: 'current_status is the status of the latest event',
    sql: `select p.tracking_number as sample
            from packages p
            left join lateral (
              select e.status from tracking_events e
               where e.package_id = p.package_id
               order by e.event_timestamp desc, e.event_id desc limit 1) last on true
           where last.status is distinct from p.current_status
             and not (last.status is null and p.current_status = 'pending')`,
  },
  {
    check: 'legal_transitions',
    description: 'every consecutive pair of events follows the state machine',
    sql: `select distinct p.tracking_number as sample
            from (select package_id, status,
                         lag(status) over (partition by package_id order by event_timestamp, event_id) as previous
                    from tracking_events) e
            join packages p on p.package_id = e.package_id
           where e.previous is not null and (e.previous || '>' || e.status) <> all (?::text[])`,
    bindings: [allowedPairs],
  },
  {
    check: 'delivered_has_actual_delivery',
    description: 'delivered packages have actual_delivery, and only they do',
    sql: `select p.tracking_number as sample
            from packages p join shipments s on s.package_id = p.package_id
           where (p.current_status = 'delivered') <> (s.actual_delivery is not null)`,
  },
  {
    check: 'every_package_has_a_shipment',
    description: 'each package has its shipment',
    sql: `select p.tracking_number as sample
            from packages p
           where not exists (select 1 from shipments s where s.package_id = p.package_id)`,
  },
  {
    check: 'valid_tracking_numbers',
    description: 'tracking numbers are valid UPU S10 numbers (check digit included)',
    sql: `select tracking_number as sample from packages where not ${s10Valid}`,
  },
];

/** Runs every check; `ok` is false when any has violations. */
export async function runConsistencyChecks(db: Database): Promise<CheckReport> {
  const checks: CheckResult[] = [];
  try {
    for (const definition of definitions) {
      const result = await db.knex.raw<{ rows: { violations: number; samples: string[] | null }[] }>(
        `with v as (${definition.sql})
         select count(*)::bigint as violations, (array_agg(sample order by sample))[1:5] as samples from v`,
        (definition.bindings ?? []) as never,
      );
      const row = result.rows[0];
      checks.push({
        check: definition.check,
        description: definition.description,
        violations: row?.violations ?? 0,
        samples: row?.samples ?? [],
      });
    }
  } catch (error) {
    throw mapPostgresError(error);
  }
  return { checks, ok: checks.every((c) => c.violations === 0) };
}
