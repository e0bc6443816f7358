import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanGlobalArgs } from '../../src/cli/globals.js';
import { loadStyles, terminalWidth } from '../../src/cli/output.js';
import { renderTable, type Column } from '../../src/render/table.js';
import { cutText, displayWidth, fitProse, stripAnsi, wrapText } from '../../src/render/text.js';

const red = (text: string): string => `\u001b[31m${text}\u001b[39m`;
const widest = (text: string): number => Math.max(...text.split('\n').map(displayWidth));
const headerLine = (table: string): string => table.split('\n')[1] ?? '';

describe('display width', () => {
  it('counts columns, not UTF-16 units, and leaves colour codes out', () => {
    expect(displayWidth('┌──┐')).toBe(4);
    expect(displayWidth('…')).toBe(1);
    expect(displayWidth('▁▂▃█')).toBe(4);
    expect(displayWidth(red('12,345'))).toBe(6);
    expect(displayWidth('東京')).toBe(4);
    expect(displayWidth('📦')).toBe(2);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('✔ ok')).toBe(4);
    expect(displayWidth('ab\nlonger')).toBe(6);
    expect(stripAnsi(red('x'))).toBe('x');
  });
});

describe('cutting and wrapping', () => {
  it('cuts text to a width with an ellipsis, keeping colour codes so colours still close', () => {
    expect(cutText('Albuquerque Pickup Point 22', 12)).toBe('Albuquerque…');
    expect(cutText('short', 12)).toBe('short');
    expect(cutText('Austin, TX', 8)).toBe('Austin,…');
    expect(cutText('東京東京', 5)).toBe('東京…');
    const cut = cutText(red('connection refused'), 8);
    expect(stripAnsi(cut)).toBe('connect…');
    expect(cut.endsWith('\u001b[39m')).toBe(true);
    expect(displayWidth(cut)).toBe(8);
  });

  it('wraps prose at word boundaries, indents what follows, and splits only words longer than a line', () => {
    expect(wrapText('the quick brown fox jumps over the lazy dog', 15, '  ')).toEqual([
      'the quick brown',
      '  fox jumps',
      '  over the lazy',
      '  dog',
    ]);
    expect(wrapText('a postgres://user@host:5432/database b', 12)).toEqual(['a', 'postgres://u', 'ser@host:543', '2/database b']);
    expect(wrapText('one\ntwo', 80)).toEqual(['one', 'two']);
    expect(fitProse('a b c', { width: 3 })).toEqual(['a b', 'c']);
    expect(fitProse('a b c', { width: 3, wide: true })).toEqual(['a b c']);
    expect(fitProse('a b c', {})).toEqual(['a b c']);
  });

  it('never writes a line wider than asked', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 4, max: 100 }), (text, width) => {
        for (const line of wrapText(text, width, '  ')) expect(displayWidth(line)).toBeLessThanOrEqual(width);
        expect(displayWidth(cutText(text.replace(/\n/g, ' '), width))).toBeLessThanOrEqual(width);
      }),
      { numRuns: 300 },
    );
  });
});

interface Shipment {
  number: string;
  status: string;
  overdue: number;
  origin: string;
  destination: string;
  estimated: string;
}

const shipments: Shipment[] = [
  {
    number: 'CP497394074US',
    status: 'return_to_sender',
    overdue: 41.5,
    origin: 'Albuquerque Pickup Point 22',
    destination: 'Colorado Springs Delivery Station 35',
    estimated: '2026-10-23 02:00 UTC',
  },
  {
    number: 'RR987710805US',
    status: 'available_for_pickup',
    overdue: 31.5,
    origin: 'Billings Pickup Point 32',
    destination: 'Orlando Pickup Point 34',
    estimated: '2026-11-02 01:00 UTC',
  },
];

const columns: Column<Shipment>[] = [
  { header: 'tracking number', value: (s) => s.number },
  { header: 'status', value: (s) => s.status },
  { header: 'estimated', value: (s) => s.estimated, short: (s) => s.estimated.slice(0, 10), cut: false, priority: 3 },
  { header: 'overdue by', value: (s) => `${s.overdue.toFixed(1)} d`, align: 'right' },
  { header: 'origin', value: (s) => s.origin, priority: 4 },
  { header: 'destination', value: (s) => s.destination, priority: 2 },
];

