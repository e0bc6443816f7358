/**
 * knex's PostgreSQL dialect (a class knex's `client` option takes), which knex ships untyped.
 * A CommonJS module whose export is the class: imported, it is the default export.
 */
declare module 'knex/lib/dialects/postgres/index.js' {
  import type { Knex } from 'knex';
  const PgDialect: new (config: Knex.Config) => Knex.Client;
  export default PgDialect;
}
