/**
 * A fast, seeded pseudo-random generator for the seed data. Pure: no I/O, no clock, no
 * Math.random(). Every row draws from its own stream, derived by hashing (seed, table, row index),
 * so a row does not depend on the rows generated before it: generation can start anywhere and run
 * in any order or batch size.
 */

/** Stream (table) ids: each table draws from its own family of streams. */
export const streamIds = { customer: 1, location: 2, package: 3, rawScan: 4, partner: 5 } as const;

const twoTo32 = 4_294_967_296;

/** A bijective 32-bit integer mix ("lowbias32", Chris Wellons' hash prospector). */
export function mix32(value: number): number {
  let x = value | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** The key of one table's family of streams under one seed. */
export interface StreamKey {
  readonly k0: number;
  readonly k1: number;
}

/** Derives the stream key of `table` under `seed` (any safe integer, negative included). */
export function streamKey(seed: number, table: number): StreamKey {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / twoTo32) | 0;
  const k0 = mix32(lo ^ mix32(Math.imul(table, 0x9e3779b9) ^ mix32(hi + 0x632be5ab)));
  const k1 = mix32(k0 ^ Math.imul(table + 1, 0x85ebca6b) ^ hi);
  return { k0, k1 };
}

/** A one-shot hash of (key, value) to an unsigned 32-bit integer: bijective in `value`. */
export function hash32(key: StreamKey, value: number): number {
  return mix32(mix32(key.k1 ^ value) + key.k0);
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * xoshiro128** (Blackman & Vigna) over a 128-bit state. One instance is reused for many rows:
 * `reset(key, index)` puts it at the start of row `index`'s stream. The first state word is a
 * bijection of the index, so no two rows of a table share a state.
 */
export class Rng {
  private s0 = 1;
  private s1 = 2;
  private s2 = 3;
  private s3 = 4;

  /** Starts the stream of row `index` (0 … 2³² − 1) of the table keyed by `key`. */
  reset(key: StreamKey, index: number): this {
    const a = mix32(key.k0 ^ index);
    const b = mix32(a + key.k1);
    const c = mix32(b ^ 0x5bd1e995);
    const d = mix32(c + 0x27d4eb2f);
    this.s0 = a | 0;
    this.s1 = b | 0;
    this.s2 = c | 0;
    this.s3 = d | 1 | 0;
    return this;
  }

  /** The next unsigned 32-bit integer. */
  nextUint32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2 ^ s0;
    const s3 = this.s3 ^ s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    this.s1 = s1 ^ s2;
    this.s0 = s0 ^ s3;
    this.s2 = s2 ^ (s1 << 9);
    this.s3 = rotl(s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextUint32() / twoTo32;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [min, max], both included. */
  intBetween(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** An index drawn with the weights whose running totals are `cumulative` (see `cumulativeWeights`). */
  weighted(cumulative: Float64Array): number {
    const target = this.float() * (cumulative[cumulative.length - 1] ?? 0);
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] ?? 0) > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Standard normal (Box–Muller; one value per call keeps every draw a function of the row). */
  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and log-space standard deviation. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
}

/** Running totals of `weights`, for `Rng.weighted`. */
export function cumulativeWeights(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let total = 0;
  weights.forEach((w, i) => {
    if (!(w >= 0)) throw new RangeError(`weights must be non-negative, got ${w}`);
    total += w;
    out[i] = total;
  });
  return out;
}