describe('a table that fits', () => {
  const natural = renderTable(columns, shipments);

  it('without a width, or with wide, shows every column in full', () => {
    expect(widest(natural)).toBeGreaterThan(130);
    expect(renderTable(columns, shipments, { width: 80, wide: true })).toBe(natural);
    expect(renderTable(columns, shipments, { width: 200 })).toBe(natural);
    for (const c of columns) expect(headerLine(natural)).toContain(c.header);
  });

  it('at 80 columns: the essential columns, then the most important others that fit', () => {
    const table = renderTable(columns, shipments, { width: 80 });
    expect(widest(table)).toBeLessThanOrEqual(80);
    expect(headerLine(table)).toMatch(/tracking number\s+│ status\s+│\s+overdue by │ destination/);
    expect(headerLine(table)).not.toMatch(/origin|estimated/);
    expect(table).toContain('│ CP497394074US   │ return_to_sender     │     41.5 d │');
    expect(table).toMatch(/Colorado Springs[\w ]*…/);
  });

  it('drops the least important columns first, and never cuts a number', () => {
    // 40 is too narrow for the essential columns: their text and headers are cut, as a last resort.
    expect(widest(renderTable(columns, shipments, { width: 40 }))).toBeLessThanOrEqual(40);
    for (const width of [50, 60, 70, 80, 90, 100, 110, 120, 130]) {
      const table = renderTable(columns, shipments, { width });
      expect(widest(table), `width ${width}`).toBeLessThanOrEqual(width);
      const header = headerLine(table);
      for (const essential of ['tracking number', 'status', 'overdue by']) expect(header).toContain(essential);
      expect(table).toContain('41.5 d');
      expect(table).toContain('31.5 d');
      // The more important column is never the one missing.
      if (header.includes('origin')) expect(header).toContain('estimated');
      if (header.includes('estimated')) expect(header).toContain('destination');
    }
  });

  it('uses the short form before cutting', () => {
    const table = renderTable(columns.slice(0, 4), shipments, { width: 70 });
    expect(widest(table)).toBeLessThanOrEqual(70);
    expect(table).toContain('│ 2026-10-23 │');
    expect(table).not.toContain('…');
  });

  it('writes what a `below` column could not show under its row, whole', () => {
    const record: Column<Shipment>[] = [
      { header: 'tracking number', value: (s) => s.number },
      { header: 'status', value: (s) => red(s.status), short: () => 'ok', below: true },
      { header: 'destination', value: (s) => s.destination, priority: 2, below: true },
    ];
    expect(stripAnsi(renderTable(record, shipments.slice(0, 1), { width: 30 })).split('\n')).toEqual([
      '┌─────────────────┬────────┐',
      '│ tracking number │ status │',
      '│ CP497394074US   │ ok     │',
      '│   status:                │',
      '│     return_to_sender     │',
      '│   destination: Colorado  │',
      '│     Springs Delivery     │',
      '│     Station 35           │',
      '└─────────────────┴────────┘',
    ]);
    // Only what could not be shown goes below.
    const roomier = stripAnsi(renderTable(record, shipments.slice(0, 1), { width: 40 }));
    expect(roomier).toContain('│ CP497394074US   │ return_to_sender │');
    expect(roomier).not.toContain('status:');
    expect(roomier).toContain('│   destination: Colorado Springs    │');
    // Nothing goes below when everything fits.
    expect(stripAnsi(renderTable(record, shipments.slice(0, 1), { width: 200 }))).not.toContain('status:');
  });

  it('gives way with a column that has nothing in it', () => {
    const rows = [{ check: 'current_status is the status of the latest accepted event', violations: 0, samples: '' }];
    type Row = (typeof rows)[number];
    const check: Column<Row>[] = [
      { header: 'check', value: (r) => r.check },
      { header: 'violations', value: (r) => String(r.violations), align: 'right' },
      { header: 'examples', value: (r) => r.samples, priority: 2 },
    ];
    const table = renderTable(check, rows, { width: 76 });
    expect(headerLine(table)).not.toContain('examples');
    expect(table).toContain('│ current_status is the status of the latest accepted event │          0 │');
  });

  it('counts colours and wide characters as the terminal shows them', () => {
    const painted: Column<Shipment>[] = columns.map((c) => ({ ...c, value: (s) => red(c.value(s)) }));
    const plain = renderTable(columns, shipments, { width: 72 });
    expect(stripAnsi(renderTable(painted, shipments, { width: 72 }))).toBe(plain);
    const cities: Column<{ city: string }>[] = [
      { header: 'city', value: (r) => r.city },
      { header: 'n', value: () => '1', align: 'right' },
    ];
    const table = renderTable(cities, [{ city: '東京都千代田区丸の内一丁目' }, { city: 'x' }], { width: 20 });
    expect(widest(table)).toBeLessThanOrEqual(20);
    expect(table).toContain('…');
  });

  it('never exceeds the width when the essential columns can fit', () => {
    const cell = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 50 }), fc.constantFrom('—', '', 'Colorado Springs'));
    const row = fc.record({
      name: cell,
      n: fc.integer({ min: 0, max: 999_999 }),
      extra: fc.array(cell, { minLength: 4, maxLength: 4 }),
    });
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 8 }),
        fc.array(fc.integer({ min: 2, max: 5 }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 30, max: 160 }),
        (rows, priorities, width) => {
          const flat = rows.map((r) => ({
            ...r,
            name: r.name.replace(/\n/g, ' '),
            extra: r.extra.map((e) => e.replace(/\n/g, ' ')),
          }));
          const cols: Column<(typeof flat)[number]>[] = [
            { header: 'name', value: (r) => r.name },
            { header: 'n', value: (r) => r.n.toLocaleString('en-US'), align: 'right' },
            ...priorities.map((priority, i): Column<(typeof flat)[number]> => ({
              header: `extra ${i}`,
              value: (r) => r.extra[i] ?? '',
              priority,
              below: i === 0,
            })),
          ];
          const table = renderTable(cols, flat, { width });
          expect(widest(table)).toBeLessThanOrEqual(width);
          expect(headerLine(table)).toMatch(/^│ name +│ +n │/);
          for (const r of flat) expect(table).toContain(` ${r.n.toLocaleString('en-US')} │`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the width to fit', () => {
  const terminal = { isTTY: true, columns: 132 } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;

  it('is the terminal’s, else COLUMNS, else 80', () => {
    expect(terminalWidth(terminal, { COLUMNS: '60' })).toBe(132);
    expect(terminalWidth(pipe, { COLUMNS: '60' })).toBe(60);
    expect(terminalWidth(pipe, {})).toBe(80);
    expect(terminalWidth(pipe, { COLUMNS: 'wide' })).toBe(80);
    expect(terminalWidth(pipe, { COLUMNS: '0' })).toBe(80);
  });

  it('reaches the renderers in the style, with --wide read once among the global options', async () => {
    expect(scanGlobalArgs(['report', 'db', '--wide'])).toMatchObject({ command: 'report', wide: true });
    expect(scanGlobalArgs(['report', 'db'])).toMatchObject({ wide: false });
    const options = { json: false, verbose: false, color: undefined, env: { COLUMNS: '100' }, stdout: pipe, stderr: pipe };
    expect((await loadStyles(options)).stdout).toMatchObject({ width: 100, wide: false });
    expect((await loadStyles({ ...options, wide: true, stdout: terminal })).stdout).toMatchObject({ width: 132, wide: true });
  });
});

describe('the grid', () => {
  it('draws borders, pads and aligns each cell (headers too), and reopens a cell’s colours on each of its lines', () => {
    const columns: Column<{ a: string; n: string; c: string }>[] = [
      { header: 'name', value: (r) => r.a },
      { header: 'n', value: (r) => r.n, align: 'right' },
      { header: 'mid', value: (r) => r.c, align: 'center' },
    ];
    const table = renderTable(columns, [
      { a: red('late\nstill late'), n: '1,234', c: 'x' },
      { a: '東京', n: '7', c: 'ab' },
    ]);
    expect(table.split('\n')).toEqual([
      '┌────────────┬───────┬─────┐',
      '│ name       │     n │ mid │',
      `│ ${red('late')}       │ 1,234 │  x  │`,
      `│ ${red('still late')} │       │     │`,
      '│ 東京       │     7 │ ab  │',
      '└────────────┴───────┴─────┘',
    ]);
    expect(renderTable(columns, []).split('\n')).toEqual(['┌──────┬───┬─────┐', '│ name │ n │ mid │', '└──────┴───┴─────┘']);
  });
});
