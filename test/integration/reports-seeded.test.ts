import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseMetadataFilters } from '../../src/domain/report-filters.js';
import { seedDatabase } from '../../src/services/seed.service.js';
import { defaultMigratorOptions, migrateLatest } from '../../src/services/migrations.service.js';
import { runExceptionsReport, runFacilitiesReport, runLanesReport } from '../../src/services/reports/network.report.js';
import {
  runCustomerReport,
  runMetadataReport,
  runOverdueReport,
  runStaleReport,
  runStatusReport,
} from '../../src/services/reports/packages.report.js';
import type { ReportResult, ReportRow } from '../../src/services/reports/report.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import type { TestDatabase } from '../support/databases.js';
import { openSeededDatabase } from '../support/seeded.js';
import { embeddedConfig } from '../support/stores.js';

// Each report against a query written independently of it (different joins, window functions
// where the report uses lateral probes), over a seeded network.
const asOf = new Date('2026-11-01T00:00:00Z');
const final = `('delivered', 'returned', 'cancelled')`;
const table = (result: ReportResult, name: string): ReportRow[] => result.tables.find((t) => t.name === name)?.rows ?? [];

async function one<T>(db: Database, sql: string, bindings: unknown[] = []): Promise<T> {
  const result = await db.knex.raw<{ rows: T[] }>(sql, bindings as never);
  return result.rows[0] as T;
}

