import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
// Only the public entry, as another program would import it (the package's own name).
import { openShiptrack, type Shiptrack, type TrackResult } from 'shiptrack';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startFrozenListener } from '../support/cli.js';
import { testMongoUrl, testRedisUrl } from '../support/env.js';

const asOf = '2026-11-01';

function open(settings: Record<string, string>): Promise<Shiptrack> {
  return openShiptrack({ env: false, envFile: null, settings });
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Packages in flight (not delivered, returned or cancelled), found through a report. */
async function packagesInFlight(shiptrack: Shiptrack, count: number): Promise<string[]> {
  const stale = await shiptrack.report('stale', { hours: 1, limit: 200, asOf });
  const numbers = (stale.tables.find((t) => t.name === 'packages')?.rows ?? []).map((r) => String(r.tracking_number));
  if (numbers.length < count) throw new Error(`the seeded world has only ${numbers.length} packages in flight`);
  return numbers.slice(0, count);
}

/** The raw scan documents PostgreSQL's document store holds for these events. */
async function rawScansOf(url: string, eventIds: readonly number[]): Promise<{ event_id: number; payload: unknown }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ event_id: number; payload: unknown }>(
      'select event_id::int as event_id, payload from doc_raw_scans where event_id = any($1::bigint[]) order by event_id',
      [eventIds],
    );
    return result.rows;
  } finally {
    await client.end();
  }
}

