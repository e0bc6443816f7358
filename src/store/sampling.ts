/**
 * Drawing rows at random without reading the whole table. `order by random()` over a table reads
 * all of it (800k raw scans at the large profile: ~300 ms); on a large table, whole pages drawn
 * at random (`tablesample system`) holding about twice the rows needed are read instead, and the
 * pick is made among those. A small table, or pages that fall short, get the whole-table pick.
 */

/** Below this many rows (the planner's estimate), the whole table is read. */
const smallTableRows = 50_000;

/**
 * The `tablesample system` percentage that yields about twice `count` rows of a table of about
 * `estimatedRows`, or null when the table is too small for page sampling to pay (or the sample
 * would be more than a twentieth of it).
 */
export function samplePercent(estimatedRows: number, count: number): number | null {
  if (estimatedRows < smallTableRows || count * 20 > estimatedRows) return null;
  return (200 * count) / estimatedRows;
}
