import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { DatabaseMode } from './database.js';

/**
 * COPY … FROM STDIN on one session, for both modes: pg-copy-streams on a server connection,
 * PGlite's `/dev/blob` on the embedded one. Rows arrive as text in COPY's text format.
 */

const specialChars = /[\\\t\n\r]/;

/** Escapes a value for COPY text format; null becomes \N. */
export function copyText(value: string | null): string {
  if (value === null) return '\\N';
  if (!specialChars.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

interface PgCopyClient {
  query(submittable: Writable): Writable;
}

interface PgliteCopyClient {
  query(sql: string, params: unknown[], options: { blob: Blob }): Promise<{ affectedRows?: number }>;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function copySql(table: string, columns: readonly string[], source: string, freeze: boolean): string {
  return `copy ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) from ${source}${freeze ? ' with (freeze)' : ''}`;
}

/**
 * Copies `text` (complete lines, each ending in \n) into `table`. `connection` is the raw driver
 * connection knex handed out (a pg Client, or the PGlite instance).
 */
export async function copyInto(
  mode: DatabaseMode,
  connection: unknown,
  table: string,
  columns: readonly string[],
  text: string | Uint8Array,
  /** COPY … WITH (FREEZE): only for a table truncated in the current transaction. */
  freeze = false,
): Promise<void> {
  if (text.length === 0) return;
  if (mode === 'embedded') {
    await (connection as PgliteCopyClient).query(copySql(table, columns, `'/dev/blob'`, freeze), [], { blob: new Blob([text]) });
    return;
  }
  const { from } = await import('pg-copy-streams');
  const stream = (connection as PgCopyClient).query(from(copySql(table, columns, 'stdin', freeze)));
  const done = finished(stream);
  stream.end(text);
  await done;
}
