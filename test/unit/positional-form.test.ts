import fc from 'fast-check';
import pgUtils from 'pg/lib/utils.js';
import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { knex, PgDialect } from '../../src/store/knex-driver.js';
import { positionalForm } from '../../src/store/session.js';

/**
 * A report read over a plain connection (store/statement-source.ts) turns knex's `?` placeholders
 * into pg's `$n` without knex: it must give what knex's `toNative()` and pg's own encoding give.
 */
const builder = knex({ client: PgDialect as unknown as typeof Knex.Client });

function throughKnex(sql: string, bindings: unknown[]): { text: string; values: unknown[] } {
  const native = builder
    .raw(sql, bindings as never)
    .toSQL()
    .toNative();
  return {
    text: native.sql,
    values: (native.bindings as unknown[]).map((binding) => {
      const value = pgUtils.prepareValue(binding) as unknown;
      return Buffer.isBuffer(value) ? `\\x${value.toString('hex')}` : value;
    }),
  };
}

const unit = fc.constantFrom('a', ' ', '=', ':', "'", '(', ')', '$', 'é', '\n');
const text = fc.string({ unit, maxLength: 12 });
// Not empty between two placeholders: `??` is knex's identifier placeholder, which reports never use.
const part = fc.string({ unit, minLength: 1, maxLength: 12 });
const binding = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
  fc.array(fc.integer(), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
  fc.uint8Array({ maxLength: 4 }).map((bytes) => Buffer.from(bytes)),
);

describe('the positional form of a statement', () => {
  it('is what knex and pg make of it, for any text, placeholders and values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(part, fc.boolean()), { maxLength: 6 }),
        text,
        fc.array(binding, { minLength: 6, maxLength: 6 }),
        async (parts, last, values) => {
          // Each part ends in a placeholder, or in an escaped, literal question mark.
          const sql = parts.map(([part, escaped]) => `${part}${escaped ? '\\?' : '?'}`).join('') + last;
          const bindings = values.slice(0, parts.filter(([, escaped]) => !escaped).length);
          expect(await positionalForm(sql, bindings)).toEqual(throughKnex(sql, bindings));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches a report’s own statement, and refuses what it does not read', async () => {
    const sql = `select current_status from in_flight_packages where due < ?::timestamptz and package_id = any(?) limit ?`;
    const bindings = [new Date('2026-11-01T00:00:00Z'), [1, 2, 3], 50];
    expect(await positionalForm(sql, bindings)).toEqual(throughKnex(sql, bindings));
    await expect(positionalForm('select ?', [])).rejects.toThrow(/1 placeholders for 0 bindings/);
    await expect(positionalForm('select ??', ['x'])).rejects.toThrow(/identifier placeholders/);
  });
});
