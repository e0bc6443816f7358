import type { Client } from 'pg';
import { mapPostgresError } from '../errors.js';
import { hasDistributedLayout } from './citus.js';
import { queryPrepared } from './prepared-read.js';
import { positionalForm } from './session.js';

/**
 * One plain server connection that runs a report's one prepared statement (store/session.ts's
 * readStatement, without knex and its pool): what a short-lived process (the CLI) reads a report
 * of one statement through, so that it never loads knex.
 */
export interface StatementSource {
  readonly mode: 'server';
  /** A Citus coordinator with shiptrack's distributed layout (as Database.distributed). */
  readonly distributed: boolean;
  /** The rows of one named prepared statement, alone in autocommit; `?` placeholders as knex's. */
  statement<R>(name: string, sql: string, bindings: readonly unknown[]): Promise<R[]>;
}

const distributedLayout = new WeakMap<Client, Promise<boolean>>();

/** hasDistributedLayout, asked once per connection. */
function distributedLayoutOf(client: Client): Promise<boolean> {
  let known = distributedLayout.get(client);
  if (known === undefined) {
    known = hasDistributedLayout(client).catch((error: unknown) => {
      throw mapPostgresError(error);
    });
    distributedLayout.set(client, known);
  }
  return known;
}

export async function statementSource(client: Client): Promise<StatementSource> {
  return {
    mode: 'server',
    distributed: await distributedLayoutOf(client),
    statement: async <R>(name: string, sql: string, bindings: readonly unknown[]): Promise<R[]> => {
      const prepared = await positionalForm(sql, bindings);
      return queryPrepared<R>(client, { name, text: prepared.text }, prepared.values);
    },
  };
}
