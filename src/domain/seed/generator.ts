/**
 * The seed data generator: customers, locations, packages with their shipment and journey, and the
 * raw scan documents behind tracking events. Pure and deterministic: with the same params, row i of
 * a table is a function of (seed, table, i) alone, so any rows can be generated in any order and any
 * batch size and still come out identical. Hot paths work on epoch milliseconds and reused scratch
 * buffers; Date objects are built once per returned field.
 *
 * Lookup tables (the location network, pools, nearest hubs) are built on first use and cached per
 * params object, so treat params as immutable once passed in.
 */
import { type LocationType, type PackageStatus, locationTypes } from '../status.js';
import { type Place, placeDistanceKm, places } from './places.js';
import { locationTypeLabels } from '../../../seeds/reference/places.js';
import { eventsPerPackageFor } from './profiles.js';
import { Rng, type StreamKey, cumulativeWeights, hash32, streamIds, streamKey } from './random.js';
import {
  type CustomerRow,
  type EventRow,
  type GeneratedPackage,
  type LocationRow,
  type PackageRow,
  type SeedParams,
  type ShipmentRow,
  maxEventsPerPackage,
} from './types.js';

const hourMs = 3_600_000;
const dayMs = 86_400_000;
/** Labels are created over this many days before `asOf`. */
const historyDays = 60;
/** The largest package id with a guaranteed-unique tracking number: the S10 serial space. */
export const maxPackageId = 100_000_000;

/** Journey rates (DOMAIN §5), per package; the observed rates are a little lower because some
 *  journeys are still in flight at asOf. */
const rates = {
  cancelled: 0.015,
  returnToSender: 0.0105,
  attemptFail: 0.054,
  exception: 0.031,
  onTime: 0.93,
  onTimeAfterIncident: 0.45,
};

// ---------------------------------------------------------------------------------------------
// Per-params context, built once and cached.

interface Network {
  /** Location id of generated row 0; generated rows cover firstId … firstId + count − 1. */
  firstId: number;
  count: number;
  placeByRow: Uint16Array;
  typeByRow: Uint8Array;
  /** Candidate ids, repeated by weight: where parcels are handed in, where they are delivered. */
  originPool: Int32Array;
  destinationPool: Int32Array;
  /** Hubs and sorting centers. */
  hubPool: Int32Array;
  /** Per place: up to `nearHubsPerPlace` nearest hubs (−1 for none). */
  nearHubs: Int32Array;
  /** Per place: the nearest pickup point (−1 for none). */
  nearPickup: Int32Array;
}

interface Context {
  customers: number;
  locations: number;
  packages: number;
  customerOffset: number;
  locationOffset: number;
  packageOffset: number;
  totalCustomers: number;
  totalLocations: number;
  asOfMs: number;
  windowStartMs: number;
  windowMs: number;
  /** The latest label time: a minute before asOf, in whole seconds. */
  latestLabelMs: number;
  keys: { customer: StreamKey; location: StreamKey; package: StreamKey; rawScan: StreamKey; partner: StreamKey };
  /** Mean number of hubs per journey, tuned so the average journey length matches the profile. */
  hubsMean: number;
  network: Network | undefined;
}

const nearHubsPerPlace = 4;
let lastParams: SeedParams | undefined;
let lastContext: Context | undefined;
const contextsByObject = new WeakMap<SeedParams, Context>();
const contextsByValue = new Map<string, Context>();

function contextOf(params: SeedParams): Context {
  if (params === lastParams && lastContext) return lastContext;
  let ctx = contextsByObject.get(params);
  if (!ctx) {
    // A fresh params object with the same values (e.g. a spread copy per batch) reuses the tables.
    const key = paramsKey(params);
    ctx = contextsByValue.get(key);
    if (!ctx) {
      ctx = createContext(params);
      if (contextsByValue.size >= 16) contextsByValue.clear();
      contextsByValue.set(key, ctx);
    }
    contextsByObject.set(params, ctx);
  }
  lastParams = params;
  lastContext = ctx;
  return ctx;
}

function paramsKey(p: SeedParams): string {
  const asOf = p.asOf instanceof Date ? p.asOf.getTime() : NaN;
  return [p.seed, p.customers, p.locations, p.packages, p.offsets.customer, p.offsets.location, p.offsets.package, asOf].join(
    ',',
  );
}

function requireCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

function createContext(p: SeedParams): Context {
  if (!Number.isSafeInteger(p.seed)) throw new RangeError(`seed must be an integer, got ${p.seed}`);
  const asOfMs = p.asOf instanceof Date ? p.asOf.getTime() : NaN;
  if (!Number.isFinite(asOfMs)) throw new RangeError('asOf must be a valid Date');
  const customers = requireCount('customers', p.customers);
  const locations = requireCount('locations', p.locations);
  const packages = requireCount('packages', p.packages);
  const customerOffset = requireCount('offsets.customer', p.offsets.customer);
  const locationOffset = requireCount('offsets.location', p.offsets.location);
  const packageOffset = requireCount('offsets.package', p.offsets.package);
  if (packageOffset + packages > maxPackageId) {
    throw new RangeError(`package ids must stay within ${maxPackageId} (the S10 serial space), got ${packageOffset + packages}`);
  }
  const windowMs = historyDays * dayMs;
  return {
    customers,
    locations,
    packages,
    customerOffset,
    locationOffset,
    packageOffset,
    totalCustomers: customerOffset + customers,
    totalLocations: locationOffset + locations,
    asOfMs,
    windowStartMs: asOfMs - windowMs,
    latestLabelMs: Math.floor((asOfMs - 60_000) / 1000) * 1000,
    windowMs: windowMs - 10 * 60_000,
    keys: {
      customer: streamKey(p.seed, streamIds.customer),
      location: streamKey(p.seed, streamIds.location),
      package: streamKey(p.seed, streamIds.package),
      rawScan: streamKey(p.seed, streamIds.rawScan),
      partner: streamKey(p.seed, streamIds.partner),
    },
    // Journey length ≈ 4.9 + hubs on average once cancellations, detours and in-flight cuts net out.
    hubsMean: Math.min(4, Math.max(1, eventsPerPackageFor(packages) - 4.9)),
    network: undefined,
  };
}

