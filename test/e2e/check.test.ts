import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { runCli } from '../support/cli.js';

interface CheckJson {
  ok: boolean;
  checks: { check: string; violations: number }[];
  repair?: {
    differed: { inFlight: number; statusCounts: number; laneCounts: number; cityLaneCounts: number; facilityCounts: number };
    rebuilt: { inFlight: number; statusGroups: number; laneKeys: number; cityLaneKeys: number; facilityKeys: number };
  };
}

const violations = (json: CheckJson): Record<string, number> =>
  Object.fromEntries(json.checks.filter((c) => c.check.endsWith('_rollup')).map((c) => [c.check, c.violations]));

describe.skipIf(!inject('postgresAvailable'))('check --repair-rollups', () => {
  let testDb: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_check_repair');
    env = { SHIPTRACK_DATABASE_URL: testDb.url };
    expect((await runCli(['migrate', 'latest'], { env })).code).toBe(0);
    expect((await runCli(['seed', '--as-of', '2026-11-01'], { env })).code).toBe(0);
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('finds rollups left stale by writes that bypassed the triggers, rebuilds them, and then passes', async () => {
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      // As a logical replica or pg_restore --disable-triggers would write: no trigger fires.
      await client.query('set session_replication_role = replica');
      // Consistent data, stale rollups: three promises moved, three packages marked fragile.
      await client.query(`update shipments set estimated_delivery = estimated_delivery + interval '1 day'
                           where package_id in (select package_id from in_flight_packages order by package_id limit 3)`);
      await client.query(`update packages set metadata = metadata || '{"fragile": true}'
                           where package_id in (select package_id from packages where not metadata @> '{"fragile": true}'
                                                 order by package_id limit 3)`);
      // One scan moved to another facility: one facility loses it that day, another gains it.
      await client.query(`update tracking_events
                             set location_id = (select min(location_id) from locations l where l.location_id <> tracking_events.location_id)
                           where event_id = (select min(event_id) from tracking_events)`);
      // And one delivery moved a day earlier: its lane loses it on one day and gains it on another.
      await client.query(`update shipments set actual_delivery = actual_delivery - interval '1 day'
                           where shipment_id = (select min(shipment_id) from shipments where actual_delivery is not null)`);
    } finally {
      await client.end();
    }
    const stale = await runCli(['check', '--json'], { env });
    expect(stale.code, stale.stderr).toBe(4);
    const found = violations(JSON.parse(stale.stdout) as CheckJson);
    // Three due times, and the (status, fragile) groups the three packages left and joined.
    expect(found.in_flight_rollup).toBe(3);
    expect(found.status_counts_rollup).toBeGreaterThanOrEqual(2);
    // The lane's count on two days, by state and by city.
    expect(found.lane_counts_rollup).toBe(2);
    expect(found.city_lane_counts_rollup).toBe(2);
    // The two facilities' counts that day.
    expect(found.facility_counts_rollup).toBe(2);
    expect(JSON.parse(stale.stdout)).toMatchObject({ ok: false });

    const repaired = await runCli(['check', '--repair-rollups', '--json'], { env });
    expect(repaired.code, repaired.stderr).toBe(0);
    const json = JSON.parse(repaired.stdout) as CheckJson;
    expect(json.ok).toBe(true);
    expect(violations(json)).toEqual({
      in_flight_rollup: 0,
      status_counts_rollup: 0,
      lane_counts_rollup: 0,
      city_lane_counts_rollup: 0,
      facility_counts_rollup: 0,
    });
    expect(json.repair?.differed).toEqual({
      inFlight: 3,
      statusCounts: found.status_counts_rollup,
      laneCounts: 2,
      cityLaneCounts: 2,
      facilityCounts: 2,
    });
    expect(json.repair?.rebuilt.inFlight).toBeGreaterThan(0);
    expect(json.repair?.rebuilt.laneKeys).toBeGreaterThan(0);
    expect(json.repair?.rebuilt.cityLaneKeys).toBeGreaterThan(0);
    expect(json.repair?.rebuilt.facilityKeys).toBeGreaterThan(0);
    expect(repaired.stderr).toMatch(
      /rollups rebuilt in [\d.]+ s: 3 in-flight rows, \d status groups, 2 state lane\s+days,\s+2\s+city\s+lane\s+days\s+and\s+2\s+facility\s+days\s+differed/,
    );
  });
});
