import type { Knex } from 'knex';
import type { SeedServices } from '../src/services/seed-files.service.js';
import { facilities } from './reference/places.js';

// The reference network: real facilities (city, state, IANA time zone) from the reference data
// the volume generator draws its places from too. Upserted by name.

export async function seed(_knex: Knex, shiptrack: SeedServices): Promise<void> {
  await shiptrack.upsertLocations(facilities);
}
