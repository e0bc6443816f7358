import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateCustomer,
  generateLocation,
  generatePackage,
  generateRawScanPayload,
  maxPackageId,
} from '../../src/domain/seed/generator.js';
import { haversineKm, places } from '../../src/domain/seed/places.js';
import { eventsPerPackageFor, profiles } from '../../src/domain/seed/profiles.js';
import { Rng, hash32, mix32, streamKey } from '../../src/domain/seed/random.js';
import { maxEventsPerPackage, type GeneratedPackage, type ProfileName, type SeedParams } from '../../src/domain/seed/types.js';
import { isTransitionAllowed, locationTypes, type PackageStatus } from '../../src/domain/status.js';
import { isValidS10 } from '../../src/domain/tracking-number.js';

const asOf = new Date('2026-11-24T12:00:00.000Z');
const dayMs = 86_400_000;

function paramsFor(sizes: { customers: number; locations: number; packages: number }, seed = 20261124): SeedParams {
  return { seed, ...sizes, asOf, offsets: { customer: 0, location: 0, package: 0 } };
}

/** A small deterministic shuffle (the test must not depend on Math.random either). */
function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng().reset(streamKey(seed, 99), 0);
  for (let i = n - 1; i > 0; i -= 1) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

function digest(rows: unknown[]): string {
  const hash = createHash('sha256');
  for (const row of rows) hash.update(`${JSON.stringify(row)}\n`);
  return hash.digest('hex');
}

/** Every table of a params, in id order, generated in the order given by `order(table size)`. */
function checksum(params: SeedParams, order: (n: number) => number[][], withDocuments = true): string {
  const customers: unknown[] = new Array(params.customers);
  const locations: unknown[] = new Array(params.locations);
  const packages: unknown[] = new Array(params.packages);
  // Packages first, then customers and locations, batch by batch: no row may depend on what ran before.
  for (const batch of order(params.packages)) {
    const fresh = { ...params, offsets: { ...params.offsets } };
    for (const i of batch) {
      const g = generatePackage(fresh, i);
      const docs = withDocuments ? g.events.map((e) => generateRawScanPayload(fresh, e, g.pkg)) : [];
      packages[i] = { ...g, docs };
    }
  }
  for (const batch of order(params.customers)) for (const i of batch) customers[i] = generateCustomer(params, i);
  for (const batch of order(params.locations)) for (const i of batch) locations[i] = generateLocation(params, i);
  return digest([...customers, ...locations, ...packages]);
}

const inIndexOrder = (n: number): number[][] => [Array.from({ length: n }, (_, i) => i)];
const inBatchesOf =
  (size: number) =>
  (n: number): number[][] => {
    const out: number[][] = [];
    for (let start = 0; start < n; start += size)
      out.push(Array.from({ length: Math.min(size, n - start) }, (_, k) => start + k));
    return out;
  };
const inShuffledOrder = (n: number): number[][] => [shuffled(n, n)];
const backwardsInBatchesOf =
  (size: number) =>
  (n: number): number[][] =>
    inBatchesOf(size)(n).reverse();

describe('profiles (DOMAIN §5)', () => {
  it('has the sizes and journey lengths of the table', () => {
    expect(profiles).toEqual({
      tiny: { customers: 200, locations: 50, packages: 1_000, eventsPerPackage: 6 },
      small: { customers: 5_000, locations: 200, packages: 100_000, eventsPerPackage: 7 },
      medium: { customers: 50_000, locations: 500, packages: 1_000_000, eventsPerPackage: 8 },
      large: { customers: 500_000, locations: 1_000, packages: 10_000_000, eventsPerPackage: 8 },
    });
  });

  it('aims at the profile journey length at each profile size and interpolates in between', () => {
    for (const p of Object.values(profiles)) expect(eventsPerPackageFor(p.packages)).toBe(p.eventsPerPackage);
    expect(eventsPerPackageFor(10)).toBe(6);
    expect(eventsPerPackageFor(10_000)).toBeCloseTo(6.5, 5);
    expect(eventsPerPackageFor(100_000_000)).toBe(8);
  });
});

