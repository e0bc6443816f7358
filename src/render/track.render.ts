import {
  deliveryVerdict,
  flagTimeline,
  type EventFlag,
  type FlaggedEvent,
  type LocalTime,
  type TrackedPackage,
} from '../domain/timeline.js';
import type { PackageStatus } from '../domain/status.js';
import type { TrackResult } from '../services/track.service.js';
import type { Style } from './style.js';
import { renderTable } from './table.js';

const formatters = new Map<string, Intl.DateTimeFormat>();

/** `2026-11-20 14:05 MST` in the location's own zone. */
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
  const sign = local.offsetMinutes < 0 ? '−' : '+';
  const minutes = Math.abs(local.offsetMinutes);
  const hh = String(Math.floor(minutes / 60)).padStart(2, '0');
  const mm = String(minutes % 60).padStart(2, '0');
  return `${local.text} UTC${sign}${hh}:${mm}`;
}

/** Local time as the store computed it, or (answers cached by older versions) as ICU does. */
function localOf(date: Date, timeZone: string, local: LocalTime | null | undefined): string {
  return local === undefined || local === null ? localTime(date, timeZone) : formatLocal(local);
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

export function statusText(status: PackageStatus, style: Style): string {
  switch (status) {
    case 'delivered':
      return style.ok(status);
    case 'exception':
    case 'attempt_fail':
    case 'return_to_sender':
    case 'returned':
    case 'cancelled':
      return style.bad(status);
    case 'out_for_delivery':
    case 'available_for_pickup':
      return style.accent(status);
    default:
      return status;
  }
}

const flagText: Record<EventFlag, string> = {
  out_of_order: 'out of order',
  forbidden_transition: 'forbidden transition',
  after_terminal: 'after a final status',
  long_gap: 'long gap before this scan',
  silent: 'no scan since, for long',
};

export interface TrackView {
  trackingNumber: string;
  source: TrackResult['source'];
  cacheAgeMs: number | null;
  package: TrackedPackage;
  delivery: ReturnType<typeof deliveryVerdict>;
  timeline: FlaggedEvent[];
}

export function trackView(result: TrackResult & { package: TrackedPackage }, now: Date, staleHours: number): TrackView {
  return {
    trackingNumber: result.trackingNumber,
    source: result.source,
    cacheAgeMs: result.cacheAgeMs,
    package: result.package,
    delivery: deliveryVerdict(result.package, now),
    timeline: flagTimeline(result.package.events, now, staleHours),
  };
}

function deliveryText(view: TrackView, style: Style): string {
  const v = view.delivery;
  switch (v.kind) {
    case 'on_time':
      return style.ok(`on time (${duration(v.byMs)} early)`);
    case 'late':
      return style.bad(`late by ${duration(v.byMs)}`);
    case 'overdue':
      return style.bad(`OVERDUE by ${duration(v.byMs)}`);
    case 'due':
      return `due in ${duration(v.inMs)}`;
    case 'closed':
      return v.status;
  }
}

export function renderTrack(view: TrackView, style: Style): string {
  const p = view.package;
  const place = (x: { name: string; city: string; state: string }): string => `${x.name} (${x.city}, ${x.state})`;
  const summary = renderTable<[string, string]>(
    [
      { header: style.bold(p.trackingNumber), value: ([k]) => k },
      { header: statusText(p.currentStatus, style), value: ([, v]) => v },
    ],
    [
      ['route', `${place(p.origin)} → ${place(p.destination)}`],
      ['sender → recipient', `${p.sender} → ${p.recipient}`],
      ['weight', `${formatWeight(p.weight)} kg`],
      ['metadata', JSON.stringify(p.metadata)],
      [
        'estimated delivery',
        `${localOf(p.estimatedDelivery, p.destination.timeZone, p.estimatedLocal)} (${utcTime(p.estimatedDelivery)})`,
      ],
      [
        'actual delivery',
        p.actualDelivery === null
          ? '—'
          : `${localOf(p.actualDelivery, p.destination.timeZone, p.actualLocal)} (${utcTime(p.actualDelivery)})`,
      ],
      ['promise', deliveryText(view, style)],
    ],
  );
  const timeline = renderTable<FlaggedEvent>(
    [
      { header: 'local time', value: (e) => localOf(e.at, e.location.timeZone, e.local) },
      { header: 'UTC', value: (e) => utcTime(e.at) },
      { header: 'status', value: (e) => statusText(e.status, style) },
      { header: 'location', value: (e) => `${e.location.name}, ${e.location.city} ${e.location.state}` },
      { header: 'flags', value: (e) => style.warn(e.flags.map((f) => flagText[f]).join(', ')) },
    ],
    view.timeline,
  );
  const source = view.source === 'cache' ? `from the cache (${duration(view.cacheAgeMs ?? 0)} old)` : 'from the database';
  return `${summary}\n${timeline}\n${style.dim(`${view.timeline.length} events, ${source}`)}`;
}
