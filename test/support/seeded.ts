import { defaultMigratorOptions, migrateLatest } from '../../src/services/migrations.service.js';
import { seedDatabase, type SeedOptions, type SeedSummary } from '../../src/services/seed.service.js';
import type { Database } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { openServer } from './stores.js';

/** The statuses and transitions of DOMAIN §2, written out again here on purpose: the tests
 *  check the product against the specification, not against the product's own tables. */
export const domainTransitions: Record<string, string[]> = {
  pending: ['in_transit', 'exception', 'cancelled'],
  in_transit: ['in_transit', 'out_for_delivery', 'available_for_pickup', 'delivered', 'exception', 'return_to_sender'],
  out_for_delivery: ['delivered', 'attempt_fail', 'available_for_pickup', 'in_transit', 'exception'],
  attempt_fail: ['out_for_delivery', 'available_for_pickup', 'in_transit', 'return_to_sender', 'exception'],
  available_for_pickup: ['delivered', 'return_to_sender', 'exception'],
  exception: [
    'pending',
    'in_transit',
    'out_for_delivery',
    'attempt_fail',
    'available_for_pickup',
    'exception',
    'return_to_sender',
    'delivered',
  ],
  return_to_sender: ['returned', 'exception'],
  delivered: [],
  returned: [],
  cancelled: [],
};

export const transitionPairs = Object.entries(domainTransitions).flatMap(([from, tos]) => tos.map((to) => `${from}>${to}`));

async function scalar(db: Database, sql: string, bindings: unknown[] = []): Promise<number> {
  const result = await db.knex.raw<{ rows: { n: number | string }[] }>(sql, bindings as never);
  return Number(result.rows[0]?.n ?? 0);
}

/** Counts of rows breaking each rule of DOMAIN §1–3, by SQL written for the tests. */
export async function domainViolations(db: Database, asOf: Date): Promise<Record<string, number>> {
  return {
    statusNotLastEvent: await scalar(
      db,
      `select count(*) as n from packages p
        where p.current_status is distinct from (
          select status from tracking_events e where e.package_id = p.package_id
           order by event_timestamp desc, event_id desc limit 1)`,
    ),
    illegalTransitions: await scalar(
      db,
      `select count(*) as n from (
         select status, lag(status) over (partition by package_id order by event_timestamp, event_id) as prev
           from tracking_events) t
        where prev is not null and prev || '>' || status <> all (?::text[])`,
      [transitionPairs],
    ),
    notStartingPending: await scalar(
      db,
      `select count(*) as n from (
         select distinct on (package_id) status from tracking_events order by package_id, event_timestamp, event_id) f
        where status <> 'pending'`,
    ),
    deliveredMismatch: await scalar(
      db,
      `select count(*) as n from packages p join shipments s using (package_id)
        where (p.current_status = 'delivered') <> (s.actual_delivery is not null)
           or (p.current_status = 'delivered' and s.actual_delivery <> (
                select max(event_timestamp) from tracking_events e where e.package_id = p.package_id and e.status = 'delivered'))`,
    ),
    eventsAfterAsOf: await scalar(db, `select count(*) as n from tracking_events where event_timestamp > ?`, [asOf]),
    sameSenderRecipient: await scalar(db, `select count(*) as n from packages where sender_id = recipient_id`),
    sameOriginDestination: await scalar(
      db,
      `select count(*) as n from shipments where origin_location_id = destination_location_id`,
    ),
    packagesWithoutShipment: await scalar(
      db,
      `select count(*) as n from packages p where not exists (select 1 from shipments s where s.package_id = p.package_id)`,
    ),
    badTrackingNumbers: await scalar(
      db,
      `with d as (
         select tracking_number t,
                array[8,6,4,2,3,5,9,7] w,
                (select array_agg(substr(tracking_number, i, 1)::int order by i) from generate_series(3, 10) i) ds
           from packages where tracking_number ~ '^[A-Z]{2}[0-9]{9}US$')
       select (select count(*) from packages where tracking_number !~ '^[A-Z]{2}[0-9]{9}US$') + count(*) as n
         from d
        where substr(t, 11, 1)::int <> (
          select case 11 - sum(ds[i] * w[i]) % 11 when 10 then 0 when 11 then 5 else 11 - sum(ds[i] * w[i]) % 11 end
            from generate_series(1, 8) i)`,
    ),
    nonObjectMetadata: await scalar(db, `select count(*) as n from packages where jsonb_typeof(metadata) <> 'object'`),
  };
}

/** md5 of every seeded table's rows in key order: equal digests mean identical data. */
export async function tableDigests(db: Database): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  // Generated columns only: created_at of customers and recorded_at of events are load times.
  const generated: Record<string, [string, string]> = {
    customers: ['customer_id', 'customer_id, name, email, address'],
    locations: ['location_id', 'location_id, location_name, city, state, location_type, time_zone'],
    packages: [
      'package_id',
      'package_id, tracking_number, sender_id, recipient_id, current_status, weight, metadata, created_at',
    ],
    shipments: [
      'shipment_id',
      'shipment_id, package_id, origin_location_id, destination_location_id, estimated_delivery, actual_delivery',
    ],
    tracking_events: ['event_id', 'event_id, package_id, location_id, status, event_timestamp'],
  };
  for (const [table, [key, columns]] of Object.entries(generated)) {
    const result = await db.knex.raw<{ rows: { d: string | null }[] }>(
      `select md5(string_agg(row(${columns})::text, '|' order by ${key})) as d from ${table}`,
    );
    digests[table] = result.rows[0]?.d ?? '';
  }
  return digests;
}

/** Every constraint and index definition of the seeded tables: compared before and after a seed. */
export async function catalogSnapshot(db: Database): Promise<string[]> {
  const result = await db.knex.raw<{ rows: { def: string }[] }>(
    `select conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) as def from pg_constraint
      where conrelid = any ('{customers,locations,packages,shipments,tracking_events}'::regclass[])
     union all
     select pg_get_indexdef(indexrelid) from pg_index
      where indrelid = any ('{customers,locations,packages,shipments,tracking_events}'::regclass[])
     union all
     select pg_get_triggerdef(oid) || ' enabled=' || tgenabled::text from pg_trigger
      where tgrelid = any ('{customers,locations,packages,shipments,tracking_events}'::regclass[]) and not tgisinternal
     order by 1`,
  );
  return result.rows.map((r) => r.def);
}

/** A database of the test's own, migrated and seeded: the common start of the write-path tests. */
export async function openSeededDatabase(
  prefix: string,
  options: Partial<SeedOptions> & Pick<SeedOptions, 'sizes' | 'seed'>,
): Promise<{ testDb: TestDatabase; db: Database; summary: SeedSummary }> {
  const testDb = await createTestDatabase(prefix);
  const db = await openServer(testDb.url);
  await migrateLatest(db, defaultMigratorOptions());
  const summary = await seedDatabase(db, {
    asOf: new Date('2026-11-01T00:00:00Z'),
    mode: 'empty',
    documentsShare: 0,
    documentsTarget: 'postgres',
    ...options,
  });
  return { testDb, db, summary };
}
