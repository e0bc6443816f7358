import { describe, expect, it } from 'vitest';
import { compareText, formatBytes, formatNumber } from '../../src/domain/units.js';

describe('formatNumber', () => {
  it('writes what toLocaleString("en-US") writes, without ICU', () => {
    const values = [
      0,
      1,
      7,
      12,
      999,
      1000,
      1001,
      12_345,
      999_999,
      1_000_000,
      926_232,
      10_004_023,
      123_456_789_012,
      -1,
      -999,
      -1000,
      -1_234_567,
      0.5,
      0.25,
      1.5,
      2.5,
      12.3456,
      1234.5,
      -1234.5,
      0.0004,
      0.0006,
      99.9996,
      1e15,
      2 ** 53,
    ];
    for (const value of values) {
      for (const digits of [0, 1, 3, 6]) {
        expect(formatNumber(value, digits), `${value} with ${digits} digits`).toBe(
          value.toLocaleString('en-US', { maximumFractionDigits: digits }),
        );
      }
      expect(formatNumber(value)).toBe(value.toLocaleString('en-US'));
    }
  });

  it('drops the sign of what rounds to zero, and names the values that are not numbers', () => {
    expect(formatNumber(-0.0001)).toBe('0');
    expect(formatNumber(Number.NaN)).toBe('NaN');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('∞');
    expect(formatNumber(Number.NEGATIVE_INFINITY)).toBe('-∞');
    expect(formatNumber(1e21)).toBe((1e21).toLocaleString('en-US'));
  });
});

describe('compareText', () => {
  it('orders by code unit, the same on every machine', () => {
    expect(['in_transit', 'delivered', 'Zürich', 'pending', 'amsterdam', 'in'].sort(compareText)).toEqual([
      'Zürich',
      'amsterdam',
      'delivered',
      'in',
      'in_transit',
      'pending',
    ]);
    expect(compareText('a', 'a')).toBe(0);
  });
});

describe('formatBytes', () => {
  it('uses binary units with one decimal below ten', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(4.1 * 1024 * 1024)).toBe('4.1 MB');
    expect(formatBytes(210 * 1024 * 1024)).toBe('210 MB');
  });
});