function checkIndex(index: number, size: number, table: string): void {
  if (!(index >= 0 && index < size && Math.floor(index) === index)) {
    throw new RangeError(`${table} row index ${index} is outside 0 … ${size - 1}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Static tables.

const placeCount = places.length;

function placeAt(index: number): Place {
  return places[index] as Place;
}

const customerPlaceWeights = cumulativeWeights(places.map((p) => p.population ** 0.9));
const locationPlaceWeights = cumulativeWeights(places.map((p) => p.population ** 0.7));
const bigPlaces = places
  .map((p, i) => ({ i, population: p.population }))
  .sort((a, b) => b.population - a.population)
  .slice(0, 20);
const bigPlaceIndex = bigPlaces.map((p) => p.i);
const bigPlaceWeights = cumulativeWeights(bigPlaces.map((p) => p.population));

const typeCode: Readonly<Record<LocationType, number>> = Object.fromEntries(locationTypes.map((t, i) => [t, i])) as Record<
  LocationType,
  number
>;

/** Per place, cumulative weights over `locationTypes`: hubs and sorting centers grow with the city. */
const typeWeightsByPlace: Float64Array[] = places.map((p) => {
  const size = Math.min(3, Math.max(0.3, Math.sqrt(p.population / 500)));
  const weights: Record<LocationType, number> = {
    warehouse: 10,
    hub: 4 * size * (p.airHub ? 3 : 1),
    sorting_center: 5 * size * (p.airHub ? 1.5 : 1),
    delivery_station: 36,
    pickup_point: 30,
    customs: p.gateway ? 4 : 0,
  };
  return cumulativeWeights(locationTypes.map((t) => weights[t]));
});

/** Location-row count of the backbone: the first rows of every batch are hubs and sorting centers
 *  in big cities, so even a small network has somewhere to route through. */
const backboneRows = 6;

const firstNames = [
  'James',
  'Mary',
  'Robert',
  'Patricia',
  'John',
  'Jennifer',
  'Michael',
  'Linda',
  'David',
  'Elizabeth',
  'William',
  'Barbara',
  'Richard',
  'Susan',
  'Joseph',
  'Jessica',
  'Thomas',
  'Sarah',
  'Christopher',
  'Karen',
  'Daniel',
  'Lisa',
  'Matthew',
  'Nancy',
  'Anthony',
  'Sandra',
  'Mark',
  'Ashley',
  'Donald',
  'Emily',
  'Steven',
  'Michelle',
  'Andrew',
  'Amanda',
  'Joshua',
  'Melissa',
  'Kevin',
  'Stephanie',
  'Brian',
  'Rebecca',
  'Jose',
  'Laura',
  'Luis',
  'Maria',
  'Carlos',
  'Ana',
  'Wei',
  'Mei',
  'Hiroshi',
  'Yuki',
  'Priya',
  'Arjun',
  'Aisha',
  'Omar',
  'Kwame',
  'Fatima',
  'Noah',
  'Olivia',
  'Liam',
  'Emma',
  'Mateo',
  'Sofia',
  'Ethan',
  'Chloe',
  'Nguyen',
  'Grace',
  'Dmitri',
  'Elena',
  'Sean',
  'Siobhan',
];
const lastNames = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Torres',
  'Nguyen',
  'Hill',
  'Flores',
  'Green',
  'Adams',
  'Nelson',
  'Baker',
  'Hall',
  'Rivera',
  'Campbell',
  'Mitchell',
  'Carter',
  'Roberts',
  'Kim',
  'Patel',
  'Chen',
  'Singh',
  'Wang',
  'Cohen',
  "O'Brien",
  'Murphy',
  'Kowalski',
  'Schmidt',
  'Rossi',
  'Okafor',
  'Yamamoto',
  'Haddad',
  'Novak',
  'Larsen',
  'McDonald',
  'Ortiz',
  'Price',
  'Bennett',
  'Van Buren',
  'St. James',
  'Diaz-Cruz',
];
const emailSafe = (name: string): string => name.toLowerCase().replace(/[^a-z]/g, '');
const firstEmail = firstNames.map(emailSafe);
const lastEmail = lastNames.map(emailSafe);
const middleInitials = 'ABCDEFGHJKLMNPRSTW'.split('').map((c) => `${c}.`);
// Reserved example domains (RFC 2606 / RFC 6761): seed data never names a real mailbox.
const emailDomains = ['example.com', 'example.net', 'example.org', 'mail.example', 'inbox.example', 'post.test'];
const streetNames = [
  'Main',
  'Oak',
  'Maple',
  'Cedar',
  'Pine',
  'Elm',
  'Washington',
  'Lake',
  'Hill',
  'Park',
  'Sunset',
  'Lincoln',
  'Jefferson',
  'Madison',
  'Franklin',
  'Highland',
  'Ridge',
  'River',
  'Church',
  'Walnut',
  'Spring',
  'Chestnut',
  'Willow',
  'Meadow',
  'Forest',
  'Valley',
  'Center',
  'Mill',
  'Jackson',
  'Adams',
  '2nd',
  '3rd',
  '5th',
  '7th',
  '12th',
  'Broadway',
  'Market',
];
const streetSuffixes = ['St', 'Ave', 'Blvd', 'Rd', 'Ln', 'Dr', 'Ct', 'Way', 'Pl', 'Pkwy', 'Ter'];
const unitKinds = ['Apt', 'Unit', 'Suite', '#'];
const digits3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const digits2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

const serviceLevels = ['economy', 'standard', 'express', 'overnight'] as const;
type ServiceLevel = (typeof serviceLevels)[number];
const serviceWeights = cumulativeWeights([0.17, 0.55, 0.2, 0.08]);
const contentCategories = [
  'apparel',
  'electronics',
  'books',
  'home_goods',
  'cosmetics',
  'toys',
  'auto_parts',
  'health',
  'sporting_goods',
  'jewelry',
  'documents',
  'food',
];
const contentWeights = cumulativeWeights([18, 14, 9, 12, 8, 7, 5, 6, 5, 2, 9, 5]);
const documentsCategory = contentCategories.indexOf('documents');
/** S10 service indicators by service level: EE/EA express mail, CP parcels, RR/RB/LX registered and tracked small packets. */
const serviceLetters: Readonly<Record<ServiceLevel, readonly string[]>> = {
  economy: ['RR', 'RB', 'LX', 'LX'],
  standard: ['CP', 'CP', 'CP', 'RR'],
  express: ['EE', 'EE', 'EA', 'CP'],
  overnight: ['EE', 'EA', 'EE', 'EE'],
};
const s10WeightsFromRight = [7, 9, 5, 3, 2, 4, 6, 8];
/**
 * S10 serial = (a × (package_id − 1) + b) mod 10⁸: a bijection because a is prime to 10⁸, so
 * serials are unique for every id up to 10⁸. Deliberately not keyed by the seed: an append under
 * another seed must not reuse a serial. a is split in two halves to stay exact in doubles.
 */
const serialA = 61_803_399;
const serialAHigh = Math.floor(serialA / 10_000);
const serialALow = serialA % 10_000;
const serialB = 27_182_818;

// ---------------------------------------------------------------------------------------------
// Customers.

const customerRng = new Rng();

/** Customer row `index` (0-based) of the batch described by `params`: id = offsets.customer + index + 1. */
export function generateCustomer(params: SeedParams, index: number): CustomerRow {
  const ctx = contextOf(params);
  checkIndex(index, ctx.customers, 'customer');
  const rng = customerRng.reset(ctx.keys.customer, index);
  const id = ctx.customerOffset + index + 1;
  const f = rng.int(firstNames.length);
  const l = rng.int(lastNames.length);
  const first = firstNames[f] as string;
  const last = lastNames[l] as string;
  const name = rng.chance(0.12) ? `${first} ${rng.pick(middleInitials)} ${last}` : `${first} ${last}`;
  const fe = firstEmail[f] as string;
  const le = lastEmail[l] as string;
  // The local part ends with the customer id after letters and dots only: ids are unique, so
  // e-mails are too, whatever the names and domains, and they are lower case throughout.
  let local: string;
  switch (rng.int(5)) {
    case 0:
      local = `${fe}.${le}${id}`;
      break;
    case 1:
      local = `${fe}${le}${id}`;
      break;
    case 2:
      local = `${fe.charAt(0)}${le}${id}`;
      break;
    case 3:
      local = `${fe}.${le.charAt(0)}${id}`;
      break;
    default:
      local = `${fe}_${le}.${id}`;
  }
  const email = `${local}@${rng.pick(emailDomains)}`;
  const place = placeAt(rng.weighted(customerPlaceWeights));
  const number = rng.chance(0.7) ? rng.intBetween(1, 9999) : rng.intBetween(10, 29999);
  const street = `${number} ${rng.pick(streetNames)} ${rng.pick(streetSuffixes)}`;
  const unit = rng.chance(0.25)
    ? `, ${rng.pick(unitKinds)} ${rng.intBetween(1, 40)}${rng.chance(0.3) ? 'ABCD'.charAt(rng.int(4)) : ''}`
    : '';
  const zip = `${place.zip3}${digits2[rng.int(100)] as string}`;
  return { customer_id: id, name, email, address: `${street}${unit}, ${place.city}, ${place.state} ${zip}` };
}

// ---------------------------------------------------------------------------------------------
// Locations.

const locationRng = new Rng();

/** Place index × 8 + type code of location row `index`. */
function locationPlaceAndType(ctx: Context, index: number): number {
  const rng = locationRng.reset(ctx.keys.location, index);
  if (index < backboneRows) {
    const place = bigPlaceIndex[rng.weighted(bigPlaceWeights)] as number;
    return place * 8 + (index % 2 === 0 ? typeCode.hub : typeCode.sorting_center);
  }
  const place = rng.weighted(locationPlaceWeights);
  return place * 8 + rng.weighted(typeWeightsByPlace[place] as Float64Array);
}

/** Location row `index` (0-based) of the batch: id = offsets.location + index + 1. */
export function generateLocation(params: SeedParams, index: number): LocationRow {
  const ctx = contextOf(params);
  checkIndex(index, ctx.locations, 'location');
  const packed = locationPlaceAndType(ctx, index);
  const place = placeAt(packed >>> 3);
  const type = locationTypes[packed & 7] as LocationType;
  const id = ctx.locationOffset + index + 1;
  return {
    location_id: id,
    location_name: `${place.city} ${locationTypeLabels[type]} ${id}`,
    city: place.city,
    state: place.state,
    location_type: type,
    time_zone: place.timeZone,
  };
}

/** Weight of each location type as a parcel's origin and as its destination. */
const originTypeWeight: Readonly<Record<LocationType, number>> = {
  warehouse: 4,
  hub: 0,
  sorting_center: 1,
  delivery_station: 3,
  pickup_point: 3,
  customs: 1,
};
const destinationTypeWeight: Readonly<Record<LocationType, number>> = {
  warehouse: 0,
  hub: 0,
  sorting_center: 0,
  delivery_station: 4,
  pickup_point: 1,
  customs: 0,
};

function poolOf(ids: number[], types: Uint8Array, firstId: number, weight: Readonly<Record<LocationType, number>>): Int32Array {
  const out: number[] = [];
  for (const id of ids) {
    const w = weight[locationTypes[types[id - firstId] as number] as LocationType];
    for (let k = 0; k < w; k += 1) out.push(id);
  }
  return Int32Array.from(out.length > 0 ? out : ids);
}

function networkOf(ctx: Context): Network {
  if (ctx.network) return ctx.network;
  const count = ctx.locations;
  const firstId = ctx.locationOffset + 1;
  const placeByRow = new Uint16Array(count);
  const typeByRow = new Uint8Array(count);
  const ids: number[] = [];
  const hubs: number[] = [];
  const pickups: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const packed = locationPlaceAndType(ctx, i);
    placeByRow[i] = packed >>> 3;
    typeByRow[i] = packed & 7;
    ids.push(firstId + i);
    if ((packed & 7) === typeCode.hub || (packed & 7) === typeCode.sorting_center) hubs.push(firstId + i);
    if ((packed & 7) === typeCode.pickup_point) pickups.push(firstId + i);
  }
  const nearHubs = new Int32Array(placeCount * nearHubsPerPlace).fill(-1);
  const nearPickup = new Int32Array(placeCount).fill(-1);
  for (let place = 0; place < placeCount; place += 1) {
    const byDistance = (id: number): number =>
      placeDistanceKm[place * placeCount + (placeByRow[id - firstId] as number)] as number;
    const nearest = [...hubs].sort((a, b) => byDistance(a) - byDistance(b) || a - b).slice(0, nearHubsPerPlace);
    nearest.forEach((id, k) => (nearHubs[place * nearHubsPerPlace + k] = id));
    let best = -1;
    for (const id of pickups) if (best < 0 || byDistance(id) < byDistance(best)) best = id;
    nearPickup[place] = best;
  }
  ctx.network = {
    firstId,
    count,
    placeByRow,
    typeByRow,
    originPool: poolOf(ids, typeByRow, firstId, originTypeWeight),
    destinationPool: poolOf(ids, typeByRow, firstId, destinationTypeWeight),
    hubPool: Int32Array.from(hubs),
    nearHubs,
    nearPickup,
  };
  return ctx.network;
}

/** The place of a location id; ids from earlier batches (type and city unknown here) get a stable
 *  pseudo-place so distances and GPS stay plausible. */
function placeOfLocation(ctx: Context, net: Network, id: number): number {
  const row = id - net.firstId;
  if (row >= 0 && row < net.count) return net.placeByRow[row] as number;
  return pseudoPlace(ctx, id);
}

function pseudoPlace(ctx: Context, id: number): number {
  const target = (hash32(ctx.keys.location, id) / 4_294_967_296) * (locationPlaceWeights[placeCount - 1] as number);
  let lo = 0;
  let hi = placeCount - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((locationPlaceWeights[mid] as number) > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function typeOfLocation(net: Network, id: number): number {
  const row = id - net.firstId;
  return row >= 0 && row < net.count ? (net.typeByRow[row] as number) : -1;
}

// ---------------------------------------------------------------------------------------------
// Packages, shipments and journeys.

const packageRng = new Rng();
const stepStatus: PackageStatus[] = new Array<PackageStatus>(maxEventsPerPackage).fill('pending');
const stepLocation = new Int32Array(maxEventsPerPackage);
/** Nominal duration, in days, of the leg that ends with each step. */
const stepLeg = new Float64Array(maxEventsPerPackage);
const stepTime = new Float64Array(maxEventsPerPackage);
let steps = 0;

function step(status: PackageStatus, location: number, legDays: number): void {
  stepStatus[steps] = status;
  stepLocation[steps] = location;
  stepLeg[steps] = legDays;
  steps += 1;
}

/** An id drawn from the pool, or — with the share of ids from earlier batches — any earlier id. */
function drawLocation(ctx: Context, rng: Rng, pool: Int32Array): number {
  const earlier = ctx.locationOffset;
  if (pool.length === 0 || (earlier > 0 && rng.float() * ctx.totalLocations < earlier)) return 1 + rng.int(earlier);
  return pool[rng.int(pool.length)] as number;
}

function drawHubNear(ctx: Context, net: Network, rng: Rng, place: number, avoid: number): number {
  const base = place * nearHubsPerPlace;
  let hub = net.nearHubs[base + rng.int(nearHubsPerPlace)] as number;
  if (hub < 0) hub = net.nearHubs[base] as number;
  if (hub < 0 || hub === avoid) return drawAnyHub(ctx, net, rng, avoid);
  return hub;
}

function drawAnyHub(ctx: Context, net: Network, rng: Rng, avoid: number): number {
  const pool = net.hubPool;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const hub = pool.length > 0 ? (pool[rng.int(pool.length)] as number) : 1 + rng.int(ctx.totalLocations);
    if (hub !== avoid) return hub;
  }
  return avoid === 1 ? 2 : 1;
}

function transitDays(service: ServiceLevel, km: number): number {
  switch (service) {
    case 'overnight':
      return 1;
    case 'express':
      return km < 800 ? 1 : km < 2500 ? 2 : 3;
    case 'standard':
      return km < 150 ? 1 : Math.min(5, 2 + Math.floor(km / 1000));
    default:
      return Math.min(8, 3 + Math.floor(km / 800));
  }
}

/**
 * Squeezes the local day of instant `ms` into `hours` hours from `startHour` on, in whole seconds:
 * increasing, and it keeps every instant within its own local day.
 */
function businessHours(ms: number, offsetMs: number, startHour: number, hours: number): number {
  const local = ms + offsetMs;
  const dayStart = local - (((local % dayMs) + dayMs) % dayMs);
  return dayStart + startHour * hourMs + Math.floor(((local - dayStart) * hours) / 24 / 1000) * 1000 - offsetMs;
}

/** Days until a customer collects a parcel from a pickup point: usually a day or two, at most nine. */
function collectionDays(rng: Rng): number {
  return Math.min(9, rng.logNormal(0.9, 0.8));
}

const exceptionStages = { none: 0, origin: 1, hub: 2, destination: 3, delivery: 4 } as const;
const exceptionStageWeights = cumulativeWeights([0, 0.1, 0.5, 0.25, 0.15]);

/** Package row `index` (0-based) of the batch, with its shipment and its journey (oldest first).
 *  package_id = shipment_id = offsets.package + index + 1. */
export function generatePackage(params: SeedParams, index: number): GeneratedPackage {
  const ctx = contextOf(params);
  checkIndex(index, ctx.packages, 'package');
  if (ctx.totalCustomers < 2) throw new RangeError('packages need at least two customers (sender ≠ recipient)');
  if (ctx.totalLocations < 2) throw new RangeError('packages need at least two locations (origin ≠ destination)');
  const net = networkOf(ctx);
  const rng = packageRng.reset(ctx.keys.package, index);
  const id = ctx.packageOffset + index + 1;

  // Label time: package ids follow label time through the window, with jitter inside each slot.
  const slotMs = ctx.windowStartMs + ((index + rng.float()) / ctx.packages) * ctx.windowMs;

  // Parties: a few busy merchant accounts send a large share; recipients are anyone else.
  const customersTotal = ctx.totalCustomers;
  const sender = rng.float() < 0.3 ? 1 + rng.int(Math.max(2, Math.ceil(customersTotal * 0.02))) : 1 + rng.int(customersTotal);
  let recipient = 1 + rng.int(customersTotal - 1);
  if (recipient >= sender) recipient += 1;

  // What is in the box.
  const service = serviceLevels[rng.weighted(serviceWeights)] as ServiceLevel;
  const category = rng.weighted(contentWeights);
  const temperatureControlled = category !== documentsCategory && rng.float() < 0.015;
  let grams: number;
  if (category === documentsCategory) grams = 20 + rng.int(480);
  else {
    grams = Math.round(rng.logNormal(temperatureControlled ? 4200 : 1500, 0.95));
    if (grams < 50) grams = 50 + rng.int(50);
    else if (grams > 68_000) grams = 68_000 - rng.int(5000);
  }
  const metadata: Record<string, unknown> = { service };
  if (rng.float() < 0.72) metadata.contents = contentCategories[category];
  if (rng.float() < 0.86) {
    if (category === documentsCategory) metadata.dimensions_cm = [32, 24, 1 + rng.int(3)];
    else {
      // kg per m³ between 80 and 400; a box about 1.6 : 1 : 0.6.
      const litres = grams / rng.between(80, 400);
      const side = Math.cbrt((litres * 1000) / 0.96);
      metadata.dimensions_cm = [
        Math.max(1, Math.round(side * 1.6)),
        Math.max(1, Math.round(side)),
        Math.max(1, Math.round(side * 0.6)),
      ];
    }
  }
  const fragileDraw = rng.float();
  if (fragileDraw < 0.1) metadata.fragile = true;
  else if (fragileDraw < 0.3) metadata.fragile = false;
  let declared = 0;
  if (rng.float() < 0.55) {
    declared = Math.round(rng.logNormal(60, 1.1) * 100) / 100;
    metadata.declared_value = declared;
    metadata.currency = 'USD';
  }
  const signatureDraw = rng.float();
  if (signatureDraw < (declared > 500 ? 0.7 : 0.1)) metadata.signature_required = true;
  else if (signatureDraw > 0.85) metadata.signature_required = false;
  if (temperatureControlled) {
    metadata.temperature_controlled = true;
    metadata.temperature_range_c = rng.float() < 0.7 ? [2, 8] : [-20, -10];
  }
  if (declared > 1000 && rng.float() < 0.6) metadata.insured = true;

  // Tracking number: the serial is a permutation of the package id, so it is unique by construction.
  const x = id - 1;
  const serial = (((serialAHigh * x) % 10_000) * 10_000 + serialALow * x + serialB) % maxPackageId;
  let rest = serial;
  let sum = 0;
  for (let k = 0; k < 8; k += 1) {
    const d = rest % 10;
    sum += d * (s10WeightsFromRight[k] as number);
    rest = (rest - d) / 10;
  }
  const check = 11 - (sum % 11);
  const letters = serviceLetters[service][rng.int(4)] as string;
  const tracking = `${letters}${(serial + maxPackageId).toString().slice(1)}${check === 10 ? 0 : check === 11 ? 5 : check}US`;

  // Lane and promise.
  const origin = drawLocation(ctx, rng, net.originPool);
  let destination = drawLocation(ctx, rng, net.destinationPool);
  if (destination === origin) destination = drawLocation(ctx, rng, net.destinationPool);
  if (destination === origin) destination = (origin % ctx.totalLocations) + 1;
  const originPlace = placeOfLocation(ctx, net, origin);
  const destinationPlace = placeOfLocation(ctx, net, destination);
  const km = Math.max(8, placeDistanceKm[originPlace * placeCount + destinationPlace] as number);
  const destinationOffsetMs = placeAt(destinationPlace).utcOffsetHours * hourMs;
  // Labels are printed between 07:00 and 22:00 local time at the origin.
  const t0 = Math.min(businessHours(slotMs, placeAt(originPlace).utcOffsetHours * hourMs, 7, 15), ctx.latestLabelMs);
  const localLabel = t0 + destinationOffsetMs;
  const estimatedMs = localLabel - (localLabel % dayMs) + transitDays(service, km) * dayMs + 20 * hourMs - destinationOffsetMs;

  // Journey plan: statuses, locations and nominal leg durations.
  steps = 0;
  step('pending', origin, 0);
  const outcome = rng.float();
  let delivering = false;
  let incident = false;
  if (outcome < rates.cancelled) {
    step('cancelled', origin, rng.between(0.02, 1.5));
  } else {
    const returning = outcome < rates.cancelled + rates.returnToSender;
    const attemptFail = !returning && rng.float() < rates.attemptFail;
    const exceptionStage =
      !returning && rng.float() < rates.exception ? rng.weighted(exceptionStageWeights) : exceptionStages.none;
    delivering = !returning;
    incident = attemptFail || exceptionStage !== exceptionStages.none;
    const fast = service === 'express' || service === 'overnight';
    const hubsMean = ctx.hubsMean;
    const hubs = Math.min(4, Math.floor(hubsMean) + (rng.float() < hubsMean - Math.floor(hubsMean) ? 1 : 0));
    const legDays = km / (hubs + 1) / (fast ? 2600 : 950);

    if (exceptionStage === exceptionStages.origin) {
      step('exception', origin, rng.between(0.05, 0.6));
      step('in_transit', origin, rng.between(0.3, 1.5));
    } else {
      step('in_transit', origin, fast ? rng.between(0.04, 0.35) : rng.between(0.08, 0.8));
    }
    const exceptionHub = exceptionStage === exceptionStages.hub ? rng.int(hubs) : -1;
    let previous = origin;
    let hold = 0;
    for (let k = 0; k < hubs; k += 1) {
      let hub: number;
      if (k === 0 && (hubs > 1 || rng.float() < 0.5)) hub = drawHubNear(ctx, net, rng, originPlace, previous);
      else if (k === hubs - 1) hub = drawHubNear(ctx, net, rng, destinationPlace, previous);
      else hub = drawAnyHub(ctx, net, rng, previous);
      if (hub === destination) hub = drawAnyHub(ctx, net, rng, previous);
      step('in_transit', hub, legDays + rng.between(0.06, 0.3) + hold);
      hold = 0;
      if (k === exceptionHub) {
        // Held at the hub: re-scanned there when released, or seen next at the following facility.
        step('exception', hub, rng.between(0.02, 0.3));
        if (rng.float() < 0.5) step('in_transit', hub, rng.between(0.3, 2));
        else hold = rng.between(0.3, 2);
      }
      previous = hub;
    }
    step('in_transit', destination, legDays + rng.between(0.06, 0.3) + hold);
    if (exceptionStage === exceptionStages.destination) {
      step('exception', destination, rng.between(0.05, 0.5));
      if (rng.float() < 0.6) step('in_transit', destination, rng.between(0.3, 1.5));
    }

    const pickupDestination = typeOfLocation(net, destination) === typeCode.pickup_point;
    const nearPickup = net.nearPickup[destinationPlace] as number;
    const pickup = nearPickup > 0 && nearPickup !== origin ? nearPickup : destination;
    if (returning) {
      if (pickupDestination) {
        step('available_for_pickup', destination, rng.between(0.1, 0.5));
        step('return_to_sender', destination, rng.between(7, 10));
      } else {
        step('out_for_delivery', destination, rng.between(0.2, 0.7));
        const variant = rng.int(3);
        if (variant === 0) {
          step('attempt_fail', destination, rng.between(0.05, 0.35));
          step('out_for_delivery', destination, rng.between(0.6, 1));
          step('attempt_fail', destination, rng.between(0.05, 0.35));
          step('return_to_sender', destination, rng.between(0.2, 2));
        } else if (variant === 1) {
          step('attempt_fail', destination, rng.between(0.05, 0.35));
          step('available_for_pickup', pickup, rng.between(0.2, 0.8));
          step('return_to_sender', pickup, rng.between(7, 10));
        } else {
          step('exception', destination, rng.between(0.05, 0.35));
          step('return_to_sender', destination, rng.between(0.2, 2));
        }
      }
      step('returned', origin, km / 950 + rng.between(1, 3));
    } else if (pickupDestination) {
      step('available_for_pickup', destination, rng.between(0.1, 0.5));
      step('delivered', destination, collectionDays(rng));
    } else {
      step('out_for_delivery', destination, rng.between(0.25, 0.7));
      if (exceptionStage === exceptionStages.delivery) {
        step('exception', destination, rng.between(0.05, 0.3));
        step('in_transit', destination, rng.between(0.1, 0.5));
        step('out_for_delivery', destination, rng.between(0.5, 1));
      }
      if (attemptFail) {
        step('attempt_fail', destination, rng.between(0.05, 0.35));
        const next = rng.float();
        if (next < 0.6) {
          step('out_for_delivery', destination, rng.between(0.6, 1));
          if (next < 0.06 && exceptionStage !== exceptionStages.delivery) {
            step('attempt_fail', destination, rng.between(0.05, 0.35));
            step('available_for_pickup', pickup, rng.between(0.2, 0.8));
            step('delivered', pickup, collectionDays(rng));
          } else {
            step('delivered', destination, rng.between(0.05, 0.35));
          }
        } else {
          step('available_for_pickup', pickup, rng.between(0.2, 0.8));
          step('delivered', pickup, collectionDays(rng));
        }
      } else {
        step('delivered', destination, rng.between(0.05, 0.4));
      }
    }
  }

  // Timing: the nominal legs, stretched or squeezed so that ~90% of deliveries keep the promise.
  let nominal = 0;
  for (let k = 1; k < steps; k += 1) nominal += stepLeg[k] as number;
  let span = nominal;
  if (delivering) {
    const promised = (estimatedMs - t0) / dayMs;
    if (rng.float() < (incident ? rates.onTimeAfterIncident : rates.onTime)) {
      if (nominal > promised) span = promised * rng.between(0.7, 0.97);
    } else if (nominal <= promised) {
      span = promised + rng.between(0.08, 1.8);
    }
  }
  const secondsPerDay = (span / nominal) * 86_400;
  let elapsed = 0;
  let last = t0;
  let lastMile = false;
  stepTime[0] = t0;
  for (let k = 1; k < steps; k += 1) {
    elapsed += stepLeg[k] as number;
    let t = t0 + Math.round(elapsed * secondsPerDay) * 1000;
    const status = stepStatus[k];
    // The last mile happens in daylight, 08:00–20:00 local: the map keeps order and the promise.
    if (status === 'out_for_delivery' || status === 'available_for_pickup') lastMile = true;
    if (lastMile && status !== 'returned') t = businessHours(t, destinationOffsetMs, 8, 12);
    if (t < last + 60_000) t = last + 60_000;
    stepTime[k] = t;
    last = t;
  }
  // Events up to asOf: later ones have not happened yet.
  const asOf = ctx.asOfMs;
  let kept = 1;
  while (kept < steps && (stepTime[kept] as number) <= asOf) kept += 1;
  const events: EventRow[] = [];
  const firstEventId = x * maxEventsPerPackage + 1;
  for (let k = 0; k < kept; k += 1) {
    events.push({
      event_id: firstEventId + k,
      package_id: id,
      location_id: stepLocation[k] as number,
      status: stepStatus[k] as PackageStatus,
      event_timestamp: new Date(stepTime[k] as number),
    });
  }
  const currentStatus = stepStatus[kept - 1] as PackageStatus;
  const pkg: PackageRow = {
    package_id: id,
    tracking_number: tracking,
    sender_id: sender,
    recipient_id: recipient,
    current_status: currentStatus,
    weight: `${Math.floor(grams / 1000)}.${digits3[grams % 1000] as string}`,
    metadata,
    created_at: new Date(t0),
  };
  const shipment: ShipmentRow = {
    shipment_id: id,
    package_id: id,
    origin_location_id: origin,
    destination_location_id: destination,
    estimated_delivery: new Date(estimatedMs),
    actual_delivery: currentStatus === 'delivered' ? new Date(stepTime[kept - 1] as number) : null,
  };
  return { pkg, shipment, events };
}

// ---------------------------------------------------------------------------------------------
// Raw scan documents.

const scanRng = new Rng();
const partnerRng = new Rng();
const partnerCarriers = ['UPS', 'FEDEX', 'USPS'] as const;
type PartnerCarrier = (typeof partnerCarriers)[number];
/** Share of packages whose last mile is handed to a partner carrier. */
const partnerShare = 0.12;
const partnerStatusCodes: Readonly<Record<PartnerCarrier, Partial<Record<PackageStatus, string>>>> = {
  UPS: { in_transit: 'I', out_for_delivery: 'O', delivered: 'D', attempt_fail: 'X', available_for_pickup: 'P', exception: 'X' },
  FEDEX: {
    in_transit: 'IT',
    out_for_delivery: 'OD',
    delivered: 'DL',
    attempt_fail: 'DE',
    available_for_pickup: 'HL',
    exception: 'SE',
  },
  USPS: {
    in_transit: '10',
    out_for_delivery: '59',
    delivered: '01',
    attempt_fail: '02',
    available_for_pickup: '07',
    exception: '31',
  },
};
const lastMileStatuses: ReadonlySet<PackageStatus> = new Set([
  'out_for_delivery',
  'attempt_fail',
  'available_for_pickup',
  'delivered',
]);
const labelChannels = ['web', 'api', 'api', 'mobile', 'retail_counter', 'marketplace'];
const integrations = ['shopify', 'woocommerce', 'bigcommerce', 'custom', 'magento'];
const labelFormats = ['PDF', 'ZPL', 'PNG'];
const voidReasons = ['duplicate_label', 'order_cancelled', 'wrong_address', 'changed_carrier'];
const voidedBy = ['customer', 'merchant', 'support'];
const attemptReasons = [
  'no_one_home',
  'access_denied',
  'business_closed',
  'address_not_found',
  'unsafe_location',
  'signature_unavailable',
];
const exceptionReasons = [
  'damaged',
  'address_problem',
  'weather_delay',
  'held_for_inspection',
  'missing_label',
  'recipient_refused',
  'security_hold',
  'mis_sort',
];
const customsHoldCodes = ['CBP-1A', 'CBP-2B', 'CBP-7H', 'FDA-HOLD', 'DOC-MISSING'];
const returnReasons = ['undeliverable', 'refused', 'unclaimed', 'address_problem'];
const leftAt = ['front_door', 'reception', 'mailroom', 'garage', 'back_door', 'neighbor', 'parcel_locker'];
const notifications = ['sms', 'email', 'app_push'];
const shelfRows = 'ABCDEFGH';
const alphanumerics = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';

const round5 = (value: number): number => Math.round(value * 100_000) / 100_000;

/** UPS 1Z check digit over the 15 characters after "1Z" (DOMAIN §3). */
function upsCheckDigit(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i += 1) {
    const c = body.charCodeAt(i);
    const v = c >= 65 ? (c - 3) % 10 : c - 48;
    sum += i % 2 === 1 ? v * 2 : v;
  }
  return (10 - (sum % 10)) % 10;
}

/** The partner carrier's own tracking number for a package (valid check digits, DOMAIN §3). */
function partnerTrackingNumber(carrier: PartnerCarrier, rng: Rng): string {
  if (carrier === 'UPS') {
    let body = '';
    for (let i = 0; i < 6; i += 1) body += alphanumerics.charAt(rng.int(alphanumerics.length));
    body += rng.pick(['01', '02', '03', '12']);
    for (let i = 0; i < 7; i += 1) body += String(rng.int(10));
    return `1Z${body}${upsCheckDigit(body)}`;
  }
  if (carrier === 'FEDEX') {
    const weights = [3, 1, 7];
    let digits = '';
    let sum = 0;
    for (let i = 0; i < 11; i += 1) {
      const d = i === 0 ? 1 + rng.int(9) : rng.int(10);
      digits += String(d);
      sum += d * (weights[i % 3] as number);
    }
    return `${digits}${(sum % 11) % 10}`;
  }
  let payload = '9400';
  for (let i = 0; i < 17; i += 1) payload += String(rng.int(10));
  let sum = 0;
  for (let i = payload.length - 1, w = 3; i >= 0; i -= 1, w = 4 - w) sum += (payload.charCodeAt(i) - 48) * w;
  return `${payload}${(10 - (sum % 10)) % 10}`;
}

/**
 * The raw message behind one tracking event, as a scanner, a counter, the label API or a partner
 * carrier would send it (DOMAIN §4): its shape varies with the source. A function of (seed, event)
 * and the package, like every other generated row.
 */
export function generateRawScanPayload(params: SeedParams, event: EventRow, pkg: PackageRow): Record<string, unknown> {
  const ctx = contextOf(params);
  const net = networkOf(ctx);
  const rng = scanRng.reset(ctx.keys.rawScan, event.event_id);
  const status = event.status;
  const location = event.location_id;
  const place = placeAt(placeOfLocation(ctx, net, location));
  const type = typeOfLocation(net, location);
  const scannedAt = event.event_timestamp.toISOString();
  const base: Record<string, unknown> = { tracking_number: pkg.tracking_number, event_id: event.event_id, status };

  // Partner carriers run the last mile for some packages, and report in their own format.
  const partner = hash32(ctx.keys.partner, pkg.package_id) / 4_294_967_296 < partnerShare;
  if (partner && lastMileStatuses.has(status)) {
    const prng = partnerRng.reset(ctx.keys.partner, pkg.package_id);
    const carrier = partnerCarriers[prng.int(partnerCarriers.length)] as PartnerCarrier;
    base.source = 'partner_api';
    base.carrier = carrier;
    base.carrier_tracking_number = partnerTrackingNumber(carrier, prng);
    base.carrier_status_code = partnerStatusCodes[carrier][status] ?? 'NA';
    base.event_time = Math.floor(event.event_timestamp.getTime() / 1000);
    base.location = { city: place.city, state: place.state, country: 'US' };
    if (rng.float() < 0.4)
      base.received_at = new Date(event.event_timestamp.getTime() + rng.intBetween(5, 900) * 1000).toISOString();
    if (status === 'delivered' && rng.float() < 0.6)
      base.pod = { signed_by: `${rng.pick(middleInitials)} ${rng.pick(lastNames)}` };
    return base;
  }

  base.location_id = location;
  switch (status) {
    case 'pending': {
      const channel = rng.pick(labelChannels);
      base.source = 'label_api';
      base.channel = channel;
      base.label_format = rng.pick(labelFormats);
      base.created_at = scannedAt;
      base.account_id = `ACC-${pkg.sender_id}`;
      if (channel === 'api') base.integration = rng.pick(integrations);
      if (rng.float() < 0.3) base.reference = `ORD-${100_000 + rng.int(900_000)}`;
      return base;
    }
    case 'cancelled':
      base.source = 'label_api';
      base.action = 'void';
      base.voided_at = scannedAt;
      base.voided_by = rng.pick(voidedBy);
      if (rng.float() < 0.8) base.reason = rng.pick(voidReasons);
      return base;
    case 'available_for_pickup':
      base.source = 'pickup_counter';
      base.clerk_id = `C${1000 + rng.int(9000)}`;
      base.scanned_at = scannedAt;
      base.shelf = `${shelfRows.charAt(rng.int(shelfRows.length))}${1 + rng.int(40)}`;
      base.hold_until = new Date(event.event_timestamp.getTime() + 7 * dayMs).toISOString();
      base.notification = rng.pick(notifications);
      return base;
    default:
      break;
  }

  const sorter =
    (type === typeCode.hub || type === typeCode.sorting_center) && (status === 'in_transit' || status === 'exception');
  if (sorter) {
    base.source = 'sorter';
    base.device_id = `SRT-${location}-${1 + rng.int(24)}`;
    base.scanned_at = scannedAt;
    base.lane = 1 + rng.int(64);
    if (rng.float() < 0.5) base.measured_weight_kg = Math.round(Number(pkg.weight) * rng.between(0.97, 1.03) * 1000) / 1000;
  } else if (type === typeCode.pickup_point && status === 'delivered') {
    base.source = 'pickup_counter';
    base.clerk_id = `C${1000 + rng.int(9000)}`;
    base.scanned_at = scannedAt;
    base.id_checked = rng.float() < 0.8;
  } else {
    base.source = 'handheld';
    base.device_id = `HH-${(hash32(ctx.keys.rawScan, location * 32 + rng.int(12)) % 1_000_000).toString(36).toUpperCase()}`;
    base.operator = { id: `E${10_000 + rng.int(90_000)}` };
    base.scanned_at = scannedAt;
    base.gps = {
      lat: round5(place.lat + rng.between(-0.06, 0.06)),
      lon: round5(place.lon + rng.between(-0.08, 0.08)),
      accuracy_m: 3 + rng.int(40),
    };
    if (rng.float() < 0.25) base.battery_pct = 15 + rng.int(85);
  }

  switch (status) {
    case 'out_for_delivery':
      base.route = `R-${place.zip3}-${1 + rng.int(80)}`;
      base.vehicle_id = `VAN-${1000 + rng.int(9000)}`;
      base.stop_sequence = 1 + rng.int(160);
      break;
    case 'attempt_fail':
      base.reason = rng.pick(attemptReasons);
      base.notice_left = rng.float() < 0.7;
      if (rng.float() < 0.4) base.photo_ref = `photos/${event.event_id}.jpg`;
      break;
    case 'delivered':
      if (pkg.metadata.signature_required === true || rng.float() < 0.35) {
        base.signature_ref = `signatures/${event.event_id}.png`;
        base.signed_by = `${rng.pick(middleInitials)} ${rng.pick(lastNames)}`;
      } else {
        base.photo_ref = `photos/${event.event_id}.jpg`;
        base.left_at = rng.pick(leftAt);
      }
      break;
    case 'exception':
      if (type === typeCode.customs) {
        base.reason = 'customs_hold';
        base.customs = {
          hold_code: rng.pick(customsHoldCodes),
          entry_number: `${100 + rng.int(900)}-${1_000_000 + rng.int(9_000_000)}`,
        };
      } else {
        base.reason = rng.pick(exceptionReasons);
      }
      if (rng.float() < 0.5)
        base.note = rng.pick(['carton crushed', 'label unreadable', 'held for review', 'awaiting instructions']);
      break;
    case 'return_to_sender':
      base.reason = rng.pick(returnReasons);
      break;
    case 'returned':
      base.signature_ref = `signatures/${event.event_id}.png`;
      break;
    default:
      if (status === 'in_transit' && !sorter) base.scan_type = rng.pick(['arrival', 'departure', 'induction', 'load']);
  }

  if (pkg.metadata.temperature_controlled === true) {
    const range = pkg.metadata.temperature_range_c;
    const frozen = Array.isArray(range) && (range[0] as number) < 0;
    base.temperature_c = Math.round((frozen ? -15 + 2 * rng.normal() : 5 + 1.2 * rng.normal()) * 10) / 10;
  }
  return base;
}
