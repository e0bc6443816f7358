/**
 * Tracking numbers (DOMAIN §3). The company issues UPU S10 numbers: two service letters, eight
 * serial digits, a check digit and a two-letter country code, e.g. RB123456785GB. Numbers of
 * partner carriers (UPS, FedEx Express, USPS IMpb) are recognised too. Pure: no I/O.
 */

import { UsageError } from '../errors.js';
import { isPostalCountryCode } from './countries.js';

const s10Weights = [8, 6, 4, 2, 3, 5, 9, 7] as const;

/** The S10 check digit of an eight-digit serial (given as a string of digits). */
export function s10CheckDigit(serial: string): number {
  if (!/^\d{8}$/.test(serial)) throw new RangeError(`an S10 serial is eight digits, got "${serial}"`);
  let sum = 0;
  for (let i = 0; i < 8; i += 1) sum += (serial.charCodeAt(i) - 48) * (s10Weights[i] ?? 0);
  const c = 11 - (sum % 11);
  return c === 10 ? 0 : c === 11 ? 5 : c;
}

/** Builds a valid S10 number from its parts; `serial` is 0 … 99,999,999. */
export function formatS10(service: string, serial: number, country: string): string {
  if (!/^[A-Z]{2}$/.test(service)) throw new RangeError(`S10 service indicator is two capital letters, got "${service}"`);
  if (!/^[A-Z]{2}$/.test(country)) throw new RangeError(`S10 country code is two capital letters, got "${country}"`);
  if (!Number.isInteger(serial) || serial < 0 || serial > 99_999_999) throw new RangeError(`S10 serial out of range: ${serial}`);
  const digits = String(serial).padStart(8, '0');
  return `${service}${digits}${s10CheckDigit(digits)}${country}`;
}

/** True when `value` is a well-formed S10 number whose check digit is right. */
export function isValidS10(value: string): boolean {
  const match = /^[A-Z]{2}(\d{8})(\d)[A-Z]{2}$/.exec(value);
  if (!match?.[1] || !match[2]) return false;
  return s10CheckDigit(match[1]) === Number(match[2]);
}

/** The check digit of the 15 characters between "1Z" and the check digit of a UPS number. */
export function upsCheckDigit(payload: string): number {
  if (!/^[A-Z0-9]{15}$/.test(payload)) throw new RangeError(`a UPS payload is 15 capital letters or digits, got "${payload}"`);
  return upsCheck(payload);
}

/** The check digit of the first eleven digits of a FedEx Express number. */
export function fedexExpressCheckDigit(first11: string): number {
  if (!/^\d{11}$/.test(first11)) throw new RangeError(`a FedEx Express payload is eleven digits, got "${first11}"`);
  return fedexCheck(first11);
}

/** The GS1 mod-10 check digit of a USPS IMpb payload (the 19 to 21 digits before the check digit). */
export function uspsImpbCheckDigit(payload: string): number {
  if (!/^\d{19,21}$/.test(payload)) throw new RangeError(`a USPS IMpb payload is 19 to 21 digits, got "${payload}"`);
  return gs1Check(payload);
}

// The unchecked versions below run on input parseTrackingNumber has already reduced to [A-Z0-9].

function s10Check(serial: string): number {
  let sum = 0;
  for (let i = 0; i < 8; i += 1) sum += (serial.charCodeAt(i) - 48) * (s10Weights[i] ?? 0);
  const c = 11 - (sum % 11);
  return c === 10 ? 0 : c === 11 ? 5 : c;
}

function upsCheck(payload: string): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i += 1) {
    const code = payload.charCodeAt(i);
    const value = isDigitCode(code) ? code - 48 : (code - 3) % 10;
    sum += i % 2 === 1 ? value * 2 : value;
  }
  return (10 - (sum % 10)) % 10;
}

const fedexWeights = [3, 1, 7] as const;

function fedexCheck(first11: string): number {
  let sum = 0;
  for (let i = 0; i < 11; i += 1) sum += (first11.charCodeAt(i) - 48) * (fedexWeights[i % 3] ?? 0);
  return (sum % 11) % 10;
}

function gs1Check(payload: string): number {
  let sum = 0;
  for (let i = payload.length - 1, weight = 3; i >= 0; i -= 1, weight = 4 - weight) sum += (payload.charCodeAt(i) - 48) * weight;
  return (10 - (sum % 10)) % 10;
}

export type TrackingFormat = 's10' | 'ups' | 'fedex_express' | 'usps_impb';

export const trackingFormats: readonly TrackingFormat[] = ['s10', 'ups', 'fedex_express', 'usps_impb'];

