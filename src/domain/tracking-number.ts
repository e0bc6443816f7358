/**
 * UPU S10 tracking numbers (DOMAIN §3): two service letters, eight serial digits, a check digit
 * and a two-letter country code, e.g. RB123456785GB. Pure: no I/O.
 */

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
