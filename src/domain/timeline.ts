import { isPackageStatus, isTransitionAllowed, terminalStatuses, type PackageStatus } from './status.js';

/** A package as `track` shows it: summary and timeline (DOMAIN §1–2). Pure: no I/O. */

export interface Place {
  name: string;
  city: string;
  state: string;
  timeZone: string;
}

/** A wall-clock time in some zone, as PostgreSQL's time zone database computed it. */
export interface LocalTime {
  /** `2026-11-20 14:05` */
  text: string;
  /** The zone's offset from UTC at that instant, in minutes (−420 for MST). */
  offsetMinutes: number;
}

export interface TimelineEvent {
  eventId: number;
  status: PackageStatus;
  at: Date;
  recordedAt: Date;
  location: Place;
  /** `at` in the location's zone (absent in answers cached by older versions). */
  local?: LocalTime | undefined;
  /** Why, for an exception or a failed attempt: from its raw scan (null when it has none). */
  reason?: string | null | undefined;
}

export interface TrackedPackage {
  packageId: number;
  trackingNumber: string;
  currentStatus: PackageStatus;
  sender: string;
  recipient: string;
  /** kg, as stored (numeric). */
  weight: string;
  metadata: Record<string, unknown>;
  origin: Place;
  destination: Place;
  estimatedDelivery: Date;
  actualDelivery: Date | null;
  /** The delivery times in the destination's zone (absent in answers cached by older versions). */
  estimatedLocal?: LocalTime | undefined;
  actualLocal?: LocalTime | null | undefined;
  /** Oldest first, by event time. */
  events: TimelineEvent[];
}

/** long_gap: more than N hours since the previous scan; silent: the last scan, and nothing since for N hours. */
export type EventFlag = 'out_of_order' | 'forbidden_transition' | 'after_terminal' | 'long_gap' | 'silent';

export interface FlaggedEvent extends TimelineEvent {
  flags: EventFlag[];
}

export type DeliveryVerdict =
  | { kind: 'on_time'; byMs: number }
  | { kind: 'late'; byMs: number }
  | { kind: 'overdue'; byMs: number }
  | { kind: 'due'; inMs: number }
  | { kind: 'closed'; status: PackageStatus };

/**
 * Marks what is suspicious in a history: a scan recorded after a later-dated one (out of order),
 * a transition the state machine forbids, a scan after a terminal status, and a gap of more
 * than `staleHours` between scans (or since the last scan, for a package still moving).
 */
export function flagTimeline(events: readonly TimelineEvent[], now: Date, staleHours: number): FlaggedEvent[] {
  const staleMs = staleHours * 3_600_000;
  // Sorted by event time: an event recorded after a later-dated one arrived out of order (as
  // `check` and the write path see it). The earliest recording among the events after each one:
  const earliestAfter = new Array<number>(events.length);
  let earliest = Number.POSITIVE_INFINITY;
  for (let i = events.length - 1; i >= 0; i -= 1) {
    earliestAfter[i] = earliest;
    earliest = Math.min(earliest, (events[i] as TimelineEvent).recordedAt.getTime());
  }
  let terminalSeen = false;
  const flagged = events.map((event, index): FlaggedEvent => {
    const flags: EventFlag[] = [];
    const previous = index > 0 ? events[index - 1] : undefined;
    if (event.recordedAt.getTime() > (earliestAfter[index] ?? Number.POSITIVE_INFINITY)) flags.push('out_of_order');
    if (terminalSeen) flags.push('after_terminal');
    else if (previous !== undefined && !isTransitionAllowed(previous.status, event.status)) flags.push('forbidden_transition');
    if (previous !== undefined && event.at.getTime() - previous.at.getTime() > staleMs) flags.push('long_gap');
    if (terminalStatuses.has(event.status)) terminalSeen = true;
    return { ...event, flags };
  });
  const last = flagged.at(-1);
  if (last !== undefined && !terminalStatuses.has(last.status) && now.getTime() - last.at.getTime() > staleMs) {
    last.flags.push('silent');
  }
  return flagged;
}

export function deliveryVerdict(
  pkg: Pick<TrackedPackage, 'currentStatus' | 'estimatedDelivery' | 'actualDelivery'>,
  now: Date,
): DeliveryVerdict {
  const promised = pkg.estimatedDelivery.getTime();
  if (pkg.actualDelivery !== null) {
    const delta = pkg.actualDelivery.getTime() - promised;
    return delta <= 0 ? { kind: 'on_time', byMs: -delta } : { kind: 'late', byMs: delta };
  }
  if (terminalStatuses.has(pkg.currentStatus)) return { kind: 'closed', status: pkg.currentStatus };
  const delta = now.getTime() - promised;
  return delta > 0 ? { kind: 'overdue', byMs: delta } : { kind: 'due', inMs: -delta };
}

/** Parses a status read from storage, refusing anything outside DOMAIN §2. */
export function toStatus(value: string): PackageStatus {
  if (!isPackageStatus(value)) throw new RangeError(`unknown status "${value}"`);
  return value;
}