describe('random', () => {
  it('gives every (seed, table, row) its own reproducible stream', () => {
    const key = streamKey(1, 3);
    const a = new Rng().reset(key, 12);
    const first = [a.nextUint32(), a.nextUint32(), a.nextUint32()];
    a.reset(key, 13).nextUint32();
    a.reset(key, 12);
    expect([a.nextUint32(), a.nextUint32(), a.nextUint32()]).toEqual(first);
    expect(new Rng().reset(key, 13).nextUint32()).not.toBe(first[0]);
    expect(new Rng().reset(streamKey(2, 3), 12).nextUint32()).not.toBe(first[0]);
    expect(new Rng().reset(streamKey(1, 4), 12).nextUint32()).not.toBe(first[0]);
    expect(streamKey(-5, 1)).not.toEqual(streamKey(5, 1));
    expect(streamKey(2 ** 40 + 5, 1)).not.toEqual(streamKey(5, 1));
  });

  it('mixes bijectively and draws uniformly', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i += 1) seen.add(mix32(i));
    expect(seen.size).toBe(100_000);
    expect(hash32(streamKey(1, 1), 7)).toBe(hash32(streamKey(1, 1), 7));

    const rng = new Rng().reset(streamKey(9, 9), 0);
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    let normalSum = 0;
    let normalSquares = 0;
    const n = 200_000;
    let outside = 0;
    for (let i = 0; i < n; i += 1) {
      const f = rng.float();
      if (!(f >= 0 && f < 1)) outside += 1;
      buckets[Math.floor(f * 10)] = (buckets[Math.floor(f * 10)] ?? 0) + 1;
      sum += f;
      const z = rng.normal();
      normalSum += z;
      normalSquares += z * z;
    }
    expect(outside).toBe(0);
    expect(sum / n).toBeCloseTo(0.5, 2);
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(n / 100);
    expect(normalSum / n).toBeCloseTo(0, 1);
    expect(normalSquares / n).toBeCloseTo(1, 1);
  });
});

describe('places', () => {
  it('are about 150 distinct real US cities with valid states, time zones and coordinates', () => {
    expect(places.length).toBeGreaterThanOrEqual(150);
    expect(new Set(places.map((p) => `${p.city}, ${p.state}`)).size).toBe(places.length);
    expect(new Set(places.map((p) => p.state)).size).toBe(51); // 50 states and DC
    for (const p of places) {
      expect(p.state).toMatch(/^[A-Z]{2}$/);
      expect(p.zip3).toMatch(/^\d{3}$/);
      expect(() => new Intl.DateTimeFormat('en-US', { timeZone: p.timeZone })).not.toThrow();
      expect(p.lat).toBeGreaterThan(18);
      expect(p.lat).toBeLessThan(72);
      expect(p.lon).toBeGreaterThan(-170);
      expect(p.lon).toBeLessThan(-66);
      expect(p.population).toBeGreaterThan(0);
    }
  });

  it('measures distance along great circles', () => {
    expect(haversineKm(40.71, -74.01, 34.05, -118.24)).toBeGreaterThan(3900);
    expect(haversineKm(40.71, -74.01, 34.05, -118.24)).toBeLessThan(4000);
    expect(haversineKm(39.74, -104.99, 39.74, -104.99)).toBe(0);
  });
});

