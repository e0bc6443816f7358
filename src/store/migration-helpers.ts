import type { Knex } from 'knex';
import { readCitusVersion } from './citus.js';
import { readRowsWith } from './database.js';

/** Runs SQL statements one at a time (the embedded driver takes one statement per call). */
export async function runStatements(knex: Knex, statements: readonly string[]): Promise<void> {
  for (const sql of statements) await knex.raw(sql);
}

export interface ConcurrentIndex {
  name: string;
  table: string;
  /** Column list or expression, e.g. `(package_id, event_timestamp)`. */
  definition: string;
  unique?: boolean;
  /** e.g. `using gin` */
  method?: string;
  where?: string;
}

/**
 * CREATE INDEX CONCURRENTLY that can be re-run: a valid index of that name is kept, an invalid
 * one (left by a failed or interrupted build) is dropped and built again. Use from a migration
 * with `export const config = { transaction: false }`.
 */
export async function createIndexConcurrently(knex: Knex, index: ConcurrentIndex): Promise<'created' | 'rebuilt' | 'exists'> {
  const found = await knex.raw<{ rows: { valid: boolean }[] }>(
    `select x.indisvalid as valid
       from pg_index x join pg_class i on i.oid = x.indexrelid
      where i.relname = ? and pg_table_is_visible(i.oid)`,
    [index.name],
  );
  const existing = found.rows[0];
  if (existing?.valid === true) return 'exists';
  if (existing !== undefined) await knex.raw(`drop index concurrently if exists ??`, [index.name]);
  const sql =
    `create ${index.unique === true ? 'unique ' : ''}index concurrently ?? on ?? ` +
    `${index.method ?? ''} ${index.definition}${index.where === undefined ? '' : ` where ${index.where}`}`;
  await knex.raw(sql, [index.name, index.table]);
  return existing === undefined ? 'created' : 'rebuilt';
}

export async function dropIndexConcurrently(knex: Knex, name: string): Promise<void> {
  await knex.raw(`drop index concurrently if exists ??`, [name]);
}

/** Whether the database has the citus extension (a coordinator: migrations keep its own layout). */
export async function hasCitus(knex: Knex): Promise<boolean> {
  return (await readCitusVersion(readRowsWith(knex))) !== null;
}
