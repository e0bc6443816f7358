import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// Snapshots of pg_stat_statements that `report db` keeps, so `report db --since 24h` can say
// what got slower, what started running and what stopped (documents, DOMAIN §4: the JSONB table
// behind the statement_snapshots collection when no MongoDB is configured). A new, empty table:
// nothing here locks a table in use.

export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await runStatements(knex, [
    `create table doc_statement_snapshots (
       id          text primary key,
       server      text not null,
       taken_at    timestamptz not null,
       stats_reset timestamptz,
       statements  jsonb not null check (jsonb_typeof(statements) = 'array'),
       truncated   boolean not null
     )`,
    `create index doc_statement_snapshots_server_idx on doc_statement_snapshots (server, taken_at)`,
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await runStatements(knex, [`drop table doc_statement_snapshots`]);
}
