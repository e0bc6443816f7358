import type { CellValue, ColumnKind, ReportColumn, ReportResult, ReportRow, ReportTable } from '../services/reports/report.js';
import { formatBytes } from '../domain/units.js';
import type { Style } from './style.js';
import { renderTable, type Column } from './table.js';

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
      return isNumber(value) ? Math.round(value).toLocaleString('en-US') : String(value);
    case 'decimal':
      return isNumber(value) ? value.toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(value);
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

const findingMarks = { ok: '✔', info: 'ℹ', warn: '!', problem: '✘' } as const;

/** The report for a terminal: a title, one table per section, findings and notes. */
export function renderReportText(result: ReportResult, style: Style): string {
  const out: string[] = [style.bold(result.title)];
  const parameters = Object.entries(result.parameters).map(([k, v]) => `${k}=${String(v)}`);
  out.push(
    style.dim(`as of ${formatCell('timestamp', result.asOf)}${parameters.length > 0 ? ` · ${parameters.join(' ')}` : ''}`),
  );
  for (const table of result.tables) {
    out.push('');
    if (result.tables.length > 1) out.push(style.bold(table.title));
    if (table.rows.length === 0) {
      out.push(style.dim('(none)'));
      continue;
    }
    const rows: { row: ReportRow; total: boolean }[] = table.rows.map((row) => ({ row, total: false }));
    if (table.totals !== undefined) rows.push({ row: table.totals, total: true });
    const columns: Column<{ row: ReportRow; total: boolean }>[] = table.columns.map((column) => ({
      header: column.header,
      align: numericKinds.has(column.kind) ? 'right' : 'left',
      value: ({ row, total }) => {
        const text = cellText(table, column, row, total);
        if (total) return style.bold(text);
        return column.kind === 'bar' || column.kind === 'spark' ? style.accent(text) : text;
      },
    }));
    out.push(renderTable(columns, rows));
    if (table.caption !== undefined) out.push(style.dim(table.caption));
  }
  if (result.findings.length > 0) {
    out.push('');
    for (const f of result.findings) {
      const mark = findingMarks[f.level];
      const painted =
        f.level === 'problem'
          ? style.bad(mark)
          : f.level === 'warn'
            ? style.warn(mark)
            : f.level === 'ok'
              ? style.ok(mark)
              : style.dim(mark);
      out.push(`${painted} ${f.message}`);
    }
  }
  for (const note of result.notes) out.push(style.dim(`note: ${note}`));
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
      out.push('_(none)_', '');
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
    for (const f of result.findings) out.push(`- **${f.level}** (${f.code}): ${markdownCell(f.message)}`);
    out.push('');
  }
  for (const note of result.notes) out.push(`> ${markdownCell(note)}`, '');
  for (const plan of result.plans ?? []) out.push(`#### Plan: ${markdownCell(plan.query)}`, '', '```', plan.plan, '```', '');
  return out.join('\n').trimEnd() + '\n';
}
