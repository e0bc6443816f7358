import { UsageError } from './errors.js';
import { formatNumber } from './domain/units.js';

/**
 * The one grammar for options and settings, whoever gives them: a flag on the command line, an
 * environment variable, or a value a program passes to the library (a string or already a number
 * or a Date). Each parser names the input in its error (`--limit`, `SHIPTRACK_LOCK_TIMEOUT`,
 * `limit`) and states the limit that was broken. Pure: the current time is an argument.
 */

/** A value as a person typed it, or as a program passed it. */
export type OptionValue = string | number;

const unitMs: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * A duration: a number with a unit (`250ms`, `5s`, `2m`, `48h`, `30d`, `2w`), or a bare number,
 * which is milliseconds everywhere (as PostgreSQL's own settings read it). Undefined when `text`
 * is not one.
 */
export function parseDuration(text: OptionValue): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const match = /^\s*(\d{1,12}(?:\.\d{1,6})?)\s*(ms|s|m|h|d|w)?\s*$/i.exec(text);
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * (unitMs[(match[2] ?? 'ms').toLowerCase()] ?? 1));
}

/** Milliseconds as the grammar writes them back: `500ms`, `5s`, `2m`, `48h`, `30d`. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = unitMs[unit] ?? 1;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration within bounds (milliseconds); a bare number that looks meant as seconds gets a hint. */
export function durationOption(value: OptionValue, label: string, bounds: { min: number; max: number }): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new UsageError(`${label}: "${value}" is not a duration (e.g. 500ms, 5s, 2m, 48h; a bare number is milliseconds)`);
  }
  if (ms < bounds.min || ms > bounds.max) {
    const bare = typeof value === 'number' || /^\s*[\d.]+\s*$/.test(value);
    const hint = bare && ms < bounds.min ? ` (a bare number is milliseconds: did you mean ${value}s?)` : '';
    throw new UsageError(
      `${label}: expected ${formatDuration(bounds.min)} to ${formatDuration(bounds.max)}, got ${formatDuration(ms)}${hint}`,
    );
  }
  return ms;
}

/** A whole number within bounds (`--limit`, `--packages 250_000`). */
export function countOption(value: OptionValue, label: string, min: number, max: number): number {
  const text = String(value).trim();
  const n = Number(text.replace(/_/g, ''));
  if (text === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${label}: expected a whole number from ${formatNumber(min)} to ${formatNumber(max)}, got "${value}"`);
  }
  return n;
}

/** A positive number of any size up to `max` (`--stale-hours 1.5`). */
export function positiveOption(value: OptionValue, label: string, max: number): number {
  const n = typeof value === 'number' ? value : Number(value.trim());
  if (String(value).trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
    throw new UsageError(`${label}: expected a positive number up to ${formatNumber(max)}, got "${value}"`);
  }
  return n;
}

/** A share from 0 to 1 (`--documents 0.05`). */
export function shareOption(value: OptionValue, label: string): number {
  const n = typeof value === 'number' ? value : Number(value.trim());
  if (String(value).trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new UsageError(`${label}: expected a share from 0 to 1, got "${value}"`);
  }
  return n;
}

/** A percentage above 0 (`10%` or `10`), as a percentage number. */
export function percentOption(value: OptionValue, label: string): number {
  const n = typeof value === 'number' ? value : Number(value.trim().replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 1000) {
    throw new UsageError(`${label}: expected a percentage such as 10%, got "${value}"`);
  }
  return n;
}

/** A comma-separated list of whole numbers within bounds (`--concurrency 1,4,16`), sorted, unique. */
export function countListOption(value: OptionValue | readonly number[], label: string, min: number, max: number): number[] {
  const parts: readonly OptionValue[] = typeof value === 'string' || typeof value === 'number' ? String(value).split(',') : value;
  const numbers = parts.map((part: OptionValue) => countOption(part, label, min, max));
  if (numbers.length === 0) throw new UsageError(`${label}: give at least one number`);
  return [...new Set(numbers)].sort((a, b) => a - b);
}

/** An ISO date or date-time; a bare date is midnight UTC. Undefined when it is not one. */
export function parseDateTime(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return undefined;
  const iso = value.length === 10 ? `${value}T00:00:00Z` : value.replace(' ', 'T');
  const date = new Date(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A point in time: an ISO date or date-time (`2026-11-24`, `2026-11-24T12:00Z`), or a Date. */
export function dateTimeOption(value: string | Date, label: string): Date {
  const date = value instanceof Date ? (Number.isNaN(value.getTime()) ? undefined : value) : parseDateTime(value.trim());
  if (date === undefined) {
    throw new UsageError(`${label}: "${String(value)}" is not a date or time (e.g. 2026-11-24 or 2026-11-24T12:00:00Z)`);
  }
  return date;
}

/** `--as-of`: the "now" relative windows are computed from; `now` when not given. */
export function asOfOption(value: string | Date | undefined, now = new Date(), label = '--as-of'): Date {
  return value === undefined ? now : dateTimeOption(value, label);
}

/** `--jobs` of `check` and `report consistency`: connections proving packages at once. */
export const maxProofJobs = 8;

export function parseJobs(value: OptionValue | undefined): number {
  return countOption(value ?? '2', '--jobs', 1, maxProofJobs);
}

/**
 * A rate in operations per second: `500/s` or `500` (also `1_000/s`, `2.5/s`), or a number, within
 * bounds (`--rate` of `benchmark`).
 */
export function rateOption(value: OptionValue, label: string, min: number, max: number): number {
  const match = /^\s*(\d[\d_]*(?:\.\d+)?)\s*(?:\/\s*s)?\s*$/i.exec(String(value));
  const n = typeof value === 'number' ? value : match === null ? Number.NaN : Number((match[1] ?? '').replace(/_/g, ''));
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(
      `${label}: expected operations per second from ${formatNumber(min)} to ${formatNumber(max)} (e.g. 500/s), got "${value}"`,
    );
  }
  return n;
}
