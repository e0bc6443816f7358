import { isPackageStatus, packageStatuses, type PackageStatus } from './status.js';
import { parseTrackingNumber } from './tracking-number.js';
import { formatNumber } from './units.js';

/**
 * A scan as it comes from a person, a file or a program, checked against the documented limits
 * before anything reaches a database. Pure.
 */

/** A scan as given: strings from a file or a command line, or values from a program. */
export interface ScanRecord {
  trackingNumber: string;
  status: string;
  /** A location name or its numeric id. */
  location: string | number;
  /** When it happened: an ISO date-time, epoch milliseconds or a Date. */
  at?: string | number | Date | undefined;
  /** The scanner's own id for the scan; derived from package, status, location and time when absent. */
  idempotencyKey?: string | undefined;
  /** The raw message, kept as a raw scan document. */
  payload?: Record<string, unknown> | undefined;
  /** Who sent it, e.g. `scanner` or `partner:ups`. */
  source?: string | undefined;
  /** Record a transition the state machine forbids, with the reason. */
  forceReason?: string | undefined;
}

/** A checked scan, ready for the write path. */
export interface ScanInput {
  /** Normalised and validated tracking number. */
  trackingNumber: string;
  status: PackageStatus;
  /** Location name, or its numeric id. */
  location: string;
  at: Date;
  idempotencyKey?: string | undefined;
  payload?: Record<string, unknown> | undefined;
  source?: string | undefined;
  forceReason?: string | undefined;
}

/** The limits every scan is held to (the README's "Limits" table mirrors them). */
export const scanLimits = {
  locationLength: 200,
  idempotencyKeyLength: 200,
  sourceLength: 100,
  forceReasonLength: 500,
  /** Bytes of the payload as JSON. */
  payloadBytes: 64 * 1024,
  payloadDepth: 32,
  /** How far ahead of now a scan's time may be (scanners' clocks drift a little). */
  futureMs: 24 * 3_600_000,
  /** Scans before this year are refused: no package of ours is that old. */
  earliestYear: 2000,
  /** Scans per transaction of a stream of scans (`scan --file --batch`), at most. */
  batchScans: 50_000,
  /**
   * Scans per transaction when not given: the rollups' statement triggers run once a batch, and
   * at `medium` 1,000 a batch recorded 0.9× the scans a second of 5,000.
   */
  defaultBatchScans: 5_000,
  /** Transactions at a time of a stream of scans (`scan --file --parallel`), at most. */
  parallelBatches: 8,
} as const;

export type ScanField = keyof ScanRecord;

export type CheckedScan = { ok: true; scan: ScanInput } | { ok: false; field: ScanField; reason: string };

// C0 and C1 controls (NUL included), and the characters that reorder text on a terminal.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const unprintable = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Why a value was refused (a class, so that no value a person sent can pass for one). */
class Refused {
  constructor(readonly reason: string) {}
}

function text(value: unknown, field: ScanField, max: number, required: boolean): string | undefined | Refused {
  if (value === undefined || value === null) return required ? new Refused(`${field} is missing`) : undefined;
  if (typeof value !== 'string') return new Refused(`${field} must be a string`);
  const trimmed = value.trim();
  if (trimmed === '') return new Refused(required ? `${field} is missing` : `${field} must not be empty`);
  if (trimmed.length > max) return new Refused(`${field} is longer than ${max} characters (${trimmed.length})`);
  if (unprintable.test(trimmed)) return new Refused(`${field} contains a control character`);
  return trimmed;
}

