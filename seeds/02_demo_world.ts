import type { Knex } from 'knex';
import type { SeedPackage, SeedScan, SeedServices } from '../src/services/seed-files.service.js';

// A small world an ops person recognises: a dozen customers and a dozen packages, each with its
// story, on the facilities of 01_locations. Times count back from the file's "now" (when it was
// first applied to this database), so on a fresh install the package out for delivery is out
// now and the stale one has been quiet for days; running it again writes the same rows: nothing.

const customers = [
  ['Ava Thompson', 'ava.thompson@example.com', '12 Pine St, Seattle, WA 98101'],
  ['Ben Okafor', 'ben.okafor@example.com', '480 Larimer St, Denver, CO 80202'],
  ['Chloe Martin', 'chloe.martin@example.com', '77 Market St, Newark, NJ 07102'],
  ['Diego Alvarez', 'diego.alvarez@example.com', '1550 Brickell Ave, Miami, FL 33129'],
  ['Emma Schmidt', 'emma.schmidt@example.com', '9 Beacon St, Boston, MA 02108'],
  ['Farah Haddad', 'farah.haddad@example.com', '300 Congress Ave, Austin, TX 78701'],
  ['George Chen', 'george.chen@example.com', '2100 Commerce St, Dallas, TX 75201'],
  ['Hana Sato', 'hana.sato@example.com', '45 E Washington St, Phoenix, AZ 85004'],
  ['Isaac Novak', 'isaac.novak@example.com', '600 Nicollet Mall, Minneapolis, MN 55402'],
  ['Julia Rossi', 'julia.rossi@example.com', '233 S Wacker Dr, Chicago, IL 60606'],
  ['Kofi Mensah', 'kofi.mensah@example.com', '101 Peachtree St, Atlanta, GA 30303'],
  ['Lena Ivanova', 'lena.ivanova@example.com', '800 W 5th St, Los Angeles, CA 90071'],
] as const;

const email = (name: string): string => `${name.toLowerCase().replace(' ', '.')}@example.com`;

interface Story {
  trackingNumber: string;
  story: string;
  pkg: Omit<SeedPackage, 'trackingNumber' | 'estimatedDelivery' | 'labelCreatedAt'> & {
    dueInHours: number;
    labelHoursAgo: number;
  };
  /** [hours ago, status, location, payload?]; recorded in this order. */
  scans: readonly (readonly [number, string, string, Record<string, unknown>?])[];
}