describe('determinism: each row is a function of (seed, table, row number)', () => {
  const tiny = paramsFor(profiles.tiny);

  it('gives the same checksum in index order, shuffled, backwards and in any batch size', () => {
    const reference = checksum(tiny, inIndexOrder);
    expect(reference).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(tiny, inShuffledOrder)).toBe(reference);
    expect(checksum(tiny, inBatchesOf(7))).toBe(reference);
    expect(checksum(tiny, inBatchesOf(256))).toBe(reference);
    expect(checksum(tiny, backwardsInBatchesOf(33))).toBe(reference);
  });

  it('changes with the seed, the sizes and asOf', () => {
    const reference = checksum(tiny, inIndexOrder, false);
    expect(checksum({ ...tiny, seed: tiny.seed + 1 }, inIndexOrder, false)).not.toBe(reference);
    expect(checksum({ ...tiny, asOf: new Date(asOf.getTime() + dayMs) }, inIndexOrder, false)).not.toBe(reference);
    expect(checksum({ ...tiny, locations: 51 }, inIndexOrder, false)).not.toBe(reference);
  });

  it('rejects row numbers outside the table and params it cannot honour', () => {
    expect(() => generatePackage(tiny, 1_000)).toThrow(RangeError);
    expect(() => generatePackage(tiny, -1)).toThrow(RangeError);
    expect(() => generateCustomer(tiny, 0.5)).toThrow(RangeError);
    expect(() => generateLocation(tiny, 50)).toThrow(RangeError);
    expect(() => generatePackage({ ...tiny, customers: 1 }, 0)).toThrow(/two customers/);
    expect(() => generatePackage({ ...tiny, locations: 1 }, 0)).toThrow(/two locations/);
    expect(() => generatePackage({ ...tiny, seed: 1.5 }, 0)).toThrow(/seed/);
    expect(() => generatePackage({ ...tiny, asOf: new Date(Number.NaN) }, 0)).toThrow(/asOf/);
    expect(() => generatePackage({ ...tiny, offsets: { customer: 0, location: 0, package: maxPackageId } }, 0)).toThrow(/S10/);
  });
});

interface Sample {
  params: SeedParams;
  packages: GeneratedPackage[];
}

function sampleOf(params: SeedParams, count: number): Sample {
  const stride = params.packages / count;
  const packages: GeneratedPackage[] = [];
  for (let k = 0; k < count; k += 1) packages.push(generatePackage(params, Math.floor(k * stride)));
  return { params, packages };
}

