import type { CheckReport } from '../services/check.service.js';
import type { SeedSummary } from '../services/seed.service.js';
import type { Style } from './style.js';
import { fitProse, renderTable } from './table.js';

const n = (value: number): string => Math.round(value).toLocaleString('en-US');

/** Prose at the terminal's width, painted line by line. */
function prose(text: string, style: Style, paint: (line: string) => string = (line) => line): string[] {
  return fitProse(text, style, '  ').map(paint);
}

export function renderSeedSummary(summary: SeedSummary, style: Style): string {
  const entries = Object.entries(summary.rows);
  const total = entries.reduce((sum, [, rows]) => sum + rows, 0);
  const table = renderTable<[string, string]>(
    [
      { header: 'table', value: ([name]) => name },
      { header: 'rows', value: ([, rows]) => rows, align: 'right' },
    ],
    [...entries.map(([name, rows]): [string, string] => [name, n(rows)]), [style.bold('total'), style.bold(n(total))]],
    style,
  );
  const phases = summary.phases.map((p) => `${p.phase} ${p.seconds.toFixed(1)} s`).join(', ');
  const seeded = prose(`seeded in ${summary.seconds.toFixed(1)} s (${n(summary.rowsPerSecond)} rows/s): ${phases}`, style);
  const lines = [
    table,
    ...seeded.map((line, i) => (i === 0 ? line.replace(/^seeded/, style.ok('seeded')) : line)),
    ...prose(
      `seed ${summary.seed}, as of ${summary.asOf}, mode ${summary.mode}` +
        (summary.constraintsRebuilt ? ', keys and indexes built after the load' : ', constraints kept on (appending)'),
      style,
      style.dim,
    ),
  ];
  if (summary.sampleTrackingNumbers.length > 0) {
    lines.push(`try: ${style.bold(`shiptrack track ${summary.sampleTrackingNumbers[0] ?? ''}`)}`);
  }
  if (summary.documents.count > 0) {
    lines.push(
      ...prose(
        `${n(summary.documents.count)} raw scan documents → ${summary.documents.store === 'postgres' ? 'PostgreSQL (doc_raw_scans)' : 'MongoDB (via the outbox)'}`,
        style,
      ),
    );
  }
  return lines.join('\n');
}

export function renderCheckReport(report: CheckReport, style: Style): string {
  const table = renderTable(
    [
      { header: 'check', value: (c: CheckReport['checks'][number]) => c.description },
      { header: 'violations', value: (c) => (c.violations === 0 ? style.ok('0') : style.bad(n(c.violations))), align: 'right' },
      { header: 'examples', value: (c) => c.samples.join(', '), priority: 2 },
    ],
    report.checks,
    style,
  );
  return `${table}\n${report.ok ? style.ok('consistent: no violations') : style.bad('violations found')}`;
}