const stories: readonly Story[] = [
  {
    trackingNumber: 'DM900001014US',
    story: 'delivered on time',
    pkg: {
      sender: email('Ava Thompson'),
      recipient: email('Ben Okafor'),
      weightKg: 1.2,
      origin: 'Seattle Warehouse',
      destination: 'Denver Delivery Station',
      metadata: { service: 'standard', contents: 'books' },
      dueInHours: -40,
      labelHoursAgo: 100,
    },
    scans: [
      [96, 'in_transit', 'Seattle Warehouse'],
      [80, 'in_transit', 'Salt Lake City Sorting Center'],
      [60, 'in_transit', 'Denver Delivery Station'],
      [52, 'out_for_delivery', 'Denver Delivery Station'],
      [48, 'delivered', 'Denver Delivery Station', { signed_by: 'B. OKAFOR' }],
    ],
  },
  {
    trackingNumber: 'DM900002023US',
    story: 'delivered a day late',
    pkg: {
      sender: email('Chloe Martin'),
      recipient: email('Diego Alvarez'),
      weightKg: 3.4,
      origin: 'Newark Warehouse',
      destination: 'Miami Delivery Station',
      metadata: { service: 'express', contents: 'electronics' },
      dueInHours: -94,
      labelHoursAgo: 150,
    },
    scans: [
      [146, 'in_transit', 'Newark Warehouse'],
      [120, 'in_transit', 'Atlanta Sorting Center'],
      [100, 'in_transit', 'Miami Delivery Station'],
      [76, 'out_for_delivery', 'Miami Delivery Station'],
      [70, 'delivered', 'Miami Delivery Station', { signed_by: 'D. ALVAREZ' }],
    ],
  },
  {
    trackingNumber: 'DM900003032US',
    story: 'out for delivery now',
    pkg: {
      sender: email('Chloe Martin'),
      recipient: email('Emma Schmidt'),
      weightKg: 0.6,
      origin: 'Newark Warehouse',
      destination: 'Boston Delivery Station',
      metadata: { service: 'express', contents: 'cosmetics', fragile: true },
      dueInHours: 6,
      labelHoursAgo: 30,
    },
    scans: [
      [26, 'in_transit', 'Newark Warehouse'],
      [8, 'in_transit', 'Boston Delivery Station'],
      [2, 'out_for_delivery', 'Boston Delivery Station', { route: 'BOS-114', vehicle: 'van 31' }],
    ],
  },
  {
    trackingNumber: 'DM900004041US',
    story: 'an attempt failed, then delivered',
    pkg: {
      sender: email('George Chen'),
      recipient: email('Farah Haddad'),
      weightKg: 8.25,
      origin: 'Dallas Hub',
      destination: 'Austin Delivery Station',
      metadata: { service: 'standard', contents: 'kitchenware' },
      dueInHours: -20,
      labelHoursAgo: 80,
    },
    scans: [
      [76, 'in_transit', 'Dallas Hub'],
      [56, 'in_transit', 'Austin Delivery Station'],
      [50, 'out_for_delivery', 'Austin Delivery Station'],
      [45, 'attempt_fail', 'Austin Delivery Station', { reason: 'no one home, notice left' }],
      [26, 'out_for_delivery', 'Austin Delivery Station'],
      [22, 'delivered', 'Austin Delivery Station', { signed_by: 'F. HADDAD' }],
    ],
  },
  {
    trackingNumber: 'DM900005055US',
    story: 'held in customs',
    pkg: {
      sender: email('Lena Ivanova'),
      recipient: email('Hana Sato'),
      weightKg: 2.0,
      origin: 'Los Angeles Customs Facility',
      destination: 'Phoenix Delivery Station',
      metadata: { service: 'international', contents: 'textiles', currency: 'USD', declared_value: 180 },
      dueInHours: 48,
      labelHoursAgo: 40,
    },
    scans: [
      [36, 'in_transit', 'Los Angeles Customs Facility'],
      [
        30,
        'exception',
        'Los Angeles Customs Facility',
        { reason: 'held by customs: commercial invoice missing', customs_entry: 'LAX-2291-07' },
      ],
    ],
  },
  {
    trackingNumber: 'DM900006060US',
    story: 'returned to sender',
    pkg: {
      sender: email('Ava Thompson'),
      recipient: email('Isaac Novak'),
      weightKg: 4.75,
      origin: 'Seattle Warehouse',
      destination: 'Minneapolis Delivery Station',
      metadata: { service: 'standard', contents: 'sporting goods' },
      dueInHours: -130,
      labelHoursAgo: 200,
    },
    scans: [
      [196, 'in_transit', 'Seattle Warehouse'],
      [170, 'in_transit', 'Chicago Sorting Center'],
      [150, 'in_transit', 'Minneapolis Delivery Station'],
      [146, 'out_for_delivery', 'Minneapolis Delivery Station'],
      [142, 'exception', 'Minneapolis Delivery Station', { reason: 'address not found' }],
      [140, 'return_to_sender', 'Minneapolis Delivery Station'],
      [100, 'returned', 'Seattle Warehouse', { signed_by: 'A. THOMPSON' }],
    ],
  },
  {
    trackingNumber: 'DM900007079US',
    story: 'label never scanned, cancelled',
    pkg: {
      sender: email('Chloe Martin'),
      recipient: email('Julia Rossi'),
      weightKg: 0.3,
      origin: 'Newark Warehouse',
      destination: 'Boston Delivery Station',
      metadata: { service: 'economy', contents: 'documents' },
      dueInHours: 50,
      labelHoursAgo: 20,
    },
    scans: [[18, 'cancelled', 'Newark Warehouse', { reason: 'label voided by the sender' }]],
  },
  {
    trackingNumber: 'DM900008088US',
    story: 'a scan arrived out of order',
    pkg: {
      sender: email('George Chen'),
      recipient: email('Diego Alvarez'),
      weightKg: 5.5,
      origin: 'Dallas Hub',
      destination: 'Miami Delivery Station',
      metadata: { service: 'standard', contents: 'auto parts' },
      dueInHours: -2,
      labelHoursAgo: 60,
    },
    scans: [
      [56, 'in_transit', 'Dallas Hub'],
      [30, 'in_transit', 'Atlanta Sorting Center'],
      [14, 'in_transit', 'Miami Delivery Station'],
      [9, 'out_for_delivery', 'Miami Delivery Station'],
      [6, 'delivered', 'Miami Delivery Station', { signed_by: 'D. ALVAREZ' }],
    ],
  },
  {
    trackingNumber: 'DM900009097US',
    story: 'stale: no scan for four days',
    pkg: {
      sender: email('Kofi Mensah'),
      recipient: email('Hana Sato'),
      weightKg: 12.0,
      origin: 'Louisville Hub',
      destination: 'Phoenix Delivery Station',
      metadata: { service: 'freight', contents: 'furniture' },
      dueInHours: -10,
      labelHoursAgo: 130,
    },
    scans: [
      [126, 'in_transit', 'Louisville Hub'],
      [100, 'in_transit', 'Dallas Hub'],
    ],
  },
  {
    trackingNumber: 'DM900010104US',
    story: 'ready for pickup',
    pkg: {
      sender: email('Julia Rossi'),
      recipient: email('Isaac Novak'),
      weightKg: 0.9,
      origin: 'Chicago Sorting Center',
      destination: 'Minneapolis Pickup Point',
      metadata: { service: 'economy', contents: 'toys' },
      dueInHours: 4,
      labelHoursAgo: 50,
    },
    scans: [
      [46, 'in_transit', 'Chicago Sorting Center'],
      [20, 'available_for_pickup', 'Minneapolis Pickup Point', { locker: 'B-17' }],
    ],
  },
  {
    trackingNumber: 'DM900011113US',
    story: 'in transit, on schedule',
    pkg: {
      sender: email('Kofi Mensah'),
      recipient: email('Emma Schmidt'),
      weightKg: 2.6,
      origin: 'Memphis Hub',
      destination: 'Boston Delivery Station',
      metadata: { service: 'standard', contents: 'clothing' },
      dueInHours: 40,
      labelHoursAgo: 20,
    },
    scans: [[16, 'in_transit', 'Memphis Hub']],
  },
  {
    trackingNumber: 'DM900012122US',
    story: 'label created, not scanned yet',
    pkg: {
      sender: email('Ava Thompson'),
      recipient: email('Hana Sato'),
      weightKg: 1.0,
      origin: 'Seattle Warehouse',
      destination: 'Phoenix Delivery Station',
      metadata: { service: 'economy', contents: 'books' },
      dueInHours: 70,
      labelHoursAgo: 3,
    },
    scans: [],
  },
];

