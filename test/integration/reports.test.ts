import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseMetadataFilters } from '../../src/domain/report-filters.js';
import { formatS10 } from '../../src/domain/tracking-number.js';
import { createPgDocumentStore } from '../../src/store/documents/postgres.js';
import { defaultMigratorOptions, migrateLatest } from '../../src/services/migrations.service.js';
import { InterruptedError } from '../../src/errors.js';
import { proveConsistency, recordProof, runConsistencyChecks } from '../../src/services/check.service.js';
import { runConsistencyReport } from '../../src/services/reports/consistency.report.js';
import {
  reasonsFromDocuments,
  runExceptionsReport,
  runFacilitiesReport,
  runLanesReport,
} from '../../src/services/reports/network.report.js';
import {
  runCustomerReport,
  runMetadataReport,
  runOverdueReport,
  runStaleReport,
  runStatusReport,
} from '../../src/services/reports/packages.report.js';
import { readReport, type ReportReader, type ReportResult, type ReportRow } from '../../src/services/reports/report.js';
import type { Database } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { openServer } from '../support/stores.js';

// A world of seven packages whose every report answer is worked out by hand below.
const N = new Date('2026-11-24T00:00:00Z');
const h = (hours: number): Date => new Date(N.getTime() + hours * 3_600_000);
const d = (days: number): Date => h(days * 24);
const tn = (serial: number): string => formatS10('RB', serial, 'US');

const P = { onTime: tn(1), late: tn(2), overdue: tn(3), outForDelivery: tn(4), cancelled: tn(5), label: tn(6), failed: tn(7) };

interface PackageSpec {
  id: number;
  number: string;
  sender: number;
  recipient: number;
  status: string;
  metadata: Record<string, unknown>;
  origin: number;
  destination: number;
  estimated: Date;
  actual: Date | null;
  created: Date;
  events: [string, Date, number][];
}

const packages: PackageSpec[] = [
  {
    id: 1,
    number: P.onTime,
    sender: 1,
    recipient: 2,
    status: 'delivered',
    metadata: { fragile: true, service: 'express' },
    origin: 1,
    destination: 2,
    estimated: d(-5),
    actual: d(-6),
    created: d(-8),
    events: [
      ['pending', d(-8), 1],
      ['in_transit', d(-7), 1],
      ['in_transit', h(-156), 2],
      ['out_for_delivery', h(-146), 2],
      ['delivered', d(-6), 2],
    ],
  },
  {
    id: 2,
    number: P.late,
    sender: 1,
    recipient: 3,
    status: 'delivered',
    metadata: { service: 'standard' },
    origin: 1,
    destination: 3,
    estimated: d(-10),
    actual: h(-240 + 30),
    created: d(-13),
    events: [
      ['pending', d(-13), 1],
      ['in_transit', d(-12), 1],
      ['out_for_delivery', h(-240 + 25), 3],
      ['delivered', h(-240 + 30), 3],
    ],
  },
  {
    id: 3,
    number: P.overdue,
    sender: 2,
    recipient: 1,
    status: 'in_transit',
    metadata: { fragile: true },
    origin: 1,
    destination: 4,
    estimated: d(-4),
    actual: null,
    created: d(-5),
    events: [
      ['pending', d(-5), 1],
      ['in_transit', d(-4), 1],
      ['exception', h(-73), 4],
      ['in_transit', d(-3), 4],
    ],
  },
  {
    id: 4,
    number: P.outForDelivery,
    sender: 3,
    recipient: 1,
    status: 'out_for_delivery',
    metadata: {},
    origin: 2,
    destination: 3,
    estimated: d(1),
    actual: null,
    created: d(-1),
    events: [
      ['pending', d(-1), 2],
      ['in_transit', h(-20), 2],
      ['out_for_delivery', h(-1), 2],
    ],
  },
  {
    id: 5,
    number: P.cancelled,
    sender: 2,
    recipient: 3,
    status: 'cancelled',
    metadata: { service: 'express' },
    origin: 1,
    destination: 2,
    estimated: d(-3),
    actual: null,
    created: d(-4),
    events: [
      ['pending', d(-4), 1],
      ['cancelled', h(-84), 1],
    ],
  },
  {
    id: 6,
    number: P.label,
    sender: 3,
    recipient: 2,
    status: 'pending',
    metadata: {},
    origin: 1,
    destination: 2,
    estimated: d(2),
    actual: null,
    created: d(-4),
    events: [['pending', d(-4), 1]],
  },
  {
    id: 7,
    number: P.failed,
    sender: 2,
    recipient: 3,
    status: 'attempt_fail',
    metadata: { service: 'express', signature_required: true },
    origin: 1,
    destination: 2,
    estimated: h(-26),
    actual: null,
    created: d(-3),
    events: [
      ['pending', d(-3), 1],
      ['in_transit', d(-2), 2],
      ['out_for_delivery', d(-1), 2],
      ['attempt_fail', h(-20), 2],
    ],
  },
];

