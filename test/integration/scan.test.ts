import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runConsistencyChecks } from '../../src/services/check.service.js';
import type { ScanInput } from '../../src/domain/scan-input.js';
import { createScanPipeline, writeScans, type ScanOutcome } from '../../src/services/scan-write.js';
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
    const [outcome] = await writeScans(deps(), [
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
    const [outcome] = await writeScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'exception', location: pkg.location, at: later(pkg, -100) },
    ]);
    expect(outcome?.outcome).toBe('out_of_order');
    expect((await statusOf(pkg.tracking_number)).current_status).toBe('in_transit');
  });

  it('judges an out-of-order scan at its place in the timeline, as check does; --force records it and check accepts it', async () => {
    const pkg = await packageIn('in_transit', 2);
    const [moved] = await writeScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'out_for_delivery', location: pkg.location, at: later(pkg, 2) },
    ]);
    expect(moved?.outcome).toBe('accepted');
    // Between in_transit (its last seeded scan) and out_for_delivery (2 h later): pending fits neither.
    const late: ScanInput = { trackingNumber: pkg.tracking_number, status: 'pending', location: pkg.location, at: later(pkg, 1) };
    const [refused] = await writeScans(deps(), [late]);
    expect(refused).toMatchObject({ outcome: 'rejected', code: 'forbidden_transition' });
    expect((refused as { reason: string }).reason).toBe(
      `${pkg.tracking_number}: at ${later(pkg, 1).toISOString()}, between its neighbours in time, in_transit → pending (with the scan before it) is not an allowed transition (use --force with a reason to record it)`,
    );
    // A scan that fits between them is stored out of order, and leaves the status alone.
    const [fits] = await writeScans(deps(), [{ ...late, status: 'in_transit' }]);
    expect(fits?.outcome).toBe('out_of_order');
    expect((await statusOf(pkg.tracking_number)).current_status).toBe('out_for_delivery');
    // Forced, it is recorded with its reason; check judges the timeline the same way and accepts it.
    const [forced] = await writeScans(deps(), [{ ...late, at: later(pkg, 1.5), forceReason: 'relabelled' }]);
    expect(forced?.outcome).toBe('out_of_order');
    const proof = await runConsistencyChecks(db);
    expect(proof.checks.find((c) => c.check === 'legal_transitions')?.violations).toBe(0);
  });

  it('refuses a forbidden transition with the reason, and records it with --force and a reason', async () => {
    const pkg = await packageIn('in_transit', 1);
    const scan: ScanInput = { trackingNumber: pkg.tracking_number, status: 'pending', location: pkg.location, at: later(pkg, 1) };
    const [refused] = await writeScans(deps(), [scan]);
    expect(refused).toMatchObject({ outcome: 'rejected', code: 'forbidden_transition' });
    expect((refused as { reason: string }).reason).toBe(
      `${pkg.tracking_number}: in_transit → pending is not an allowed transition (use --force with a reason to record it)`,
    );
    expect((await statusOf(pkg.tracking_number)).current_status).toBe('in_transit');

    const [forced] = await writeScans(deps(), [{ ...scan, forceReason: 'relabelled at the hub' }]);
    expect(forced?.outcome).toBe('accepted');
    const stored = await db.knex.raw<{ rows: { forced_reason: string }[] }>(
      `select forced_reason from tracking_events where event_id = ?`,
      [(forced as { eventId: number }).eventId],
    );
    expect(stored.rows[0]?.forced_reason).toBe('relabelled at the hub');
  });

  it('keeps a scan after a final status as history, without moving the status', async () => {
    const pkg = await packageIn('delivered');
    const [outcome] = await writeScans(deps(), [
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
    const [first, second] = await writeScans(deps(), [scan, scan]);
    expect(first?.outcome).toBe('accepted');
    expect(second).toMatchObject({ outcome: 'duplicate', eventId: (first as { eventId: number }).eventId });
    const [third] = await writeScans(deps(), [scan]);
    expect(third).toMatchObject({ outcome: 'duplicate', eventId: (first as { eventId: number }).eventId });

    const other = await openServer(testDb.url);
    try {
      const racing: ScanInput = { ...scan, at: later(pkg, 3), idempotencyKey: 'device-7:000123' };
      const results = await Promise.all([
        writeScans(deps(), [racing]),
        writeScans({ db: other, documentsTarget: 'postgres' }, [racing]),
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
    await writeScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: pkg.location, at, idempotencyKey: key },
    ]);
    const [conflict] = await writeScans(deps(), [
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
    const outcomes = await writeScans(deps(), [
      { trackingNumber: 'RB000000005US', status: 'in_transit', location: pkg.location, at: new Date() },
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: 'Atlantis Hub', at: later(pkg, 1) },
    ]);
    expect(outcomes.map((o) => (o.outcome === 'rejected' ? o.code : o.outcome))).toEqual(['unknown_package', 'unknown_location']);
    const report = await runConsistencyChecks(db);
    expect(report.checks.filter((c) => c.violations > 0)).toEqual([]);
  });

  it('judges a scan against the events another process committed while it waited for the lock', async () => {
    const pkg = await packageIn('in_transit', 5);
    const ids = await db.knex.raw<{ rows: { package_id: number; location_id: number }[] }>(
      `select p.package_id, (select location_id from locations order by location_id limit 1) as location_id
         from packages p where p.tracking_number = ?`,
      [pkg.tracking_number],
    );
    const { package_id: packageId, location_id: locationId } = ids.rows[0] as { package_id: number; location_id: number };
    const other = await openServer(testDb.url);
    try {
      // Another writer holds the package, records a newer hub scan (no status change) and commits
      // only once our scan is waiting for the lock.
      const trx = await other.knex.transaction();
      await trx.raw(`select 1 from packages where package_id = ? for update`, [packageId]);
      await trx.raw(
        `insert into tracking_events (package_id, location_id, status, event_timestamp, idempotency_key, scan_hash)
         values (?, ?, 'in_transit', ?, 'other-writer:1', 'x')`,
        [packageId, locationId, later(pkg, 10)],
      );
      const waiting = writeScans(deps(), [
        { trackingNumber: pkg.tracking_number, status: 'out_for_delivery', location: pkg.location, at: later(pkg, 5) },
      ]);
      for (let i = 0; i < 100; i += 1) {
        const blocked = await other.knex.raw<{ rows: unknown[] }>(
          `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        if (blocked.rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await trx.commit();
      const [outcome] = await waiting;
      expect(outcome?.outcome).toBe('out_of_order');
      expect((await statusOf(pkg.tracking_number)).current_status).toBe('in_transit');
    } finally {
      await other.close();
    }
  });

  it('bulk: two streams give each package the outcomes of recording the input batch after batch', async () => {
    const a = await packageIn('in_transit', 6);
    const b = await packageIn('in_transit', 7);
    const c = await packageIn('in_transit', 14);
    const scan = (row: PackageRow, status: ScanInput['status'], hours: number): ScanInput => ({
      trackingNumber: row.tracking_number,
      status,
      location: row.location,
      at: later(row, hours),
      payload: { hours },
    });
    const input: ScanInput[] = [
      scan(a, 'in_transit', 1),
      scan(b, 'out_for_delivery', 1),
      scan(a, 'out_for_delivery', 2),
      scan(c, 'delivered', 1),
      scan(b, 'pending', 2), // forbidden
      scan(a, 'in_transit', 1), // the first scan again
      scan(a, 'delivered', 3),
      scan(c, 'in_transit', 2), // after delivery
      scan(b, 'in_transit', 0.5), // older than b's latest, allowed at its place
      scan(a, 'attempt_fail', 4), // after delivery
      scan(b, 'delivered', 3),
    ];
    const outcomes = new Map<number, ScanOutcome>();
    const pipeline = createScanPipeline<number>(deps(), {
      batchSize: 2,
      streams: 2,
      onRecorded: (batch, tags) => batch.forEach((o, i) => outcomes.set(tags[i] as number, o)),
    });
    for (const [i, s] of input.entries()) await pipeline.add(s, i);
    await pipeline.finish();
    expect(input.map((_, i) => outcomes.get(i)?.outcome)).toEqual([
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'rejected',
      'duplicate',
      'accepted',
      'after_terminal',
      'out_of_order',
      'after_terminal',
      'accepted',
    ]);
    expect(outcomes.get(5)).toMatchObject({ eventId: (outcomes.get(0) as { eventId: number }).eventId });
    for (const row of [a, b, c]) {
      const after = await statusOf(row.tracking_number);
      expect(after.current_status).toBe('delivered');
      expect(after.actual_delivery).not.toBeNull();
    }
    const docs = await db.knex.raw<{ rows: { events: number; docs: number }[] }>(
      `select count(*)::int as events, count(d.id)::int as docs from tracking_events e
         left join doc_raw_scans d on d.event_id = e.event_id where e.event_id = any (?::bigint[])`,
      [[...outcomes.values()].flatMap((o) => ('eventId' in o && o.outcome !== 'duplicate' ? [o.eventId] : []))],
    );
    expect(docs.rows[0]).toEqual({ events: 9, docs: 9 });
  });

  it('bulk: two processes recording the same scans at once record each of them once', async () => {
    const rows = await Promise.all([8, 9, 10, 11].map((offset) => packageIn('in_transit', offset)));
    const input = rows.flatMap((row, r) =>
      [1, 2, 3, 4, 5].map((hours): ScanInput => ({
        trackingNumber: row.tracking_number,
        status: 'in_transit',
        location: row.location,
        at: later(row, hours),
        idempotencyKey: r % 2 === 0 ? `device-${r}:${hours}` : undefined,
      })),
    );
    const before = await Promise.all(rows.map(async (row) => (await statusOf(row.tracking_number)).events));
    const other = await openServer(testDb.url);
    try {
      const record = async (database: Database): Promise<ScanOutcome[]> => {
        const outcomes: ScanOutcome[] = [];
        const pipeline = createScanPipeline<number>(
          { db: database, documentsTarget: 'postgres' },
          { batchSize: 3, streams: 2, onRecorded: (batch) => void outcomes.push(...batch) },
        );
        for (const [i, s] of input.entries()) await pipeline.add(s, i);
        await pipeline.finish();
        return outcomes;
      };
      const [first, second] = await Promise.all([record(db), record(other)]);
      const all = [...(first ?? []), ...(second ?? [])];
      expect(all.filter((o) => o.outcome === 'duplicate')).toHaveLength(input.length);
      expect(all.filter((o) => o.outcome === 'accepted' || o.outcome === 'out_of_order')).toHaveLength(input.length);
    } finally {
      await other.close();
    }
    const after = await Promise.all(rows.map(async (row) => (await statusOf(row.tracking_number)).events));
    expect(after).toEqual(before.map((n) => n + 5));
  });

  it('bulk: a failed batch records none of its scans, and the same input again completes the rest', async () => {
    const pkg = await packageIn('in_transit', 12);
    const scan = (hours: number, payload: Record<string, unknown> = { hours }): ScanInput => ({
      trackingNumber: pkg.tracking_number,
      status: 'in_transit',
      location: pkg.location,
      at: later(pkg, hours),
      payload,
    });
    const before = (await statusOf(pkg.tracking_number)).events;
    const run = async (input: ScanInput[]): Promise<ScanOutcome[]> => {
      const outcomes: ScanOutcome[] = [];
      const pipeline = createScanPipeline<number>(deps(), {
        batchSize: 2,
        onRecorded: (batch) => void outcomes.push(...batch),
      });
      try {
        for (const [i, s] of input.entries()) await pipeline.add(s, i);
        await pipeline.finish();
      } finally {
        await pipeline.stop();
      }
      return outcomes;
    };
    // PostgreSQL refuses \u0000 in JSONB: the second batch fails as a whole, the third never starts.
    await expect(run([scan(1), scan(2), scan(3), scan(4, { bad: '\u0000' }), scan(5)])).rejects.toThrow();
    expect((await statusOf(pkg.tracking_number)).events).toBe(before + 2);
    const again = await run([scan(1), scan(2), scan(3), scan(4), scan(5)]);
    expect(again.map((o) => o.outcome)).toEqual(['duplicate', 'duplicate', 'accepted', 'accepted', 'accepted']);
    expect((await statusOf(pkg.tracking_number)).events).toBe(before + 5);
  });

  it('writes the raw scan to the outbox with the event it belongs to, when MongoDB is the document store', async () => {
    const pkg = await packageIn('in_transit', 13);
    const at = later(pkg, 1);
    const [outcome] = await writeScans({ db, documentsTarget: 'outbox' }, [
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: pkg.location, at, payload: { device: 'HH-1' } },
    ]);
    const eventId = (outcome as { eventId: number }).eventId;
    const stored = await db.knex.raw<{ rows: { document_id: string; document: Record<string, unknown> }[] }>(
      `select document_id, document from document_outbox where document_id = ?`,
      [`scan-${eventId}`],
    );
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]?.document).toMatchObject({
      id: `scan-${eventId}`,
      trackingNumber: pkg.tracking_number,
      eventId,
      scannedAt: at.toISOString(),
      source: 'scanner',
      payload: { device: 'HH-1', status: 'in_transit', idempotency_key: expect.stringMatching(/^derived:/) as unknown },
    });
    await db.knex.raw(`delete from document_outbox where document_id = ?`, [`scan-${eventId}`]);
  });

  it('stores the derived key and the fingerprint in the form earlier versions stored them', async () => {
    const pkg = await packageIn('in_transit', 15);
    const at = later(pkg, 1);
    const payload = { device: 'HH-"7"', note: 'é\\x', list: [1, null] };
    const [outcome] = await writeScans(deps(), [
      { trackingNumber: pkg.tracking_number, status: 'in_transit', location: pkg.location, at, payload },
    ]);
    const stored = await db.knex.raw<{ rows: { location_id: number; idempotency_key: string; scan_hash: string }[] }>(
      `select location_id, idempotency_key, scan_hash from tracking_events where event_id = ?`,
      [(outcome as { eventId: number }).eventId],
    );
    const row = stored.rows[0] as { location_id: number; idempotency_key: string; scan_hash: string };
    const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
    const iso = at.toISOString();
    expect(row.idempotency_key).toBe(
      `derived:${sha256(`${pkg.tracking_number}|in_transit|${row.location_id}|${iso}`).slice(0, 32)}`,
    );
    expect(row.scan_hash).toBe(sha256(JSON.stringify(['in_transit', row.location_id, iso, payload])));
  });
});