describe('invariants over 20,000 packages', () => {
  const params = paramsFor({ customers: 3_000, locations: 150, packages: 20_000 }, 7);
  const { packages } = sampleOf(params, params.packages);

  it('customers have names, addresses and unique, case-insensitively unique e-mails', () => {
    const emails = new Set<string>();
    for (let i = 0; i < params.customers; i += 1) {
      const c = generateCustomer(params, i);
      expect(c.customer_id).toBe(i + 1);
      expect(c.name.trim()).toMatch(/^\S+ (\S+ )?\S+/);
      expect(c.email).toMatch(/^[a-z._]+\d+@[a-z.]+$/);
      expect(c.email).toContain(String(c.customer_id));
      expect(c.address).toMatch(/^\d+ .+, .+, [A-Z]{2} \d{5}$/);
      emails.add(c.email.toLowerCase());
    }
    expect(emails.size).toBe(params.customers);
  });

  it('locations are real cities with unique, readable names, their time zone and all six types', () => {
    const names = new Set<string>();
    const types = new Map<string, number>();
    for (let i = 0; i < params.locations; i += 1) {
      const l = generateLocation(params, i);
      expect(l.location_id).toBe(i + 1);
      const place = places.find((p) => p.city === l.city && p.state === l.state);
      expect(place?.timeZone).toBe(l.time_zone);
      expect(locationTypes).toContain(l.location_type);
      expect(l.location_name).toMatch(new RegExp(`^${l.city.replace('.', '\\.')} [A-Za-z ]+ ${l.location_id}$`));
      names.add(l.location_name);
      types.set(l.location_type, (types.get(l.location_type) ?? 0) + 1);
    }
    expect(names.size).toBe(params.locations);
    expect([...types.keys()].sort()).toEqual([...locationTypes].sort());
    expect(types.get('customs') ?? 0).toBeLessThan(params.locations * 0.06);
    expect((types.get('delivery_station') ?? 0) + (types.get('pickup_point') ?? 0)).toBeGreaterThan(params.locations * 0.5);
  });

  it('packages have unique valid S10 numbers, two different existing customers, a weight and metadata', () => {
    const numbers = new Set<string>();
    const keys = new Map<string, number>();
    const problems: string[] = [];
    const customer = (id: number): boolean => Number.isInteger(id) && id >= 1 && id <= params.customers;
    for (const { pkg } of packages) {
      const id = pkg.package_id;
      if (!isValidS10(pkg.tracking_number) || !pkg.tracking_number.endsWith('US')) problems.push(`${id}: ${pkg.tracking_number}`);
      numbers.add(pkg.tracking_number);
      if (pkg.sender_id === pkg.recipient_id) problems.push(`${id}: sends to itself`);
      if (!customer(pkg.sender_id) || !customer(pkg.recipient_id))
        problems.push(`${id}: customers ${pkg.sender_id}, ${pkg.recipient_id}`);
      if (!/^\d+\.\d{3}$/.test(pkg.weight) || !(Number(pkg.weight) > 0)) problems.push(`${id}: weight ${pkg.weight}`);
      if (typeof pkg.metadata.service !== 'string') problems.push(`${id}: no service level`);
      for (const key of Object.keys(pkg.metadata)) keys.set(key, (keys.get(key) ?? 0) + 1);
    }
    expect(problems).toEqual([]);
    expect(numbers.size).toBe(packages.length);
    const share = (key: string): number => (keys.get(key) ?? 0) / packages.length;
    expect(share('service')).toBe(1);
    for (const key of ['dimensions_cm', 'declared_value', 'fragile', 'signature_required', 'contents']) {
      expect(share(key)).toBeGreaterThan(0.05);
      expect(share(key)).toBeLessThan(1);
    }
    expect(share('temperature_controlled')).toBeGreaterThan(0.003);
    expect(share('temperature_controlled')).toBeLessThan(0.03);
    const fragile = packages.filter((p) => p.pkg.metadata.fragile === true).length / packages.length;
    expect(fragile).toBeGreaterThan(0.08);
    expect(fragile).toBeLessThan(0.12);
    const weights = packages.map((p) => Number(p.pkg.weight)).sort((a, b) => a - b);
    const median = weights[weights.length >> 1] ?? 0;
    expect(median).toBeGreaterThan(0.5);
    expect(median).toBeLessThan(3);
    expect(weights[weights.length - 1]).toBeLessThanOrEqual(68);
  });

  it('shipments join two different existing locations and promise delivery after the label', () => {
    const problems: string[] = [];
    const location = (id: number): boolean => Number.isInteger(id) && id >= 1 && id <= params.locations;
    for (const { pkg, shipment } of packages) {
      const id = pkg.package_id;
      if (shipment.shipment_id !== id || shipment.package_id !== id) problems.push(`${id}: shipment ${shipment.shipment_id}`);
      const { origin_location_id: origin, destination_location_id: destination } = shipment;
      if (origin === destination || !location(origin) || !location(destination))
        problems.push(`${id}: ${origin} → ${destination}`);
      const promise = shipment.estimated_delivery.getTime() - pkg.created_at.getTime();
      if (!(promise > 12 * 3_600_000 && promise < 10 * dayMs)) problems.push(`${id}: promise of ${promise / dayMs} days`);
    }
    expect(problems).toEqual([]);
  });

  it('journeys follow the state machine, in time, up to asOf, with the status and delivery they imply', () => {
    // Problems are collected, not asserted one by one: 150,000 events make expect() the slow part.
    const problems: string[] = [];
    const fail = (id: number, what: string): void => void problems.push(`package ${id}: ${what}`);
    for (const { pkg, shipment, events } of packages) {
      const id = pkg.package_id;
      if (events.length < 1 || events.length > maxEventsPerPackage) fail(id, `${events.length} events`);
      if (events[0]?.status !== 'pending') fail(id, `starts with ${events[0]?.status}`);
      if (events[0]?.event_timestamp.getTime() !== pkg.created_at.getTime()) fail(id, 'label event is not created_at');
      if (pkg.created_at.getTime() < asOf.getTime() - 60 * dayMs) fail(id, 'labelled before the window');
      events.forEach((e, k) => {
        if (e.event_id !== (id - 1) * maxEventsPerPackage + k + 1) fail(id, `event id ${e.event_id} at position ${k}`);
        if (e.package_id !== id) fail(id, `event of package ${e.package_id}`);
        if (!(Number.isInteger(e.location_id) && e.location_id >= 1 && e.location_id <= params.locations)) {
          fail(id, `location ${e.location_id}`);
        }
        if (e.event_timestamp.getTime() > asOf.getTime()) fail(id, 'event after asOf');
        const previous = events[k - 1];
        if (previous) {
          if (e.event_timestamp.getTime() <= previous.event_timestamp.getTime()) fail(id, `time goes back at ${k}`);
          if (!isTransitionAllowed(previous.status, e.status)) fail(id, `${previous.status} → ${e.status}`);
        }
      });
      const last = events[events.length - 1];
      if (pkg.current_status !== last?.status) fail(id, `current_status ${pkg.current_status}, last event ${last?.status}`);
      const expected = pkg.current_status === 'delivered' ? last?.event_timestamp.getTime() : null;
      if ((shipment.actual_delivery?.getTime() ?? null) !== expected) fail(id, 'actual_delivery');
    }
    expect(problems).toEqual([]);
  });

  it('journeys have the shape of DOMAIN §5: origin, 1–4 hubs, destination, last mile', () => {
    const typeOf = new Map<number, string>();
    for (let i = 0; i < params.locations; i += 1) typeOf.set(i + 1, generateLocation(params, i).location_type);
    const problems: string[] = [];
    let hubStops = 0;
    let hubTyped = 0;
    for (const { pkg, shipment, events } of packages) {
      const id = pkg.package_id;
      const statuses = events.map((e) => e.status);
      if (statuses.includes('cancelled')) {
        if (statuses.join() !== 'pending,cancelled') problems.push(`${id}: ${statuses.join()}`);
        continue;
      }
      if (events[0]?.location_id !== shipment.origin_location_id) problems.push(`${id}: label not at the origin`);
      if (statuses.at(-1) === 'delivered' && !statuses.includes('exception') && !statuses.includes('available_for_pickup')) {
        const transit = events.filter((e) => e.status === 'in_transit');
        if (transit[0]?.location_id !== shipment.origin_location_id) problems.push(`${id}: first scan not at the origin`);
        if (transit.at(-1)?.location_id !== shipment.destination_location_id)
          problems.push(`${id}: last scan not at destination`);
        const hubs = transit.slice(1, -1);
        if (hubs.length < 1 || hubs.length > 4) problems.push(`${id}: ${hubs.length} hubs`);
        if (statuses.slice(-2).join() !== 'out_for_delivery,delivered') problems.push(`${id}: ends ${statuses.slice(-2).join()}`);
        for (const hub of hubs) {
          hubStops += 1;
          if (['hub', 'sorting_center'].includes(typeOf.get(hub.location_id) ?? '')) hubTyped += 1;
        }
      }
      if (statuses.at(-1) === 'returned' && events.at(-1)?.location_id !== shipment.origin_location_id) {
        problems.push(`${id}: returned elsewhere than the origin`);
      }
    }
    expect(problems).toEqual([]);
    expect(hubTyped / hubStops).toBeGreaterThan(0.95);
  });
});

