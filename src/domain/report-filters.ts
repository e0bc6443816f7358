import { UsageError } from '../errors.js';
import { parseDateTime, parseDuration } from '../options.js';

/**
 * Report filters as people type them (`--since 30d`, `--day 2026-11-20`, `--where fragile=true`),
 * parsed into values that are bound as query parameters, never spliced into SQL. Pure: the
 * current time is an argument.
 */

const hourMs = 3_600_000;

/** A window start: a duration back from `now` (`90m`, `48h`, `30d`, `2w`) or an ISO date/time. */
export function parseSince(value: string, now: Date, flag = '--since'): Date {
  const text = value.trim();
  const date = parseDateTime(text);
  if (date !== undefined) {
    if (date.getTime() > now.getTime()) throw new UsageError(`${flag}: ${date.toISOString()} is in the future`);
    return date;
  }
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(`${flag}: "${value}" is neither a duration (90m, 48h, 30d, 2w) nor a date (2026-11-01)`);
  }
  if (ms === 0) throw new UsageError(`${flag}: "${value}" is an empty window; give a duration such as 30d`);
  if (ms < 60_000) {
    throw new UsageError(`${flag}: "${value}" is shorter than a minute (a bare number is milliseconds); give e.g. 30d`);
  }
  return new Date(now.getTime() - ms);
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
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(raw)) {
      throw new UsageError(`--where: the value for ${path.join('.')} contains a control character`);
    }
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