/** Depth of nested objects and arrays, stopping as soon as `limit` is passed (no recursion). */
function depthExceeds(value: unknown, limit: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

function checkPayload(value: unknown): Record<string, unknown> | undefined | Refused {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) return new Refused('payload must be a JSON object');
  if (depthExceeds(value, scanLimits.payloadDepth))
    return new Refused(`payload is nested deeper than ${scanLimits.payloadDepth} levels`);
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    return new Refused('payload cannot be written as JSON');
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > scanLimits.payloadBytes) {
    const limit = formatNumber(scanLimits.payloadBytes);
    return new Refused(`payload is ${formatNumber(bytes)} bytes as JSON; at most ${limit}`);
  }
  // PostgreSQL's jsonb cannot hold U+0000 (as text or escaped).
  if (json.includes('\\u0000')) return new Refused('payload contains a NUL character (\\u0000), which JSONB cannot store');
  return value as Record<string, unknown>;
}

function checkTime(value: unknown, now: Date, defaultAt: Date | undefined): Date | Refused {
  if (value === undefined || value === null || value === '') return defaultAt ?? new Refused('at is missing (a date and time)');
  const date =
    value instanceof Date
      ? value
      : typeof value === 'string' || typeof value === 'number'
        ? new Date(value)
        : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) return new Refused('at must be a date and time (e.g. 2026-11-20T14:05:00Z)');
  if (date.getUTCFullYear() < scanLimits.earliestYear) return new Refused(`at is before ${scanLimits.earliestYear}`);
  if (date.getTime() > now.getTime() + scanLimits.futureMs) return new Refused('at is more than a day in the future');
  return date;
}

const failed = (v: unknown): v is Refused => v instanceof Refused;

/**
 * Checks one scan. `defaultAt` is the time of a scan given without one (one scan at a terminal:
 * now); without it a missing time is refused (a file of scans must say when each happened).
 */
export function checkScan(record: unknown, options: { now?: Date; defaultAt?: Date } = {}): CheckedScan {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { ok: false, field: 'trackingNumber', reason: 'not a JSON object' };
  }
  const o = record as Record<string, unknown>;
  const rawNumber = o.trackingNumber ?? o.tracking_number;
  if (typeof rawNumber !== 'string') return { ok: false, field: 'trackingNumber', reason: 'trackingNumber is missing' };
  const parsed = parseTrackingNumber(rawNumber);
  if (!parsed.ok) return { ok: false, field: 'trackingNumber', reason: parsed.reason };
  if (typeof o.status !== 'string' || !isPackageStatus(o.status)) {
    return { ok: false, field: 'status', reason: `status must be one of ${packageStatuses.join(', ')}` };
  }
  const location = text(
    typeof o.location === 'number' ? String(o.location) : o.location,
    'location',
    scanLimits.locationLength,
    true,
  );
  if (failed(location) || location === undefined)
    return { ok: false, field: 'location', reason: failed(location) ? location.reason : 'location is missing' };
  const at = checkTime(o.at, options.now ?? new Date(), options.defaultAt);
  if (failed(at)) return { ok: false, field: 'at', reason: at.reason };
  const key = text(o.idempotencyKey ?? o.idempotency_key, 'idempotencyKey', scanLimits.idempotencyKeyLength, false);
  if (failed(key)) return { ok: false, field: 'idempotencyKey', reason: key.reason };
  const payload = checkPayload(o.payload);
  if (failed(payload)) return { ok: false, field: 'payload', reason: payload.reason };
  const source = text(o.source, 'source', scanLimits.sourceLength, false);
  if (failed(source)) return { ok: false, field: 'source', reason: source.reason };
  const force = text(o.forceReason, 'forceReason', scanLimits.forceReasonLength, false);
  if (failed(force)) return { ok: false, field: 'forceReason', reason: force.reason };
  return {
    ok: true,
    scan: {
      trackingNumber: parsed.number,
      status: o.status,
      location,
      at,
      idempotencyKey: key,
      payload,
      source,
      forceReason: force,
    },
  };
}

/** One line of a scans file (NDJSON) → a checked scan, or why it is not one. */
export function checkScanLine(line: string, now?: Date): CheckedScan {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, field: 'trackingNumber', reason: 'not JSON' };
  }
  return checkScan(value, { now });
}
