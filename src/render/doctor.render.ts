import type { DoctorReport, StoreCheck } from '../services/doctor.service.js';
import type { Style } from './style.js';
import { formatMs, renderTable } from './table.js';

function reachable(check: StoreCheck, style: Style): string {
  if (check.reachable === null) return style.dim('—');
  return check.reachable ? style.ok('yes') : style.bad('NO');
}

export function renderDoctor(report: DoctorReport, style: Style): string {
  const table = renderTable<StoreCheck>(
    [
      { header: 'store', value: (c) => style.bold(c.store) },
      { header: 'mode', value: (c) => c.mode },
      { header: 'target', value: (c) => c.target },
      { header: 'reachable', value: (c) => reachable(c, style) },
      { header: 'version', value: (c) => c.version ?? '—' },
      { header: 'latency', value: (c) => formatMs(c.latencyMs), align: 'right' },
      { header: 'state', value: (c) => (c.error === null ? c.detail : style.bad(c.error.message)) },
    ],
    report.checks,
  );
  const verdict = report.healthy
    ? style.ok('all configured stores are reachable')
    : style.bad('a configured store is unreachable');
  return `${table}\n${verdict}`;
}
