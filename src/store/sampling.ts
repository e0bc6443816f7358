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

/** Runs one query, named (a report's reader shows the names in --explain), and returns its rows. */
type SampleQuery = <Row>(name: string, sql: string, bindings: readonly unknown[]) => Promise<Row[]>;

/**
 * `count` rows of `table` drawn at random by the rule above: `columns` is the select list, `noun`
 * names the queries ("package" → "sampled packages"). Also returns the planner's estimate of the
 * table's rows. `table` and `columns` are SQL written by the caller, never user text.
 */
export async function sampleRows<Row>(
  query: SampleQuery,
  sample: { table: string; columns: string; count: number; noun: string },
): Promise<{ rows: Row[]; estimatedRows: number }> {
  const { table, columns, count, noun } = sample;
  const [estimate] = await query<{ rows: number }>(
    `${noun} count estimate`,
    `select greatest(reltuples, 0)::float8 as rows from pg_class where oid = ?::regclass`,
    [table],
  );
  const estimatedRows = estimate?.rows ?? 0;
  const pick = (name: string, from: string, bindings: readonly unknown[]): Promise<Row[]> =>
    query<Row>(name, `select ${columns} from ${from} order by random() limit ?`, [...bindings, count]);
  const percent = samplePercent(estimatedRows, count);
  let rows: Row[] = percent === null ? [] : await pick(`sampled ${noun}s`, `${table} tablesample system (?)`, [percent]);
  if (rows.length < count) rows = await pick(`sampled ${noun}s (whole table)`, table, []);
  return { rows, estimatedRows };
}
