import { describe, expect, it } from 'vitest';
import { samplePercent } from '../../src/store/sampling.js';

describe('samplePercent', () => {
  it('reads the whole table when it is small, or when the sample would be a twentieth of it or more', () => {
    expect(samplePercent(49_999, 10)).toBeNull();
    expect(samplePercent(100_000, 5_001)).toBeNull();
  });

  it('asks page sampling for about twice the rows needed', () => {
    expect(samplePercent(1_000_000, 500)).toBeCloseTo(0.1, 10); // 0.1 % of 1M rows = 1,000 rows
    expect(samplePercent(100_000, 5_000)).toBeCloseTo(10, 10);
  });
});
