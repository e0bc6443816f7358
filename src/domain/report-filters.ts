import { UsageError } from '../errors.js';

/**
 * Report filters as people type them (`--since 30d`, `--day 2026-11-20`, `--where fragile=true`),
 * parsed into values that are bound as query parameters, never spliced into SQL. Pure: the
 * current time is an argument.
 */

const hourMs = 3_600_000;
const unitMs: Record<string, number> = { m: 60_000, h: hourMs, d: 24 * hourMs, w: 7 * 24 * hourMs };

/** A window start: a duration back from `now` (`90m`, `48h`, `30d`, `2w`) or an ISO date/time. */
export function parseSince(value: string, now: Date, flag = '--since'): Date {
  const text = value.trim();
  const relative = /^(\d{1,5})\s*([mhdw])$/i.exec(text);
  if (relative !== null) {
    const amount = Number(relative[1]);
    const unit = unitMs[(relative[2] ?? '').toLowerCase()] ?? hourMs;
    if (amount === 0) throw new UsageError(`${flag}: "${value}" is an empty window; give a duration such as 30d`);
    return new Date(now.getTime() - amount * unit);
  }
  const date = parseDateTime(text);
  if (date === undefined) {
    throw new UsageError(`${flag}: "${value}" is neither a duration (90m, 48h, 30d, 2w) nor a date (2026-11-01)`);
  }
  if (date.getTime() > now.getTime()) throw new UsageError(`${flag}: ${date.toISOString()} is in the future`);
  return date;
}

/** One UTC calendar day: `2026-11-20`, `today` or `yesterday` (relative to `now`). */
export function parseDay(value: string, now: Date, flag = '--day'): { start: Date; end: Date; label: string } {
  const text = value.trim().toLowerCase();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  let start: number;
  if (text === 'today') start = today;
  else if (text === 'yesterday') start = today - 24 * hourMs;
  else {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    const [year, month, day] = match === null ? [] : [Number(match[1]), Number(match[2]), Number(match[3])];
    start = year === undefined ? Number.NaN : Date.UTC(year, (month ?? 0) - 1, day);
    const back = new Date(start);
    if (Number.isNaN(start) || back.getUTCDate() !== day || back.getUTCMonth() !== (month ?? 0) - 1) {
      throw new UsageError(`${flag}: "${value}" is not a day; use YYYY-MM-DD, today or yesterday`);
    }
  }
  const startDate = new Date(start);
  return { start: startDate, end: new Date(start + 24 * hourMs), label: startDate.toISOString().slice(0, 10) };
}

/** A whole number within bounds, for --limit, --hours and friends. */
export function parseCount(value: string, flag: string, min: number, max: number): number {
  const n = Number(value.trim().replace(/_/g, ''));
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${flag}: expected a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, got "${value}"`,
    );
  }
  return n;
}

/** `--as-of`: the "now" relative windows are computed from; the current time when not given. */
export function parseAsOf(value: string | undefined, now = new Date(), flag = '--as-of'): Date {
  if (value === undefined) return now;
  const date = parseDateTime(value.trim());
  if (date === undefined)
    throw new UsageError(`${flag}: "${value}" is not a date or time (e.g. 2026-11-24 or 2026-11-24T12:00Z)`);
  return date;
}

/** An ISO date or date-time; a bare date is midnight UTC. */
export function parseDateTime(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return undefined;
  const iso = value.length === 10 ? `${value}T00:00:00Z` : value.replace(' ', 'T');
  const date = new Date(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface MetadataFilter {
  /** The filters as typed, normalised: `fragile=true`. */
  readonly terms: string[];
  /** One JSON object that packages' metadata must contain (`metadata @> containment`). */
  readonly containment: Record<string, JsonValue>;
}

const keyPattern = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;

/**
 * `--where key=value` (repeatable, all must hold; `a.b=1` reaches into nested objects). Values
 * are JSON when they parse as JSON (`true`, `3`, `null`, `"007"`), otherwise strings.
 */
export function parseMetadataFilters(terms: readonly string[]): MetadataFilter {
  if (terms.length === 0) throw new UsageError('--where: give at least one key=value, e.g. --where fragile=true');
  const containment: Record<string, JsonValue> = {};
  const normalised: string[] = [];
  for (const term of terms) {
    const at = term.indexOf('=');
    if (at <= 0) throw new UsageError(`--where: "${term}" is not key=value (e.g. fragile=true, service=express)`);
    const path = term.slice(0, at).trim().split('.');
    const raw = term.slice(at + 1).trim();
    for (const key of path) {
      if (!keyPattern.test(key)) {
        throw new UsageError(`--where: "${key}" is not a metadata key (letters, digits, _ and -, starting with a letter)`);
      }
    }
    if (raw === '')
      throw new UsageError(`--where: "${term}" has no value; to match an empty string write ${path.join('.')}='""'`);
    if (raw.length > 200) throw new UsageError(`--where: the value for ${path.join('.')} is longer than 200 characters`);
    let value: JsonValue;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      value = raw;
    }
    let target = containment;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (next === undefined) target = target[key] = {};
      else if (typeof next === 'object' && next !== null && !Array.isArray(next)) target = next;
      else throw new UsageError(`--where: ${path.join('.')} conflicts with another filter on ${key}`);
    }
    const last = path[path.length - 1] ?? '';
    if (last in target) throw new UsageError(`--where: ${path.join('.')} is filtered twice`);
    target[last] = value;
    normalised.push(`${path.join('.')}=${JSON.stringify(value)}`);
  }
  return { terms: normalised, containment };
}
