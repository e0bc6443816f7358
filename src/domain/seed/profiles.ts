import type { ProfileName, SeedSizes } from './types.js';

/** The seed data profiles of DOMAIN §5. */
export const profiles: Readonly<Record<ProfileName, Readonly<SeedSizes & { eventsPerPackage: number }>>> = Object.freeze({
  tiny: Object.freeze({ customers: 200, locations: 50, packages: 1_000, eventsPerPackage: 6 }),
  small: Object.freeze({ customers: 5_000, locations: 200, packages: 100_000, eventsPerPackage: 7 }),
  medium: Object.freeze({ customers: 50_000, locations: 500, packages: 1_000_000, eventsPerPackage: 8 }),
  large: Object.freeze({ customers: 500_000, locations: 1_000, packages: 10_000_000, eventsPerPackage: 8 }),
});

export const profileNames = Object.keys(profiles) as ProfileName[];

export function isProfileName(value: string): value is ProfileName {
  return Object.hasOwn(profiles, value);
}

const curve = Object.values(profiles)
  .map((p) => ({ x: Math.log10(p.packages), y: p.eventsPerPackage }))
  .sort((a, b) => a.x - b.x);

/**
 * The average journey length the generator aims at for a run of `packages` packages: exactly the
 * profile's value at a profile's size, interpolated on a log scale in between, so that journeys
 * lengthen with the network as DOMAIN §5 describes.
 */
export function eventsPerPackageFor(packages: number): number {
  const x = Math.log10(Math.max(1, packages));
  const first = curve[0];
  const last = curve[curve.length - 1];
  if (!first || !last) return 7;
  if (x <= first.x) return first.y;
  if (x >= last.x) return last.y;
  for (let i = 1; i < curve.length; i += 1) {
    const a = curve[i - 1];
    const b = curve[i];
    if (a && b && x <= b.x) return a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x);
  }
  return last.y;
}
