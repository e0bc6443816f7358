import { describe, expect, it } from 'vitest';
import { parseDay, parseMetadataFilters, parseSince } from '../../src/domain/report-filters.js';
import { countOption as parseCount, parseDateTime } from '../../src/options.js';
import { ExitCode, ShiptrackError } from '../../src/errors.js';
import { facetsCondition, metadataFacetKeys } from '../../src/store/rollups.js';

const now = new Date('2026-11-24T15:30:00Z');

function usageMessage(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(ShiptrackError);
    expect((error as ShiptrackError).exitCode).toBe(ExitCode.usage);
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('--since', () => {
  it('takes durations back from now', () => {
    expect(parseSince('30d', now).toISOString()).toBe('2026-10-25T15:30:00.000Z');
    expect(parseSince('48h', now).toISOString()).toBe('2026-11-22T15:30:00.000Z');
    expect(parseSince('90m', now).toISOString()).toBe('2026-11-24T14:00:00.000Z');
    expect(parseSince('2W', now).toISOString()).toBe('2026-11-10T15:30:00.000Z');
  });

  it('takes dates and date-times (UTC unless an offset is given)', () => {
    expect(parseSince('2026-11-01', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(parseSince('2026-11-01T06:00+02:00', now).toISOString()).toBe('2026-11-01T04:00:00.000Z');
  });

  it('refuses what is not a window, precisely', () => {
    expect(usageMessage(() => parseSince('30 days', now))).toContain('neither a duration');
    expect(usageMessage(() => parseSince('0d', now))).toContain('empty window');
    expect(usageMessage(() => parseSince('2027-01-01', now))).toContain('in the future');
    expect(usageMessage(() => parseSince("1d'; drop table packages; --", now))).toContain('neither a duration');
    expect(usageMessage(() => parseSince('', now))).toContain('neither a duration');
  });
});

describe('--day', () => {
  it('is one UTC day', () => {
    expect(parseDay('2026-11-20', now)).toEqual({
      start: new Date('2026-11-20T00:00:00Z'),
      end: new Date('2026-11-21T00:00:00Z'),
      label: '2026-11-20',
    });
    expect(parseDay('yesterday', now).label).toBe('2026-11-23');
    expect(parseDay('Today', now).label).toBe('2026-11-24');
  });

  it('refuses impossible days', () => {
    expect(usageMessage(() => parseDay('2026-02-30', now))).toContain('is not a day');
    expect(usageMessage(() => parseDay('20/11/2026', now))).toContain('YYYY-MM-DD');
  });
});

describe('counts and times', () => {
  it('bounds whole numbers', () => {
    expect(parseCount('50', '--limit', 1, 100)).toBe(50);
    expect(parseCount('1_000', '--limit', 1, 10_000)).toBe(1000);
    expect(usageMessage(() => parseCount('0', '--limit', 1, 100))).toBe(
      '--limit: expected a whole number from 1 to 100, got "0"',
    );
    expect(usageMessage(() => parseCount('2.5', '--limit', 1, 100))).toContain('whole number');
    expect(usageMessage(() => parseCount('', '--limit', 1, 100))).toContain('whole number');
  });

  it('reads ISO dates and date-times only', () => {
    expect(parseDateTime('2026-11-24')?.toISOString()).toBe('2026-11-24T00:00:00.000Z');
    expect(parseDateTime('2026-11-24 12:00')?.toISOString()).toBe('2026-11-24T12:00:00.000Z');
    expect(parseDateTime('yesterday')).toBeUndefined();
    expect(parseDateTime('2026-13-01')).toBeUndefined();
  });
});

describe('--where', () => {
  it('builds one containment object, values as JSON when they parse', () => {
    expect(parseMetadataFilters(['fragile=true', 'service=express', 'dimensions.depth=10', 'code="007"'])).toEqual({
      terms: ['fragile=true', 'service="express"', 'dimensions.depth=10', 'code="007"'],
      containment: { fragile: true, service: 'express', dimensions: { depth: 10 }, code: '007' },
    });
  });

  it('keeps hostile text as a value, and refuses malformed keys', () => {
    expect(parseMetadataFilters(["service=x' or 1=1 --"]).containment).toEqual({ service: "x' or 1=1 --" });
    expect(usageMessage(() => parseMetadataFilters(['fragile']))).toContain('is not key=value');
    expect(usageMessage(() => parseMetadataFilters(["a'b=1"]))).toContain('is not a metadata key');
    expect(usageMessage(() => parseMetadataFilters(['fragile=']))).toContain('has no value');
    expect(usageMessage(() => parseMetadataFilters(['a=1', 'a=2']))).toContain('filtered twice');
    expect(usageMessage(() => parseMetadataFilters(['a=1', 'a.b=2']))).toContain('conflicts');
    expect(usageMessage(() => parseMetadataFilters([]))).toContain('at least one');
    expect(usageMessage(() => parseMetadataFilters([`k=${'x'.repeat(201)}`]))).toContain('longer than 200');
  });
});

describe('--where counted from the metadata facets', () => {
  const condition = (terms: string[]): ReturnType<typeof facetsCondition> =>
    facetsCondition(parseMetadataFilters(terms).containment);

  it('compares each facet given a string, number or boolean with its place in the array, in key order', () => {
    expect(condition(['signature_required=true', 'service=express'])).toEqual({
      sql: 'facets -> 0 = ?::jsonb and facets -> 2 = ?::jsonb',
      bindings: ['"express"', 'true'],
      shape: '0_2',
    });
    expect(condition(['fragile="true"'])).toEqual({ sql: 'facets -> 1 = ?::jsonb', bindings: ['"true"'], shape: '1' });
    expect(condition(['insured=1'])?.bindings).toEqual(['1']);
  });

  it('leaves to the packages a key that is no facet, a nested key, and a null, array or object value', () => {
    for (const terms of [
      ['contents=toys'],
      ['service=express', 'contents=toys'],
      ['service.level=1'],
      ['fragile=null'],
      ['service=["express"]'],
      ['service={"a":1}'],
    ]) {
      expect(condition(terms), terms.join(' ')).toBeUndefined();
    }
    expect(facetsCondition({})).toBeUndefined();
  });

  it('names every facet the rollup splits by, in the order its triggers build the array', () => {
    expect(metadataFacetKeys).toEqual(['service', 'fragile', 'signature_required', 'insured', 'temperature_controlled']);
  });
});
