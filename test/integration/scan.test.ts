import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runConsistencyChecks } from '../../src/services/check.service.js';
import { recordScans, type ScanInput } from '../../src/services/scan.service.js';
import type { Database } from '../../src/store/database.js';
import type { TestDatabase } from '../support/databases.js';
import { openSeededDatabase } from '../support/seeded.js';
import { openServer } from '../support/stores.js';

interface PackageRow {
  tracking_number: string;
  current_status: string;
  last_at: Date;
  location: string;
}

describe.skipIf(!inject('postgresAvailable'))('scan: the write path', () => {
  let testDb: TestDatabase;
  let db: Database;
  const deps = (): { db: Database; documentsTarget: 'postgres' } => ({ db, documentsTarget: 'postgres' });

  beforeAll(async () => {
    ({ testDb, db } = await openSeededDatabase('st_scan', { sizes: { customers: 100, locations: 30, packages: 1000 }, seed: 9 }));
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  async function packageIn(status: string, offset = 0): Promise<PackageRow> {
    const result = await db.knex.raw<{ rows: PackageRow[] }>(
      `select p.tracking_number, p.current_status, max(e.event_timestamp) as last_at,
              (select location_name from locations order by location_id limit 1) as location
         from packages p join tracking_events e using (package_id)
        where p.current_status = ? group by p.package_id order by p.package_id offset ? limit 1`,
      [status, offset],
    );
    const row = result.rows[0];
    if (row === undefined) throw new Error(`no package in ${status}`);
    return row;
  }

  async function statusOf(
    trackingNumber: string,
  ): Promise<{ current_status: string; actual_delivery: Date | null; events: number }> {
    const result = await db.knex.raw<{ rows: { current_status: string; actual_delivery: Date | null; events: number }[] }>(
      `select p.current_status, s.actual_delivery, (select count(*)::int from tracking_events e where e.package_id = p.package_id) as events
         from packages p join shipments s using (package_id) where p.tracking_number = ?`,
      [trackingNumber],
    );
    return result.rows[0] as { current_status: string; actual_delivery: Date | null; events: number };
  }

  const later = (row: PackageRow, hours: number): Date => new Date(new Date(row.last_at).getTime() + hours * 3_600_000);

  it('records an allowed scan, moves the status, and sets actual_delivery on delivery — with its raw scan', async () => {
    const pkg = await packageIn('out_for_delivery');
    const before = await statusOf(pkg.tracking_number);
    const [outcome] = await recordScans(deps(), [
      {
        trackingNumber: pkg.tracking_number,
        status: 'delivered',
        location: pkg.location,
        at: later(pkg, 1),
        payload: { signature: 'J. Doe' },
      },
    ]);
    expect(outcome).toMatchObject({ outcome: 'accepted', status: 'delivered', previousStatus: 'out_for_delivery' });
    const after = await statusOf(pkg.tracking_number);
    expect(after.current_status).toBe('delivered');
    expect(after.actual_delivery?.toISOString()).toBe(later(pkg, 1).toISOString());
    expect(after.events).toBe(before.events + 1);
    const doc = await db.knex.raw<{ rows: { payload: { signature: string } }[] }>(
      `select payload from doc_raw_scans where event_id = ?`,
      [(outcome as { eventId: number }).eventId],
    );
    expect(doc.rows[0]?.payload.signature).toBe('J. Doe');
  });

  it('stores an out-of-order scan without moving the status', async () => {
    const pkg = await packageIn('in_transit');
    const [outcome] = await recordScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'exception', location: pkg.location, at: later(pkg, -100) },
    ]);
    expect(outcome?.outcome).toBe('out_of_order');
    expect((await statusOf(pkg.tracking_number)).current_status).toBe('in_transit');
  });

  it('refuses a forbidden transition with the reason, and records it with --force and a reason', async () => {
    const pkg = await packageIn('in_transit', 1);
    const scan: ScanInput = { trackingNumber: pkg.tracking_number, status: 'pending', location: pkg.location, at: later(pkg, 1) };
    const [refused] = await recordScans(deps(), [scan]);
    expect(refused).toMatchObject({ outcome: 'rejected', code: 'forbidden_transition' });
    expect((refused as { reason: string }).reason).toBe(
      `${pkg.tracking_number}: in_transit → pending is not an allowed transition (use --force with a reason to record it)`,
    );
    expect((await statusOf(pkg.tracking_number)).current_status).toBe('in_transit');

    const [forced] = await recordScans(deps(), [{ ...scan, forceReason: 'relabelled at the hub' }]);
    expect(forced?.outcome).toBe('accepted');
    const stored = await db.knex.raw<{ rows: { forced_reason: string }[] }>(
      `select forced_reason from tracking_events where event_id = ?`,
      [(forced as { eventId: number }).eventId],
    );
    expect(stored.rows[0]?.forced_reason).toBe('relabelled at the hub');
  });

  it('keeps a scan after a final status as history, without moving the status', async () => {
    const pkg = await packageIn('delivered');
    const [outcome] = await recordScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: pkg.location, at: later(pkg, 5) },
    ]);
    expect(outcome?.outcome).toBe('after_terminal');
    expect((await statusOf(pkg.tracking_number)).current_status).toBe('delivered');
  });

  it('the same scan twice — in one batch, in two calls, or from two connections at once — is one event', async () => {
    const pkg = await packageIn('in_transit', 2);
    const scan: ScanInput = {
      trackingNumber: pkg.tracking_number,
      status: 'in_transit',
      location: pkg.location,
      at: later(pkg, 2),
    };
    const before = (await statusOf(pkg.tracking_number)).events;
    const [first, second] = await recordScans(deps(), [scan, scan]);
    expect(first?.outcome).toBe('accepted');
    expect(second).toMatchObject({ outcome: 'duplicate', eventId: (first as { eventId: number }).eventId });
    const [third] = await recordScans(deps(), [scan]);
    expect(third).toMatchObject({ outcome: 'duplicate', eventId: (first as { eventId: number }).eventId });

    const other = await openServer(testDb.url);
    try {
      const racing: ScanInput = { ...scan, at: later(pkg, 3), idempotencyKey: 'device-7:000123' };
      const results = await Promise.all([
        recordScans(deps(), [racing]),
        recordScans({ db: other, documentsTarget: 'postgres' }, [racing]),
      ]);
      expect(results.map(([r]) => r?.outcome).sort()).toEqual(['accepted', 'duplicate']);
    } finally {
      await other.close();
    }
    expect((await statusOf(pkg.tracking_number)).events).toBe(before + 2);
  });

  it('the same idempotency key with a different scan is a conflict', async () => {
    const pkg = await packageIn('in_transit', 3);
    const at = later(pkg, 1);
    const key = 'device-9:42';
    await recordScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: pkg.location, at, idempotencyKey: key },
    ]);
    const [conflict] = await recordScans(deps(), [
      {
        trackingNumber: pkg.tracking_number,
        status: 'in_transit',
        location: pkg.location,
        at,
        idempotencyKey: key,
        payload: { other: true },
      },
    ]);
    expect(conflict).toMatchObject({ outcome: 'rejected', code: 'idempotency_conflict' });
  });

  it('rejects unknown packages and locations, and the data stays consistent', async () => {
    const pkg = await packageIn('in_transit', 4);
    const outcomes = await recordScans(deps(), [
      { trackingNumber: 'RB000000005US', status: 'in_transit', location: pkg.location, at: new Date() },
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: 'Atlantis Hub', at: later(pkg, 1) },
    ]);
    expect(outcomes.map((o) => (o.outcome === 'rejected' ? o.code : o.outcome))).toEqual(['unknown_package', 'unknown_location']);
    const report = await runConsistencyChecks(db);
    expect(report.checks.filter((c) => c.violations > 0)).toEqual([]);
  });
});