describe('rates (DOMAIN §5)', () => {
  const rateParams = paramsFor(profiles.small, 11);
  const { packages } = sampleOf(rateParams, 20_000);
  const share = (test: (statuses: PackageStatus[]) => boolean): number =>
    packages.filter((p) => test(p.events.map((e) => e.status))).length / packages.length;

  it('about 5% attempt_fail, 3% exception, 1% return to sender, a few cancelled', () => {
    expect(share((s) => s.includes('attempt_fail'))).toBeGreaterThan(0.04);
    expect(share((s) => s.includes('attempt_fail'))).toBeLessThan(0.06);
    expect(share((s) => s.includes('exception'))).toBeGreaterThan(0.022);
    expect(share((s) => s.includes('exception'))).toBeLessThan(0.038);
    expect(share((s) => s.includes('return_to_sender'))).toBeGreaterThan(0.006);
    expect(share((s) => s.includes('return_to_sender'))).toBeLessThan(0.014);
    expect(share((s) => s.includes('cancelled'))).toBeGreaterThan(0.005);
    expect(share((s) => s.includes('cancelled'))).toBeLessThan(0.03);
  });

  it('about 90% of delivered packages on time; some still in flight at asOf', () => {
    const delivered = packages.filter((p) => p.pkg.current_status === 'delivered');
    const onTime = delivered.filter(
      (p) => (p.shipment.actual_delivery?.getTime() ?? Infinity) <= p.shipment.estimated_delivery.getTime(),
    );
    expect(onTime.length / delivered.length).toBeGreaterThan(0.86);
    expect(onTime.length / delivered.length).toBeLessThan(0.94);
    const inFlight = share((s) => !['delivered', 'returned', 'cancelled'].includes(s.at(-1) ?? ''));
    expect(inFlight).toBeGreaterThan(0.02);
    expect(inFlight).toBeLessThan(0.12);
    // In flight means recent: nothing labelled more than three weeks ago is still moving.
    for (const p of packages) {
      if (!['delivered', 'returned', 'cancelled'].includes(p.pkg.current_status)) {
        expect(p.pkg.created_at.getTime()).toBeGreaterThan(asOf.getTime() - 21 * dayMs);
      }
    }
  });

  it.each(Object.keys(profiles) as ProfileName[])('averages close to the %s profile journey length', (name) => {
    const profile = profiles[name];
    const { packages: sample } = sampleOf(paramsFor(profile, 3), Math.min(profile.packages, 20_000));
    const mean = sample.reduce((n, p) => n + p.events.length, 0) / sample.length;
    expect(Math.abs(mean - profile.eventsPerPackage)).toBeLessThan(0.25);
  });
});

