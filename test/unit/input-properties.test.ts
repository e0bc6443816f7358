import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseDay, parseMetadataFilters, parseSince } from '../../src/domain/report-filters.js';
import { checkScan, checkScanLine } from '../../src/domain/scan-input.js';
import { parseTrackingNumbers } from '../../src/domain/tracking-number.js';
import { ExitCode, ShiptrackError } from '../../src/errors.js';
import { asOfOption, countOption, durationOption, percentOption, shareOption } from '../../src/options.js';
import { runBenchmarkSuite } from '../../src/services/benchmark/benchmark.service.js';
import { migratorFor } from '../../src/services/migrations.service.js';
import { reports, runReport } from '../../src/services/reports/registry.js';
import { seed } from '../../src/services/seed.service.js';
import type { Resources } from '../../src/store/resources.js';

/**
 * Generated strings, numbers, dates and JSON thrown at every input parser: each either accepts
 * the input or refuses it with a usage error (exit 2) whose message names the input — never
 * another kind of error, and never a store opened for input it then refuses.
 */

const runs = { numRuns: 300 };

/** Anything a person or a file might send. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '0',
    '-1',
    '1e309',
    'NaN',
    'Infinity',
    '9'.repeat(40),
    "' or 1=1 --",
    '{"$gt":""}',
    '30d',
    '5s',
    '5',
  ),
  fc.string({ maxLength: 10_000, minLength: 1000 }),
);

function usageOrValue(work: () => unknown, label: string): void {
  try {
    work();
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(ShiptrackError);
    expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
    expect((error as ShiptrackError).message).toContain(label);
  }
}

/** Stores that must not be reached: a usage error must come first, or the parse passed. */
class StoreReached extends Error {}
const untouchable = new Proxy({} as Resources, {
  get(_target, property) {
    // A pool this big is never outgrown: the benchmark never opens stores of its own here.
    if (property === 'config') return { ...loadConfig({ env: {}, envFile: null }), poolSize: 10_000 };
    if (property === 'documentsTarget') return 'postgres';
    if (property === 'forLongWork') return () => untouchable;
    // What the handle is, not a store: a CLI's, with no pool open yet.
    if (property === 'shortLived') return true;
    if (property === 'hasDatabase') return () => false;
    return () => Promise.reject(new StoreReached(String(property)));
  },
});

async function usageOrStore(work: () => Promise<unknown>, label?: string): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof StoreReached) return;
    expect(error, String(error)).toBeInstanceOf(ShiptrackError);
    expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
    if (label !== undefined) expect((error as ShiptrackError).message).toContain(label);
  }
}

describe('every input parser: exit 2 naming the input, or a value', () => {
  it('tracking numbers', () => {
    fc.assert(
      fc.property(fc.array(hostileText, { minLength: 1, maxLength: 4 }), (words) => {
        try {
          const numbers = parseTrackingNumbers(words);
          expect(numbers.every((n) => /^[A-Z0-9]{12,22}$/.test(n))).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(ShiptrackError);
          expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
          expect((error as ShiptrackError).message.length).toBeGreaterThan(0);
        }
      }),
      runs,
    );
  });

  it('scans, as objects from a program and as lines of a file: never a throw, a field named when refused', () => {
    const anyJson = fc.jsonValue({ maxDepth: 6 });
    const scanLike = fc.record(
      {
        trackingNumber: fc.oneof(hostileText, fc.constant('RB123456785US')),
        status: fc.oneof(hostileText, fc.constantFrom('in_transit', 'exception')),
        location: fc.oneof(hostileText, fc.integer()),
        at: fc.oneof(hostileText, fc.date({ noInvalidDate: false }), fc.integer(), fc.constant('2026-11-20T10:00:00Z')),
        idempotencyKey: hostileText,
        payload: fc.oneof(anyJson, fc.object({ maxDepth: 4 })),
        source: hostileText,
        forceReason: hostileText,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(scanLike, (record) => {
        const checked = checkScan(record);
        // A refusal names its field (a tracking number's names the number as typed).
        if (!checked.ok && checked.field !== 'trackingNumber') expect(checked.reason.startsWith(checked.field)).toBe(true);
        const line = checkScanLine(JSON.stringify(record));
        expect(typeof line.ok).toBe('boolean');
      }),
      runs,
    );
    fc.assert(
      fc.property(hostileText, (line) => {
        expect(typeof checkScanLine(line).ok).toBe('boolean');
      }),
      runs,
    );
  });

  it('durations, counts, shares, percentages, dates and windows', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    fc.assert(
      fc.property(fc.oneof(hostileText, fc.double(), fc.integer()), (value) => {
        usageOrValue(() => durationOption(value, '--duration', { min: 100, max: 3_600_000 }), '--duration');
        usageOrValue(() => countOption(value, '--limit', 1, 10_000), '--limit');
        usageOrValue(() => shareOption(value, '--documents'), '--documents');
        usageOrValue(() => percentOption(value, '--fail-if-slower'), '--fail-if-slower');
        const text = String(value);
        usageOrValue(() => asOfOption(text, now), '--as-of');
        usageOrValue(() => parseSince(text, now), '--since');
        usageOrValue(() => parseDay(text, now), '--day');
        usageOrValue(() => parseMetadataFilters([text]), '--where');
      }),
      runs,
    );
  });

  it('settings from the environment: a ConfigError naming the variable, or a configuration', () => {
    const names = [
      'SHIPTRACK_DATABASE_URL',
      'SHIPTRACK_REPLICA_URLS',
      'SHIPTRACK_MAX_REPLICA_LAG',
      'SHIPTRACK_REDIS_URL',
      'SHIPTRACK_MONGO_URL',
      'SHIPTRACK_MONGO_DB',
      'SHIPTRACK_CONNECT_TIMEOUT',
      'SHIPTRACK_STATEMENT_TIMEOUT',
      'SHIPTRACK_LOCK_TIMEOUT',
      'SHIPTRACK_REDIS_TIMEOUT',
      'SHIPTRACK_POOL_SIZE',
      'SHIPTRACK_LIVENESS_TIMEOUT',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...names), hostileText, (name, value) => {
        usageOrValue(() => loadConfig({ env: { [name]: value }, envFile: null }), name);
      }),
      runs,
    );
  });

  it('report options, seed and benchmark requests, migration settings: refused before any store is reached', async () => {
    const values = fc.dictionary(
      fc.constantFrom(
        'limit',
        'since',
        'by',
        'minShipments',
        'day',
        'sort',
        'hours',
        'customer',
        'where',
        'suite',
        'sample',
        'packages',
        'jobs',
        'asOf',
      ),
      hostileText,
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...reports.map((r) => r.name)), values, async (name, request) => {
        await usageOrStore(() => runReport(untouchable, name, request));
      }),
      runs,
    );
    const sizes = fc.record(
      {
        packages: hostileText,
        customers: hostileText,
        locations: hostileText,
        seed: hostileText,
        asOf: hostileText,
        documents: hostileText,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(sizes, async (request) => {
        await usageOrStore(() => seed(untouchable, request));
      }),
      runs,
    );
    const benchmark = fc.record(
      {
        duration: hostileText,
        warmup: hostileText,
        concurrency: hostileText,
        count: hostileText,
        failIfSlower: hostileText,
        asOf: hostileText,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(benchmark, async (request) => {
        await usageOrStore(() => runBenchmarkSuite(untouchable, { ...request, baseline: 'last' }));
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(hostileText, hostileText, (lockWait, statementTimeout) => {
        usageOrValue(() => migratorFor({ lockWait, statementTimeout }), '--');
      }),
      runs,
    );
  });
});
