import { cutText, displayWidth, stripAnsi, wrapText, type TableFit } from './text.js';
/**
 * Terminal tables that fit the terminal they are printed on (widths as render/text.ts counts them).
 * The layout (which columns, how wide, what is cut or goes below its row) is decided here, and
 * the grid is drawn here too: cli-table3, which drew it before, spent 30–45 ms of a one-shot
 * process on a table of 50 rows (merging its options into every cell, checking spans we never
 * use), where drawing the decided grid takes well under a millisecond.
 */

export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  align?: 'left' | 'right' | 'center';
  /**
   * 1 (the default) is essential: always shown. 2, 3, … give way when the table does not fit,
   * the highest number first (the rightmost of equals first); an essential text column may be
   * cut to 30 columns to make room for them.
   */
  priority?: number;
  /** A shorter form of the value (a date without its time), used before any text is cut. */
  short?: (row: Row) => string;
  /** May long text be cut with an ellipsis? Default: yes, unless right-aligned (numbers never are). */
  cut?: boolean;
  /**
   * The narrowest a cut column is worth showing, else it gives way: by default 12 columns, or 40 %
   * of its text up to 20; a `below` column is by default not cut at all.
   */
  minWidth?: number;
  /**
   * What the table could not show of this column (cut, shortened or left out) goes whole on an
   * indented line under its row.
   */
  below?: boolean;
}

/** A column is not cut below this (or its whole text) to make room for a less important one. */
const comfortableWidth = 30;

interface Measured {
  /** The width of the widest value (or the header). */
  natural: number;
  /** The same with the short forms, if the column has them. */
  shortNatural: number;
  /** The narrowest the column is worth showing: a cut column narrower than this gives way instead, if it may. */
  minimum: number;
  header: number;
  cuttable: boolean;
  priority: number;
  hasShort: boolean;
  /** Nothing but blanks and dashes: when the table does not fit, such a column is left out first. */
  empty: boolean;
}

interface Layout {
  /** The indices of the columns shown, in order. */
  shown: number[];
  /** Each column's width (of every column; only the shown ones matter). */
  widths: number[];
  /** Which columns show their short form. */
  short: boolean[];
}

const tableWidth = (widths: readonly number[]): number => widths.reduce((sum, w) => sum + w, 0) + 3 * widths.length + 1;

/** Narrows the columns of `group`, the widest first, down to `floor`, until the table fits. */
function narrow(layout: Layout, group: readonly number[], floor: (column: number) => number, width: number): void {
  const total = (): number => tableWidth(layout.shown.map((c) => layout.widths[c] ?? 0));
  for (let over = total() - width; over > 0; over -= 1) {
    let widest: number | undefined;
    for (const c of group) {
      const w = layout.widths[c] ?? 0;
      if (w > floor(c) && (widest === undefined || w > (layout.widths[widest] ?? 0))) widest = c;
    }
    if (widest === undefined) return;
    layout.widths[widest] = (layout.widths[widest] ?? 0) - 1;
  }
}

/**
 * Chooses what to show: the columns, most important first, each while it fits at its minimum
 * beside the ones chosen before it at a comfortable width (and none less important than one that
 * did not fit); then short forms are used and long text is cut, the least important first.
 */
