/**
 * Sizes and numbers as people read them, for tables and for the sentences of findings alike. Pure,
 * and without ICU: the first `toLocaleString` or `localeCompare` of a process builds ICU's formatter
 * or collator, 6–15 ms of a command that takes ~150.
 */

/** `512 B`, `4.1 MB`, `210 MB`: binary units, one decimal below ten. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * `1,234,567`, `0.25`, `-1,234.5`: what `toLocaleString('en-US', { maximumFractionDigits })`
 * writes, digits grouped by threes and trailing zeros dropped.
 */
export function formatNumber(value: number, maximumFractionDigits = 3): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '∞' : '-∞';
  const fixed = Math.abs(value).toFixed(maximumFractionDigits);
  if (fixed.includes('e')) return value.toLocaleString('en-US', { maximumFractionDigits }); // ≥ 1e21
  const [whole = '0', fraction = ''] = fixed.split('.');
  const digits = fraction.replace(/0+$/, '');
  const grouped = whole.replace(/\B(?=(\d{3})+$)/g, ',');
  const sign = value < 0 && (grouped !== '0' || digits !== '') ? '-' : '';
  return `${sign}${grouped}${digits === '' ? '' : `.${digits}`}`;
}

/** Code-unit order for sorting names (tables, statuses, places): stable across machines, no ICU. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