/** The carrier behind each format, as shown to people. */
export const trackingCarriers: Readonly<Record<TrackingFormat, string>> = {
  s10: 'UPU S10 (postal)',
  ups: 'UPS',
  fedex_express: 'FedEx Express',
  usps_impb: 'USPS',
};

const formatDescriptions: Readonly<Record<TrackingFormat, string>> = {
  s10: 'UPU S10: two service letters, eight serial digits, a check digit and a two-letter country code (e.g. RB123456785GB)',
  ups: 'UPS: "1Z", fifteen letters or digits and a check digit, 18 characters (e.g. 1Z999AA10123456784)',
  fedex_express: 'FedEx Express: twelve digits, the last a check digit',
  usps_impb: 'USPS IMpb: 20 to 22 digits, the last a GS1 mod-10 check digit',
};

/** One line for people: what numbers of `format` look like. */
export function describeFormat(format: TrackingFormat): string {
  return formatDescriptions[format];
}

export type ParseErrorCode = 'empty' | 'too_long' | 'bad_characters' | 'check_digit' | 'length' | 'unknown_format' | 'country';

export type ParseResult =
  | { ok: true; number: string; format: TrackingFormat; carrier: string }
  | {
      ok: false;
      /** The normalised input for display: at most 40 characters, printable ASCII, anything else as U+XXXX. */
      input: string;
      /** A complete, human message, e.g. "RB123456784GB: check digit is 4, expected 5". */
      reason: string;
      code: ParseErrorCode;
      /** Valid numbers one character away, most plausible first (at most five). */
      didYouMean?: string[];
    };

/** Longer input (after trimming) is rejected without being looked at further. */
const maxRawLength = 64;
/** The longest format, USPS IMpb. */
const maxNumberLength = 22;
const maxDisplayLength = 40;
const maxSuggestions = 5;

/**
 * Forgiving input: trims, drops spaces (any Unicode space separator), dashes, dots and
 * underscores and upper-cases a–z. Everything else is kept for parseTrackingNumber to judge.
 * Never throws; linear in the length of `raw`.
 */
export function normalizeTrackingInput(raw: string): string {
  return normalizeTrimmed(raw.trim());
}

function normalizeTrimmed(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (isSeparatorCode(code)) continue;
    out += code >= 97 && code <= 122 ? String.fromCharCode(code - 32) : text.charAt(i);
  }
  return out;
}

function isSeparatorCode(code: number): boolean {
  switch (code) {
    case 0x20: // space
    case 0x2d: // hyphen-minus
    case 0x2e: // full stop
    case 0x5f: // low line
    case 0xa0: // no-break space
    case 0x1680:
    case 0x202f:
    case 0x205f:
    case 0x2212: // minus sign
    case 0x3000:
      return true;
    default:
      // U+2000–U+200A are spaces, U+2010–U+2015 hyphens and dashes.
      return (code >= 0x2000 && code <= 0x200a) || (code >= 0x2010 && code <= 0x2015);
  }
}

/** True when `raw` (as a person would type it) is a valid tracking number of a known format. */
export function isValidTrackingNumber(raw: string): boolean {
  return parseTrackingNumber(raw).ok;
}

/**
 * Reads a tracking number as typed by a person: normalises it, recognises the format and checks
 * the check digit. Never throws; the work is bounded however long or strange the input.
 */
export function parseTrackingNumber(raw: string): ParseResult {
  const trimmed = raw.trim();
  if (trimmed.length > maxRawLength) {
    // Only a prefix is normalised, for display.
    let prefix = trimmed.slice(0, maxRawLength);
    if (isHighSurrogate(prefix.charCodeAt(prefix.length - 1))) prefix = prefix.slice(0, -1);
    return failure(
      'too_long',
      displayText(normalizeTrimmed(prefix), true),
      `input is ${trimmed.length} characters long; tracking numbers have at most ${maxNumberLength} characters`,
    );
  }
  const number = normalizeTrimmed(trimmed);
  const display = displayText(number, false);
  if (number.length === 0) {
    const reason =
      trimmed.length === 0 ? 'no tracking number given' : 'no tracking number given, only spaces, dashes, dots or underscores';
    return failure('empty', display, reason);
  }
  const bad = firstBadCharacter(number);
  if (bad !== undefined) {
    return failure(
      'bad_characters',
      display,
      `${display}: character ${bad.position} is ${bad.name}; tracking numbers contain only letters A-Z and digits 0-9`,
    );
  }
  if (number.length > maxNumberLength) {
    return failure(
      'too_long',
      display,
      `${display}: ${number.length} characters; the longest tracking numbers (USPS IMpb) have ${maxNumberLength}`,
    );
  }
  return classify(number, true);
}