function layoutColumns(measured: readonly Measured[], width: number): Layout {
  const all = measured.map((_, i) => i);
  const layout: Layout = { shown: all, widths: measured.map((m) => m.natural), short: measured.map(() => false) };
  if (tableWidth(layout.widths) <= width) return layout;

  const at = (c: number): Measured => measured[c] as Measured;
  const comfortable = (c: number): number => {
    const m = at(c);
    return m.cuttable ? Math.max(m.minimum, Math.min(m.shortNatural, comfortableWidth)) : m.minimum;
  };
  const chosen = new Set<number>();
  let used = 1;
  // Once a column does not fit, no less important one is shown in its place.
  let ceiling = Infinity;
  for (const c of [...all].sort((a, b) => at(a).priority - at(b).priority || a - b)) {
    const m = at(c);
    if (m.priority > 1 && (m.empty || m.priority > ceiling)) continue;
    if (m.priority > 1 && used + m.minimum + 3 > width) {
      ceiling = m.priority;
      continue;
    }
    chosen.add(c);
    used += comfortable(c) + 3;
  }
  layout.shown = all.filter((c) => chosen.has(c));

  const leastImportantFirst = (a: number, b: number): number => at(b).priority - at(a).priority || b - a;
  const current = (): number => tableWidth(layout.shown.map((c) => layout.widths[c] ?? 0));
  for (const c of layout.shown.filter((i) => at(i).hasShort).sort(leastImportantFirst)) {
    if (current() <= width) return layout;
    layout.short[c] = true;
    layout.widths[c] = at(c).shortNatural;
  }
  const cuttable = layout.shown.filter((c) => at(c).cuttable);
  for (const priority of [...new Set(cuttable.map((c) => at(c).priority))].sort((a, b) => b - a)) {
    narrow(
      layout,
      cuttable.filter((c) => at(c).priority === priority),
      comfortable,
      width,
    );
  }
  narrow(layout, cuttable, (c) => at(c).minimum, width);
  narrow(layout, cuttable, (c) => at(c).header, width);
  // The last resort, when even the essential columns do not fit: their headers are cut too.
  narrow(layout, cuttable, () => 1, width);
  return layout;
}

const isEmpty = (text: string): boolean => {
  const plain = stripAnsi(text).trim();
  return plain === '' || plain === '—';
};

function measure<Row>(
  columns: readonly Column<Row>[],
  full: readonly string[][],
  short: readonly (string | undefined)[][],
): Measured[] {
  return columns.map((column, c): Measured => {
    const header = displayWidth(column.header);
    const natural = Math.max(header, ...full.map((cells) => displayWidth(cells[c] ?? '')));
    const shortNatural =
      column.short === undefined
        ? natural
        : Math.max(header, ...short.map((cells, r) => displayWidth(cells[c] ?? full[r]?.[c] ?? '')));
    const cuttable = column.cut ?? column.align !== 'right';
    // What goes under the row when it does not fit is better whole there than cut here.
    const readable =
      column.minWidth ?? (column.below === true ? shortNatural : Math.max(12, Math.min(20, Math.ceil(shortNatural * 0.4))));
    return {
      natural,
      shortNatural,
      minimum: cuttable ? Math.min(shortNatural, Math.max(header, readable)) : shortNatural,
      header,
      cuttable,
      priority: column.priority ?? 1,
      hasShort: column.short !== undefined,
      empty: full.every((cells) => isEmpty(cells[c] ?? '')),
    };
  });
}

