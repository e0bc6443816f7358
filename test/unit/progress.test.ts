import { describe, expect, it } from 'vitest';
import { formatRate, RateWindow } from '../../src/cli/progress.js';

describe('progress rates', () => {
  it('is the rate of the last few seconds, not since the first update', () => {
    const window = new RateWindow();
    // A burst at the start (a phase's first update came after a slow first chunk) …
    window.add(0, 0);
    window.add(100, 0);
    expect(window.perSecond()).toBeUndefined(); // not yet a quarter of a second of samples
    // … then a steady 1,000 rows per second for ten seconds.
    for (let t = 1000; t <= 11_000; t += 500) window.add(t, t - 1000);
    expect(window.perSecond()).toBeCloseTo(1000, 0);
  });

  it('writes rates short enough for an 80-column bar', () => {
    expect(formatRate(undefined, 'rows')).toBe('');
    expect(formatRate(950.4, 'scans')).toBe('950 scans/s');
    expect(formatRate(188_537_000, 'rows')).toBe('188,537k rows/s');
    expect(formatRate(12_345, 'rows')).toBe('12k rows/s');
  });
});