describe('appends', () => {
  const first = paramsFor(profiles.tiny, 5);
  const second: SeedParams = { ...first, offsets: { customer: 200, location: 50, package: 1_000 } };

  it('number new rows after the offsets and reference old and new rows alike', () => {
    expect(generateCustomer(second, 0).customer_id).toBe(201);
    expect(generateLocation(second, 49).location_id).toBe(100);
    const numbers = new Set<string>();
    const emails = new Set<string>();
    const names = new Set<string>();
    for (const params of [first, second]) {
      for (let i = 0; i < params.customers; i += 1) emails.add(generateCustomer(params, i).email.toLowerCase());
      for (let i = 0; i < params.locations; i += 1) names.add(generateLocation(params, i).location_name);
      for (let i = 0; i < params.packages; i += 1) numbers.add(generatePackage(params, i).pkg.tracking_number);
    }
    expect(emails.size).toBe(400);
    expect(names.size).toBe(100);
    expect(numbers.size).toBe(2_000);

    let oldCustomers = 0;
    let oldLocations = 0;
    for (let i = 0; i < second.packages; i += 1) {
      const { pkg, shipment, events } = generatePackage(second, i);
      expect(pkg.package_id).toBe(1_001 + i);
      expect(events[0]?.event_id).toBe(1_000 * maxEventsPerPackage + i * maxEventsPerPackage + 1);
      for (const id of [pkg.sender_id, pkg.recipient_id]) expect(id >= 1 && id <= 400).toBe(true);
      for (const e of events) expect(e.location_id >= 1 && e.location_id <= 100).toBe(true);
      if (pkg.sender_id <= 200 || pkg.recipient_id <= 200) oldCustomers += 1;
      if (shipment.origin_location_id <= 50 || shipment.destination_location_id <= 50) oldLocations += 1;
    }
    expect(oldCustomers).toBeGreaterThan(100);
    expect(oldLocations).toBeGreaterThan(100);
  });

  it('derives serials from the package id alone, so an append under another seed cannot collide', () => {
    const other: SeedParams = { ...second, seed: first.seed + 1 };
    const serial = (params: SeedParams, i: number): string => generatePackage(params, i).pkg.tracking_number.slice(2, 10);
    const serials = new Set<string>();
    let differing = 0;
    for (let i = 0; i < first.packages; i += 1) {
      serials.add(serial(first, i));
      serials.add(serial(other, i));
      if (serial(other, i) !== serial(second, i)) differing += 1;
    }
    expect(differing).toBe(0);
    expect(serials.size).toBe(2_000);
  });

  it('keeps tracking numbers unique and valid at the top of the id space', () => {
    const high: SeedParams = { ...first, packages: 50_000, offsets: { customer: 0, location: 0, package: 49_950_000 } };
    const numbers = new Set<string>();
    let invalid = 0;
    for (let i = 0; i < high.packages; i += 1) {
      const { pkg } = generatePackage(high, i);
      if (!isValidS10(pkg.tracking_number)) invalid += 1;
      // The serial alone is unique: the service letters vary, but uniqueness does not rely on them.
      numbers.add(pkg.tracking_number.slice(2, 10));
    }
    expect(invalid).toBe(0);
    expect(numbers.size).toBe(high.packages);
  });
});

