import { describe, expect, it } from 'vitest';
import {
  describeFormat,
  fedexExpressCheckDigit,
  formatS10,
  isValidS10,
  isValidTrackingNumber,
  normalizeTrackingInput,
  parseTrackingNumber,
  s10CheckDigit,
  trackingFormats,
  upsCheckDigit,
  uspsImpbCheckDigit,
  type ParseResult,
  type TrackingFormat,
} from '../../src/domain/tracking-number.js';

// Independent check-digit computations, written from DOMAIN §3 (and the carriers' usual
// formulations) rather than from the module under test.

function s10Check(serial: string): number {
  const weights = [8, 6, 4, 2, 3, 5, 9, 7];
  const sum = [...serial].reduce((acc, d, i) => acc + Number(d) * (weights[i] as number), 0);
  const c = 11 - (sum % 11);
  return c === 10 ? 0 : c === 11 ? 5 : c;
}

/** UPS: A=2 B=3 … I=0 J=1 …, i.e. (ASCII − 3) mod 10, written out as a table. */
const upsLetterValues: Record<string, number> = Object.fromEntries(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'].map((letter, i) => [letter, Number('23456789012345678901234567'[i])]),
);
function upsCheck(payload15: string): number {
  let even = 0;
  let odd = 0;
  [...payload15].forEach((ch, i) => {
    const value = /\d/.test(ch) ? Number(ch) : (upsLetterValues[ch] as number);
    if (i % 2 === 0) even += value;
    else odd += value;
  });
  return (10 - ((even + 2 * odd) % 10)) % 10;
}

/** FedEx Express, as usually stated: weights 1, 3, 7 repeating from the right of the first eleven digits. */
function fedexCheck(first11: string): number {
  const weights = [1, 3, 7];
  const sum = [...first11].reverse().reduce((acc, d, i) => acc + Number(d) * (weights[i % 3] as number), 0);
  return (sum % 11) % 10;
}

/** GS1 mod 10: weights 3, 1, 3, … from the rightmost digit of the payload. */
function gs1Check(payload: string): number {
  const sum = [...payload].reverse().reduce((acc, d, i) => acc + Number(d) * (i % 2 === 0 ? 3 : 1), 0);
  return (10 - (sum % 10)) % 10;
}

/** Whether `number` is valid by the independent computations above. */
function independentlyValid(number: string): boolean {
  if (/^[A-Z]{2}\d{9}[A-Z]{2}$/.test(number)) return s10Check(number.slice(2, 10)) === Number(number[10]);
  if (/^1Z[A-Z0-9]{15}\d$/.test(number)) return upsCheck(number.slice(2, 17)) === Number(number[17]);
  if (/^\d{12}$/.test(number)) return fedexCheck(number.slice(0, 11)) === Number(number[11]);
  if (/^\d{20,22}$/.test(number)) return gs1Check(number.slice(0, -1)) === Number(number.at(-1));
  return false;
}

/** A small deterministic generator, so that failures reproduce. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}
const random = lcg(20261124);
const pick = (alphabet: string, n: number): string =>
  Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
const digits = '0123456789';
const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Countries written out here, not taken from the code under test. */
const someCountries = ['GB', 'US', 'DE', 'FR', 'CN', 'JP', 'BR', 'IN', 'ZA', 'AU', 'NZ', 'CH', 'SE', 'AC', 'XK'];
function makeS10(): string {
  const serial = pick(digits, 8);
  const country = someCountries[Math.floor(random() * someCountries.length)] ?? 'GB';
  return `${pick(letters, 2)}${serial}${s10Check(serial)}${country}`;
}
function makeUps(): string {
  const payload = pick(digits + letters, 15);
  return `1Z${payload}${upsCheck(payload)}`;
}
function makeFedex(): string {
  const first11 = pick(digits, 11);
  return `${first11}${fedexCheck(first11)}`;
}
function makeUsps(length: 20 | 21 | 22): string {
  const payload = `9${pick(digits, length - 2)}`;
  return `${payload}${gs1Check(payload)}`;
}