/** `number` is 1 … 22 characters of [A-Z0-9]. */
function classify(number: string, suggest: boolean): ParseResult {
  const n = number.length;
  if (n === 13 && isS10Shape(number)) {
    const country = number.slice(11);
    if (!isPostalCountryCode(country)) {
      return failure(
        'country',
        number,
        `${number}: ${country} is not a country code (ISO 3166-1 alpha-2), so no post issues this number`,
      );
    }
    return checked(number, 's10');
  }
  if (n >= 2 && number.charCodeAt(0) === 0x31 && number.charCodeAt(1) === 0x5a) {
    if (n === 18) return checked(number, 'ups');
    return failure(
      'length',
      number,
      `${number}: looks like a UPS number but has ${n} characters; UPS numbers have 18: "1Z", fifteen letters or digits and a check digit`,
    );
  }
  if (allDigits(number, 0, n)) {
    if (n === 12) return checked(number, 'fedex_express');
    if (n >= 20 && n <= 22) return checked(number, 'usps_impb');
    return failure(
      'length',
      number,
      `${number}: ${n} digits; FedEx Express numbers have 12 digits and USPS IMpb numbers 20 to 22`,
    );
  }
  if (n >= 5 && allLetters(number, 0, 2) && allDigits(number, 2, n - 2) && allLetters(number, n - 2, n)) {
    return failure(
      'length',
      number,
      `${number}: looks like a UPU S10 number but has ${n} characters; S10 numbers have 13: two letters, nine digits, two letters`,
    );
  }
  const result = failure(
    'unknown_format',
    number,
    `${number}: not a known tracking number format; accepted are UPU S10 (RB123456785GB), UPS (1Z and 16 letters or digits), FedEx Express (12 digits) and USPS IMpb (20 to 22 digits)`,
  );
  if (suggest) {
    const suggestions = lookalikeFixes(number);
    if (suggestions.length > 0) result.didYouMean = suggestions;
  }
  return result;
}

interface FormatRule {
  /** Index of the check character. */
  checkAt: number;
  /** Indexes of the payload a single-digit fix may change. */
  from: number;
  to: number;
  compute: (number: string) => number;
  label: string;
}

const rules: Readonly<Record<TrackingFormat, FormatRule>> = {
  s10: { checkAt: 10, from: 2, to: 10, compute: (s) => s10Check(s.slice(2, 10)), label: '' },
  ups: { checkAt: 17, from: 2, to: 17, compute: (s) => upsCheck(s.slice(2, 17)), label: 'UPS number ' },
  fedex_express: { checkAt: 11, from: 0, to: 11, compute: (s) => fedexCheck(s), label: 'FedEx Express number ' },
  usps_impb: { checkAt: -1, from: 0, to: -1, compute: (s) => gs1Check(s.slice(0, -1)), label: 'USPS IMpb number ' },
};

function checked(number: string, format: TrackingFormat): ParseResult {
  const rule = rules[format];
  const checkAt = rule.checkAt < 0 ? number.length + rule.checkAt : rule.checkAt;
  const expected = rule.compute(number);
  const given = number.charAt(checkAt);
  if (given === String(expected)) return { ok: true, number, format, carrier: trackingCarriers[format] };
  const result = failure('check_digit', number, `${rule.label}${number}: check digit is ${given}, expected ${expected}`);
  result.didYouMean = checkDigitFixes(number, format, checkAt, expected);
  return result;
}

/**
 * The number with its check digit corrected, then single-digit changes to the payload that make
 * the given check digit right, smallest change of value first (a neighbouring key, a misread
 * digit), then left to right.
 */
function checkDigitFixes(number: string, format: TrackingFormat, checkAt: number, expected: number): string[] {
  const rule = rules[format];
  const fixes = [replaceAt(number, checkAt, String(expected))];
  const given = number.charCodeAt(checkAt);
  if (!isDigitCode(given)) return fixes;
  const to = rule.to < 0 ? number.length + rule.to : rule.to;
  const found: { candidate: string; distance: number; position: number }[] = [];
  for (let position = rule.from; position < to; position += 1) {
    const current = number.charCodeAt(position);
    if (!isDigitCode(current)) continue;
    for (let digit = 48; digit <= 57; digit += 1) {
      if (digit === current) continue;
      const candidate = replaceAt(number, position, String.fromCharCode(digit));
      if (rule.compute(candidate) === given - 48) found.push({ candidate, distance: Math.abs(digit - current), position });
    }
  }
  found.sort((a, b) => a.distance - b.distance || a.position - b.position);
  for (const { candidate } of found.slice(0, maxSuggestions - 1)) fixes.push(candidate);
  return fixes;
}