describe.skipIf(!inject('postgresAvailable'))('reports agree with independent SQL on seeded data', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    ({ testDb, db } = await openSeededDatabase('st_reports_seeded', {
      sizes: { customers: 300, locations: 40, packages: 4000 },
      seed: 11,
      asOf,
      documentsShare: 0.2,
    }));
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('status', async () => {
    const rows = table(await runStatusReport(db, { now: asOf }), 'statuses');
    const expected = await db.knex.raw<{ rows: { status: string; n: number }[] }>(
      `select current_status as status, count(*)::int as n from packages group by 1`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.status, r.packages]))).toEqual(
      Object.fromEntries(expected.rows.map((r) => [r.status, r.n])),
    );
  });

  it('overdue', async () => {
    const result = await runOverdueReport(db, { now: asOf, limit: 10 });
    const expected = await db.knex.raw<{ rows: { tracking_number: string; total: number }[] }>(
      `select p.tracking_number, count(*) over ()::int as total
         from packages p, shipments s
        where s.package_id = p.package_id and p.current_status not in ${final}
          and s.actual_delivery is null and s.estimated_delivery < ?
        order by s.estimated_delivery, p.package_id`,
      [asOf],
    );
    expect(expected.rows.length).toBeGreaterThan(0);
    expect(result.tables[0]?.totals?.packages).toBe(expected.rows.length);
    expect(table(result, 'packages').map((r) => r.tracking_number)).toEqual(
      expected.rows.slice(0, 10).map((r) => r.tracking_number),
    );
  });

  it('stale', async () => {
    const result = await runStaleReport(db, { now: asOf, hours: 24, limit: 10_000 });
    const expected = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select tracking_number from (
         select p.package_id, p.tracking_number, coalesce(max(e.event_timestamp), p.created_at) as seen
           from packages p left join tracking_events e on e.package_id = p.package_id
          where p.current_status not in ${final}
          group by p.package_id) x
        where seen < ?::timestamptz - interval '24 hours'
        order by seen, package_id`,
      [asOf],
    );
    expect(expected.rows.length).toBeGreaterThan(0);
    expect(table(result, 'packages').map((r) => r.tracking_number)).toEqual(expected.rows.map((r) => r.tracking_number));
  });

  it('lanes', async () => {
    const since = new Date(asOf.getTime() - 30 * 86_400_000);
    const result = await runLanesReport(db, { now: asOf, since, by: 'city', minShipments: 1, limit: 5 });
    const total = await one<{ n: number; on_time: number }>(
      db,
      `select count(*)::int as n, count(*) filter (where actual_delivery <= estimated_delivery)::int as on_time
         from shipments where actual_delivery >= ? and actual_delivery < ?`,
      [since, asOf],
    );
    expect(result.tables[0]?.totals).toMatchObject({ shipments: total.n, late: total.n - total.on_time });
    const worst = table(result, 'lanes')[0];
    const lane = await one<{ n: number; rate: number; p50: number | null }>(
      db,
      `select count(*)::int as n, avg((s.actual_delivery <= s.estimated_delivery)::int)::float8 as rate,
              percentile_disc(0.5) within group (order by s.actual_delivery - s.estimated_delivery)
                filter (where s.actual_delivery > s.estimated_delivery) is not null as p50
         from shipments s, locations o, locations d
        where o.location_id = s.origin_location_id and d.location_id = s.destination_location_id
          and o.city || ', ' || o.state = ? and d.city || ', ' || d.state = ?
          and s.actual_delivery >= ? and s.actual_delivery < ?`,
      [worst?.origin, worst?.destination, since, asOf],
    );
    expect(worst).toMatchObject({ shipments: lane.n });
    expect(worst?.on_time_rate).toBeCloseTo(lane.rate, 10);
  });

  it('lanes by state and by city: the maintained day counts give the answer counting the shipments gives, at midnight or mid-day', async () => {
    const without = ({ elapsedMs: _, ...rest }: ReportResult): Omit<ReportResult, 'elapsedMs'> => rest;
    for (const by of ['state', 'city'] as const) {
      for (const now of [asOf, new Date('2026-10-30T13:27:11.123Z')]) {
        for (const days of [30, 3, 0.5]) {
          const options = { now, since: new Date(now.getTime() - days * 86_400_000), by, limit: 20 };
          for (const minShipments of [1, 20]) {
            const fromRollup = await runLanesReport(db, { ...options, minShipments });
            const fromShipments = await runLanesReport(db, { ...options, minShipments, fromShipments: true });
            expect(without(fromRollup)).toEqual(without(fromShipments));
            if (days === 30) expect(table(fromRollup, 'lanes').length).toBeGreaterThan(0);
          }
        }
      }
      // The counts come from the rollup, the lateness through the late-lane index.
      const since = new Date(asOf.getTime() - 30 * 86_400_000);
      const explained = await runLanesReport(db, { now: asOf, since, by, minShipments: 1, limit: 20, explain: true });
      const plans = (explained.plans ?? []).map((p) => p.plan).join('\n');
      expect(plans).toMatch(by === 'state' ? /\blane_day_counts/ : /city_lane_day_counts/);
      expect(plans).toMatch(/shipments_late_lane_idx/);
    }
  });

  it('facilities, with dwell from a window function', async () => {
    const day = { start: new Date('2026-10-20T00:00:00Z'), end: new Date('2026-10-21T00:00:00Z'), label: '2026-10-20' };
    const result = await runFacilitiesReport(db, { now: asOf, day, sort: 'scans', limit: 3 });
    const rows = table(result, 'facilities');
    expect(rows).toHaveLength(3);
    const expected = await db.knex.raw<{ rows: { location_name: string; scans: number; packages: number; p50: number }[] }>(
      `with nexts as (
         select location_id, package_id, event_timestamp,
                lead(event_timestamp) over (partition by package_id order by event_timestamp) as next_at
           from tracking_events)
       select l.location_name, count(*)::int as scans, count(distinct package_id)::int as packages,
              percentile_cont(0.5) within group (order by extract(epoch from next_at - event_timestamp) / 3600) as p50
         from nexts n join locations l using (location_id)
        where event_timestamp >= ? and event_timestamp < ?
        group by l.location_id, l.location_name
        order by count(*) desc, l.location_id
        limit 3`,
      [day.start, day.end],
    );
    expect(rows.map((r) => [r.location, r.scans, r.packages])).toEqual(
      expected.rows.map((r) => [r.location_name, r.scans, r.packages]),
    );
    for (const [i, r] of rows.entries()) expect(r.dwell_p50_hours).toBeCloseTo(Number(expected.rows[i]?.p50), 6);
    const hourly = rows[0]?.scans_per_hour as number[];
    expect(hourly.reduce((a, b) => a + b, 0)).toBe(rows[0]?.scans);
  });

  it('facilities: the maintained day counts give the answer counting the events gives, by scans or exceptions', async () => {
    const without = ({ elapsedMs: _, ...rest }: ReportResult): Omit<ReportResult, 'elapsedMs'> => rest;
    for (const label of ['2026-10-20', '2026-10-31', '2026-11-01']) {
      const start = new Date(`${label}T00:00:00Z`);
      const day = { start, end: new Date(start.getTime() + 86_400_000), label };
      for (const sort of ['scans', 'exceptions'] as const) {
        const fromRollup = await runFacilitiesReport(db, { now: asOf, day, sort, limit: 5 });
        const fromEvents = await runFacilitiesReport(db, { now: asOf, day, sort, limit: 5, fromEvents: true });
        expect(without(fromRollup)).toEqual(without(fromEvents));
      }
    }
    const day = { start: new Date('2026-10-20T00:00:00Z'), end: new Date('2026-10-21T00:00:00Z'), label: '2026-10-20' };
    const explained = await runFacilitiesReport(db, { now: asOf, day, sort: 'scans', limit: 5, explain: true });
    expect((explained.plans ?? []).map((p) => p.plan).join('\n')).toMatch(/facility_day_counts/);
  });

  it('exceptions, with reasons where a raw scan has one', async () => {
    const since = new Date(asOf.getTime() - 14 * 86_400_000);
    const result = await runExceptionsReport(db, { now: asOf, since, limit: 1000 });
    const expected = await one<{ exceptions: number; failed: number }>(
      db,
      `select count(*) filter (where status = 'exception')::int as exceptions, count(*) filter (where status = 'attempt_fail')::int as failed
         from tracking_events where event_timestamp >= ? and event_timestamp < ?`,
      [since, asOf],
    );
    expect(result.tables[0]?.totals).toMatchObject({ exceptions: expected.exceptions, failed_attempts: expected.failed });
    const perFacility = table(result, 'facilities').reduce((s, r) => s + Number(r.exceptions) + Number(r.failed_attempts), 0);
    expect(perFacility).toBe(expected.exceptions + expected.failed);
    // No reason lookup given: none recorded, of every event in the window.
    expect(result.notes).toEqual([
      { code: 'reasons_recorded', figures: { recorded: 0, events: expected.exceptions + expected.failed } },
    ]);
  });

  it('metadata and customer', async () => {
    const fragile = await runMetadataReport(db, { now: asOf, filter: parseMetadataFilters(['fragile=true']), limit: 5 });
    const count = await one<{ n: number }>(db, `select count(*)::int as n from packages where metadata ->> 'fragile' = 'true'`);
    expect(count.n).toBeGreaterThan(0);
    expect(fragile.tables[0]?.totals?.packages).toBe(count.n);
    expect(fragile.notes).toEqual([
      { code: 'metadata_matches', figures: { matching: count.n, packages: 4000, share: count.n / 4000 } },
    ]);

    const customer = await one<{ id: number; email: string; sent: number; received: number }>(
      db,
      `select c.customer_id as id, c.email,
              (select count(*) from packages where sender_id = c.customer_id)::int as sent,
              (select count(*) from packages where recipient_id = c.customer_id)::int as received
         from customers c order by c.customer_id limit 1`,
    );
    const result = await runCustomerReport(db, { now: asOf, customer: customer.email.toUpperCase(), limit: 1000 });
    expect(table(result, 'customer')[0]).toMatchObject({
      customer_id: customer.id,
      sent: customer.sent,
      received: customer.received,
    });
    expect(table(result, 'packages')).toHaveLength(customer.sent + customer.received);
  });

  it('metadata: the facets rollup and the newest-first read give what containment over the packages gives', async () => {
    /** The report's counts and listed numbers, and the same counted and listed from the packages. */
    const compare = async (terms: string[], limit: number): Promise<void> => {
      const filter = parseMetadataFilters(terms);
      const result = await runMetadataReport(db, { now: asOf, filter, limit });
      const containment = JSON.stringify(filter.containment);
      const counts = await db.knex.raw<{ rows: { status: string; packages: number }[] }>(
        `select current_status as status, count(*)::int as packages from packages where metadata @> ?::jsonb group by 1`,
        [containment],
      );
      const newest = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
        `select tracking_number from packages where metadata @> ?::jsonb order by package_id desc limit ?`,
        [containment, limit],
      );
      const byStatus = (rows: readonly Record<string, unknown>[]): string[] =>
        rows.map((r) => `${String(r.status)} ${Number(r.packages)}`).sort();
      expect(byStatus(table(result, 'statuses')), terms.join(' ')).toEqual(byStatus(counts.rows));
      expect(
        table(result, 'packages').map((r) => r.tracking_number),
        `${terms.join(' ')} limit ${limit}`,
      ).toEqual(newest.rows.map((r) => r.tracking_number));
    };
    for (const limit of [5, 1000]) {
      await compare(['service=express', 'signature_required=true'], limit); // facets: the rollup
      await compare(['fragile=false'], limit);
      await compare(['insured=true'], limit); // rare: the index lists them at 1000
      await compare(['service=express', 'contents=toys'], limit); // a key that is no facet: the packages
      await compare(['fragile="true"'], limit); // the string: none
    }
    const plan =
      (
        await runMetadataReport(db, {
          now: asOf,
          filter: parseMetadataFilters(['service=express', 'signature_required=true']),
          limit: 5,
          explain: true,
        })
      ).plans
        ?.map((p) => p.plan)
        .join('\n') ?? '';
    expect(plan).toContain('package_status_counts');
    // Matches only among the oldest packages: the newest read finds none of them, the index does.
    const saved = await one<{ services: unknown }>(
      db,
      `select json_agg(json_build_object('id', package_id, 'service', metadata -> 'service')) as services
         from packages where package_id <= 40`,
    );
    await db.knex.raw(`update packages set metadata = metadata || '{"service": "courier"}' where package_id <= 40`);
    try {
      await compare(['service=courier'], 5);
    } finally {
      await db.knex.raw(
        `update packages p set metadata = p.metadata || jsonb_build_object('service', x.service)
           from jsonb_to_recordset(?::jsonb) as x(id bigint, service jsonb) where p.package_id = x.id`,
        [JSON.stringify(saved.services)],
      );
    }
  });
});

describe('reports on the embedded database', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase(embeddedConfig());
    await migrateLatest(db, defaultMigratorOptions());
    await seedDatabase(db, {
      sizes: { customers: 50, locations: 10, packages: 200 },
      seed: 2,
      asOf,
      mode: 'empty',
      documentsShare: 0,
      documentsTarget: 'postgres',
    });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('run in a read-only transaction there too', async () => {
    const status = await runStatusReport(db, { now: asOf, explain: true });
    expect(status.tables[0]?.totals?.packages).toBe(200);
    expect(status.plans?.[0]?.plan).toContain('actual time');
    const overdue = await runOverdueReport(db, { now: asOf, limit: 5 });
    expect(overdue.tables).toHaveLength(2);
    await expect(
      (async () => {
        const { readReport } = await import('../../src/services/reports/report.js');
        await readReport(db, { now: asOf }, (reader) => reader.rows('write', `update packages set weight = 2`));
      })(),
    ).rejects.toThrow(/read-only/);
  });
});
