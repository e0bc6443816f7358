import {
  deliveryVerdict,
  flagTimeline,
  type EventFlag,
  type FlaggedEvent,
  type LocalTime,
  type Place,
  type TrackedPackage,
} from '../domain/timeline.js';
import { terminalStatuses, type PackageStatus } from '../domain/status.js';
import type { TrackResult } from '../services/track.service.js';
import type { Style } from './style.js';

/**
 * `track` as a carrier's tracking page: a one-line verdict, then the journey newest first, in
 * the words ops use and the local times people read (zone abbreviations, UTC on request). The
 * JSON view is the documented shape of `track --json` (schemas/track.schema.json).
 */

/** DOMAIN §2's words for people. */
export const statusWords: Readonly<Record<PackageStatus, string>> = {
  pending: 'Label created',
  in_transit: 'In transit',
  out_for_delivery: 'Out for delivery',
  attempt_fail: 'Delivery attempted',
  available_for_pickup: 'Ready for pickup',
  exception: 'Exception',
  return_to_sender: 'Returning to sender',
  delivered: 'Delivered',
  returned: 'Returned to sender',
  cancelled: 'Cancelled',
};

const formatters = new Map<string, Intl.DateTimeFormat>();

/** `2026-11-20 14:05 MST` in the location's own zone (through ICU: tests and old cached answers). */
export function localTime(date: Date, timeZone: string): string {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'short',
      });
    } catch {
      format = new Intl.DateTimeFormat('en-CA', { timeZone: 'UTC', dateStyle: 'short', timeStyle: 'short' });
    }
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName ?? ''}`.trim();
}

/** `2026-11-20 14:05 UTC−07:00` from a local time PostgreSQL computed. */
export function formatLocal(local: LocalTime): string {
  return `${local.text} ${utcOffset(local.offsetMinutes)}`;
}

function utcOffset(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '−' : '+';
  const minutes = Math.abs(offsetMinutes);
  return `UTC${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/**
 * The abbreviations people read for the zones the network uses, by offset (standard and summer
 * time); any other zone is shown with its offset. No ICU: its first use costs ~10 ms of a `track`.
 */
const abbreviations: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  'America/New_York': { [-300]: 'EST', [-240]: 'EDT' },
  'America/Detroit': { [-300]: 'EST', [-240]: 'EDT' },
  'America/Chicago': { [-360]: 'CST', [-300]: 'CDT' },
  'America/Denver': { [-420]: 'MST', [-360]: 'MDT' },
  'America/Boise': { [-420]: 'MST', [-360]: 'MDT' },
  'America/Phoenix': { [-420]: 'MST' },
  'America/Los_Angeles': { [-480]: 'PST', [-420]: 'PDT' },
  'America/Anchorage': { [-540]: 'AKST', [-480]: 'AKDT' },
  'Pacific/Honolulu': { [-600]: 'HST' },
  'America/Puerto_Rico': { [-240]: 'AST' },
  UTC: { 0: 'UTC' },
  'Etc/UTC': { 0: 'UTC' },
};

const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The local wall-clock time of `at` in `timeZone`: PostgreSQL's when it computed one, else ICU's. */
function wallClock(at: Date, timeZone: string, local: LocalTime | null | undefined): LocalTime {
  if (local !== undefined && local !== null) return local;
  const text = localTime(at, timeZone);
  const wall = Date.parse(`${text.slice(0, 16).replace(' ', 'T')}:00Z`);
  return { text: text.slice(0, 16), offsetMinutes: Number.isNaN(wall) ? 0 : Math.round((wall - at.getTime()) / 60_000) };
}