const makers: Record<TrackingFormat, () => string> = {
  s10: makeS10,
  ups: makeUps,
  fedex_express: makeFedex,
  usps_impb: () => makeUsps(([20, 21, 22] as const)[Math.floor(random() * 3)] ?? 22),
};
const carriers: Record<TrackingFormat, string> = {
  s10: 'UPU S10 (postal)',
  ups: 'UPS',
  fedex_express: 'FedEx Express',
  usps_impb: 'USPS',
};

type Failure = Extract<ParseResult, { ok: false }>;
function failureOf(raw: string): Failure {
  const result = parseTrackingNumber(raw);
  if (result.ok) throw new Error(`expected ${JSON.stringify(raw)} to be rejected, got ${result.number}`);
  return result;
}

/** The check character replaced by another digit. */
function withWrongCheck(number: string, checkAt: number): { wrong: string; given: number; expected: number } {
  const expected = Number(number[checkAt]);
  const given = (expected + 1 + Math.floor(random() * 9)) % 10;
  return { wrong: `${number.slice(0, checkAt)}${given}${number.slice(checkAt + 1)}`, given, expected };
}

function differingCharacters(a: string, b: string): number {
  let count = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) count += 1;
  return count;
}

const printableDisplay = /^[\x21-\x7e]{0,40}$|^[\x21-\x7e]{0,39}…$/;

describe('the S10 helpers that other code relies on', () => {
  it('keep their behaviour', () => {
    expect(s10CheckDigit('12345678')).toBe(5);
    expect(formatS10('RB', 12_345_678, 'GB')).toBe('RB123456785GB');
    expect(isValidS10('RB123456785GB')).toBe(true);
    expect(isValidS10('RB123456784GB')).toBe(false);
    expect(() => s10CheckDigit('1234567')).toThrow(RangeError);
  });
});

describe('normalizeTrackingInput', () => {
  it.each([
    ['rb 1234 5678 5us', 'RB123456785US'],
    ['  RB-1234.5678_5US\n', 'RB123456785US'],
    ['rb\u00a01234\u20135678\u20145us', 'RB123456785US'],
    ['1z 999 aa1 0123 4567 84', '1Z999AA10123456784'],
    ['', ''],
    ['  \t ', ''],
    ['- . _', ''],
  ])('%j → %j', (raw, normalised) => {
    expect(normalizeTrackingInput(raw)).toBe(normalised);
  });

  it('keeps what it cannot normalise for the parser to judge, and never throws', () => {
    expect(normalizeTrackingInput('RB\u202E123')).toBe('RB\u202E123');
    expect(normalizeTrackingInput('a\u0000b\u0007c')).toBe('A\u0000B\u0007C');
    expect(normalizeTrackingInput('\ud800x')).toBe('\ud800X');
    expect(normalizeTrackingInput('ä')).toBe('ä');
    expect(normalizeTrackingInput('x'.repeat(10_240))).toBe('X'.repeat(10_240));
  });
});

describe('parseTrackingNumber: S10 country codes', () => {
  it.each(['XX', 'KA', 'LL', 'UK', 'EU', 'ZZ'])('refuses %s, which no country (and no post) has', (code) => {
    const failure = parseTrackingNumber(`RB123456785${code}`);
    expect(failure).toMatchObject({ ok: false, code: 'country' });
    expect(failure.ok ? '' : failure.reason).toBe(
      `RB123456785${code}: ${code} is not a country code (ISO 3166-1 alpha-2), so no post issues this number`,
    );
  });

  it('accepts every assigned ISO 3166-1 code and the postal extras', () => {
    for (const code of ['AD', 'AX', 'BQ', 'CW', 'GG', 'SS', 'SX', 'TL', 'ZW', 'TA', 'AC', 'XK']) {
      expect(parseTrackingNumber(`RB123456785${code}`).ok, code).toBe(true);
    }
  });
});

