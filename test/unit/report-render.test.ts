import { describe, expect, it } from 'vitest';
import {
  bar,
  formatBytes,
  formatCell,
  formatHours,
  pickTable,
  renderReportCsv,
  renderReportMarkdown,
  renderReportText,
  sparkline,
} from '../../src/render/report.render.js';
import { plainStyle } from '../../src/render/style.js';
import type { ReportResult } from '../../src/services/reports/report.js';

const result: ReportResult = {
  report: 'lanes',
  title: 'Lanes | worst first',
  parameters: { since: '2026-10-25T00:00:00.000Z', by: 'state' },
  asOf: '2026-11-24T00:00:00.000Z',
  tables: [
    {
      name: 'lanes',
      title: 'Lanes',
      columns: [
        { key: 'origin', header: 'origin', kind: 'text' },
        { key: 'shipments', header: 'delivered', kind: 'integer' },
        { key: 'rate', header: 'on time', kind: 'percent' },
        { key: 'rate_bar', header: '', kind: 'bar', of: 'rate' },
        { key: 'late_p50', header: 'late p50', kind: 'hours' },
        { key: 'lateness', header: 'how late', kind: 'spark' },
      ],
      rows: [
        { origin: 'Austin, "TX"', shipments: 12345, rate: 0.5, late_p50: 30, lateness: [0, 1, 4, 8] },
        { origin: 'a,b\nc', shipments: 3, rate: 1, late_p50: null, lateness: [0, 0, 0, 0] },
      ],
      totals: { origin: 'all', shipments: 12348, rate: 0.5001 },
      caption: 'showing 2 of 2',
    },
  ],
  findings: [{ level: 'warn', code: 'x', message: 'something to look at' }],
  notes: ['a note'],
  ok: true,
  elapsedMs: 12.345,
};

describe('cells', () => {
  it('formats each kind for people', () => {
    expect(formatCell('integer', 1234567)).toBe('1,234,567');
    expect(formatCell('percent', 0.9234)).toBe('92.3 %');
    expect(formatCell('hours', 30)).toBe('30.0 h');
    expect(formatCell('hours', 72)).toBe('3.0 d');
    expect(formatCell('timestamp', '2026-11-20T14:03:09.000Z')).toBe('2026-11-20 14:03 UTC');
    expect(formatCell('text', null)).toBe('—');
    expect(formatCell('text', true)).toBe('yes');
    expect(formatBytes(210 * 1024 * 1024)).toBe('210 MB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatHours(0.5)).toBe('30 min');
    expect(formatHours(-3)).toBe('−3.0 h');
  });

  it('draws sparklines and bars to scale', () => {
    expect(sparkline([0, 1, 4, 8])).toBe(' ▁▄█');
    expect(sparkline([0, 0])).toBe('  ');
    expect(bar(1, 1, 4)).toBe('████');
    expect(bar(0.5, 1, 4)).toBe('██');
    expect(bar(0.1, 1, 4)).toBe('▍');
    expect(bar(0, 1, 4)).toBe('');
  });
});

describe('CSV', () => {
  it('is RFC 4180 with machine keys and raw values, bars left out', () => {
    const csv = renderReportCsv(pickTable(result, undefined) ?? result.tables[0]!);
    expect(csv.split('\r\n')).toEqual([
      'origin,shipments,rate,late_p50,lateness',
      '"Austin, ""TX""",12345,0.5,30,0 1 4 8',
      '"a,b\nc",3,1,,0 0 0 0',
      '',
    ]);
  });

  it('finds a table by name, or says there is none', () => {
    expect(pickTable(result, 'lanes')?.name).toBe('lanes');
    expect(pickTable(result, 'nope')).toBeUndefined();
  });
});

describe('Markdown', () => {
  it('has a heading, a pipe table with right-aligned numbers, escaped pipes and the totals in bold', () => {
    const md = renderReportMarkdown(result);
    const lines = md.split('\n');
    expect(lines[0]).toBe('## Lanes \\| worst first');
    expect(lines).toContain('| origin | delivered | on time |   | late p50 | how late |');
    expect(lines).toContain('| --- | ---: | ---: | --- | ---: | --- |');
    expect(lines).toContain('| Austin, "TX" | 12,345 | 50.0 % | ████████ | 30.0 h | ` ▁▄█` |');
    expect(lines).toContain('| **all** | **12,348** | **50.0 %** |  |  |  |');
    expect(md).toContain('- **warn** (x): something to look at');
    expect(md.endsWith('\n')).toBe(true);
  });
});

describe('terminal table', () => {
  it('prints title, parameters, rows, totals, caption, findings and notes without colour codes', () => {
    const text = renderReportText(result, plainStyle);
    expect(text).toContain('Lanes | worst first');
    expect(text).toContain('as of 2026-11-24 00:00 UTC · since=2026-10-25T00:00:00.000Z by=state');
    expect(text).toMatch(/│ Austin, "TX" │\s+12,345 │\s+50\.0 % │/);
    expect(text).toContain('showing 2 of 2');
    expect(text).toContain('! something to look at');
    expect(text).toContain('note: a note');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\u001b\[/);
  });
});