/** `Tue 6 Oct 14:34 EDT` (the year only when it is not `now`'s); `utc` shows UTC instead. */
export function humanTime(
  at: Date,
  where: { timeZone: string; local?: LocalTime | null | undefined },
  now: Date,
  utc = false,
): string {
  const wall = utc
    ? { text: at.toISOString().slice(0, 16).replace('T', ' '), offsetMinutes: 0 }
    : wallClock(at, where.timeZone, where.local);
  const [date = '', clock = ''] = wall.text.split(' ');
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const weekday = weekdays[new Date(Date.UTC(year, month - 1, day)).getUTCDay()] ?? '';
  const zone = utc ? 'UTC' : (abbreviations[where.timeZone]?.[wall.offsetMinutes] ?? utcOffset(wall.offsetMinutes));
  const yearText = year === now.getUTCFullYear() ? '' : ` ${year}`;
  return `${weekday} ${day} ${months[month - 1] ?? ''}${yearText} ${clock} ${zone}`;
}

export function utcTime(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function duration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** How late or early, as people say it: `3 h`, `1 day`, `4 days`. */
function roughly(ms: number): string {
  const hours = ms / 3_600_000;
  if (hours < 1) return `${Math.max(1, Math.round(ms / 60_000))} min`;
  if (hours < 24) return `${Math.round(hours)} h`;
  const days = Math.round(hours / 24);
  return days === 1 ? '1 day' : `${days} days`;
}

/** `1.25` kg: up to three decimals, no ICU (its first use costs ~10 ms of start-up). */
export function formatWeight(weight: string): string {
  const n = Number(weight);
  if (!Number.isFinite(n)) return weight;
  const [whole = '0', fraction = ''] = n.toFixed(3).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const trimmed = fraction.replace(/0+$/, '');
  return trimmed === '' ? grouped : `${grouped}.${trimmed}`;
}

function colour(status: PackageStatus, text: string, style: Style): string {
  if (status === 'delivered') return style.ok(text);
  if (['exception', 'attempt_fail', 'return_to_sender', 'returned', 'cancelled'].includes(status)) return style.bad(text);
  if (status === 'out_for_delivery' || status === 'available_for_pickup') return style.accent(text);
  return text;
}

export interface TrackView {
  trackingNumber: string;
  source: TrackResult['source'];
  replica: string | null;
  cacheAgeMs: number | null;
  package: TrackedPackage;
  delivery: ReturnType<typeof deliveryVerdict>;
  /** Oldest first, flagged. */
  timeline: FlaggedEvent[];
  /** When the view was made: "late" and "overdue" are judged against it. */
  now: Date;
}

export function trackView(result: TrackResult & { package: TrackedPackage }, now: Date, staleHours: number): TrackView {
  return {
    trackingNumber: result.trackingNumber,
    source: result.source,
    replica: result.replica,
    cacheAgeMs: result.cacheAgeMs,
    package: result.package,
    delivery: deliveryVerdict(result.package, now),
    timeline: flagTimeline(result.package.events, now, staleHours),
    now,
  };
}

export interface TrackRenderOptions {
  /** Oldest event first (the default is newest first, as carriers' pages show it). */
  oldestFirst?: boolean;
  /** Times in UTC rather than each location's zone. */
  utc?: boolean;
}

/** A place as one short line: `Springfield Delivery Station 23, Springfield MA`. */
function placeText(place: Place): string {
  return place.name.includes(place.city) ? `${place.name}, ${place.state}` : `${place.name}, ${place.city} ${place.state}`;
}

function reasonText(reason: string | null | undefined): string {
  return reason === undefined || reason === null || reason === '' ? '' : `: ${reason.replace(/_/g, ' ')}`;
}

/** The one-line verdict: where the package is, and whether it keeps its promise. */
export function verdictLine(view: TrackView, options: TrackRenderOptions = {}): string {
  const p = view.package;
  const last = view.timeline.at(-1);
  const when = (at: Date, where: { timeZone: string; local?: LocalTime | null }): string =>
    humanTime(at, where, view.now, options.utc);
  const promised = when(p.estimatedDelivery, { timeZone: p.destination.timeZone, local: p.estimatedLocal });
  const v = view.delivery;
  if (p.currentStatus === 'delivered') {
    const at = p.actualDelivery ?? last?.at ?? p.estimatedDelivery;
    const local = p.actualDelivery === null ? last?.local : p.actualLocal;
    const promise =
      v.kind === 'late'
        ? `${roughly(v.byMs)} late`
        : v.kind === 'on_time' && v.byMs >= 86_400_000
          ? `${roughly(v.byMs)} early`
          : 'on time';
    return `Delivered ${when(at, { timeZone: p.destination.timeZone, local })}, ${promise}`;
  }
  const status = `${statusWords[p.currentStatus]}${reasonText(last?.status === p.currentStatus ? last.reason : undefined)}`;
  if (terminalStatuses.has(p.currentStatus)) {
    return last === undefined ? status : `${status} ${when(last.at, { timeZone: last.location.timeZone, local: last.local })}`;
  }
  const scan =
    last === undefined
      ? ''
      : ` · last scan ${when(last.at, { timeZone: last.location.timeZone, local: last.local })} in ${last.location.city} ${last.location.state}`;
  const due = v.kind === 'overdue' ? `was due ${promised}, ${roughly(v.byMs)} late` : `due ${promised}`;
  return `${status}${scan} · ${due}`;
}

function flagWords(flag: EventFlag, event: FlaggedEvent, previous: FlaggedEvent | undefined, now: Date): string {
  switch (flag) {
    case 'out_of_order':
      return 'arrived after a later scan';
    case 'forbidden_transition':
      return `not a step a journey takes (${previous === undefined ? '' : `${statusWords[previous.status].toLowerCase()} → `}${statusWords[event.status].toLowerCase()})`;
    case 'after_terminal':
      return "after the package's final status";
    case 'long_gap':
      return `${roughly(event.at.getTime() - (previous?.at.getTime() ?? event.at.getTime()))} without a scan before this one`;
    case 'silent':
      return `no scan since, for ${roughly(now.getTime() - event.at.getTime())}`;
  }
}

/** Display width of text without its colour codes. */
function widthOf(text: string): number {
  // eslint-disable-next-line no-control-regex -- colour codes are what is removed
  return [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;
}

/** Shortens plain text to `width` columns with an ellipsis. */
function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

function terminalWidth(style: Style): number {
  const width = (style as Style & { width?: number }).width;
  return typeof width === 'number' && width >= 40 ? width : 80;
}

export function renderTrack(view: TrackView, style: Style, options: TrackRenderOptions = {}): string {
  const width = terminalWidth(style);
  const p = view.package;
  const out: string[] = [];
  // The verdict, wrapped at its ' · ' joints rather than cut: its last part is often the promise.
  const indent = ' '.repeat(view.trackingNumber.length + 2);
  const verdict: string[] = [];
  for (const part of verdictLine(view, options).split(' · ')) {
    const last = verdict.at(-1);
    if (last !== undefined && widthOf(`${last} · ${part}`) <= width) verdict[verdict.length - 1] = `${last} · ${part}`;
    else verdict.push(last === undefined ? `${view.trackingNumber}  ${part}` : `${indent}${part}`);
  }
  out.push(...verdict.map((line) => fit(line, width)));
  out[0] = (out[0] ?? '').replace(view.trackingNumber, style.bold(view.trackingNumber));
  const label = (name: string, value: string): string => `${style.dim(name.padEnd(9))}${fit(value, width - 9)}`;
  out.push(label('From', placeText(p.origin)));
  out.push(label('To', placeText(p.destination)));
  out.push(label('Sender', `${p.sender} → ${p.recipient}`));
  const extras = Object.entries(p.metadata)
    .filter(([, value]) => value !== false && value !== null)
    .map(([key, value]) =>
      value === true
        ? key.replace(/_/g, ' ')
        : `${key.replace(/_/g, ' ')} ${Array.isArray(value) ? value.join('×') : String(value)}`,
    );
  out.push(label('Weight', `${formatWeight(p.weight)} kg${extras.length > 0 ? ` · ${extras.join(', ')}` : ''}`));
  out.push(
    label(
      'Promised',
      humanTime(p.estimatedDelivery, { timeZone: p.destination.timeZone, local: p.estimatedLocal }, view.now, options.utc),
    ),
  );
  out.push('');

  const events = options.oldestFirst === true ? view.timeline : [...view.timeline].reverse();
  const times = events.map((e) => humanTime(e.at, { timeZone: e.location.timeZone, local: e.local }, view.now, options.utc));
  const timeWidth = Math.max(0, ...times.map(widthOf));
  const statuses = events.map((e) => `${statusWords[e.status]}${reasonText(e.reason)}`);
  const statusWidth = Math.min(32, Math.max(0, ...statuses.map(widthOf)));
  const order = new Map(view.timeline.map((e, i) => [e.eventId, i]));
  events.forEach((event, i) => {
    const status = fit(statuses[i] ?? '', statusWidth).padEnd(statusWidth);
    const room = width - 2 - timeWidth - 2 - statusWidth - 2;
    const place = room >= 8 ? `  ${fit(placeText(event.location), room)}` : '';
    out.push(`  ${(times[i] ?? '').padEnd(timeWidth)}  ${colour(event.status, status, style)}${place}`.trimEnd());
    const previous = view.timeline[(order.get(event.eventId) ?? 0) - 1];
    for (const flag of event.flags) {
      out.push(style.warn(fit(`  ${' '.repeat(timeWidth)}  ↳ ${flagWords(flag, event, previous, view.now)}`, width)));
    }
  });
  const source =
    view.source === 'cache'
      ? `answered from the cache (${duration(view.cacheAgeMs ?? 0)} old)`
      : view.replica === null
        ? 'answered from the database'
        : `answered from replica ${view.replica}`;
  const scans = `${view.timeline.length} scan${view.timeline.length === 1 ? '' : 's'}, ${options.oldestFirst === true ? 'oldest' : 'newest'} first`;
  out.push('', style.dim(fit(`${scans} · ${options.utc === true ? 'times in UTC' : 'local times'} · ${source}`, width)));
  return out.join('\n');
}

/** One event of `track --json`. */
export interface TrackEventJson {
  eventId: number;
  status: PackageStatus;
  statusText: string;
  /** ISO 8601, UTC. */
  at: string;
  /** Wall-clock time at the location, `YYYY-MM-DD HH:MM`, and its offset from UTC in minutes. */
  localTime: string | null;
  utcOffsetMinutes: number | null;
  location: Place;
  reason: string | null;
  flags: EventFlag[];
}

/** One package of `track --json`. */
export interface TrackPackageJson {
  trackingNumber: string;
  status: PackageStatus;
  statusText: string;
  verdict: string;
  delivery: TrackView['delivery'];
  origin: Place;
  destination: Place;
  sender: string;
  recipient: string;
  weightKg: number;
  metadata: Record<string, unknown>;
  estimatedDelivery: string;
  actualDelivery: string | null;
  source: TrackResult['source'];
  /** The replica that answered (host:port/database), or null: the cache or the primary. */
  replica: string | null;
  cacheAgeMs: number | null;
  /** Newest first. */
  events: TrackEventJson[];
}

/** `track --json`: the same shape for one number or many, found or not. */
export interface TrackJson {
  packages: TrackPackageJson[];
  notFound: { trackingNumber: string; carrier: string | null }[];
}

export function trackPackageJson(view: TrackView): TrackPackageJson {
  const p = view.package;
  return {
    trackingNumber: view.trackingNumber,
    status: p.currentStatus,
    statusText: statusWords[p.currentStatus],
    verdict: verdictLine(view, { utc: true }),
    delivery: view.delivery,
    origin: p.origin,
    destination: p.destination,
    sender: p.sender,
    recipient: p.recipient,
    weightKg: Number(p.weight),
    metadata: p.metadata,
    estimatedDelivery: p.estimatedDelivery.toISOString(),
    actualDelivery: p.actualDelivery === null ? null : p.actualDelivery.toISOString(),
    source: view.source,
    replica: view.replica,
    cacheAgeMs: view.cacheAgeMs,
    events: [...view.timeline].reverse().map((e) => ({
      eventId: e.eventId,
      status: e.status,
      statusText: statusWords[e.status],
      at: e.at.toISOString(),
      localTime: e.local?.text ?? null,
      utcOffsetMinutes: e.local?.offsetMinutes ?? null,
      location: e.location,
      reason: e.reason ?? null,
      flags: e.flags,
    })),
  };
}