describe('parseTrackingNumber: valid numbers', () => {
  it('accepts published examples', () => {
    expect(parseTrackingNumber('RB123456785GB')).toEqual({
      ok: true,
      number: 'RB123456785GB',
      format: 's10',
      carrier: 'UPU S10 (postal)',
    });
    expect(parseTrackingNumber('1Z999AA10123456784')).toEqual({
      ok: true,
      number: '1Z999AA10123456784',
      format: 'ups',
      carrier: 'UPS',
    });
  });

  it('accepts the forgiving spelling from the issue', () => {
    expect(parseTrackingNumber('rb 1234 5678 5us')).toMatchObject({ ok: true, number: 'RB123456785US', format: 's10' });
    expect(parseTrackingNumber('1z-999-aa1-0123-4567-84')).toMatchObject({ ok: true, number: '1Z999AA10123456784' });
  });

  it.each(trackingFormats)('accepts independently computed %s numbers, spaced or not', (format) => {
    for (let i = 0; i < 300; i += 1) {
      const number = makers[format]();
      expect(parseTrackingNumber(number), number).toEqual({ ok: true, number, format, carrier: carriers[format] });
      const spaced = number.toLowerCase().replace(/(.{4})/g, '$1 ');
      expect(parseTrackingNumber(spaced), spaced).toMatchObject({ ok: true, number });
      expect(isValidTrackingNumber(spaced)).toBe(true);
    }
  });

  it('maps S10 remainders 1 and 0 to check digits 0 and 5', () => {
    const serialFor = (want: number): string => {
      for (let n = 0; ; n += 1) {
        const serial = String(n).padStart(8, '0');
        const sum = [...serial].reduce((acc, d, i) => acc + Number(d) * ([8, 6, 4, 2, 3, 5, 9, 7][i] as number), 0);
        if (sum % 11 === want) return serial;
      }
    };
    const ten = serialFor(1); // 11 − 1 = 10 → 0
    const eleven = serialFor(0); // 11 − 0 = 11 → 5
    expect(parseTrackingNumber(`RR${ten}0US`).ok).toBe(true);
    expect(parseTrackingNumber(`RR${eleven}5US`).ok).toBe(true);
  });

  it('accepts USPS IMpb numbers of 20, 21 and 22 digits', () => {
    for (const length of [20, 21, 22] as const) {
      const number = makeUsps(length);
      expect(parseTrackingNumber(number)).toMatchObject({ ok: true, format: 'usps_impb', carrier: 'USPS' });
    }
  });

  it('exports check-digit functions that agree with the independent ones', () => {
    for (let i = 0; i < 200; i += 1) {
      const ups = pick(digits + letters, 15);
      expect(upsCheckDigit(ups)).toBe(upsCheck(ups));
      const fedex = pick(digits, 11);
      expect(fedexExpressCheckDigit(fedex)).toBe(fedexCheck(fedex));
      const usps = pick(digits, 21);
      expect(uspsImpbCheckDigit(usps)).toBe(gs1Check(usps));
    }
    expect(() => upsCheckDigit('abc')).toThrow(RangeError);
    expect(() => fedexExpressCheckDigit('1234567890')).toThrow(RangeError);
    expect(() => uspsImpbCheckDigit('12')).toThrow(RangeError);
  });
});

