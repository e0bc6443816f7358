/**
 * The rollups of migration 20261203000100 — packages per (status, fragile) and the packages in
 * flight with their latest scan and promise — as the seed rebuilds them after a load with their
 * triggers off, and as `check` recomputes them to prove the maintained ones.
 */

type Raw = (sql: string) => Promise<unknown>;

const finals = `('delivered', 'returned', 'cancelled')`;

/** Whether a package's metadata says fragile, as the rollup splits it (and `metadata fragile=true` asks). */
export const fragileSql = (alias: string): string => `${alias}.metadata @> '{"fragile": true}'`;

/**
 * What `in_flight_packages` holds for the packages (alias `p`) that `where` admits: the same
 * columns, computed from packages, their events and their shipment.
 */
export const inFlightSql = (where = 'true'): string => `
  select p.package_id, p.current_status, p.created_at, l.at as last_scan_at, coalesce(l.at, p.created_at) as quiet_since,
         (select s.estimated_delivery from shipments s where s.package_id = p.package_id and s.actual_delivery is null) as due
    from packages p
   cross join lateral (select max(e.event_timestamp) as at from tracking_events e where e.package_id = p.package_id) l
   where p.current_status not in ${finals} and ${where}`;

/** The full count that `package_status_counts` sums to. */
export const statusCountsSql = `select current_status, ${fragileSql('p')} as fragile, count(*)::bigint as packages
  from packages p group by 1, 2`;

/**
 * The packages (column `package_id`) whose row in `in_flight_packages` differs from what the data
 * says it should hold — missing, extra or stale — among those `packagesWhere` (alias `p`) and
 * `rollupWhere` (the rollup's own columns) admit. No rows when the rollup is exact.
 */
export const inFlightDifferencesSql = (packagesWhere = 'true', rollupWhere = 'true'): string => `
  select coalesce(x.package_id, f.package_id) as package_id
    from (${inFlightSql(packagesWhere)}) x
    full join (select * from in_flight_packages where ${rollupWhere}) f on f.package_id = x.package_id
   where (x.package_id, x.current_status, x.created_at, x.last_scan_at, x.quiet_since, x.due)
         is distinct from (f.package_id, f.current_status, f.created_at, f.last_scan_at, f.quiet_since, f.due)`;

/** The (current_status, fragile) groups whose sum in `package_status_counts` differs from the full count. */
export const statusCountsDifferencesSql = `
  select coalesce(x.current_status, c.current_status) as current_status, coalesce(x.fragile, c.fragile) as fragile
    from (${statusCountsSql}) x
    full join (select current_status, fragile, sum(packages)::bigint as packages from package_status_counts
                group by 1, 2 having sum(packages) <> 0) c
      on c.current_status = x.current_status and c.fragile = x.fragile
   where x.packages is distinct from c.packages`;

/** Empties and refills both rollups from the data, in the caller's transaction. */
export async function rebuildRollups(raw: Raw): Promise<void> {
  await raw('delete from package_status_counts');
  await raw(`insert into package_status_counts (current_status, fragile, packages) ${statusCountsSql}`);
  await rebuildInFlight(raw);
  await raw('analyze package_status_counts');
}

/**
 * Empties and refills the packages in flight (the only rollup the Citus layout keeps; there each
 * shard group refills its own), in the caller's transaction.
 */
export async function rebuildInFlight(raw: Raw): Promise<void> {
  await raw('delete from in_flight_packages');
  await raw(
    `insert into in_flight_packages (package_id, current_status, created_at, last_scan_at, quiet_since, due) ${inFlightSql()}`,
  );
  await raw('analyze in_flight_packages');
}
