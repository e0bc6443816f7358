import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  BenchmarkRunDocument,
  DocumentStore,
  RawScanDocument,
  StatementSnapshotDocument,
} from '../../src/store/documents/document-store.js';
import { ExitCode, ShiptrackError } from '../../src/errors.js';

export interface DocumentStoreFixture {
  store: DocumentStore;
  cleanup: () => Promise<void>;
}

/** Resolves with what the promise rejected with; fails when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to be rejected, but it resolved');
}

// Event ids are unique per store: one counter for the whole run, above 2^32 so that 64-bit ids
// (bigint in PostgreSQL, long in MongoDB) are exercised everywhere.
let nextEventId = 5_000_000_000 + Math.floor(Math.random() * 1_000_000) * 1000;
function newEventId(): number {
  nextEventId += 1;
  return nextEventId;
}

function newTrackingNumber(): string {
  return `ST${randomUUID().replaceAll('-', '').slice(0, 16).toUpperCase()}`;
}

const t0 = Date.UTC(2026, 10, 24, 8, 0, 0, 123);

function makeScan(overrides: Partial<RawScanDocument> = {}): RawScanDocument {
  return {
    id: randomUUID(),
    trackingNumber: newTrackingNumber(),
    eventId: newEventId(),
    scannedAt: new Date(t0),
    source: 'scanner',
    payload: { device: 'HS-204', operator: 'op-17' },
    ...overrides,
  };
}

function makeSnapshot(server: string, takenAt: Date): StatementSnapshotDocument {
  return {
    id: randomUUID(),
    server,
    takenAt,
    statsReset: new Date('2026-01-01T00:00:00Z'),
    statements: [
      {
        queryId: '-8813718829171170061',
        query: 'select * from packages where package_id = $1',
        calls: 12,
        totalMs: 3.5,
        rows: 12,
      },
    ],
    truncated: false,
  };
}

function makeRun(overrides: Partial<BenchmarkRunDocument> = {}): BenchmarkRunDocument {
  return {
    id: randomUUID(),
    startedAt: new Date(t0),
    suite: 'track',
    environment: { node: process.version, host: 'ci' },
    parameters: { profile: 'small', iterations: 100 },
    results: { p50Ms: 1.25, p99Ms: 9.5, errors: 0 },
    ...overrides,
  };
}

/**
 * The behaviour every DocumentStore must have (DOMAIN §4). `factory` gives a store on an empty,
 * private database and a cleanup that closes and removes it; tests share it and use fresh
 * tracking numbers, ids and suites so they do not see each other's documents.
 */
