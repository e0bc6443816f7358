import type { CheckReport } from '../services/check.service.js';
import type { SeedChanges, SeedFileRun, SeedFileState, SeedListing, SeedRunReport } from '../services/seed-files.service.js';
import type { SeedSummary } from '../services/seed.service.js';
import type { Style } from './style.js';
import { renderTable } from './table.js';
import { fitProse } from './text.js';
import { formatNumber } from '../domain/units.js';

const n = (value: number): string => formatNumber(Math.round(value));

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

/** What a seed file wrote, in words: "12 customers, 41 scans", or "nothing new". */
function describeChanges(changes: SeedChanges): string {
  const parts = (
    [
      ['customers', changes.customers],
      ['locations', changes.locations],
      ['packages', changes.packages],
      ['shipments', changes.shipments],
      ['scans', changes.scans],
    ] as const
  )
    .filter(([, count]) => count > 0)
    .map(([what, count]) => `${n(count)} ${count === 1 ? what.slice(0, -1) : what}`);
  return parts.length === 0 ? 'nothing new' : parts.join(', ');
}

const resultWords: Readonly<Record<SeedFileRun['result'], string>> = {
  applied: 'applied',
  reapplied: 'changed, applied',
  rerun: 'ran again',
};

/** `seed run`: a row per file, then the tracking numbers worth trying. */
export function renderSeedRun(report: SeedRunReport, style: Style): string {
  if (report.files.length === 0) return 'no seed files to run';
  const table = renderTable<SeedFileRun>(
    [
      { header: 'seed file', value: (f) => f.name, cut: false },
      {
        header: 'result',
        value: (f) => (f.result === 'rerun' ? resultWords[f.result] : style.ok(resultWords[f.result])),
        cut: false,
      },
      { header: 'wrote', value: (f) => describeChanges(f.changes), below: true },
      { header: 'seconds', value: (f) => f.seconds.toFixed(2), align: 'right', priority: 2 },
    ],
    report.files,
    style,
  );
  const lines = [
    table,
    ...prose(`${report.files.length} seed files in ${report.seconds.toFixed(1)} s, in one transaction`, style, style.dim),
  ];
  if (report.highlights.length > 0) {
    lines.push('', 'Try them:');
    const numberWidth = Math.max(...report.highlights.map((h) => h.trackingNumber.length));
    for (const h of report.highlights) {
      lines.push(
        ...fitProse(`${style.bold(h.trackingNumber.padEnd(numberWidth))}  ${h.story}`, style, ' '.repeat(numberWidth + 4)).map(
          (l) => `  ${l}`,
        ),
      );
    }
    const first = report.highlights[0]?.trackingNumber ?? '';
    lines.push('', ...prose(`shiptrack track ${first} · shiptrack report stale · shiptrack check`, style, style.dim));
  }
  return lines.join('\n');
}

const stateWords: Readonly<Record<SeedFileState['state'], string>> = {
  pending: 'not applied',
  applied: 'applied',
  changed: 'changed since applied',
};

/** `seed list`: the seed files, and whether and when each was applied to this database. */
export function renderSeedList(listing: SeedListing, style: Style): string {
  if (listing.files.length === 0) return 'no seed files';
  const when = (iso: string | null): string => (iso === null ? '' : `${iso.slice(0, 16).replace('T', ' ')} UTC`);
  const table = renderTable<SeedFileState>(
    [
      { header: 'seed file', value: (f) => f.name },
      { header: 'from', value: (f) => (f.origin === 'team' ? 'yours' : 'shiptrack'), priority: 3 },
      {
        header: 'state',
        value: (f) =>
          f.state === 'applied'
            ? style.ok(stateWords[f.state])
            : f.state === 'changed'
              ? style.warn(stateWords[f.state])
              : stateWords[f.state],
      },
      { header: 'applied at', value: (f) => when(f.appliedAt), short: (f) => f.appliedAt?.slice(0, 10) ?? '', priority: 2 },
      { header: 'checksum', value: (f) => f.checksum.slice(0, 12), priority: 4 },
    ],
    listing.files,
    style,
  );
  const lines = [table];
  if (listing.teamDirectory !== null) lines.push(...prose(`your seed files: ${listing.teamDirectory}`, style, style.dim));
  return lines.join('\n');
}