export async function seed(_knex: Knex, shiptrack: SeedServices): Promise<void> {
  const hoursAgo = (hours: number): Date => new Date(shiptrack.now.getTime() - hours * 3_600_000);
  // A scanner's message reaches us a minute and a half after the scan.
  const scanAt = (trackingNumber: string, [hours, status, location, payload]: Story['scans'][number]): SeedScan => ({
    trackingNumber,
    status,
    location,
    at: hoursAgo(hours),
    receivedAt: hoursAgo(hours - 0.025),
    payload: { device: 'handheld', ...payload },
  });

  await shiptrack.upsertCustomers(customers.map(([name, address_email, address]) => ({ name, email: address_email, address })));
  await shiptrack.upsertPackages(
    stories.map(({ trackingNumber, pkg: { dueInHours, labelHoursAgo, ...pkg } }) => ({
      ...pkg,
      trackingNumber,
      estimatedDelivery: hoursAgo(-dueInHours),
      labelCreatedAt: hoursAgo(labelHoursAgo),
    })),
  );
  for (const { trackingNumber, scans } of stories) {
    await shiptrack.recordScans(scans.map((scan) => scanAt(trackingNumber, scan)));
  }
  // Memphis scanned the out-of-order package 40 hours ago; the message came in 20 hours later,
  // after Atlanta's: stored as history, flagged by `track`, its status left as it was.
  await shiptrack.recordScans([{ ...scanAt('DM900008088US', [40, 'in_transit', 'Memphis Hub']), receivedAt: hoursAgo(20) }]);

  for (const { trackingNumber, story } of stories) shiptrack.highlight(trackingNumber, story);
}
