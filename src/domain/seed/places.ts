/**
 * US cities for the seed data: state, IANA time zone, rough population, approximate coordinates
 * and the first three digits of a local ZIP code. Populations are rounded city-proper figures, good
 * enough for weighting; coordinates are good enough for distances. Pure data.
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

const zones = {
  E: ['America/New_York', -5],
  C: ['America/Chicago', -6],
  M: ['America/Denver', -7],
  AZ: ['America/Phoenix', -7],
  P: ['America/Los_Angeles', -8],
  IN: ['America/Indiana/Indianapolis', -5],
  DT: ['America/Detroit', -5],
  KY: ['America/Kentucky/Louisville', -5],
  BO: ['America/Boise', -7],
  AK: ['America/Anchorage', -9],
  HI: ['Pacific/Honolulu', -10],
} as const satisfies Record<string, readonly [string, number]>;

type Zone = keyof typeof zones;

// city, state, zone, population (thousands), lat, lon, zip3, flags (G = gateway, H = air hub)
type Row = readonly [string, string, Zone, number, number, number, string, string];

const rows: readonly Row[] = [
  ['New York', 'NY', 'E', 8336, 40.71, -74.01, '100', 'G'],
  ['Los Angeles', 'CA', 'P', 3898, 34.05, -118.24, '900', 'G'],
  ['Chicago', 'IL', 'C', 2746, 41.88, -87.63, '606', 'GH'],
  ['Houston', 'TX', 'C', 2304, 29.76, -95.37, '770', 'G'],
  ['Phoenix', 'AZ', 'AZ', 1608, 33.45, -112.07, '850', ''],
  ['Philadelphia', 'PA', 'E', 1603, 39.95, -75.17, '191', 'H'],
  ['San Antonio', 'TX', 'C', 1434, 29.42, -98.49, '782', ''],
  ['San Diego', 'CA', 'P', 1386, 32.72, -117.16, '921', 'G'],
  ['Dallas', 'TX', 'C', 1304, 32.78, -96.8, '752', 'GH'],
  ['San Jose', 'CA', 'P', 1013, 37.34, -121.89, '951', ''],
  ['Austin', 'TX', 'C', 961, 30.27, -97.74, '787', ''],
  ['Jacksonville', 'FL', 'E', 949, 30.33, -81.66, '322', ''],
  ['Fort Worth', 'TX', 'C', 918, 32.76, -97.33, '761', 'H'],
  ['Columbus', 'OH', 'E', 905, 39.96, -83.0, '432', ''],
  ['Indianapolis', 'IN', 'IN', 887, 39.77, -86.16, '462', 'H'],
  ['Charlotte', 'NC', 'E', 874, 35.23, -80.84, '282', ''],
  ['San Francisco', 'CA', 'P', 873, 37.77, -122.42, '941', 'G'],
  ['Seattle', 'WA', 'P', 737, 47.61, -122.33, '981', 'G'],
  ['Denver', 'CO', 'M', 715, 39.74, -104.99, '802', ''],
  ['Washington', 'DC', 'E', 689, 38.91, -77.04, '200', ''],
  ['Nashville', 'TN', 'C', 689, 36.16, -86.78, '372', ''],
  ['Oklahoma City', 'OK', 'C', 681, 35.47, -97.52, '731', ''],
  ['El Paso', 'TX', 'M', 678, 31.76, -106.49, '799', 'G'],
  ['Boston', 'MA', 'E', 675, 42.36, -71.06, '021', 'G'],
  ['Portland', 'OR', 'P', 652, 45.52, -122.68, '972', 'G'],
  ['Las Vegas', 'NV', 'P', 641, 36.17, -115.14, '891', ''],
  ['Detroit', 'MI', 'DT', 639, 42.33, -83.05, '482', 'G'],
  ['Memphis', 'TN', 'C', 633, 35.15, -90.05, '381', 'GH'],
  ['Louisville', 'KY', 'KY', 617, 38.25, -85.76, '402', 'GH'],
  ['Baltimore', 'MD', 'E', 586, 39.29, -76.61, '212', 'G'],
  ['Milwaukee', 'WI', 'C', 577, 43.04, -87.91, '532', ''],
  ['Albuquerque', 'NM', 'M', 564, 35.08, -106.65, '871', ''],
  ['Tucson', 'AZ', 'AZ', 543, 32.22, -110.97, '857', ''],
  ['Fresno', 'CA', 'P', 542, 36.74, -119.79, '937', ''],
  ['Sacramento', 'CA', 'P', 524, 38.58, -121.49, '958', ''],
  ['Kansas City', 'MO', 'C', 508, 39.1, -94.58, '641', ''],
  ['Mesa', 'AZ', 'AZ', 504, 33.42, -111.83, '852', ''],
  ['Atlanta', 'GA', 'E', 499, 33.75, -84.39, '303', 'GH'],
  ['Omaha', 'NE', 'C', 486, 41.26, -95.93, '681', ''],
  ['Colorado Springs', 'CO', 'M', 479, 38.83, -104.82, '809', ''],
  ['Raleigh', 'NC', 'E', 468, 35.78, -78.64, '276', ''],
  ['Long Beach', 'CA', 'P', 467, 33.77, -118.19, '908', 'G'],
  ['Virginia Beach', 'VA', 'E', 460, 36.85, -75.98, '234', ''],
  ['Miami', 'FL', 'E', 442, 25.76, -80.19, '331', 'GH'],
  ['Oakland', 'CA', 'P', 440, 37.8, -122.27, '946', 'GH'],
  ['Minneapolis', 'MN', 'C', 430, 44.98, -93.27, '554', ''],
  ['Tulsa', 'OK', 'C', 413, 36.15, -95.99, '741', ''],
  ['Bakersfield', 'CA', 'P', 403, 35.37, -119.02, '933', ''],
  ['Wichita', 'KS', 'C', 397, 37.69, -97.34, '672', ''],
  ['Arlington', 'TX', 'C', 394, 32.74, -97.11, '760', ''],
  ['Aurora', 'CO', 'M', 386, 39.73, -104.83, '800', ''],
  ['Tampa', 'FL', 'E', 385, 27.95, -82.46, '336', 'G'],
  ['New Orleans', 'LA', 'C', 384, 29.95, -90.07, '701', 'G'],
  ['Cleveland', 'OH', 'E', 373, 41.5, -81.69, '441', ''],
  ['Honolulu', 'HI', 'HI', 350, 21.31, -157.86, '968', 'G'],
  ['Anaheim', 'CA', 'P', 346, 33.84, -117.91, '928', ''],
  ['Lexington', 'KY', 'E', 322, 38.04, -84.5, '405', ''],
  ['Stockton', 'CA', 'P', 320, 37.96, -121.29, '952', ''],
  ['Corpus Christi', 'TX', 'C', 317, 27.8, -97.4, '784', 'G'],
  ['Henderson', 'NV', 'P', 317, 36.04, -114.98, '890', ''],
  ['Riverside', 'CA', 'P', 314, 33.95, -117.4, '925', ''],
  ['Newark', 'NJ', 'E', 311, 40.74, -74.17, '071', 'GH'],
  ['Saint Paul', 'MN', 'C', 311, 44.95, -93.09, '551', ''],
  ['Santa Ana', 'CA', 'P', 310, 33.75, -117.87, '927', ''],
  ['Cincinnati', 'OH', 'E', 309, 39.1, -84.51, '452', 'GH'],
  ['Irvine', 'CA', 'P', 308, 33.68, -117.79, '926', ''],
  ['Orlando', 'FL', 'E', 307, 28.54, -81.38, '328', ''],
  ['Pittsburgh', 'PA', 'E', 303, 40.44, -79.99, '152', ''],
  ['St. Louis', 'MO', 'C', 301, 38.63, -90.2, '631', ''],
  ['Greensboro', 'NC', 'E', 299, 36.07, -79.79, '274', 'H'],
  ['Jersey City', 'NJ', 'E', 292, 40.73, -74.08, '073', ''],
  ['Anchorage', 'AK', 'AK', 291, 61.22, -149.9, '995', 'GH'],
  ['Lincoln', 'NE', 'C', 291, 40.81, -96.7, '685', ''],
  ['Plano', 'TX', 'C', 285, 33.02, -96.7, '750', ''],
  ['Durham', 'NC', 'E', 284, 35.99, -78.9, '277', ''],
  ['Buffalo', 'NY', 'E', 278, 42.89, -78.88, '142', 'G'],
  ['Chandler', 'AZ', 'AZ', 275, 33.31, -111.84, '852', ''],
  ['Chula Vista', 'CA', 'P', 275, 32.64, -117.08, '919', ''],
  ['Toledo', 'OH', 'E', 270, 41.65, -83.54, '436', ''],
  ['Madison', 'WI', 'C', 269, 43.07, -89.4, '537', ''],
  ['Gilbert', 'AZ', 'AZ', 267, 33.35, -111.79, '852', ''],
  ['Reno', 'NV', 'P', 264, 39.53, -119.81, '895', ''],
  ['Fort Wayne', 'IN', 'IN', 263, 41.08, -85.14, '468', ''],
  ['North Las Vegas', 'NV', 'P', 262, 36.2, -115.12, '890', ''],
  ['St. Petersburg', 'FL', 'E', 258, 27.77, -82.64, '337', ''],
  ['Lubbock', 'TX', 'C', 257, 33.58, -101.86, '794', ''],
  ['Irving', 'TX', 'C', 256, 32.81, -96.95, '750', ''],
  ['Laredo', 'TX', 'C', 255, 27.51, -99.51, '780', 'G'],
  ['Winston-Salem', 'NC', 'E', 249, 36.1, -80.24, '271', ''],
  ['Chesapeake', 'VA', 'E', 249, 36.77, -76.29, '233', ''],
  ['Glendale', 'AZ', 'AZ', 248, 33.54, -112.19, '853', ''],
  ['Garland', 'TX', 'C', 246, 32.91, -96.64, '750', ''],
  ['Scottsdale', 'AZ', 'AZ', 241, 33.49, -111.93, '852', ''],
  ['Norfolk', 'VA', 'E', 238, 36.85, -76.29, '235', 'G'],
  ['Boise', 'ID', 'BO', 235, 43.62, -116.2, '837', ''],
  ['Fremont', 'CA', 'P', 230, 37.55, -121.99, '945', ''],
  ['Spokane', 'WA', 'P', 228, 47.66, -117.43, '992', ''],
  ['Santa Clarita', 'CA', 'P', 228, 34.39, -118.54, '913', ''],
  ['Baton Rouge', 'LA', 'C', 227, 30.45, -91.19, '708', ''],
  ['Richmond', 'VA', 'E', 226, 37.54, -77.44, '232', ''],
  ['Hialeah', 'FL', 'E', 223, 25.86, -80.28, '330', ''],
  ['San Bernardino', 'CA', 'P', 222, 34.11, -117.29, '924', 'H'],
  ['Tacoma', 'WA', 'P', 219, 47.25, -122.44, '984', 'G'],
  ['Modesto', 'CA', 'P', 218, 37.64, -121.0, '953', ''],
  ['Huntsville', 'AL', 'C', 215, 34.73, -86.59, '358', ''],
  ['Des Moines', 'IA', 'C', 214, 41.59, -93.62, '503', ''],
  ['Yonkers', 'NY', 'E', 211, 40.93, -73.9, '107', ''],
  ['Rochester', 'NY', 'E', 211, 43.16, -77.61, '146', ''],
  ['Moreno Valley', 'CA', 'P', 208, 33.94, -117.23, '925', ''],
  ['Fayetteville', 'NC', 'E', 208, 35.05, -78.88, '283', ''],
  ['Fontana', 'CA', 'P', 208, 34.09, -117.44, '923', ''],
  ['Columbus', 'GA', 'E', 206, 32.46, -84.99, '319', ''],
  ['Worcester', 'MA', 'E', 206, 42.26, -71.8, '016', ''],
  ['Port St. Lucie', 'FL', 'E', 204, 27.29, -80.35, '349', ''],
  ['Little Rock', 'AR', 'C', 202, 34.75, -92.29, '722', ''],
  ['Augusta', 'GA', 'E', 202, 33.47, -81.97, '309', ''],
  ['Oxnard', 'CA', 'P', 202, 34.2, -119.18, '930', ''],
  ['Birmingham', 'AL', 'C', 200, 33.52, -86.8, '352', ''],
  ['Montgomery', 'AL', 'C', 200, 32.38, -86.3, '361', ''],
  ['Frisco', 'TX', 'C', 200, 33.15, -96.82, '750', ''],
  ['Amarillo', 'TX', 'C', 200, 35.22, -101.83, '791', ''],
  ['Salt Lake City', 'UT', 'M', 200, 40.76, -111.89, '841', 'H'],
  ['Grand Rapids', 'MI', 'DT', 198, 42.96, -85.67, '495', ''],
  ['Huntington Beach', 'CA', 'P', 198, 33.66, -118.0, '926', ''],
  ['Overland Park', 'KS', 'C', 197, 38.98, -94.67, '662', ''],
  ['Glendale', 'CA', 'P', 196, 34.14, -118.26, '912', ''],
  ['Tallahassee', 'FL', 'E', 196, 30.44, -84.28, '323', ''],
  ['Grand Prairie', 'TX', 'C', 196, 32.75, -97.0, '750', ''],
  ['McKinney', 'TX', 'C', 196, 33.2, -96.62, '750', ''],
  ['Cape Coral', 'FL', 'E', 194, 26.56, -81.95, '339', ''],
  ['Sioux Falls', 'SD', 'C', 192, 43.54, -96.73, '571', ''],
  ['Providence', 'RI', 'E', 190, 41.82, -71.41, '029', ''],
  ['Knoxville', 'TN', 'E', 190, 35.96, -83.92, '379', ''],
  ['Akron', 'OH', 'E', 190, 41.08, -81.52, '443', ''],
  ['Shreveport', 'LA', 'C', 187, 32.53, -93.75, '711', ''],
  ['Mobile', 'AL', 'C', 187, 30.69, -88.04, '366', 'G'],
  ['Brownsville', 'TX', 'C', 186, 25.9, -97.5, '785', 'G'],
  ['Newport News', 'VA', 'E', 186, 37.09, -76.47, '236', ''],
  ['Fort Lauderdale', 'FL', 'E', 182, 26.12, -80.14, '333', 'G'],
  ['Chattanooga', 'TN', 'E', 181, 35.05, -85.31, '374', ''],
  ['Tempe', 'AZ', 'AZ', 180, 33.43, -111.94, '852', ''],
  ['Eugene', 'OR', 'P', 176, 44.05, -123.09, '974', ''],
  ['Salem', 'OR', 'P', 175, 44.94, -123.04, '973', ''],
  ['Fort Collins', 'CO', 'M', 170, 40.59, -105.08, '805', ''],
  ['Springfield', 'MO', 'C', 169, 37.21, -93.29, '658', ''],
  ['Macon', 'GA', 'E', 157, 32.84, -83.63, '312', ''],
  ['Springfield', 'MA', 'E', 155, 42.1, -72.59, '011', ''],
  ['Jackson', 'MS', 'C', 154, 32.3, -90.18, '392', ''],
  ['Charleston', 'SC', 'E', 150, 32.78, -79.93, '294', 'G'],
  ['Syracuse', 'NY', 'E', 148, 43.05, -76.15, '132', ''],
  ['Rockford', 'IL', 'C', 148, 42.27, -89.09, '611', 'H'],
  ['Bridgeport', 'CT', 'E', 148, 41.19, -73.2, '066', ''],
  ['Savannah', 'GA', 'E', 147, 32.08, -81.09, '314', 'G'],
  ['Gainesville', 'FL', 'E', 141, 29.65, -82.32, '326', ''],
  ['Columbia', 'SC', 'E', 137, 34.0, -81.03, '292', ''],
  ['Cedar Rapids', 'IA', 'C', 137, 41.98, -91.67, '524', ''],
  ['New Haven', 'CT', 'E', 134, 41.31, -72.92, '065', ''],
  ['Topeka', 'KS', 'C', 126, 39.05, -95.68, '666', ''],
  ['Fargo', 'ND', 'C', 125, 46.88, -96.79, '581', ''],
  ['Allentown', 'PA', 'E', 125, 40.6, -75.47, '181', 'H'],
  ['Hartford', 'CT', 'E', 121, 41.76, -72.68, '061', ''],
  ['Lafayette', 'LA', 'C', 121, 30.22, -92.02, '705', ''],
  ['Billings', 'MT', 'M', 117, 45.78, -108.5, '591', ''],
  ['Evansville', 'IN', 'C', 117, 37.97, -87.57, '477', ''],
  ['Manchester', 'NH', 'E', 115, 42.99, -71.46, '031', ''],
  ['Provo', 'UT', 'M', 115, 40.23, -111.66, '846', ''],
  ['Lansing', 'MI', 'DT', 112, 42.73, -84.56, '489', ''],
  ['Las Cruces', 'NM', 'M', 111, 32.32, -106.76, '880', ''],
  ['Green Bay', 'WI', 'C', 107, 44.51, -88.01, '543', ''],
  ['Roanoke', 'VA', 'E', 100, 37.27, -79.94, '240', ''],
  ['Albany', 'NY', 'E', 99, 42.65, -73.76, '122', ''],
  ['Yuma', 'AZ', 'AZ', 95, 32.69, -114.63, '853', ''],
  ['Erie', 'PA', 'E', 94, 42.13, -80.09, '165', ''],
  ['Asheville', 'NC', 'E', 94, 35.6, -82.55, '288', ''],
  ['Santa Fe', 'NM', 'M', 88, 35.69, -105.94, '875', ''],
  ['Duluth', 'MN', 'C', 87, 46.79, -92.1, '558', ''],
  ['Ogden', 'UT', 'M', 87, 41.22, -111.97, '844', ''],
  ['Flint', 'MI', 'DT', 81, 43.01, -83.69, '485', ''],
  ['Flagstaff', 'AZ', 'AZ', 77, 35.2, -111.65, '860', ''],
  ['Scranton', 'PA', 'E', 76, 41.41, -75.66, '185', ''],
  ['Missoula', 'MT', 'M', 74, 46.87, -113.99, '598', ''],
  ['Rapid City', 'SD', 'M', 74, 44.08, -103.23, '577', ''],
  ['Bismarck', 'ND', 'C', 74, 46.81, -100.78, '585', ''],
  ['Gulfport', 'MS', 'C', 72, 30.37, -89.09, '395', ''],
  ['Bowling Green', 'KY', 'C', 72, 36.99, -86.44, '421', ''],
  ['Greenville', 'SC', 'E', 70, 34.85, -82.4, '296', ''],
  ['Wilmington', 'DE', 'E', 70, 39.74, -75.55, '198', ''],
  ['Portland', 'ME', 'E', 68, 43.66, -70.26, '041', 'G'],
  ['Cheyenne', 'WY', 'M', 65, 41.14, -104.82, '820', ''],
  ['Pensacola', 'FL', 'C', 54, 30.42, -87.22, '325', ''],
  ['Charleston', 'WV', 'E', 48, 38.35, -81.63, '253', ''],
  ['Huntington', 'WV', 'E', 46, 38.42, -82.45, '257', ''],
  ['Burlington', 'VT', 'E', 45, 44.48, -73.21, '054', ''],
  ['Fairbanks', 'AK', 'AK', 32, 64.84, -147.72, '997', ''],
];

export const places: readonly Place[] = Object.freeze(
  rows.map(([city, state, zone, population, lat, lon, zip3, flags]) =>
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