/** Letters commonly typed or read for digits. */
const lookalikeDigits: Readonly<Record<string, string>> = {
  O: '0',
  Q: '0',
  D: '0',
  I: '1',
  L: '1',
  Z: '2',
  S: '5',
  G: '6',
  B: '8',
};

function lookalikeFixes(number: string): string[] {
  const fixes: string[] = [];
  for (let i = 0; i < number.length && fixes.length < maxSuggestions; i += 1) {
    const digit = lookalikeDigits[number.charAt(i)];
    if (digit === undefined) continue;
    const candidate = replaceAt(number, i, digit);
    if (classify(candidate, false).ok) fixes.push(candidate);
  }
  return fixes;
}

function failure(code: ParseErrorCode, input: string, reason: string): Extract<ParseResult, { ok: false }> {
  return { ok: false, input, reason, code };
}

function replaceAt(text: string, index: number, replacement: string): string {
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
}

function isS10Shape(s: string): boolean {
  return allLetters(s, 0, 2) && allDigits(s, 2, 11) && allLetters(s, 11, 13);
}

function allDigits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i += 1) if (!isDigitCode(s.charCodeAt(i))) return false;
  return true;
}

function allLetters(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i += 1) if (!isLetterCode(s.charCodeAt(i))) return false;
  return true;
}

function isDigitCode(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isLetterCode(code: number): boolean {
  return code >= 65 && code <= 90;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** The first character (by code point, counted from 1) that is not A–Z or 0–9. */
function firstBadCharacter(s: string): { position: number; name: string } | undefined {
  let position = 0;
  for (const char of s) {
    position += 1;
    const code = char.charCodeAt(0);
    if (isDigitCode(code) || isLetterCode(code)) continue;
    const printable = displayToken(char);
    return { position, name: printable === char ? (char === '"' ? `'"'` : `"${char}"`) : printable };
  }
  return undefined;
}

/** Printable ASCII as itself; anything else (controls, bidi marks, non-ASCII) as U+XXXX. */
function displayToken(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  if (code >= 0x21 && code <= 0x7e) return char;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** At most 40 characters, ending in "…" when cut; a U+XXXX token is never split. */
function displayText(s: string, cut: boolean): string {
  const tokens: string[] = [];
  let length = 0;
  for (const char of s) {
    const token = displayToken(char);
    tokens.push(token);
    length += token.length;
    if (length > maxDisplayLength) break;
  }
  if (!cut && length <= maxDisplayLength) return tokens.join('');
  let out = '';
  for (const token of tokens) {
    if (out.length + token.length > maxDisplayLength - 1) break;
    out += token;
  }
  return `${out}…`;
}

type ParseFailure = Extract<ParseResult, { ok: false }>;

function usageErrorFor(parsed: ParseFailure): UsageError {
  const hint =
    parsed.didYouMean !== undefined && parsed.didYouMean.length > 0
      ? `did you mean ${parsed.didYouMean.slice(0, 3).join(' or ')}?`
      : undefined;
  return new UsageError(parsed.reason, { hint, details: { input: parsed.input, reason: parsed.code } });
}

/**
 * Tracking numbers as people type them, normalised, or a UsageError with the exact reason. Words
 * are joined when together they make one number, so both `N1 N2` and `rb 1234 5678 5us` work;
 * when nothing fits, the most specific complaint (a wrong check digit) is reported.
 */
export function parseTrackingNumbers(words: readonly string[]): string[] {
  const numbers: string[] = [];
  let i = 0;
  while (i < words.length) {
    let taken = 0;
    let specific: ParseFailure | undefined;
    for (let j = Math.min(words.length, i + 6); j > i; j -= 1) {
      const parsed = parseTrackingNumber(words.slice(i, j).join(''));
      if (parsed.ok) {
        numbers.push(parsed.number);
        taken = j - i;
        break;
      }
      if (parsed.code === 'check_digit' && specific === undefined) specific = parsed;
    }
    if (taken === 0) {
      // j = i + 1 was tried above, so the word alone is not a number either.
      const alone = parseTrackingNumber(words[i] ?? '');
      if (!alone.ok) throw usageErrorFor(specific ?? alone);
      numbers.push(alone.number);
      taken = 1;
    }
    i += taken;
  }
  return numbers;
}

/** The carrier whose number this is, when it is a partner carrier's (not ours to find). */
export function partnerCarrierOf(trackingNumber: string): string | null {
  const parsed = parseTrackingNumber(trackingNumber);
  return parsed.ok && parsed.format !== 's10' ? parsed.carrier : null;
}
