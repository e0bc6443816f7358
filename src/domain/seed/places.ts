import { cities, zones } from '../../../seeds/reference/places.js';

/**
 * US cities for the seed data, from the reference data in `seeds/reference/places.ts` (the one
 * list the seed files draw from too), with their distances. Pure.
 */

export interface Place {
  readonly city: string;
  /** Two-letter USPS state code. */
  readonly state: string;
  /** IANA time zone. */
  readonly timeZone: string;
  /** Standard-time offset from UTC in hours, for rough local-clock arithmetic (DST ignored). */
  readonly utcOffsetHours: number;
  /** Thousands of inhabitants, roughly. */
  readonly population: number;
  readonly lat: number;
  readonly lon: number;
  /** First three digits of a ZIP code in the city. */
  readonly zip3: string;
  /** Port of entry: customs facilities are placed only here. */
  readonly gateway: boolean;
  /** Major carrier air hub: more hubs and sorting centers than its size alone suggests. */
  readonly airHub: boolean;
}

export const places: readonly Place[] = Object.freeze(
  cities.map(([city, state, zone, population, lat, lon, zip3, flags]) =>
    Object.freeze({
      city,
      state,
      timeZone: zones[zone][0],
      utcOffsetHours: zones[zone][1],
      population,
      lat,
      lon,
      zip3,
      gateway: flags.includes('G'),
      airHub: flags.includes('H'),
    }),
  ),
);

const earthRadiusKm = 6371;
const radians = Math.PI / 180;

/** Great-circle distance in km between two points given in degrees (haversine). */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * radians;
  const dLon = (lon2 - lon1) * radians;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * radians) * Math.cos(lat2 * radians) * Math.sin(dLon / 2) ** 2;
  return 2 * earthRadiusKm * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Distances between all pairs of places, km, row-major: `distanceKm[a * places.length + b]`. */
export const placeDistanceKm: Float32Array = (() => {
  const n = places.length;
  const out = new Float32Array(n * n);
  for (let a = 0; a < n; a += 1) {
    const pa = places[a];
    for (let b = a + 1; b < n; b += 1) {
      const pb = places[b];
      if (!pa || !pb) continue;
      const d = haversineKm(pa.lat, pa.lon, pb.lat, pb.lon);
      out[a * n + b] = d;
      out[b * n + a] = d;
    }
  }
  return out;
})();