describe('parseTrackingNumber: precise errors', () => {
  it('empty', () => {
    expect(parseTrackingNumber('')).toEqual({ ok: false, input: '', reason: 'no tracking number given', code: 'empty' });
    expect(parseTrackingNumber(' \t\n ')).toEqual({ ok: false, input: '', reason: 'no tracking number given', code: 'empty' });
    expect(parseTrackingNumber(' - . _ ')).toEqual({
      ok: false,
      input: '',
      reason: 'no tracking number given, only spaces, dashes, dots or underscores',
      code: 'empty',
    });
    expect(isValidTrackingNumber('')).toBe(false);
  });

  it('too long: a 10 KB input is rejected with a short, printable display', () => {
    const failure = failureOf('a'.repeat(10_240));
    expect(failure).toEqual({
      ok: false,
      input: `${'A'.repeat(39)}…`,
      reason: 'input is 10240 characters long; tracking numbers have at most 22 characters',
      code: 'too_long',
    });
    expect(failureOf(`RB\u202E${'\u0000'.repeat(10_000)}`)).toMatchObject({
      code: 'too_long',
      input: 'RBU+202EU+0000U+0000U+0000U+0000U+0000…',
    });
  });

  it('too long: more characters than any format after normalising', () => {
    expect(failureOf('1234 5678 9012 3456 7890 1234')).toEqual({
      ok: false,
      input: '123456789012345678901234',
      reason: '123456789012345678901234: 24 characters; the longest tracking numbers (USPS IMpb) have 22',
      code: 'too_long',
    });
  });

  it('bad characters: names the first one and its position', () => {
    expect(failureOf('RB1234!5678')).toEqual({
      ok: false,
      input: 'RB1234!5678',
      reason: 'RB1234!5678: character 7 is "!"; tracking numbers contain only letters A-Z and digits 0-9',
      code: 'bad_characters',
    });
    expect(failureOf('ab"c').reason).toBe(`AB"C: character 3 is '"'; tracking numbers contain only letters A-Z and digits 0-9`);
    expect(failureOf('RB123456785ÜS').reason).toBe(
      'RB123456785U+00DCS: character 12 is U+00DC; tracking numbers contain only letters A-Z and digits 0-9',
    );
    // Cyrillic А looks like Latin A; shown by code point, it cannot be mistaken for it.
    expect(failureOf('\u0410B123456785US').input).toBe('U+0410B123456785US');
  });

  it('check digit: S10, with the exact text of DOMAIN §3', () => {
    expect(failureOf('RB123456784GB')).toMatchObject({
      input: 'RB123456784GB',
      reason: 'RB123456784GB: check digit is 4, expected 5',
      code: 'check_digit',
    });
    expect(failureOf('rb 1234 5678 4gb').reason).toBe('RB123456784GB: check digit is 4, expected 5');
  });

  it('check digit: other carriers name themselves', () => {
    expect(failureOf('1Z999AA10123456785')).toMatchObject({
      reason: 'UPS number 1Z999AA10123456785: check digit is 5, expected 4',
      code: 'check_digit',
    });
    expect(failureOf('1Z999AA1012345678X')).toEqual({
      ok: false,
      input: '1Z999AA1012345678X',
      reason: 'UPS number 1Z999AA1012345678X: check digit is X, expected 4',
      code: 'check_digit',
      didYouMean: ['1Z999AA10123456784'],
    });
    const fedex = withWrongCheck(makeFedex(), 11);
    expect(failureOf(fedex.wrong)).toMatchObject({
      input: fedex.wrong,
      reason: `FedEx Express number ${fedex.wrong}: check digit is ${fedex.given}, expected ${fedex.expected}`,
      code: 'check_digit',
    });
    const usps = withWrongCheck(makeUsps(22), 21);
    expect(failureOf(usps.wrong)).toMatchObject({
      reason: `USPS IMpb number ${usps.wrong}: check digit is ${usps.given}, expected ${usps.expected}`,
      code: 'check_digit',
    });
  });

  it('length: S10-like, UPS-like and digits-only', () => {
    expect(failureOf('RB12345678US')).toEqual({
      ok: false,
      input: 'RB12345678US',
      reason:
        'RB12345678US: looks like a UPU S10 number but has 12 characters; S10 numbers have 13: two letters, nine digits, two letters',
      code: 'length',
    });
    expect(failureOf('rb 1234 5678 51 us').reason).toBe(
      'RB1234567851US: looks like a UPU S10 number but has 14 characters; S10 numbers have 13: two letters, nine digits, two letters',
    );
    expect(failureOf('1Z999AA1012345678').reason).toBe(
      '1Z999AA1012345678: looks like a UPS number but has 17 characters; UPS numbers have 18: "1Z", fifteen letters or digits and a check digit',
    );
    expect(failureOf('1234567890123')).toMatchObject({
      reason: '1234567890123: 13 digits; FedEx Express numbers have 12 digits and USPS IMpb numbers 20 to 22',
      code: 'length',
    });
  });

  it('unknown format: lists what is accepted', () => {
    expect(failureOf('hello world')).toEqual({
      ok: false,
      input: 'HELLOWORLD',
      reason:
        'HELLOWORLD: not a known tracking number format; accepted are UPU S10 (RB123456785GB), UPS (1Z and 16 letters or digits), FedEx Express (12 digits) and USPS IMpb (20 to 22 digits)',
      code: 'unknown_format',
    });
  });
});

