import pg from 'pg';

/**
 * The pg driver, imported only where a server is used: the CLI's bundle carries it in a chunk of
 * this module's name, which a command that needs no server (a cache hit, the embedded database)
 * never loads. knex drives this copy too (database.ts).
 */
export default pg;
