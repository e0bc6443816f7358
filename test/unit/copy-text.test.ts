import { describe, expect, it } from 'vitest';
import { CopyWriter } from '../../src/services/seed-encoding.js';
import { copyText } from '../../src/store/copy.js';

describe('COPY text encoding', () => {
  it('writes integers, text with escapes, \\N and line ends as bytes, growing its buffer', () => {
    const writer = new CopyWriter(4);
    writer.int(0).tab().int(1_234_567_890_123).tab().text('tab\there').tab().raw('\\N').tab().text('Zoë ✓').end();
    expect(new TextDecoder().decode(writer.take())).toBe('0\t1234567890123\ttab\\there\t\\N\tZoë ✓\n');
  });

  it('escapes backslash, tab, newline and carriage return, and writes null as \\N', () => {
    expect(copyText('plain')).toBe('plain');
    expect(copyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyText(null)).toBe('\\N');
  });

  it('formats timestamps as UTC with milliseconds, agreeing with toISOString', () => {
    const samples = [
      0,
      1,
      999,
      86_399_999,
      1_700_000_000_123,
      Date.UTC(2026, 10, 1, 23, 59, 59, 7),
      Date.UTC(2024, 1, 29, 12, 0, 0, 500),
    ];
    for (const ms of samples) {
      const date = new Date(ms);
      const iso = date.toISOString();
      const text = new TextDecoder().decode(new CopyWriter(8).timestamp(date).take());
      expect(text).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 23)}+00`);
    }
  });
});
