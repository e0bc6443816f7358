import knex from 'knex';
import PgDialect from 'knex/lib/dialects/postgres/index.js';

/**
 * knex and its PostgreSQL dialect, imported only by commands that run more than one query: in
 * the CLI's bundle they (with lodash, ~250 files as a package) run on this module's first import,
 * which `track`, `doctor` and the other one-query commands never make. Loading knex from the
 * bundle takes about half the time of resolving and compiling its package's files one by one.
 */
export { knex, PgDialect };
