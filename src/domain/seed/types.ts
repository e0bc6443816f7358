import type { LocationType, PackageStatus } from '../status.js';

/** Seed data profiles of DOMAIN §5. */
export type ProfileName = 'tiny' | 'small' | 'medium' | 'large';

export interface SeedSizes {
  customers: number;
  locations: number;
  packages: number;
}

export interface SeedParams extends SeedSizes {
  /** PRNG seed: the same seed, sizes, offsets and asOf give the same rows, row for row. */
  seed: number;
  /** The "now" of the generated world: journeys end before it, some are still in flight at it. */
  asOf: Date;
  /**
   * Keys already used in the database (0 when the tables are empty): generated ids start after
   * them, so appending never collides. Row number i of a table gets id offset + i + 1.
   */
  offsets: { customer: number; location: number; package: number };
}

export interface CustomerRow {
  customer_id: number;
  name: string;
  email: string;
  address: string;
}

export interface LocationRow {
  location_id: number;
  location_name: string;
  city: string;
  /** Two-letter US state code. */
  state: string;
  location_type: LocationType;
  /** IANA time zone of the city, e.g. America/Denver. */
  time_zone: string;
}

export interface PackageRow {
  package_id: number;
  tracking_number: string;
  sender_id: number;
  recipient_id: number;
  current_status: PackageStatus;
  /** kg with three decimals, as text (numeric(10,3)). */
  weight: string;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export interface ShipmentRow {
  shipment_id: number;
  package_id: number;
  origin_location_id: number;
  destination_location_id: number;
  estimated_delivery: Date;
  actual_delivery: Date | null;
}

export interface EventRow {
  /** (package_id − 1) × maxEventsPerPackage + position + 1: a function of the package alone. */
  event_id: number;
  package_id: number;
  location_id: number;
  status: PackageStatus;
  event_timestamp: Date;
}

/** Everything one package brings: its row, its shipment and its journey, in time order. */
export interface GeneratedPackage {
  pkg: PackageRow;
  shipment: ShipmentRow;
  events: EventRow[];
}

export const maxEventsPerPackage = 16;