/**
 * A bordered terminal table; numbers are right-aligned by the column definitions. Given a width
 * (and not `wide`), it fits it: see `Column.priority`, `short`, `cut` and `below`.
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[], fit: TableFit = {}): string {
  const fitting = fit.width !== undefined && fit.wide !== true;
  const full = rows.map((row) => columns.map((c) => c.value(row)));
  const short = fitting ? rows.map((row) => columns.map((c) => c.short?.(row))) : [];
  const measured = measure(columns, full, short);
  const layout = fitting
    ? layoutColumns(measured, fit.width ?? 0)
    : { shown: columns.map((_, i) => i), widths: measured.map((m) => m.natural), short: columns.map(() => false) };
  const widths = layout.shown.map((c) => layout.widths[c] ?? 0);
  const aligns = layout.shown.map((c) => columns[c]?.align);
  const inner = tableWidth(widths) - 4;
  const headers = layout.shown.map((c) => cutText(columns[c]?.header ?? '', layout.widths[c] ?? 0));
  const rule = (left: string, middle: string, right: string): string =>
    `${left}${widths.map((w) => '─'.repeat(w + 2)).join(middle)}${right}`;
  const line = (cells: readonly string[]): string[] => {
    const lines = cells.map(cellLines);
    const height = Math.max(1, ...lines.map((l) => l.length));
    return Array.from(
      { length: height },
      (_, k) => `│${lines.map((l, c) => ` ${place(l[k] ?? '', widths[c] ?? 0, aligns[c])} `).join('│')}│`,
    );
  };
  const drawn = [rule('┌', '┬', '┐'), ...line(headers)];
  // What goes under a row is spliced in after the grid is drawn.
  const below = new Map<number, string[]>();
  const heights: number[] = [];
  for (const [r, cells] of full.entries()) {
    const shown = layout.shown.map((c) => {
      const value = cells[c] ?? '';
      const text = layout.short[c] === true ? (short[r]?.[c] ?? value) : value;
      if (measured[c]?.cuttable !== true) return text;
      return text
        .split('\n')
        .map((line) => cutText(line, layout.widths[c] ?? 0))
        .join('\n');
    });
    const drawnRow = line(shown);
    drawn.push(...drawnRow);
    heights.push(drawnRow.length);
    for (const [c, column] of columns.entries()) {
      const value = cells[c] ?? '';
      if (column.below !== true || isEmpty(value)) continue;
      const at = layout.shown.indexOf(c);
      if (at !== -1 && shown[at] === value) continue;
      const label = column.header === '' ? '' : `${column.header}: `;
      const lines = wrapText(`${label}${value}`, inner - 2, '  ').map((line) => `│ ${padRight(`  ${line}`, inner)} │`);
      below.set(r, [...(below.get(r) ?? []), ...lines]);
    }
  }
  drawn.push(rule('└', '┴', '┘'));
  if (below.size === 0) return drawn.join('\n');
  const out = drawn.slice(0, 2);
  let next = 2;
  for (const [r, height] of heights.entries()) {
    out.push(...drawn.slice(next, next + height), ...(below.get(r) ?? []));
    next += height;
  }
  out.push(...drawn.slice(next));
  return out.join('\n');
}

/** A cell's text in its column's width: padded as aligned (cut, were it ever wider). */
function place(text: string, width: number, align: Column<unknown>['align']): string {
  const fitted = displayWidth(text) > width ? cutText(text, width) : text;
  const room = Math.max(0, width - displayWidth(fitted));
  if (align === 'right') return ' '.repeat(room) + fitted;
  if (align === 'center') return padRight(' '.repeat(Math.floor(room / 2)) + fitted, width);
  return padRight(fitted, width);
}

// eslint-disable-next-line no-control-regex
const sgrPattern = /\u001b\[([0-9;]*)m/g;

const sgrEnds = new Set(['22', '23', '24', '25', '27', '28', '29', '39', '49']);

/** The code that ends what an SGR code (by its parameters) starts: bold's 22, a colour's 39 or 49. */
function sgrEnd(parameters: string): string {
  const code = Number(parameters.split(';')[0]);
  if (code === 1 || code === 2) return '22';
  if (code >= 3 && code <= 9) return String(code === 6 ? 25 : 20 + code);
  if ((code >= 30 && code <= 38) || (code >= 90 && code <= 97)) return '39';
  if ((code >= 40 && code <= 48) || (code >= 100 && code <= 107)) return '49';
  return '0';
}

/**
 * A cell's lines, each opening the colours and styles still open where it starts and closing them
 * where it ends: the table's borders and other cells come between a cell's lines on the screen.
 */
function cellLines(cell: string): string[] {
  const lines = cell.split('\n');
  if (lines.length === 1 || !cell.includes('\u001b[')) return lines;
  let open: string[] = [];
  return lines.map((text) => {
    const opening = open.map((p) => `\u001b[${p}m`).join('');
    for (const [, parameters = ''] of text.matchAll(sgrPattern)) {
      const end = sgrEnd(parameters);
      if (parameters === '' || parameters === '0') open = [];
      else if (sgrEnds.has(parameters)) open = open.filter((p) => sgrEnd(p) !== parameters);
      else open = [...open.filter((p) => end === '0' || sgrEnd(p) !== end), parameters];
    }
    const closing = open
      .map((p) => `\u001b[${sgrEnd(p)}m`)
      .reverse()
      .join('');
    return opening + text + closing;
  });
}

function padRight(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
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