describe('did you mean', () => {
  it('S10: the corrected check digit first, then one-digit changes to the serial that fit the given check digit', () => {
    // Worked by hand: serial 12345678 sums to 204 (≡ 6 mod 11); check digit 4 needs ≡ 7, i.e. one
    // more. Position weights 8, 6, 4, 3, 5, 9, 7 give changes +7, +2, +3, +4, −2, −6, −3 (weight 2
    // would need +6 or −5 on a 4: out of range). Smallest change first, then left to right.
    expect(failureOf('RB123456784GB').didYouMean).toEqual([
      'RB123456785GB',
      'RB143456784GB',
      'RB123454784GB',
      'RB126456784GB',
      'RB123456754GB',
    ]);
  });

  it.each([
    ['s10', 10, 2, 10],
    ['ups', 17, 2, 17],
    ['fedex_express', 11, 0, 11],
    ['usps_impb', -1, 0, -1],
  ] as const)('%s: every suggestion is valid and one character away', (format, checkIndex, from, to) => {
    for (let round = 0; round < 100; round += 1) {
      const valid = makers[format]();
      const checkAt = checkIndex < 0 ? valid.length + checkIndex : checkIndex;
      const { wrong, given } = withWrongCheck(valid, checkAt);
      const suggestions = failureOf(wrong).didYouMean ?? [];
      expect(suggestions[0]).toBe(valid);
      expect(suggestions.length).toBeLessThanOrEqual(5);
      expect(new Set(suggestions).size).toBe(suggestions.length);
      // Every single-digit change to the payload that makes the given check digit right.
      const all: string[] = [];
      const end = to < 0 ? wrong.length + to : to;
      for (let i = from; i < end; i += 1) {
        if (!/\d/.test(wrong[i] as string)) continue;
        for (const d of digits) {
          const candidate = `${wrong.slice(0, i)}${d}${wrong.slice(i + 1)}`;
          if (candidate !== wrong && independentlyValid(candidate)) all.push(candidate);
        }
      }
      expect(suggestions.length).toBe(1 + Math.min(4, all.length));
      for (const suggestion of suggestions) {
        expect(independentlyValid(suggestion), suggestion).toBe(true);
        expect(differingCharacters(suggestion, wrong)).toBe(1);
        expect(parseTrackingNumber(suggestion).ok).toBe(true);
      }
      for (const suggestion of suggestions.slice(1)) {
        expect(all).toContain(suggestion);
        expect(suggestion[checkAt]).toBe(String(given));
      }
    }
  });

  it('offers a digit for a letter typed in its place', () => {
    expect(failureOf('RB1234567B5US')).toMatchObject({ code: 'unknown_format', didYouMean: ['RB123456785US'] });
    expect(failureOf('RBI23456785US').didYouMean).toEqual(['RB123456785US']);
    expect(failureOf('hello').didYouMean).toBeUndefined();
  });

  it('is absent where nothing one character away would do', () => {
    expect(failureOf('RB12345678US').didYouMean).toBeUndefined();
    expect(failureOf('').didYouMean).toBeUndefined();
  });
});