describe('raw scan payloads (DOMAIN §4)', () => {
  const params = paramsFor(profiles.tiny, 13);
  const all = Array.from({ length: params.packages }, (_, i) => generatePackage(params, i));

  it('name the package and event, and vary in shape with their source', () => {
    const shapes = new Set<string>();
    const sources = new Set<string>();
    for (const { pkg, events } of all) {
      for (const e of events) {
        const doc = generateRawScanPayload(params, e, pkg);
        expect(doc).toEqual(generateRawScanPayload(params, e, pkg));
        expect(doc.tracking_number).toBe(pkg.tracking_number);
        expect(doc.event_id).toBe(e.event_id);
        expect(typeof doc.source).toBe('string');
        sources.add(doc.source as string);
        shapes.add(Object.keys(doc).sort().join(','));
        if (e.status === 'exception' && doc.source !== 'partner_api') expect(typeof doc.reason).toBe('string');
        if (e.status === 'delivered' && doc.source === 'handheld')
          expect(doc.signature_ref ?? doc.photo_ref).toBeTypeOf('string');
        if (pkg.metadata.temperature_controlled === true && doc.source !== 'partner_api' && doc.source !== 'label_api') {
          expect(doc.temperature_c).toBeTypeOf('number');
        }
        if (doc.source === 'handheld') {
          const gps = doc.gps as { lat: number; lon: number };
          expect(Math.abs(gps.lat) + Math.abs(gps.lon)).toBeGreaterThan(0);
        }
        if (doc.carrier === 'UPS') expect(doc.carrier_tracking_number).toMatch(/^1Z[0-9A-Z]{16}$/);
        if (doc.carrier === 'FEDEX') expect(doc.carrier_tracking_number).toMatch(/^\d{12}$/);
        if (doc.carrier === 'USPS') expect(doc.carrier_tracking_number).toMatch(/^9400\d{18}$/);
      }
    }
    expect([...sources].sort()).toEqual(['handheld', 'label_api', 'partner_api', 'pickup_counter', 'sorter']);
    expect(shapes.size).toBeGreaterThan(20);
  });
});
