import type { DoctorReport, StoreCheck } from '../services/doctor.service.js';
import type { Style } from './style.js';
import { formatMs, renderTable } from './table.js';

function reachable(check: StoreCheck, style: Style): string {
  if (check.reachable === null) return style.dim('—');
  return check.reachable ? style.ok('yes') : style.bad('NO');
}

function state(check: StoreCheck, style: Style): string {
  return check.error === null ? check.detail : style.bad(check.error.message);
}

/** The state in a word, for a narrow terminal: the sentence then goes under the row. */
function stateWord(check: StoreCheck, style: Style): string {
  if (check.error !== null) return style.bad('error');
  return check.mode === 'off' ? style.dim('off') : style.ok('ok');
}

export function renderDoctor(report: DoctorReport, style: Style): string {
  const table = renderTable<StoreCheck>(
    [
      { header: 'store', value: (c) => style.bold(c.store) },
      { header: 'mode', value: (c) => c.mode },
      // Cut to a hint when space is short: the whole target goes under the row.
      { header: 'target', value: (c) => c.target, priority: 3, minWidth: 12, below: true },
      { header: 'reachable', value: (c) => reachable(c, style) },
      // "15.4 (Debian 15.4-1.pgdg120+1)": the number says enough when space is short.
      { header: 'version', value: (c) => c.version ?? '—', short: (c) => c.version?.split(' ')[0] ?? '—', priority: 2 },
      { header: 'latency', value: (c) => formatMs(c.latencyMs), align: 'right' },
      { header: 'state', value: (c) => state(c, style), short: (c) => stateWord(c, style), below: true },
    ],
    report.checks,
    style,
  );
  const verdict = report.healthy
    ? style.ok('all configured stores are reachable')
    : style.bad('a configured store is unreachable');
  return `${table}\n${verdict}`;
}
