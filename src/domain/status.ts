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
