import type {
  DryRunResult,
  LockHolder,
  MigrationReport,
  MigrationRunResult,
  MigrationStatus,
} from '../services/migrations.service.js';
import { formatBytes } from '../domain/units.js';
import type { LintResult } from '../services/migration-lint.js';
import type { Style } from './style.js';
import { formatMs, formatTimestamp, renderTable } from './table.js';
import { fitProse } from './text.js';

function stateText(state: MigrationStatus['state'], style: Style): string {
  switch (state) {
    case 'applied':
      return style.ok('applied');
    case 'pending':
      return style.warn('pending');
    case 'changed':
      return style.bad('CHANGED');
    case 'missing':
      return style.bad('MISSING FILE');
  }
}

/** Prose at the terminal's width, painted line by line. */
function prose(text: string, style: Style, paint: (line: string) => string = (line) => line): string[] {
  return fitProse(text, style, '  ').map(paint);
}

export function renderMigrationStatus(report: MigrationReport, style: Style, mode: string, target: string): string {
  const table = renderTable<MigrationStatus>(
    [
      // A name is cut only as a last resort: the batch and checksum give way first.
      { header: 'migration', value: (m) => m.name },
      { header: 'batch', value: (m) => (m.batch === null ? '—' : String(m.batch)), align: 'right', priority: 3 },
      {
        header: 'applied at',
        value: (m) => formatTimestamp(m.appliedAt),
        short: (m) => (m.appliedAt === null ? '—' : m.appliedAt.toISOString().slice(0, 10)),
        cut: false,
        priority: 2,
      },
      {
        header: 'checksum',
        value: (m) => m.checksum.slice(0, 12),
        short: (m) => m.checksum.slice(0, 8),
        cut: false,
        priority: 3,
      },
      { header: 'state', value: (m) => stateText(m.state, style) },
    ],
    report.migrations,
    style,
  );
  const lines = [...prose(`database: ${mode} (${target})`, style, style.dim), table];
  const applied = report.migrations.filter((m) => m.state === 'applied').length;
  lines.push(
    ...(report.problems > 0
      ? prose(`${report.problems} applied migration(s) do not match their files: 'migrate latest' is blocked`, style, style.bad)
      : report.pending > 0
        ? prose(`${report.pending} pending, ${applied} applied — run: shiptrack migrate latest`, style, style.warn)
        : prose(`up to date (${applied} applied)`, style, style.ok)),
  );
  for (const index of report.invalidIndexes) {
    lines.push(
      ...prose(
        `invalid index ${index.schema}.${index.index} on ${index.table} (a failed concurrent build): ` +
          'the migration that builds it rebuilds it on its next run',
        style,
        style.bad,
      ),
    );
  }
  return lines.join('\n');
}

/** ` (batch 2)`, or for a rollback over several: ` (batches 1, 2)`. */
function batchesText(result: MigrationRunResult): string {
  const batches = result.batches ?? (result.batch === null ? [] : [result.batch]);
  if (batches.length === 0) return '';
  return batches.length === 1 ? ` (batch ${batches[0]})` : ` (batches ${batches.join(', ')})`;
}

export function renderMigrationRun(
  result: MigrationRunResult,
  style: Style,
  documents?: { kind: string; ready: boolean },
): string {
  const verb = result.direction === 'up' ? 'applied' : 'reverted';
  const lines: string[] = [];
  if (result.migrations.length === 0) {
    lines.push(result.direction === 'up' ? style.ok('already up to date: nothing to apply') : 'nothing to revert');
  } else {
    lines.push(
      renderTable(
        [
          { header: 'migration', value: (m: MigrationRunResult['migrations'][number]) => m.name },
          { header: 'transaction', value: (m) => (m.transactional ? 'yes' : 'no'), priority: 2 },
          { header: 'took', value: (m) => formatMs(m.durationMs), align: 'right' },
        ],
        result.migrations,
        style,
      ),
    );
    lines.push(...prose(`${verb} ${result.migrations.length} migration(s)${batchesText(result)}`, style, style.ok));
  }
  if (documents !== undefined) lines.push(`MongoDB collections, indexes and validators: ${style.ok('ready')}`);
  return lines.join('\n');
}

export function renderDryRun(result: DryRunResult, style: Style): string {
  if (result.migrations.length === 0) return style.ok('-- already up to date: nothing would run');
  const lines: string[] = [style.dim('-- dry run: nothing was changed')];
  for (const m of result.migrations) {
    lines.push('', style.bold(`-- ${m.name}${m.transactional ? '' : ' (non-transactional: recorded, not executed)'}`));
    if (m.transactional) lines.push('begin;');
    for (const sql of m.statements) lines.push(`${sql.trim()};`);
    if (m.transactional) lines.push('commit;');
  }
  return lines.join('\n');
}

export function renderUnlock(result: { holder: LockHolder | null; terminated: boolean }, style: Style): string {
  if (result.holder === null) {
    return (
      style.ok('no session holds the migration lock') +
      '\n' +
      style.dim('(the lock ends with its session: it cannot be left behind)')
    );
  }
  const h = result.holder;
  const who = `pid ${h.pid}${h.applicationName === '' ? '' : ` (${h.applicationName})`}, connected since ${formatTimestamp(h.since)}, state ${h.state ?? 'unknown'}`;
  if (result.terminated) return prose(`terminated the session holding the lock: ${who}`, style, style.warn).join('\n');
  return [...prose(`the migration lock is held by ${who}`, style), style.dim('run with --force to terminate that session')].join(
    '\n',
  );
}

/** `migrate lint`: each finding as a few lines fitted to the terminal, then a count. */
export function renderLint(result: LintResult, style: Style): string {
  if (result.findings.length === 0) return `${result.migrations.length} migration(s) linted: nothing to report`;
  const lines: string[] = [];
  for (const f of result.findings) {
    const where = `${f.file}${f.line === null ? '' : `:${f.line}`}`;
    const size = f.tableBytes === null ? 'new or unknown table' : `table ${formatBytes(f.tableBytes)}`;
    const level = f.accepted !== null ? style.dim('accepted') : f.level === 'error' ? style.bad('error') : style.warn('warn');
    lines.push(...fitProse(`${level} ${style.bold(f.rule)} ${where} (${size})`, style, '  '));
    // The details under the heading, indented by two, continuation lines by two more.
    const narrower = { ...style, width: style.width === undefined ? undefined : style.width - 2 };
    for (const part of [f.message, `locks: ${f.lock}`, f.accepted === null ? `instead: ${f.fix}` : `accepted: ${f.accepted}`]) {
      lines.push(...fitProse(part, narrower, '  ').map((line) => `  ${line}`));
    }
  }
  const blocking = result.findings.filter((f) => f.blocking).length;
  lines.push(
    ...fitProse(`${result.migrations.length} migration(s) linted; ${blocking} finding(s) would stop \`migrate latest\``, style),
  );
  return lines.join('\n');
}