async function buildWorld(db: Database): Promise<void> {
  const k = db.knex;
  await k('customers').insert([
    { customer_id: 1, name: 'Ann Archer', email: 'ann@example.com', address: '1 A St' },
    { customer_id: 2, name: 'Bob Baker', email: 'bob@example.com', address: '2 B St' },
    { customer_id: 3, name: 'Cy Cole', email: 'cy@example.com', address: '3 C St' },
  ]);
  await k('locations').insert([
    { location_id: 1, location_name: 'Alpha Hub', city: 'Denver', state: 'CO', location_type: 'hub' },
    { location_id: 2, location_name: 'Beta Station', city: 'Austin', state: 'TX', location_type: 'delivery_station' },
    { location_id: 3, location_name: 'Gamma Point', city: 'Austin', state: 'TX', location_type: 'pickup_point' },
    { location_id: 4, location_name: 'Delta Hub', city: 'Boston', state: 'MA', location_type: 'hub' },
  ]);
  for (const p of packages) {
    await k('packages').insert({
      package_id: p.id,
      tracking_number: p.number,
      sender_id: p.sender,
      recipient_id: p.recipient,
      current_status: p.status,
      weight: 1.5,
      metadata: JSON.stringify(p.metadata),
      created_at: p.created,
    });
    await k('shipments').insert({
      package_id: p.id,
      origin_location_id: p.origin,
      destination_location_id: p.destination,
      estimated_delivery: p.estimated,
      actual_delivery: p.actual,
    });
    await k('tracking_events').insert(
      p.events.map(([status, at, location], i) => ({
        event_id: p.id * 100 + i,
        package_id: p.id,
        status,
        event_timestamp: at,
        location_id: location,
        recorded_at: at,
      })),
    );
  }
  await createPgDocumentStore(k).insertRawScans([
    {
      id: 'scan-exception',
      trackingNumber: P.overdue,
      eventId: 302,
      scannedAt: h(-73),
      source: 'scanner',
      payload: { status: 'exception', reason: 'damaged' },
    },
  ]);
  await k.raw('analyze');
}

const table = (result: ReportResult, name: string): ReportRow[] => result.tables.find((t) => t.name === name)?.rows ?? [];
const column = (rows: ReportRow[], key: string): unknown[] => rows.map((r) => r[key]);

