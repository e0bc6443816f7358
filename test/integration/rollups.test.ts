import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ScanInput } from '../../src/domain/scan-input.js';
import { runConsistencyChecks } from '../../src/services/check.service.js';
import { createScanPipeline } from '../../src/services/scan-write.js';
import type { Database } from '../../src/store/database.js';
import {
  facilityCountsDifferencesSql,
  inFlightSql,
  laneCountsDifferencesSql,
  laneRollups,
  statusCountsSql,
} from '../../src/store/rollups.js';
import type { TestDatabase } from '../support/databases.js';
import { openSeededDatabase } from '../support/seeded.js';
import { openServer } from '../support/stores.js';

/**
 * The rollups of migrations 20261203000100, 20261204000400, 20261205000200 and 20261205000300 stay equal to the full queries
 * through every kind of write: scans from two processes at once, deliveries, new labels, edits of
 * metadata, promises and a location's state, deleted events and packages, and enough statements
 * to fold the deltas.
 */
describe.skipIf(!inject('postgresAvailable'))('rollups: exact through every write', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    ({ testDb, db } = await openSeededDatabase('st_rollups', {
      sizes: { customers: 100, locations: 30, packages: 1500 },
      seed: 3,
    }));
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  /** Rows where a rollup differs from the full query: none when exact. */
  async function differences(): Promise<Record<'counts' | 'inFlight' | 'lanes' | 'cityLanes' | 'facilities', unknown[]>> {
    const counts = await db.knex.raw<{ rows: unknown[] }>(
      `select * from (${statusCountsSql}) x
        full join (select current_status, facets, sum(packages)::bigint as packages from package_status_counts
                    group by 1, 2 having sum(packages) <> 0) c using (current_status, facets)
       where x.packages is distinct from c.packages`,
    );
    const inFlight = await db.knex.raw<{ rows: unknown[] }>(
      `select * from (${inFlightSql()}) x full join in_flight_packages f using (package_id)
        where (x.current_status, x.created_at, x.last_scan_at, x.quiet_since, x.due)
              is distinct from (f.current_status, f.created_at, f.last_scan_at, f.quiet_since, f.due)`,
    );
    const lanes = await db.knex.raw<{ rows: unknown[] }>(laneCountsDifferencesSql(laneRollups.state));
    const cityLanes = await db.knex.raw<{ rows: unknown[] }>(laneCountsDifferencesSql(laneRollups.city));
    const facilities = await db.knex.raw<{ rows: unknown[] }>(facilityCountsDifferencesSql);
    return {
      counts: counts.rows,
      inFlight: inFlight.rows,
      lanes: lanes.rows,
      cityLanes: cityLanes.rows,
      facilities: facilities.rows,
    };
  }

  const exact = async (): Promise<void> =>
    expect(await differences()).toEqual({ counts: [], inFlight: [], lanes: [], cityLanes: [], facilities: [] });

  async function inStatus(status: string, count: number, offset = 0): Promise<{ tracking_number: string; last_at: Date }[]> {
    const result = await db.knex.raw<{ rows: { tracking_number: string; last_at: Date }[] }>(
      `select p.tracking_number, max(e.event_timestamp) as last_at from packages p join tracking_events e using (package_id)
        where p.current_status = ? group by p.package_id order by p.package_id offset ? limit ?`,
      [status, offset, count],
    );
    return result.rows;
  }

  it('starts exact after the seed, and check proves it', async () => {
    await exact();
    const proof = await runConsistencyChecks(db, {});
    expect(proof.checks.filter((c) => c.check.endsWith('_rollup')).map((c) => [c.check, c.violations])).toEqual([
      ['in_flight_rollup', 0],
      ['status_counts_rollup', 0],
      ['lane_counts_rollup', 0],
      ['city_lane_counts_rollup', 0],
      ['facility_counts_rollup', 0],
    ]);
  });

  it('stays exact through scans recorded by two processes at once, deliveries included', async () => {
    const moving = [...(await inStatus('in_transit', 12)), ...(await inStatus('out_for_delivery', 8))];
    expect(moving.length).toBeGreaterThan(10);
    const location = (
      await db.knex.raw<{ rows: { location_name: string }[] }>('select location_name from locations order by location_id limit 1')
    ).rows[0]?.location_name as string;
    const scans = (half: number): ScanInput[] =>
      moving
        .filter((_, i) => i % 2 === half)
        .flatMap((p, i): ScanInput[] => {
          const at = (hours: number): Date => new Date(new Date(p.last_at).getTime() + hours * 3_600_000);
          return i % 3 === 0
            ? [{ trackingNumber: p.tracking_number, status: 'delivered', location, at: at(1) }]
            : [
                { trackingNumber: p.tracking_number, status: 'in_transit', location, at: at(1) },
                { trackingNumber: p.tracking_number, status: 'exception', location, at: at(2) },
              ];
        });
    const other = await openServer(testDb.url);
    try {
      const record = async (database: Database, input: ScanInput[]): Promise<void> => {
        const pipeline = createScanPipeline<number>(
          { db: database, documentsTarget: 'postgres' },
          { batchSize: 2, streams: 2, onRecorded: () => undefined },
        );
        for (const [i, s] of input.entries()) await pipeline.add(s, i);
        await pipeline.finish();
      };
      await Promise.all([record(db, scans(0)), record(other, scans(1))]);
    } finally {
      await other.close();
    }
    await exact();
  });

  it('stays exact through direct edits: metadata, promises, deleted events, new and deleted packages, truncation aside', async () => {
    // Facets on, off and changed (the status counts split by them), and a key that is no facet.
    await db.knex.raw(`update packages set metadata = metadata || '{"fragile": true}' where package_id % 7 = 0`);
    await db.knex.raw(`update packages set metadata = metadata - 'fragile' where package_id % 11 = 0`);
    await db.knex.raw(
      `update packages set metadata = metadata || '{"service": "overnight", "insured": null}' where package_id % 13 = 0`,
    );
    await db.knex.raw(`update packages set metadata = metadata || '{"contents": "toys"}' where package_id % 17 = 0`);
    await exact();
    // A new promise for packages in flight, and a delivery recorded by hand (due goes away).
    await db.knex.raw(`update shipments set estimated_delivery = estimated_delivery + interval '1 day' where package_id % 5 = 0`);
    const [pkg] = await inStatus('in_transit', 1, 20);
    await db.knex.raw(
      `update shipments set actual_delivery = now() where package_id = (select package_id from packages where tracking_number = ?)`,
      [pkg?.tracking_number ?? ''],
    );
    await exact();
    // The latest scans of some packages in flight deleted: their last scan is the one before.
    await db.knex.raw(
      `delete from tracking_events e using (
         select package_id, max(event_id) as event_id from tracking_events
          where package_id in (select package_id from packages where current_status = 'in_transit' order by package_id limit 15)
          group by package_id) l
        where e.event_id = l.event_id`,
    );
    await exact();
    // A new label with no scan yet (in flight, quiet since its creation), and a package deleted.
    await db.knex.raw(
      `insert into packages (tracking_number, sender_id, recipient_id, current_status, weight, metadata, created_at)
       select 'RR' || lpad((900000 + package_id)::text, 8, '0') || 'XUS', sender_id, recipient_id, 'pending', weight, metadata, now()
         from packages where package_id <= 3`,
    );
    const victim = (
      await db.knex.raw<{ rows: { package_id: number }[] }>(
        `select package_id from packages where current_status = 'in_transit' order by package_id desc limit 1`,
      )
    ).rows[0]?.package_id as number;
    await db.knex.raw('delete from tracking_events where package_id = ?', [victim]);
    await db.knex.raw('delete from shipments where package_id = ?', [victim]);
    await db.knex.raw('delete from packages where package_id = ?', [victim]);
    await exact();
  });

  /** The location with the most deliveries from (`origin`) or to (`destination`) it. */
  async function busiestLocation(end: 'origin' | 'destination'): Promise<{ location_id: number; city: string; state: string }> {
    return (
      await db.knex.raw<{ rows: { location_id: number; city: string; state: string }[] }>(
        `select l.location_id, l.city, l.state from locations l join shipments s on s.${end}_location_id = l.location_id
          where s.actual_delivery is not null group by 1, 2, 3 order by count(*) desc limit 1`,
      )
    ).rows[0] as { location_id: number; city: string; state: string };
  }

  /** The deliveries a lane rollup holds from (`origin`) or to (`destination`) the lane end `label`. */
  async function deliveredAt(table: string, end: 'origin' | 'destination', label: string): Promise<number> {
    const found = await db.knex.raw<{ rows: { n: string }[] }>(
      `select coalesce(sum(delivered), 0) as n from ${table} where ${end} = ?`,
      [label],
    );
    return Number(found.rows[0]?.n);
  }

  it('moves the deliveries of a location whose state is edited, and back', async () => {
    const busiest = await busiestLocation('origin');
    const inState = (state: string): Promise<number> => deliveredAt('lane_day_counts', 'origin', state);
    const before = await inState('ZZ');
    // Other columns edited: no delta.
    await db.knex.raw(`update locations set location_name = location_name || ' ' where location_id = ?`, [busiest.location_id]);
    await db.knex.raw(`update locations set state = 'ZZ' where location_id = ?`, [busiest.location_id]);
    expect(before).toBe(0);
    expect(await inState('ZZ')).toBeGreaterThan(0);
    await exact();
    await db.knex.raw(`update locations set state = ?, location_name = rtrim(location_name) where location_id = ?`, [
      busiest.state,
      busiest.location_id,
    ]);
    expect(await inState('ZZ')).toBe(0);
    await exact();
  });

  it('moves scans between facilities and days when events are edited, and back', async () => {
    const before = (
      await db.knex.raw<{ rows: { event_id: number; location_id: number; event_timestamp: Date; status: string }[] }>(
        'select event_id, location_id, event_timestamp, status from tracking_events order by event_id limit 5',
      )
    ).rows;
    const ids = before.map((r) => r.event_id);
    await db.knex.raw(
      `update tracking_events set location_id = (select max(location_id) from locations), event_timestamp = event_timestamp - interval '1 day'
        where event_id = any(?::bigint[])`,
      [ids],
    );
    await exact();
    await db.knex.raw(`update tracking_events set status = 'exception' where event_id = ?`, [ids[0] as number]);
    await exact();
    await db.knex.raw(
      `update tracking_events e set location_id = b.location_id, event_timestamp = b.event_timestamp, status = b.status
         from unnest(?::bigint[], ?::int[], ?::timestamptz[], ?::text[]) as b(event_id, location_id, event_timestamp, status)
        where e.event_id = b.event_id`,
      [ids, before.map((r) => r.location_id), before.map((r) => r.event_timestamp), before.map((r) => r.status)],
    );
    await exact();
  });

  it('moves the deliveries of a location whose city is edited, and back', async () => {
    const busiest = await busiestLocation('destination');
    const toCity = (label: string): Promise<number> => deliveredAt('city_lane_day_counts', 'destination', label);
    const moved = `Nowhere, ${busiest.state}`;
    expect(await toCity(moved)).toBe(0);
    await db.knex.raw(`update locations set city = 'Nowhere' where location_id = ?`, [busiest.location_id]);
    expect(await toCity(moved)).toBeGreaterThan(0);
    await exact();
    await db.knex.raw(`update locations set city = ? where location_id = ?`, [busiest.city, busiest.location_id]);
    expect(await toCity(moved)).toBe(0);
    await exact();
  });

  it('stays exact through hundreds of small statements from four sessions, and folds its deltas', async () => {
    const statusRows = async (): Promise<number> =>
      (await db.knex.raw<{ rows: { n: number }[] }>('select count(*)::int as n from package_status_counts')).rows[0]?.n ?? 0;
    const before = await statusRows();
    const sessions = await Promise.all([0, 1, 2, 3].map(() => openServer(testDb.url)));
    try {
      await Promise.all(
        sessions.map(async (session, s) => {
          for (let i = 0; i < 80; i += 1) {
            // Flip one package's fragility per statement: a delta row each, on four connections.
            await session.knex.raw(
              `update packages set metadata = jsonb_set(metadata, '{fragile}', to_jsonb(not coalesce((metadata ->> 'fragile')::boolean, false)))
                where package_id = (select package_id from packages order by package_id offset ? limit 1)`,
              [s * 100 + i],
            );
          }
        }),
      );
    } finally {
      await Promise.all(sessions.map((session) => session.close()));
    }
    await exact();
    // 320 statements wrote 640 delta rows: folded along the way (every 128th statement), fewer
    // than half of them remain.
    expect(await statusRows()).toBeLessThan(before + 320);
  });

  it('keeps deliveries per lane exact through deliveries moved by four sessions, and folds their deltas', async () => {
    const unfolded = async (table = 'lane_day_counts'): Promise<number> =>
      (await db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ${table} where not folded`)).rows[0]?.n ?? 0;
    const sessions = await Promise.all([0, 1, 2, 3].map(() => openServer(testDb.url)));
    try {
      await Promise.all(
        sessions.map(async (session, s) => {
          for (let i = 0; i < 40; i += 1) {
            // One delivery per statement moved by a day and a half, to and fro: a new day, on
            // time or late, a delta on each of two days.
            await session.knex.raw(
              `update shipments set actual_delivery = actual_delivery + case when ? % 2 = 0 then interval '36 hours' else interval '-36 hours' end
                where shipment_id = (select shipment_id from shipments where actual_delivery is not null order by shipment_id offset ? limit 1)`,
              [Math.floor(i / 20), s * 20 + (i % 20)],
            );
          }
        }),
      );
    } finally {
      await Promise.all(sessions.map((session) => session.close()));
    }
    await exact();
    // 160 statements wrote two delta rows each: folded along the way (every 128th statement).
    expect(await unfolded()).toBeLessThan(320);
    expect(await unfolded('city_lane_day_counts')).toBeLessThan(320);
  });
});
