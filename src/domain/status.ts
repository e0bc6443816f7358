/** Package statuses and the state machine of DOMAIN §2. Pure: no I/O. */

export const packageStatuses = [
  'pending',
  'in_transit',
  'out_for_delivery',
  'attempt_fail',
  'available_for_pickup',
  'exception',
  'return_to_sender',
  'delivered',
  'returned',
  'cancelled',
] as const;

export type PackageStatus = (typeof packageStatuses)[number];

export const terminalStatuses: ReadonlySet<PackageStatus> = new Set(['delivered', 'returned', 'cancelled']);

const nonTerminal = packageStatuses.filter((s) => !terminalStatuses.has(s));

export const allowedTransitions: Readonly<Record<PackageStatus, readonly PackageStatus[]>> = {
  pending: ['in_transit', 'exception', 'cancelled'],
  in_transit: ['in_transit', 'out_for_delivery', 'available_for_pickup', 'delivered', 'exception', 'return_to_sender'],
  out_for_delivery: ['delivered', 'attempt_fail', 'available_for_pickup', 'in_transit', 'exception'],
  attempt_fail: ['out_for_delivery', 'available_for_pickup', 'in_transit', 'return_to_sender', 'exception'],
  available_for_pickup: ['delivered', 'return_to_sender', 'exception'],
  exception: [...nonTerminal, 'delivered'],
  return_to_sender: ['returned', 'exception'],
  delivered: [],
  returned: [],
  cancelled: [],
};

export function isPackageStatus(value: string): value is PackageStatus {
  return (packageStatuses as readonly string[]).includes(value);
}

export function isTransitionAllowed(from: PackageStatus, to: PackageStatus): boolean {
  return allowedTransitions[from].includes(to);
}

export const locationTypes = ['warehouse', 'hub', 'sorting_center', 'delivery_station', 'pickup_point', 'customs'] as const;

export type LocationType = (typeof locationTypes)[number];

/** An event of a package's timeline, as the state machine judges it. */
export interface PlacedEvent {
  /** Event time, epoch milliseconds. */
  at: number;
  status: PackageStatus;
  /** Recorded with --force and a reason: its own transition is not judged. */
  forced: boolean;
}

/**
 * Judges a new event at its place in a package's timeline (DOMAIN §2), exactly as `check` judges
 * the stored history: against the event before it in time and the event after it. `timeline` is
 * oldest first; an equal time sorts the new event after the ones there. History after a final
 * status is kept, not judged; a forced event's transitions are not judged. Returns the first
 * pair the state machine forbids, or null.
 */
export function judgeAtPlace(
  timeline: readonly PlacedEvent[],
  event: PlacedEvent,
): { from: PackageStatus; to: PackageStatus; before: boolean } | null {
  if (event.forced) return null;
  let place = 0;
  while (place < timeline.length && (timeline[place] as PlacedEvent).at <= event.at) place += 1;
  const previous = timeline[place - 1];
  const next = timeline[place];
  let finalBefore = false;
  for (let i = 0; i < place; i += 1) if (terminalStatuses.has((timeline[i] as PlacedEvent).status)) finalBefore = true;
  if (finalBefore) return null;
  if (previous !== undefined && !isTransitionAllowed(previous.status, event.status)) {
    return { from: previous.status, to: event.status, before: true };
  }
  if (
    next !== undefined &&
    !next.forced &&
    !terminalStatuses.has(event.status) &&
    !isTransitionAllowed(event.status, next.status)
  ) {
    return { from: event.status, to: next.status, before: false };
  }
  return null;
}