describe.skipIf(!inject('postgresAvailable'))('reports over a hand-built world', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase('st_reports');
    db = await openServer(testDb.url);
    await migrateLatest(db, defaultMigratorOptions());
    await buildWorld(db);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('status: packages per current status, with shares and a total', async () => {
    const result = await runStatusReport(db, { now: N });
    const rows = table(result, 'statuses');
    expect(Object.fromEntries(rows.map((r) => [r.status, r.packages]))).toEqual({
      delivered: 2,
      in_transit: 1,
      out_for_delivery: 1,
      cancelled: 1,
      pending: 1,
      attempt_fail: 1,
    });
    expect(rows[0]).toMatchObject({ status: 'delivered', share: 2 / 7, final: true });
    expect(result.tables[0]?.totals).toMatchObject({ packages: 7, share: 1 });
    expect(result.notes).toEqual([{ code: 'in_flight', figures: { packages: 4 } }]);
  });

  it('overdue: past the estimate, not final, oldest first, with how late', async () => {
    const result = await runOverdueReport(db, { now: N, limit: 50 });
    const rows = table(result, 'packages');
    expect(column(rows, 'tracking_number')).toEqual([P.overdue, P.failed]);
    expect(rows[0]).toMatchObject({
      overdue_hours: 96,
      last_location: 'Delta Hub',
      origin: 'Alpha Hub',
      destination: 'Delta Hub',
    });
    expect(rows[1]).toMatchObject({ overdue_hours: 26, status: 'attempt_fail', last_location: 'Beta Station' });
    expect(column(table(result, 'ages'), 'packages')).toEqual([0, 1, 1, 0]);
    const limited = await runOverdueReport(db, { now: N, limit: 1 });
    expect(table(limited, 'packages')).toHaveLength(1);
    expect(limited.tables[1]?.caption).toBe('showing 1 of 2');
  });

  it('stale: in flight and silent for N hours, a never-scanned label by its creation', async () => {
    const result = await runStaleReport(db, { now: N, hours: 48, limit: 50 });
    const rows = table(result, 'packages');
    expect(column(rows, 'tracking_number')).toEqual([P.label, P.overdue]);
    expect(column(rows, 'silent_hours')).toEqual([96, 72]);
    expect(column(table(result, 'statuses'), 'status')).toEqual(['in_transit', 'pending']);
    expect(column(table(await runStaleReport(db, { now: N, hours: 80, limit: 50 }), 'packages'), 'tracking_number')).toEqual([
      P.label,
    ]);
    expect(table(await runStaleReport(db, { now: N, hours: 200, limit: 50 }), 'packages')).toEqual([]);
  });

  it('lanes: on-time rate and lateness of the deliveries in the window', async () => {
    const result = await runLanesReport(db, { now: N, since: d(-30), by: 'state', minShipments: 1, limit: 20 });
    const rows = table(result, 'lanes');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      origin: 'CO',
      destination: 'TX',
      shipments: 2,
      on_time: 1,
      on_time_rate: 0.5,
      late: 1,
      late_p50_hours: 30,
      late_p90_hours: 30,
      late_max_hours: 30,
      lateness: [0, 0, 0, 1, 0, 0],
    });
    const byLocation = await runLanesReport(db, { now: N, since: d(-30), by: 'location', minShipments: 1, limit: 20 });
    expect(
      table(byLocation, 'lanes').map((r) => `${String(r.origin)}>${String(r.destination)}:${String(r.on_time_rate)}`),
    ).toEqual(['Alpha Hub>Gamma Point:0', 'Alpha Hub>Beta Station:1']);
    // The late delivery is 10 days old: a 7-day window holds only the early one.
    const week = await runLanesReport(db, { now: N, since: d(-7), by: 'state', minShipments: 1, limit: 20 });
    expect(table(week, 'lanes')[0]).toMatchObject({ shipments: 1, on_time_rate: 1 });
    expect(table(await runLanesReport(db, { now: N, since: d(-30), by: 'state', minShipments: 3, limit: 20 }), 'lanes')).toEqual(
      [],
    );
  });

  it('lanes: the same answer when location ids are too sparse to map by array', async () => {
    const all = async (): Promise<ReportRow[][]> =>
      Promise.all(
        (['state', 'city', 'location'] as const).map(async (by) =>
          table(await runLanesReport(db, { now: N, since: d(-30), by, minShipments: 1, limit: 20 }), 'lanes'),
        ),
      );
    const dense = await all();
    // 5,000,000 ids apart: lane groups are joined, not looked up. A twin of Beta Station (same
    // city and state, so the same state and city lanes) takes its deliveries.
    await db.knex('locations').insert({
      location_id: 5_000_000,
      location_name: 'Beta Station 2',
      city: 'Austin',
      state: 'TX',
      location_type: 'delivery_station',
    });
    const moved = await db.knex('shipments').where({ destination_location_id: 2 }).update({ destination_location_id: 5_000_000 });
    try {
      expect(moved).toBeGreaterThan(0);
      const [state, city, location] = await all();
      expect([state, city]).toEqual(dense.slice(0, 2));
      expect(location).toEqual(
        dense[2]?.map((r) => (r.destination === 'Beta Station' ? { ...r, destination: 'Beta Station 2' } : r)),
      );
      expect(dense[0]?.[0]).toMatchObject({ origin: 'CO', destination: 'TX', late_p50_hours: 30 });
      expect(dense[1]?.[0]).toMatchObject({ origin: 'Denver, CO', destination: 'Austin, TX' });
    } finally {
      await db.knex('shipments').where({ destination_location_id: 5_000_000 }).update({ destination_location_id: 2 });
      await db.knex('locations').where({ location_id: 5_000_000 }).delete();
    }
  });

  it('facilities: scans, failed attempts, dwell and hours of one day', async () => {
    const day = { start: d(-1), end: N, label: '2026-11-23' };
    const result = await runFacilitiesReport(db, { now: N, day, sort: 'scans', limit: 20 });
    const rows = table(result, 'facilities');
    expect(rows).toHaveLength(1);
    const hours = Array.from({ length: 24 }, () => 0);
    hours[0] = 2;
    hours[4] = 2;
    hours[23] = 1;
    expect(rows[0]).toMatchObject({
      location: 'Beta Station',
      scans: 5,
      packages: 2,
      exceptions: 0,
      failed_attempts: 1,
      dwell_p50_hours: 4,
      dwell_p90_hours: 16,
      scans_per_hour: hours,
    });
    const earlierDay = { start: d(-4), end: d(-3), label: '2026-11-20' };
    const byExceptions = await runFacilitiesReport(db, { now: N, day: earlierDay, sort: 'exceptions', limit: 1 });
    expect(table(byExceptions, 'facilities')).toMatchObject([{ location: 'Delta Hub', scans: 1, exceptions: 1 }]);
    const earlier = await runFacilitiesReport(db, { now: N, day: earlierDay, sort: 'scans', limit: 5 });
    expect(table(earlier, 'facilities').map((r) => [r.location, r.scans])).toEqual([
      ['Alpha Hub', 4],
      ['Delta Hub', 1],
    ]);
    expect(earlier.tables[0]?.totals).toMatchObject({ scans: 5 });
  });

  it('exceptions: by reason (from the raw scans) and by facility', async () => {
    const reasons = async (ids: readonly number[]): Promise<Map<number, string>> => {
      const docs = await createPgDocumentStore(db.knex).findRawScansByEventIds(ids);
      return new Map(docs.map((doc) => [doc.eventId ?? 0, String(doc.payload.reason)]));
    };
    const result = await runExceptionsReport(db, { now: N, since: d(-7), limit: 20, reasons });
    expect(table(result, 'reasons')).toEqual([
      { reason: 'damaged', exceptions: 1, failed_attempts: 0, total: 1, share: 0.5 },
      { reason: 'not recorded', exceptions: 0, failed_attempts: 1, total: 1, share: 0.5 },
    ]);
    expect(table(result, 'facilities').map((r) => [r.location, r.exceptions, r.failed_attempts, r.top_reason])).toEqual([
      ['Beta Station', 0, 1, null],
      ['Delta Hub', 1, 0, 'damaged (1)'],
    ]);
    const lastDay = await runExceptionsReport(db, { now: N, since: d(-1), limit: 20 });
    expect(table(lastDay, 'facilities').map((r) => r.location)).toEqual(['Beta Station']);
    // The raw scans kept in this database, read in the same query: the same answer as the lookup.
    const inQuery = await runExceptionsReport(db, { now: N, since: d(-7), limit: 20, reasons: 'database' });
    expect(inQuery.tables).toEqual(result.tables);
    const viaStore = await runExceptionsReport(db, {
      now: N,
      since: d(-7),
      limit: 20,
      reasons: reasonsFromDocuments(() => Promise.resolve(createPgDocumentStore(db.knex))),
    });
    expect(inQuery.tables).toEqual(viaStore.tables);
  });

  it('customer: by id or e-mail (any case), sent and received, newest first', async () => {
    const byEmail = await runCustomerReport(db, { now: N, customer: 'ANN@example.com', limit: 50 });
    const byId = await runCustomerReport(db, { now: N, customer: '1', limit: 50 });
    expect(table(byEmail, 'packages')).toEqual(table(byId, 'packages'));
    expect(table(byId, 'customer')[0]).toMatchObject({ customer_id: 1, sent: 2, received: 2 });
    expect(table(byId, 'packages').map((r) => [r.role, r.tracking_number])).toEqual([
      ['received', P.outForDelivery],
      ['received', P.overdue],
      ['sent', P.onTime],
      ['sent', P.late],
    ]);
    expect(table(byId, 'packages').find((r) => r.tracking_number === P.late)).toMatchObject({
      on_time: false,
      counterpart: 'Cy Cole',
    });
    await expect(runCustomerReport(db, { now: N, customer: 'nobody@example.com', limit: 5 })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('metadata: JSONB containment of every --where, values typed as JSON', async () => {
    const fragile = await runMetadataReport(db, { now: N, filter: parseMetadataFilters(['fragile=true']), limit: 20 });
    expect(table(fragile, 'packages').map((r) => r.tracking_number)).toEqual([P.overdue, P.onTime]);
    expect(fragile.notes).toEqual([{ code: 'metadata_matches', figures: { matching: 2, packages: 7, share: 2 / 7 } }]);
    const both = await runMetadataReport(db, {
      now: N,
      filter: parseMetadataFilters(['service=express', 'signature_required=true']),
      limit: 20,
    });
    expect(table(both, 'packages').map((r) => r.tracking_number)).toEqual([P.failed]);
    // "true" as a string is not the boolean true.
    const text = await runMetadataReport(db, { now: N, filter: parseMetadataFilters(['fragile="true"']), limit: 20 });
    expect(table(text, 'packages')).toEqual([]);
    // Injection attempts are data, not SQL.
    const hostile = await runMetadataReport(db, { now: N, filter: parseMetadataFilters(["service=x' or '1'='1"]), limit: 20 });
    expect(table(hostile, 'packages')).toEqual([]);
  });

  it('reads one snapshot, on every connection a report splits its work across', async () => {
    const waiting = async (reader: ReportReader): Promise<number | undefined> =>
      (await reader.rows<{ n: number }>('outbox', 'select count(*)::int as n from document_outbox'))[0]?.n;
    const [{ n: already } = { n: -1 }] = await db.knex('document_outbox').count({ n: '*' });
    try {
      const seen = await readReport(
        db,
        { now: N },
        async (reader) => {
          const before = await waiting(reader);
          // Committed by another connection after the report's snapshot was taken: unseen.
          await db.knex('document_outbox').insert({ collection: 'raw_scans', document_id: 'snap-1', document: '{}' });
          return { before, after: await waiting(reader), siblings: await Promise.all(reader.siblings.map(waiting)) };
        },
        { connections: 3 },
      );
      const before = Number(already);
      expect(seen.value).toEqual({ before, after: before, siblings: [before, before] });
      const explained = await readReport(db, { now: N, explain: true }, (reader) => Promise.resolve(reader.siblings.length), {
        connections: 3,
      });
      expect(explained.value).toBe(0); // one connection under --explain, so that plans come in order
    } finally {
      await db.knex('document_outbox').where({ document_id: 'snap-1' }).delete();
    }
  });

  it('--explain captures a plan per query', async () => {
    const result = await runOverdueReport(db, { now: N, limit: 5, explain: true });
    expect(result.plans?.map((p) => p.query)).toEqual(['overdue packages']);
    expect(result.plans?.[0]?.plan).toMatch(/actual time=.*rows=/);
    expect((await runStatusReport(db, { now: N })).plans).toBeUndefined();
  });

  describe('consistency', () => {
    const store = (): ReturnType<typeof createPgDocumentStore> => createPgDocumentStore(db.knex);
    const run = (): Promise<ReportResult> => runConsistencyReport(db, store(), { now: N, sample: 100 });
    const codes = (result: ReportResult): string[] => result.findings.map((f) => f.code);

    it('is clean on the hand-built world', async () => {
      const result = await run();
      expect(result.ok).toBe(true);
      expect(codes(result)).toEqual(['consistent']);
      expect(table(result, 'documents').find((r) => r.item === 'sampled raw scans')?.value).toBe('1');
    });

    it('detects a current_status that is not the last event, and delivered without a delivery time', async () => {
      await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'delivered' });
      try {
        const result = await run();
        expect(result.ok).toBe(false);
        expect(codes(result)).toEqual(expect.arrayContaining(['status_matches_last_event', 'delivered_has_actual_delivery']));
        expect(result.findings.find((f) => f.code === 'status_matches_last_event')).toMatchObject({
          level: 'problem',
          subject: 'status_matches_last_event',
          figures: { violations: 1, samples: P.outForDelivery },
        });
      } finally {
        await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'out_for_delivery' });
      }
    });

    it('split across connections on one snapshot, it finds what one connection finds', async () => {
      await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'delivered' });
      await db.knex('packages').where({ package_id: 1 }).update({ current_status: 'in_transit' });
      await db
        .knex('tracking_events')
        .insert({ event_id: 699, package_id: 6, status: 'returned', event_timestamp: h(-90), location_id: 1 });
      try {
        const one = await runConsistencyReport(db, store(), { now: N, sample: 100, connections: 1, full: true });
        // Seven packages, two connections: seven id ranges of one package each, merged.
        const split = await runConsistencyReport(db, store(), { now: N, sample: 100, connections: 2, full: true });
        expect(codes(one)).toEqual(
          expect.arrayContaining(['status_matches_last_event', 'delivered_has_actual_delivery', 'legal_transitions']),
        );
        expect(table(split, 'checks')).toEqual(table(one, 'checks'));
        expect(split.findings).toEqual(one.findings);
        // Packages 1, 4 and 6 (whose last event is now the forbidden one), each in its own share,
        // merged into one count.
        const status = table(split, 'checks').find((r) => r.check === 'status_matches_last_event');
        expect(status).toMatchObject({ violations: 3, samples: `${P.onTime} ${P.outForDelivery} ${P.label}` });
        expect(split.notes[0]).toMatchObject({ code: 'proof_full', figures: { reason: 'asked', connections: 2 } });
        expect(one.notes[0]).toMatchObject({ code: 'proof_full', figures: { reason: 'asked', connections: 1 } });
      } finally {
        await db.knex('packages').where({ package_id: 1 }).update({ current_status: 'delivered' });
        await db.knex('tracking_events').where({ event_id: 699 }).delete();
        await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'out_for_delivery' });
      }
    });

    describe('building on the last full proof', () => {
      const changes = async (): Promise<number> =>
        Number((await db.knex('consistency_changes').countDistinct({ n: 'package_id' }))[0]?.n);
      const proof = (result: ReportResult): unknown => result.parameters['proof'];
      /** The note of a run over the changes since the last full proof, one package changed. */
      const changedOne = { code: 'proof_changes', figures: { changed: 1 } };
      /** Writes as a seed does: unlisted by the triggers, and a new epoch. */
      const bulkWrite = (work: (trx: Knex.Transaction) => Promise<unknown>): Promise<void> =>
        db.knex.transaction(async (trx) => {
          await trx.raw(`select set_config('shiptrack.track_changes', 'off', true)`);
          await trx.raw('update consistency_state set epoch = epoch + 1, epoch_xact = pg_current_xact_id()');
          await work(trx);
        });

      beforeAll(async () => {
        expect((await runConsistencyReport(db, store(), { now: N, sample: 100, full: true })).ok).toBe(true);
      });

      it('reads only the packages changed since, and still finds what is wrong among them', async () => {
        const quiet = await run();
        expect(quiet.ok).toBe(true);
        expect(proof(quiet)).toBe('changes');
        expect(quiet.notes[0]).toEqual({
          code: 'proof_changes',
          figures: { changed: 0, proven_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown },
        });

        await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'delivered' });
        try {
          expect(await changes()).toBe(1);
          for (const attempt of [1, 2]) {
            // Not consumed while wrong: the second run finds it again.
            const broken = await run();
            expect(broken.ok, `run ${attempt}`).toBe(false);
            expect(proof(broken)).toBe('changes');
            expect(broken.notes[0]).toMatchObject(changedOne);
            expect(codes(broken)).toEqual(['status_matches_last_event', 'delivered_has_actual_delivery']);
            expect(broken.findings[0]?.figures.samples).toBe(P.outForDelivery);
          }
        } finally {
          await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'out_for_delivery' });
        }
        const mended = await run();
        expect([mended.ok, proof(mended)]).toEqual([true, 'changes']);
        expect(await changes()).toBe(0);
      });

      it('keeps listed a change committed while a proof ran, for the next one', async () => {
        const proved = await readReport(db, { now: N }, async (reader) => {
          const result = await proveConsistency(reader);
          // Committed by another connection after the proof's snapshot was taken: unseen by it.
          await db
            .knex('packages')
            .where({ package_id: 2 })
            .update({ weight: db.knex.raw('weight') });
          return result;
        });
        expect([proved.value.kind, proved.value.report.ok]).toEqual(['changes', true]);
        expect(await recordProof(db, proved.value)).toBeNull();
        expect(await db.knex('consistency_changes').pluck('package_id')).toEqual([2]);
        const next = await run();
        expect(next.notes[0]).toMatchObject(changedOne);
        expect(await changes()).toBe(0);
      });

      it('proves every package after a bulk load or a TRUNCATE, which the triggers cannot list', async () => {
        const epoch = async (q: Knex | Knex.Transaction = db.knex): Promise<number> =>
          Number((await q('consistency_state').first<{ epoch: string } | undefined>('epoch'))?.epoch);
        const before = await epoch();
        await db.knex
          .transaction(async (trx) => {
            await trx.raw('truncate packages cascade');
            expect(await epoch(trx)).toBeGreaterThan(before);
            throw new Error('roll back');
          })
          .catch((error: unknown) => {
            if (!(error instanceof Error) || error.message !== 'roll back') throw error;
          });

        await bulkWrite((trx) => trx('packages').where({ package_id: 4 }).update({ current_status: 'delivered' }));
        try {
          expect(await changes()).toBe(0); // unlisted: only the new epoch tells
          const result = await run();
          expect(proof(result)).toBe('full');
          expect(result.notes[0]).toMatchObject({ code: 'proof_full', figures: { reason: 'bulk_load' } });
          expect(codes(result)).toEqual(['status_matches_last_event', 'delivered_has_actual_delivery']);
          // Found wrong, so nothing to build on: full again, and again it is found.
          const again = await run();
          expect(again.notes[0]).toMatchObject({ code: 'proof_full', figures: { reason: 'first' } });
          expect(again.ok).toBe(false);
        } finally {
          await bulkWrite((trx) => trx('packages').where({ package_id: 4 }).update({ current_status: 'out_for_delivery' }));
        }
        const clean = await run();
        expect([clean.ok, proof(clean)]).toEqual([true, 'full']);
        expect(proof(await run())).toBe('changes');
      });

      it('lists the writes of a session that only says it is loading (without moving the epoch on)', async () => {
        await db.knex.transaction(async (trx) => {
          await trx.raw(`select set_config('shiptrack.track_changes', 'off', true)`);
          await trx('packages')
            .where({ package_id: 2 })
            .update({ weight: db.knex.raw('weight') });
        });
        expect(await changes()).toBe(1);
        expect((await run()).notes[0]).toMatchObject(changedOne);
      });

      it('proves every package again when the checks are not those of the last full proof', async () => {
        await db.knex('consistency_state').update({ proven_checks: 'of another release' });
        const result = await run();
        expect(result.notes[0]).toMatchObject({ code: 'proof_full', figures: { reason: 'new_checks' } });
        expect(result.ok).toBe(true);
        expect(proof(await run())).toBe('changes');
      });

      it('does not trust a full proof whose epoch moved on while it ran', async () => {
        const proved = await readReport(db, { now: N }, async (reader) => {
          const result = await proveConsistency(reader, { full: true });
          await bulkWrite(() => Promise.resolve());
          return result;
        });
        expect(proved.value.report.ok).toBe(true);
        expect(await recordProof(db, proved.value)).toBeNull();
        expect(proof(await run())).toBe('full');
      });

      it('vacuums the list after removing many changes, so the next runs do not read dead rows', async () => {
        // One connection: the removal, the vacuum and what follows share it, as they can in a pool.
        const single = await openServer(testDb.url, 0, 1);
        try {
          // The shared pool's sessions removed changes in earlier tests, and an idle session may
          // hold its counts for up to 10 s: they would land after the vacuum below. A session
          // sends them as it exits, so the pool is closed and replaced, its sessions gone first.
          await db.close();
          for (let waited = 0; waited < 100; waited += 1) {
            const others = await single.knex.raw<{ rows: { n: number }[] }>(
              `select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`,
            );
            if (others.rows[0]?.n === 0) break;
            await sleep(50);
          }
          db = await openServer(testDb.url);
          await single.knex.raw('insert into consistency_changes (package_id) select 2 from generate_series(1, 10000)');
          const size = async (): Promise<number> =>
            Number(
              (await db.knex.raw<{ rows: { n: number }[] }>(`select pg_relation_size('consistency_changes')::int as n`)).rows[0]
                ?.n,
            );
          expect(await size()).toBeGreaterThan(0);
          const result = await runConsistencyReport(single, createPgDocumentStore(single.knex), { now: N, sample: 100 });
          expect(result.notes[0]).toMatchObject(changedOne);
          expect(await changes()).toBe(0);
          expect(await size()).toBe(0); // vacuumed: the emptied pages are gone
          // Its statistics agree: a session reports its counts at most once a second, so unless the
          // removal's dead rows are sent at its commit, they arrive after the vacuum and outlive it
          // (and `report db` warns of dead tuples in an empty table).
          await sleep(1100);
          await single.knex.raw('select 1');
          await sleep(300);
          const dead = await db.knex.raw<{ rows: { n: number }[] }>(
            `select n_dead_tup::int as n from pg_stat_user_tables where relid = 'consistency_changes'::regclass`,
          );
          expect(dead.rows[0]?.n).toBe(0);
        } finally {
          await single.close();
        }
      });

      it('--explain prints the plans and records nothing', async () => {
        await db
          .knex('packages')
          .where({ package_id: 2 })
          .update({ weight: db.knex.raw('weight') });
        const explained = await runConsistencyReport(db, store(), { now: N, sample: 100, explain: true });
        expect(explained.plans?.map((p) => p.query)).toContain('event history');
        expect(await changes()).toBe(1);
        await run();
        expect(await changes()).toBe(0);
      });
    });

    it('check stops at once when interrupted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(runConsistencyChecks(db, { connections: 2, signal: controller.signal })).rejects.toBeInstanceOf(
        InterruptedError,
      );
      expect((await runConsistencyChecks(db, { connections: 2 })).ok).toBe(true);
    });

    it('--packages checks a random sample of packages with their whole histories (a spot check)', async () => {
      const spot = await runConsistencyReport(db, store(), { now: N, sample: 100, packages: 2 });
      expect(spot.ok).toBe(true);
      expect(spot.parameters).toMatchObject({ packages: 2 });
      expect(spot.notes).toEqual([{ code: 'spot_check', figures: { packages: 2, of_about: expect.any(Number) as unknown } }]);
      await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'delivered' });
      try {
        // A sample as large as the table holds every package: the corruption is found.
        const whole = await runConsistencyReport(db, store(), { now: N, sample: 100, packages: 1000 });
        expect(whole.ok).toBe(false);
        expect(codes(whole)).toEqual(expect.arrayContaining(['status_matches_last_event', 'delivered_has_actual_delivery']));
        // Violations are counted among the sampled packages only.
        const one = await runConsistencyReport(db, store(), { now: N, sample: 100, packages: 1 });
        const violations = table(one, 'checks').map((r) => Number(r.violations));
        expect(Math.max(...violations)).toBeLessThanOrEqual(1);
      } finally {
        await db.knex('packages').where({ package_id: 4 }).update({ current_status: 'out_for_delivery' });
      }
    });

    it('detects a forbidden transition', async () => {
      await db
        .knex('tracking_events')
        .insert({ event_id: 699, package_id: 6, status: 'returned', event_timestamp: h(-90), location_id: 1 });
      try {
        const result = await run();
        expect(codes(result)).toContain('legal_transitions');
      } finally {
        await db.knex('tracking_events').where({ event_id: 699 }).delete();
      }
    });

    it('detects an old outbox backlog', async () => {
      await db.knex('document_outbox').insert({
        collection: 'raw_scans',
        document_id: 'waiting-1',
        document: JSON.stringify({ id: 'waiting-1' }),
        created_at: d(-1),
        attempts: 3,
        last_error: 'connect ECONNREFUSED',
      });
      try {
        const result = await run();
        expect(result.ok).toBe(false);
        const finding = result.findings.find((f) => f.code === 'outbox_backlog');
        expect(finding).toMatchObject({
          level: 'problem',
          subject: 'document_outbox',
          figures: { waiting: 1, failing: 1, oldest: d(-1).toISOString(), last_error: 'connect ECONNREFUSED' },
        });
        expect(finding?.figures.age_hours).toBeCloseTo(24, 6);
      } finally {
        await db.knex('document_outbox').delete();
      }
    });

    it('detects a raw scan that disagrees with its event, or names an event that does not exist', async () => {
      await store().insertRawScans([
        { id: 'wrong-number', trackingNumber: P.late, eventId: 402, scannedAt: h(-1), source: 'scanner', payload: {} },
        { id: 'no-event', trackingNumber: P.late, eventId: 999_999, scannedAt: h(-1), source: 'scanner', payload: {} },
        {
          id: 'wrong-status',
          trackingNumber: P.onTime,
          eventId: 104,
          scannedAt: d(-6),
          source: 'scanner',
          payload: { status: 'returned' },
        },
      ]);
      try {
        const result = await run();
        const mismatches = result.findings.filter((f) => f.code === 'document_mismatch');
        expect(mismatches).toEqual(
          expect.arrayContaining([
            {
              level: 'problem',
              code: 'document_mismatch',
              subject: 'wrong-number',
              figures: { event_id: 402, field: 'tracking_number', document_value: P.late, event_value: P.outForDelivery },
            },
            {
              level: 'problem',
              code: 'document_mismatch',
              subject: 'no-event',
              figures: { event_id: 999_999, field: 'event', document_value: null, event_value: null },
            },
            {
              level: 'problem',
              code: 'document_mismatch',
              subject: 'wrong-status',
              figures: { event_id: 104, field: 'status', document_value: 'returned', event_value: 'delivered' },
            },
          ]),
        );
        expect(result.ok).toBe(false);
      } finally {
        await db.knex('doc_raw_scans').whereIn('id', ['wrong-number', 'no-event', 'wrong-status']).delete();
      }
    });
  });

  describe('under a read-only role', () => {
    const role = `st_reader_${randomBytes(4).toString('hex')}`;
    let reader: Database;

    beforeAll(async () => {
      await db.knex.raw(`create role ${role} login`);
      await db.knex.raw(`grant pg_read_all_data, pg_read_all_stats to ${role}`);
      const url = new URL(testDb.url);
      url.username = role;
      reader = await openServer(url.toString());
    });
    afterAll(async () => {
      await reader?.close();
      await db.knex.raw(`drop role if exists ${role}`);
    });

    it('every report runs, and answers as the owner does', async () => {
      const day = { start: d(-1), end: N, label: '2026-11-23' };
      const pairs: [ReportResult, ReportResult][] = [
        [await runStatusReport(reader, { now: N }), await runStatusReport(db, { now: N })],
        [await runOverdueReport(reader, { now: N, limit: 5 }), await runOverdueReport(db, { now: N, limit: 5 })],
        [
          await runStaleReport(reader, { now: N, hours: 48, limit: 5 }),
          await runStaleReport(db, { now: N, hours: 48, limit: 5 }),
        ],
        [
          await runLanesReport(reader, { now: N, since: d(-30), by: 'city', minShipments: 1, limit: 5 }),
          await runLanesReport(db, { now: N, since: d(-30), by: 'city', minShipments: 1, limit: 5 }),
        ],
        [
          await runFacilitiesReport(reader, { now: N, day, sort: 'scans', limit: 5 }),
          await runFacilitiesReport(db, { now: N, day, sort: 'scans', limit: 5 }),
        ],
        [
          await runExceptionsReport(reader, { now: N, since: d(-7), limit: 5 }),
          await runExceptionsReport(db, { now: N, since: d(-7), limit: 5 }),
        ],
        [
          await runCustomerReport(reader, { now: N, customer: '2', limit: 5 }),
          await runCustomerReport(db, { now: N, customer: '2', limit: 5 }),
        ],
        [
          await runMetadataReport(reader, { now: N, filter: parseMetadataFilters(['fragile=true']), limit: 5 }),
          await runMetadataReport(db, { now: N, filter: parseMetadataFilters(['fragile=true']), limit: 5 }),
        ],
        [
          // Two connections: the reader role exports and imports the snapshot as well.
          await runConsistencyReport(reader, createPgDocumentStore(reader.knex), {
            now: N,
            sample: 10,
            connections: 2,
            full: true,
          }),
          await runConsistencyReport(db, createPgDocumentStore(db.knex), { now: N, sample: 10, full: true }),
        ],
      ];
      for (const [asReader, asOwner] of pairs) expect(asReader.tables).toEqual(asOwner.tables);
      // The proof stands; it cannot be recorded for the next run to build on.
      expect(pairs.at(-1)?.[0].notes).toContainEqual({
        code: 'proof_not_recorded',
        figures: { reason: 'this role may not write consistency_state' },
      });
      expect(pairs.at(-1)?.[1].notes).toHaveLength(1);
      await expect(reader.knex.raw(`update packages set weight = 2`)).rejects.toThrow(/permission denied/);
    });
  });
});