describe('hostile and odd input is rejected cleanly', () => {
  it.each([
    ["' OR 1=1 --", "'OR1=1", `'OR1=1: character 1 is "'"; tracking numbers contain only letters A-Z and digits 0-9`],
    ['{"$gt": ""}', '{"$GT":""}', '{"$GT":""}: character 1 is "{"; tracking numbers contain only letters A-Z and digits 0-9'],
    [
      'RB123456785US; DROP TABLE packages',
      'RB123456785US;DROPTABLEPACKAGES',
      'RB123456785US;DROPTABLEPACKAGES: character 14 is ";"; tracking numbers contain only letters A-Z and digits 0-9',
    ],
    [
      'RB\u202E123456785US',
      'RBU+202E123456785US',
      'RBU+202E123456785US: character 3 is U+202E; tracking numbers contain only letters A-Z and digits 0-9',
    ],
    [
      'RB123456785US\u200F',
      'RB123456785USU+200F',
      'RB123456785USU+200F: character 14 is U+200F; tracking numbers contain only letters A-Z and digits 0-9',
    ],
    [
      'RB12\u00003456785US',
      'RB12U+00003456785US',
      'RB12U+00003456785US: character 5 is U+0000; tracking numbers contain only letters A-Z and digits 0-9',
    ],
    [
      'RB1\u001b[31m',
      'RB1U+001B[31M',
      'RB1U+001B[31M: character 4 is U+001B; tracking numbers contain only letters A-Z and digits 0-9',
    ],
    ['RB1\tUS', 'RB1U+0009US', 'RB1U+0009US: character 4 is U+0009; tracking numbers contain only letters A-Z and digits 0-9'],
    ['RB\u200B1', 'RBU+200B1', 'RBU+200B1: character 3 is U+200B; tracking numbers contain only letters A-Z and digits 0-9'],
    ['\ud800RB', 'U+D800RB', 'U+D800RB: character 1 is U+D800; tracking numbers contain only letters A-Z and digits 0-9'],
    ['RB😀1', 'RBU+1F6001', 'RBU+1F6001: character 3 is U+1F600; tracking numbers contain only letters A-Z and digits 0-9'],
  ])('%j', (raw, input, reason) => {
    expect(failureOf(raw)).toEqual({ ok: false, input, reason, code: 'bad_characters' });
    expect(isValidTrackingNumber(raw)).toBe(false);
  });

  it('never throws, and always gives printable display text', () => {
    const odd = [
      '\u0000',
      '\u202E\u202D\u2066\u2069',
      '\ud800',
      '\udfff'.repeat(100),
      '\u0085\u2028\u2029',
      '\u00ad',
      `${'\u0301'.repeat(50)}x`,
      'x'.repeat(10_240),
      `${' '.repeat(5_000)}RB123456785US${' '.repeat(5_000)}`,
      '-'.repeat(10_240),
      '🚚'.repeat(32),
      'RB\u0131',
    ];
    for (const raw of odd) {
      const result = parseTrackingNumber(raw);
      if (!result.ok) {
        expect(result.input, JSON.stringify(raw)).toMatch(printableDisplay);
        expect(result.reason).toMatch(/^[\x20-\x7e…]+$/);
      }
    }
    expect(parseTrackingNumber(`${' '.repeat(5_000)}RB123456785US${' '.repeat(5_000)}`).ok).toBe(true);
    expect(parseTrackingNumber('-'.repeat(10_240)).ok).toBe(false);
  });
});

describe('describeFormat', () => {
  it.each(trackingFormats)('describes %s', (format) => {
    expect(describeFormat(format)).toMatch(/\w/);
  });

  it('names the shape of an S10 number', () => {
    expect(describeFormat('s10')).toContain('RB123456785GB');
  });
});
