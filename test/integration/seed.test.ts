import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConflictError, InterruptedError } from '../../src/errors.js';
import { runConsistencyChecks } from '../../src/services/check.service.js';
import { defaultMigratorOptions, migrateLatest } from '../../src/services/migrations.service.js';
import { countSeedTables, seedDatabase, type SeedOptions } from '../../src/services/seed.service.js';
import type { Database } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { catalogSnapshot, domainViolations, tableDigests } from '../support/seeded.js';
import { openServer } from '../support/stores.js';

const asOf = new Date('2026-11-01T00:00:00Z');
const base: SeedOptions = {
  sizes: { customers: 300, locations: 60, packages: 3000 },
  seed: 42,
  asOf,
  mode: 'empty',
  documentsShare: 0.05,
  documentsTarget: 'postgres',
};

async function freshDatabase(): Promise<{ testDb: TestDatabase; db: Database }> {
  const testDb = await createTestDatabase('st_seed');
  const db = await openServer(testDb.url);
  await migrateLatest(db, defaultMigratorOptions());
  return { testDb, db };
}

describe.skipIf(!inject('postgresAvailable'))('seed into PostgreSQL', () => {
  let testDb: TestDatabase;
  let db: Database;
  let catalogBefore: string[];

  beforeAll(async () => {
    ({ testDb, db } = await freshDatabase());
    catalogBefore = await catalogSnapshot(db);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('loads the requested sizes, rebuilds exactly the keys, foreign keys and indexes it dropped, and turns the triggers it switched off back on', async () => {
    const summary = await seedDatabase(db, base);
    expect(summary.constraintsRebuilt).toBe(true);
    expect(summary.rows).toMatchObject({ customers: 300, locations: 60, packages: 3000, shipments: 3000 });
    expect(summary.rows.tracking_events).toBeGreaterThan(3000 * 4);
    expect(await countSeedTables(db)).toEqual(summary.rows);
    expect(await catalogSnapshot(db)).toEqual(catalogBefore);
    expect(summary.documents.count).toBeGreaterThan(0);
    const docs = await db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from doc_raw_scans`);
    expect(docs.rows[0]?.n).toBe(summary.documents.count);
  });

  it('every seeded row satisfies DOMAIN §1–3 (checked with SQL written in the tests)', async () => {
    const violations = await domainViolations(db, asOf);
    expect(violations).toEqual(Object.fromEntries(Object.keys(violations).map((k) => [k, 0])));
    expect((await runConsistencyChecks(db)).ok).toBe(true);
  });

  it('leaves identity columns continuing after the loaded keys', async () => {
    const inserted = await db
      .knex('customers')
      .insert({ name: 'Late Customer', email: 'late@example.org', address: 'x' })
      .returning('customer_id');
    expect((inserted[0] as { customer_id: number }).customer_id).toBe(301);
    await db.knex('customers').where({ customer_id: 301 }).delete();
  });

  it('refuses to seed into a database that has data, and changes nothing', async () => {
    const before = await tableDigests(db);
    const error = await seedDatabase(db, base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe('database_not_empty');
    expect((error as ConflictError).hint).toMatch(/--append .* --truncate/);
    expect(await tableDigests(db)).toEqual(before);
  });

  it('--append adds rows with fresh keys, constraints on, and the data stays consistent', async () => {
    const proof = async (): Promise<{ proven: boolean; listed: number }> => {
      const result = await db.knex.raw<{ rows: { proven: boolean; listed: number }[] }>(
        `select coalesce(proven_epoch = epoch, false) as proven, (select count(*)::int from consistency_changes) as listed
           from consistency_state`,
      );
      return result.rows[0] ?? { proven: false, listed: -1 };
    };
    expect(await proof()).toEqual({ proven: true, listed: 0 }); // recorded by the check above
    const summary = await seedDatabase(db, {
      ...base,
      mode: 'append',
      seed: 7,
      sizes: { customers: 50, locations: 10, packages: 500 },
    });
    expect(summary.constraintsRebuilt).toBe(false);
    const counts = await countSeedTables(db);
    expect(counts).toMatchObject({ customers: 350, locations: 70, packages: 3500, shipments: 3500 });
    const appended = await db.knex.raw<{ rows: { min: number }[] }>(
      `select min(package_id)::int as min from packages where package_id > 3000`,
    );
    expect(appended.rows[0]?.min).toBe(3001);
    const violations = await domainViolations(db, asOf);
    expect(Object.values(violations).every((v) => v === 0)).toBe(true);
    // Loaded without listing each package: the epoch moved on instead, so the next
    // `report consistency` proves every package.
    expect(await proof()).toEqual({ proven: false, listed: 0 });
  });

  it('--truncate replaces what is there', async () => {
    const summary = await seedDatabase(db, {
      ...base,
      mode: 'truncate',
      sizes: { customers: 100, locations: 20, packages: 800 },
    });
    expect(summary.constraintsRebuilt).toBe(true);
    expect(await countSeedTables(db)).toEqual(summary.rows);
    expect(summary.rows.packages).toBe(800);
    expect(await catalogSnapshot(db)).toEqual(catalogBefore);
  });

  it('check finds each kind of corruption injected by hand', async () => {
    const trx = await db.knex.transaction();
    try {
      const ids = (
        await trx.raw<{ rows: { package_id: number }[] }>(
          `select package_id from packages where current_status = 'delivered' order by package_id limit 4`,
        )
      ).rows.map((r) => r.package_id);
      const [a, b, c, d] = ids as [number, number, number, number];
      await trx.raw(`update packages set current_status = 'in_transit' where package_id = ?`, [a]);
      // b: its second scan turned into a second 'pending' (pending → pending is not a transition)
      await trx.raw(
        `update tracking_events set status = 'pending' where event_id = (
           select event_id from tracking_events where package_id = ? order by event_timestamp, event_id offset 1 limit 1)`,
        [b],
      );
      await trx.raw(`update shipments set actual_delivery = null where package_id = ?`, [c]);
      await trx.raw(`update packages set tracking_number = 'RB123456784US' where package_id = ?`, [d]);
      // The rollups, edited around their triggers: one package in flight a day quieter, one more delivered package counted.
      // (c's lost delivery time is not among them: the lane rollup's trigger counts that edit.)
      await trx.raw(`update in_flight_packages set quiet_since = quiet_since - interval '1 day'
                      where package_id = (select min(package_id) from in_flight_packages)`);
      await trx.raw(`insert into package_status_counts (current_status, facets, packages) values ('delivered', '{}', 1)`);
      // And one delivery more on a lane's day than there were.
      await trx.raw(`update lane_day_counts set delivered = delivered + 1, on_time = on_time + 1
                      where ctid = (select min(ctid) from lane_day_counts)`);
      await trx.raw(`update city_lane_day_counts set delivered = delivered + 1, on_time = on_time + 1
                      where ctid = (select min(ctid) from city_lane_day_counts)`);
      // And one scan fewer at a facility on a day.
      await trx.raw(`update facility_day_counts set scans = scans - 1 where ctid = (select min(ctid) from facility_day_counts)`);
      const report = await runConsistencyChecks({ ...db, knex: trx as never });
      const byCheck = Object.fromEntries(report.checks.map((x) => [x.check, x.violations]));
      expect(report.ok).toBe(false);
      expect(byCheck).toEqual({
        status_matches_last_event: 1,
        legal_transitions: 1,
        // c lost its actual_delivery; a is no longer 'delivered' but keeps its own
        delivered_has_actual_delivery: 2,
        every_package_has_a_shipment: 0,
        in_flight_rollup: 1,
        status_counts_rollup: 1,
        lane_counts_rollup: 1,
        city_lane_counts_rollup: 1,
        facility_counts_rollup: 1,
        valid_tracking_numbers: 1,
      });
    } finally {
      await trx.rollback();
    }
  });
});

describe.skipIf(!inject('postgresAvailable'))('seed guarantees', () => {
  it('the same seed and sizes give identical rows whatever the chunk size', async () => {
    const one = await freshDatabase();
    const two = await freshDatabase();
    try {
      await seedDatabase(one.db, { ...base, chunkPackages: 20_000 });
      await seedDatabase(two.db, { ...base, chunkPackages: 250 });
      expect(await tableDigests(two.db)).toEqual(await tableDigests(one.db));
    } finally {
      await Promise.all([one.db.close(), two.db.close()]);
      await Promise.all([one.testDb.drop(), two.testDb.drop()]);
    }
  });

  it('a second seed while one runs is refused; an interrupted seed leaves the tables as they were', async () => {
    const { testDb, db } = await freshDatabase();
    const other = await openServer(testDb.url);
    try {
      const catalog = await catalogSnapshot(db);
      const controller = new AbortController();
      const first = seedDatabase(db, {
        ...base,
        sizes: { customers: 2000, locations: 100, packages: 60_000 },
        signal: controller.signal,
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      const second = await seedDatabase(other, base).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(ConflictError);
      expect((second as ConflictError).code).toBe('seed_running');

      const abortedAt = performance.now();
      controller.abort();
      await expect(first).rejects.toBeInstanceOf(InterruptedError);
      expect(performance.now() - abortedAt).toBeLessThan(1000);
      expect(await countSeedTables(db)).toEqual({ customers: 0, locations: 0, packages: 0, shipments: 0, tracking_events: 0 });
      expect(await catalogSnapshot(db)).toEqual(catalog);

      const rerun = await seedDatabase(db, base);
      expect(rerun.rows.packages).toBe(3000);
    } finally {
      await other.close();
      await db.close();
      await testDb.drop();
    }
  });
});