export function describeDocumentStoreContract(name: string, factory: () => Promise<DocumentStoreFixture>): void {
  describe(name, () => {
    let fixture: DocumentStoreFixture | undefined;
    const store = (): DocumentStore => {
      if (fixture === undefined) throw new Error('the store fixture was not created (see beforeAll)');
      return fixture.store;
    };

    beforeAll(async () => {
      fixture = await factory();
      await fixture.store.ensureSchema();
    });

    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('ensureSchema can be called again', async () => {
      await store().ensureSchema();
      await store().ensureSchema();
      const scan = makeScan();
      expect(await store().insertRawScans([scan])).toBe(1);
      expect(await store().findRawScans(scan.trackingNumber)).toEqual([scan]);
    });

    it('ping returns the kind, a version and a latency', async () => {
      const info = await store().ping();
      expect(info.kind).toBe(store().kind);
      expect(info.version).toMatch(/^\d+\.\d+/);
      expect(Number.isFinite(info.latencyMs)).toBe(true);
      expect(info.latencyMs).toBeGreaterThanOrEqual(0);
    });

    it('insertRawScans inserts every scan and returns how many', async () => {
      const before = await store().countRawScans();
      const trackingNumber = newTrackingNumber();
      const scans = [0, 1, 2].map((i) => makeScan({ trackingNumber, scannedAt: new Date(t0 + i * 60_000) }));
      expect(await store().insertRawScans(scans)).toBe(3);
      expect(await store().countRawScans()).toBe(before + 3);
      expect(await store().findRawScans(trackingNumber)).toEqual(scans);
      expect(await store().insertRawScans([])).toBe(0);
    });

    it('leaves scans with ids already present as they are, in one batch and across batches', async () => {
      const before = await store().countRawScans();
      const trackingNumber = newTrackingNumber();
      const a = makeScan({ trackingNumber, scannedAt: new Date(t0) });
      const aAgain = { ...a, payload: { changed: true } };
      const b = makeScan({ trackingNumber, scannedAt: new Date(t0 + 1000) });
      expect(await store().insertRawScans([a, aAgain, b])).toBe(2);

      const c = makeScan({ trackingNumber, scannedAt: new Date(t0 + 2000) });
      expect(await store().insertRawScans([{ ...a, source: 'partner:ups' }, b, c])).toBe(1);
      expect(await store().insertRawScans([a, b, c])).toBe(0);

      expect(await store().countRawScans()).toBe(before + 3);
      expect(await store().findRawScans(trackingNumber)).toEqual([a, b, c]);
    });

    it('refuses a second scan that claims an event already stored under another id', async () => {
      const first = makeScan();
      expect(await store().insertRawScans([first])).toBe(1);
      const other = makeScan({ eventId: first.eventId });
      const error = await rejectionOf(store().insertRawScans([other]));
      expect(error).toBeInstanceOf(ShiptrackError);
      expect((error as ShiptrackError).exitCode).toBe(ExitCode.conflict);
      expect(await store().findRawScanByEventId(first.eventId ?? Number.NaN)).toEqual(first);
      expect(await store().findRawScans(other.trackingNumber)).toEqual([]);
    });

    it('findRawScans returns the scans of one number oldest first and honours limit', async () => {
      const trackingNumber = newTrackingNumber();
      const at = (minutes: number): Date => new Date(t0 + minutes * 60_000);
      const scans = [
        makeScan({ trackingNumber, scannedAt: at(30), source: 'partner:ups' }),
        makeScan({ trackingNumber, scannedAt: at(0) }),
        makeScan({ trackingNumber, scannedAt: at(90), eventId: null }),
        makeScan({ trackingNumber, scannedAt: at(10) }),
      ];
      const elsewhere = makeScan({ scannedAt: at(5) });
      expect(await store().insertRawScans([...scans, elsewhere])).toBe(5);

      const oldestFirst = [...scans].sort((x, y) => x.scannedAt.getTime() - y.scannedAt.getTime());
      expect(await store().findRawScans(trackingNumber)).toEqual(oldestFirst);
      expect(await store().findRawScans(trackingNumber, { limit: 2 })).toEqual(oldestFirst.slice(0, 2));
      expect(await store().findRawScans(trackingNumber, { limit: 10 })).toEqual(oldestFirst);
      expect(await store().findRawScans(newTrackingNumber())).toEqual([]);
    });

    it('rejects a limit that is not a positive integer', async () => {
      for (const limit of [0, -1, 1.5]) {
        const error = await rejectionOf(store().findRawScans(newTrackingNumber(), { limit }));
        expect(error).toBeInstanceOf(ShiptrackError);
        expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
      }
    });

    it('round-trips payloads with nested objects, arrays, numbers and unicode', async () => {
      const payload: Record<string, unknown> = {
        device: { id: 'HS-204', firmware: '4.2.1', battery: 0.82 },
        operator: 'Zoë Ångström-Nguyễn',
        gps: { lat: 52.520008, lon: 13.404954, accuracyM: 4 },
        temperatureC: -18.5,
        reason: null,
        signature: { present: true, ref: 's3://scans/2026/11/24/sig.png' },
        photos: [
          { ref: 'p1.jpg', tags: ['damage', 'box'] },
          { ref: 'p2.jpg', tags: [] },
        ],
        matrix: [
          [1, 2],
          [3, [4, [5]]],
        ],
        carrierCodes: { ups: 'M1', 'DHL Express': 'PU', 运单: '已揽收' },
        note: 'Paket beschädigt — «fragile» 📦🚚 \u00e9 vs e\u0301, "quoted" \\ back\nslash\ttab',
        bigCounter: 2 ** 40,
        negative: -42,
        zero: 0,
        flags: [true, false],
        empty: {},
        emptyList: [],
        deep: { a: { b: { c: { d: { e: ['f'] } } } } },
      };
      const scan = makeScan({ payload, source: 'partner:dhl' });
      const noEvent = makeScan({ trackingNumber: scan.trackingNumber, eventId: null, scannedAt: new Date(t0 + 1), payload: {} });
      expect(await store().insertRawScans([scan, noEvent])).toBe(2);
      const found = await store().findRawScans(scan.trackingNumber);
      expect(found).toEqual([scan, noEvent]);
      expect(found[0]?.scannedAt.getTime()).toBe(t0);
      expect(found[1]?.eventId).toBeNull();
    });

    it('findRawScanByEventId finds the scan of an event, or null', async () => {
      const scan = makeScan();
      const unlinked = [makeScan({ eventId: null }), makeScan({ eventId: null })];
      expect(await store().insertRawScans([scan, ...unlinked])).toBe(3);
      expect(await store().findRawScanByEventId(scan.eventId ?? Number.NaN)).toEqual(scan);
      expect(await store().findRawScanByEventId(newEventId())).toBeNull();
    });

    it('findRawScansByEventIds finds the scans of many events at once, skipping events without one', async () => {
      const scans = [makeScan(), makeScan(), makeScan()];
      expect(await store().insertRawScans([...scans, makeScan({ eventId: null })])).toBe(4);
      const ids = scans.map((s) => s.eventId ?? Number.NaN);
      const found = await store().findRawScansByEventIds([...ids, newEventId(), Number.NaN]);
      expect(found.map((s) => s.id).sort()).toEqual(scans.map((s) => s.id).sort());
      expect(found.find((s) => s.id === scans[1]?.id)).toEqual(scans[1]);
      expect(await store().findRawScansByEventIds([])).toEqual([]);
    });

    it('sampleRawScans returns stored scans, distinct, at most the size asked for', async () => {
      const scans = [makeScan(), makeScan(), makeScan()];
      await store().insertRawScans(scans);
      const total = await store().countRawScans();
      const sample = await store().sampleRawScans(2);
      expect(sample).toHaveLength(2);
      expect(new Set(sample.map((s) => s.id)).size).toBe(2);
      const everything = await store().sampleRawScans(total + 10);
      expect(everything).toHaveLength(total);
      expect(everything.find((s) => s.id === scans[0]?.id)).toEqual(scans[0]);
      expect(await store().sampleRawScans(0)).toEqual([]);
    });

    it('countRawScans counts every stored scan', async () => {
      const before = await store().countRawScans();
      expect(before).toBeGreaterThan(0);
      await store().insertRawScans([makeScan(), makeScan()]);
      expect(await store().countRawScans()).toBe(before + 2);
    });

    it('inserts batches larger than one statement or bulk batch', async () => {
      const before = await store().countRawScans();
      const trackingNumber = newTrackingNumber();
      const scans = Array.from({ length: 2500 }, (_, i) =>
        makeScan({ trackingNumber, scannedAt: new Date(t0 + i * 1000), payload: { seq: i } }),
      );
      expect(await store().insertRawScans(scans)).toBe(2500);
      expect(await store().insertRawScans(scans)).toBe(0);
      expect(await store().countRawScans()).toBe(before + 2500);
      const found = await store().findRawScans(trackingNumber, { limit: 3 });
      expect(found.map((s) => s.payload)).toEqual([{ seq: 0 }, { seq: 1 }, { seq: 2 }]);
    });

    it('rejects a raw scan whose payload is not an object, and stores nothing of that batch', async () => {
      const before = await store().countRawScans();
      for (const payload of [['a', 'list'], 'text', 42, null, new Date(t0)]) {
        const good = makeScan();
        const bad = makeScan({ payload: payload as unknown as Record<string, unknown> });
        const error = await rejectionOf(store().insertRawScans([good, bad]));
        expect(error).toBeInstanceOf(ShiptrackError);
        expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
        expect(await store().findRawScans(good.trackingNumber)).toEqual([]);
      }
      expect(await store().countRawScans()).toBe(before);
    });

    it('deleteAllRawScans empties the raw scans and leaves benchmark runs alone', async () => {
      const run = makeRun({ suite: `suite-${randomUUID()}` });
      await store().insertBenchmarkRun(run);
      await store().insertRawScans([makeScan()]);
      const before = await store().countRawScans();
      expect(await store().deleteAllRawScans()).toBe(before);
      expect(await store().countRawScans()).toBe(0);
      expect(await store().findBenchmarkRun(run.id)).toEqual(run);
      await store().insertRawScans([makeScan()]);
      expect(await store().countRawScans()).toBe(1);
    });

    it('stores benchmark runs and lists them newest first, by suite, with a limit', async () => {
      const suite = `suite-${randomUUID()}`;
      const otherSuite = `suite-${randomUUID()}`;
      const runs = [
        makeRun({ suite, startedAt: new Date(t0 + 2 * 3_600_000) }),
        makeRun({ suite, startedAt: new Date(t0) }),
        makeRun({ suite: otherSuite, startedAt: new Date(t0 + 3_600_000) }),
        makeRun({
          suite,
          startedAt: new Date(t0 + 3 * 3_600_000),
          results: { nested: { list: [1, 'two', { three: 3 }] }, ok: true },
        }),
      ];
      for (const run of runs) await store().insertBenchmarkRun(run);
      const newestFirst = (list: BenchmarkRunDocument[]): BenchmarkRunDocument[] =>
        [...list].sort((x, y) => y.startedAt.getTime() - x.startedAt.getTime());

      const all = await store().listBenchmarkRuns();
      const ours = all.filter((run) => run.suite === suite || run.suite === otherSuite);
      expect(ours).toEqual(newestFirst(runs));
      const times = all.map((run) => run.startedAt.getTime());
      expect(times).toEqual([...times].sort((x, y) => y - x));

      const inSuite = runs.filter((run) => run.suite === suite);
      expect(await store().listBenchmarkRuns({ suite })).toEqual(newestFirst(inSuite));
      expect(await store().listBenchmarkRuns({ suite, limit: 2 })).toEqual(newestFirst(inSuite).slice(0, 2));
      expect(await store().listBenchmarkRuns({ suite: otherSuite, limit: 5 })).toEqual([runs[2]]);
      expect(await store().listBenchmarkRuns({ suite: `suite-${randomUUID()}` })).toEqual([]);
      expect(await store().listBenchmarkRuns({ limit: 1 })).toHaveLength(1);
    });

    it('findBenchmarkRun returns the run, or null for an unknown id', async () => {
      const run = makeRun({ suite: `suite-${randomUUID()}` });
      await store().insertBenchmarkRun(run);
      expect(await store().findBenchmarkRun(run.id)).toEqual(run);
      expect(await store().findBenchmarkRun(randomUUID())).toBeNull();
    });

    it('refuses a second benchmark run with the same id', async () => {
      const run = makeRun({ suite: `suite-${randomUUID()}` });
      await store().insertBenchmarkRun(run);
      const error = await rejectionOf(store().insertBenchmarkRun({ ...run, suite: 'other' }));
      expect(error).toBeInstanceOf(ShiptrackError);
      expect((error as ShiptrackError).exitCode).toBe(ExitCode.conflict);
      expect(await store().findBenchmarkRun(run.id)).toEqual(run);
    });

    it('rejects a benchmark run whose results are not an object', async () => {
      const run = makeRun({ suite: `suite-${randomUUID()}`, results: [1, 2] as unknown as Record<string, unknown> });
      const error = await rejectionOf(store().insertBenchmarkRun(run));
      expect(error).toBeInstanceOf(ShiptrackError);
      expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
      expect(await store().findBenchmarkRun(run.id)).toBeNull();
    });

    it('keeps statement snapshots per server: the newest at or before a time, else the oldest after it', async () => {
      const server = `db@${randomUUID()}`;
      const hour = 3_600_000;
      const t0 = new Date(Date.UTC(2026, 11, 1, 12));
      const [a, b, c] = [0, 2, 4].map((h) => makeSnapshot(server, new Date(t0.getTime() + h * hour)));
      for (const snapshot of [c, a, b]) await store().insertStatementSnapshot(snapshot as StatementSnapshotDocument);
      await store().insertStatementSnapshot(makeSnapshot(`db@${randomUUID()}`, new Date(t0.getTime() + 3 * hour)));
      expect(await store().findStatementSnapshot(server, new Date(t0.getTime() + 3 * hour))).toEqual(b);
      expect(await store().findStatementSnapshot(server, new Date(t0.getTime() + 2 * hour))).toEqual(b);
      expect(await store().findStatementSnapshot(server, new Date(t0.getTime() - hour))).toEqual(a);
      expect(await store().findStatementSnapshot(`db@${randomUUID()}`, t0)).toBeNull();
      expect(await store().deleteStatementSnapshots(server, new Date(t0.getTime() + 3 * hour))).toBe(2);
      expect(await store().findStatementSnapshot(server, new Date(t0.getTime() + 3 * hour))).toEqual(c);
    });

    it('rejects a statement snapshot without a server, and stores nothing', async () => {
      const snapshot = { ...makeSnapshot('', new Date()) };
      const error = await rejectionOf(store().insertStatementSnapshot(snapshot));
      expect(error).toBeInstanceOf(ShiptrackError);
      expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
    });
  });
}
