import pg from 'pg';
import { serialize } from 'pg-protocol';
import { usePgProtocol } from './prepared-read.js';

usePgProtocol(serialize);

/**
 * The pg driver, imported only where a server is used: in the CLI's bundle it runs on this
 * module's first import, which a command that needs no server (a cache hit, the embedded
 * database) never makes. knex drives this copy too (database.ts), and prepared reads encode with its
 * pg-protocol (prepared-read.ts).
 */
export default pg;
