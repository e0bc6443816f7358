import Table from 'cli-table3';

export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  align?: 'left' | 'right' | 'center';
}

/** A bordered terminal table; numbers are right-aligned by the column definitions. */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const table = new Table({
    head: columns.map((c) => c.header),
    colAligns: columns.map((c) => c.align ?? 'left'),
    // Colours come from our Style (NO_COLOR-aware), never from cli-table3 itself.
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of rows) table.push(columns.map((c) => c.value(row)));
  return table.toString();
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function formatTimestamp(date: Date | null | undefined): string {
  if (date === null || date === undefined) return '—';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