/** Watches through the library until `abort`, collecting the changes it is told of. */
function startWatching(shiptrack: Shiptrack, numbers: string[]) {
  const controller = new AbortController();
  const changes: TrackResult[] = [];
  let how: string | undefined;
  const done = shiptrack.watch(numbers, {
    signal: controller.signal,
    onStart: (h) => (how = h),
    onChange: (result) => changes.push(result),
  });
  return {
    changes,
    started: () => until(() => how, 'the watch to start'),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

describe.skipIf(!inject('redisAvailable'))(
  'the library through its public entry: what a program gets is what the CLI does',
  () => {
    let testDb: TestDatabase;
    let shiptrack: Shiptrack;

    beforeAll(async () => {
      testDb = await createTestDatabase('st_library');
      shiptrack = await open({ databaseUrl: testDb.url, redisUrl: testRedisUrl });
      await shiptrack.migrations.latest();
      const seeded = await shiptrack.seed({ asOf, documents: 0.05 });
      expect(seeded.documents.store).toBe('postgres');
    });

    afterAll(async () => {
      await shiptrack?.close();
      await testDb?.drop();
    });

    it('a scan after a cached track: the fresh status at once, the event on the live channel, the raw scan stored', async () => {
      const [number] = await packagesInFlight(shiptrack, 1);
      if (number === undefined) throw new Error('no package in flight');
      expect((await shiptrack.track(number)).results[0]?.source).toBe('database');
      const cached = (await shiptrack.track(number)).results[0];
      expect(cached?.source).toBe('cache');
      const location = cached?.package?.events.at(-1)?.location.name ?? '';

      const watch = startWatching(shiptrack, [number]);
      expect(await watch.started()).toBe('channel');
      try {
        const { outcome, warnings } = await shiptrack.recordScan({
          trackingNumber: number,
          status: 'exception',
          location,
          payload: { reason: 'label damaged', device: 'handheld-7' },
          source: 'scanner',
        });
        expect(warnings).toEqual([]);
        expect(outcome.outcome).toBe('accepted');

        const fresh = (await shiptrack.track(number)).results[0];
        expect(fresh?.package?.currentStatus).toBe('exception');
        expect(fresh?.source).toBe('database');

        const change = await until(() => watch.changes[0], 'the event on the live channel');
        expect(change.package?.currentStatus).toBe('exception');
        expect(change.package?.events.at(-1)?.eventId).toBe(outcome.eventId);

        expect(await rawScansOf(testDb.url, [outcome.eventId])).toEqual([
          {
            event_id: outcome.eventId,
            payload: expect.objectContaining({ reason: 'label damaged', device: 'handheld-7', status: 'exception' }) as unknown,
          },
        ]);
      } finally {
        await watch.stop();
      }
    });

    it('a file of scans: each batch refreshes the cache, tells watchers and stores raw scans; bad lines are rejected by number', async () => {
      const numbers = await packagesInFlight(shiptrack, 4);
      for (const n of numbers) await shiptrack.track(n);
      for (const n of numbers) expect((await shiptrack.track(n)).results[0]?.source).toBe('cache');
      const watch = startWatching(shiptrack, numbers);
      await watch.started();
      const at = new Date(Date.now() - 60_000).toISOString();
      const lines = [
        ...numbers.map((n, i) =>
          JSON.stringify({ trackingNumber: n, status: 'exception', location: '1', at, payload: { reason: `case ${i}` } }),
        ),
        'not json',
        JSON.stringify({ trackingNumber: 'RB123456784US', status: 'exception', location: '1', at }),
      ];
      try {
        const summary = await shiptrack.recordScanLines(Readable.from(lines), { batchSize: 2 });
        expect(summary).toMatchObject({ lines: 6, accepted: 4, rejected: 2, warnings: [] });
        expect(summary.rejections).toEqual([
          { line: 5, reason: 'not JSON' },
          { line: 6, reason: 'RB123456784US: check digit is 4, expected 5' },
        ]);
        for (const n of numbers) {
          const result = (await shiptrack.track(n)).results[0];
          expect(result?.package?.currentStatus, n).toBe('exception');
          expect(result?.source, n).toBe('database');
        }
        await until(() => (new Set(watch.changes.map((c) => c.trackingNumber)).size === 4 ? true : undefined), 'four events');
        const eventIds = numbers.map(
          (n) => watch.changes.find((c) => c.trackingNumber === n)?.package?.events.at(-1)?.eventId ?? 0,
        );
        const stored = await rawScansOf(testDb.url, eventIds);
        expect(stored.map((d) => (d.payload as { reason: string }).reason).sort()).toEqual([
          'case 0',
          'case 1',
          'case 2',
          'case 3',
        ]);
      } finally {
        await watch.stop();
      }
    });

    it('check proves the data and records the proof: the next consistency report proves only the changes', async () => {
      const report = await shiptrack.check({ jobs: 2 });
      expect(report.ok).toBe(true);
      expect(report.checks.length).toBeGreaterThan(3);
      const consistency = await shiptrack.report('consistency', { sample: 50 });
      expect(consistency.ok).toBe(true);
      expect(consistency.parameters.proof).toBe('changes');
    });

    it('refuses bad input before any query, naming it', async () => {
      await expect(shiptrack.track('RB123456784US')).rejects.toMatchObject({ code: 'usage', exitCode: 2 });
      await expect(shiptrack.report('overdue', { limit: 0 })).rejects.toThrow(
        '--limit: expected a whole number from 1 to 10,000',
      );
      await expect(
        shiptrack.recordScan({ trackingNumber: 'RB123456785US', status: 'exception', location: 'x'.repeat(500) }),
      ).rejects.toThrow('location is longer than 200 characters');
    });
  },
);

describe('seed through the library: raw scans reach the document store, or wait in the outbox', () => {
  it('with MongoDB on a listener that never answers, the seed commits and says how many documents wait', async () => {
    const testDb = await createTestDatabase('st_library_outbox');
    const frozen = await startFrozenListener();
    try {
      const plain = await open({ databaseUrl: testDb.url });
      try {
        await plain.migrations.latest();
      } finally {
        await plain.close();
      }
      const mongoUrl = `mongodb://127.0.0.1:${frozen.port}/?serverSelectionTimeoutMS=800`;
      const withMongo = await openShiptrack({
        env: { SHIPTRACK_CONNECT_TIMEOUT: '800ms' },
        envFile: null,
        settings: { databaseUrl: testDb.url, mongoUrl },
      });
      try {
        const started = performance.now();
        const seeded = await withMongo.seed({ asOf, documents: 0.05, packages: 200, customers: 50, locations: 20 });
        expect(performance.now() - started).toBeLessThan(20_000);
        expect(seeded.documents).toMatchObject({ store: 'outbox' });
        expect(seeded.documents.count).toBeGreaterThan(0);
        expect(seeded.warnings).toEqual([
          expect.objectContaining({ code: 'documents_waiting', store: 'MongoDB', waiting: seeded.documents.count }),
        ]);
        expect((await withMongo.outbox.status()).waiting).toBe(seeded.documents.count);
        expect((await withMongo.check()).ok).toBe(true);
      } finally {
        await withMongo.close();
      }
    } finally {
      await frozen.stop();
      await testDb.drop();
    }
  });

  it.skipIf(testMongoUrl === undefined)(
    'with MongoDB reachable, the seed delivers every raw scan and the outbox is empty',
    async () => {
      const testDb = await createTestDatabase('st_library_mongo');
      try {
        const plain = await open({ databaseUrl: testDb.url });
        await plain.migrations.latest();
        await plain.close();
        const database = `shiptrack_lib_${Date.now().toString(36)}`;
        const withMongo = await open({ databaseUrl: testDb.url, mongoUrl: testMongoUrl ?? '', mongoDatabase: database });
        try {
          const seeded = await withMongo.seed({ asOf, documents: 0.05, packages: 200, customers: 50, locations: 20 });
          expect(seeded.warnings).toEqual([]);
          expect(seeded.delivery).toMatchObject({ delivered: seeded.documents.count, remaining: 0, error: null });
          expect((await withMongo.outbox.status()).waiting).toBe(0);
        } finally {
          await withMongo.close();
        }
      } finally {
        await testDb.drop();
      }
    },
  );
});
