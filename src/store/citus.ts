import type { Knex } from 'knex';
import type { Client } from 'pg';
import type { ReadRows } from './database.js';

/**
 * Whether the server has shiptrack's Citus layout (migration 20261204000300: the package_numbers
 * lookup exists), asked on a plain connection.
 */
export async function hasDistributedLayout(client: Client): Promise<boolean> {
  const found = await client.query<{ distributed: boolean }>(`select to_regclass('package_numbers') is not null as distributed`);
  return found.rows[0]?.distributed === true;
}

/**
 * What a Citus coordinator says of its cluster, for `doctor`: the extension's version, its
 * workers (each asked through the coordinator), and how many tables of each kind and shards it
 * holds.
 */
export interface CitusInfo {
  version: string;
  /** Each active worker, and whether the coordinator could run a query on it. */
  workers: { node: string; reachable: boolean }[];
  /** Tables by Citus type (distributed, reference, local), with their shards. */
  tables: { type: string; tables: number; shards: number }[];
}

/** The version of the Citus extension installed in this database, or null on a server without it. */
export async function readCitusVersion(read: ReadRows): Promise<string | null> {
  const [installed] = await read<{ version: string }>(`select extversion as version from pg_extension where extname = 'citus'`);
  return installed?.version ?? null;
}

/** The cluster a Citus coordinator (whose extension is at `version`) says it has. */
export async function readCitusInfo(knex: Knex, version: string): Promise<CitusInfo> {
  // A worker that does not answer costs 2 s here, not Citus's default 30 s connection timeout.
  return knex.transaction(async (trx) => {
    await trx.raw(`select set_config('citus.node_connection_timeout', '2000', true)`);
    const workers = await trx.raw<{ rows: { node: string; reachable: boolean }[] }>(
      `select nodename || ':' || nodeport as node, success as reachable from run_command_on_workers('select 1') order by 1`,
    );
    const tables = await trx.raw<{ rows: { type: string; tables: number; shards: number }[] }>(
      `select citus_table_type as type, count(*)::int as tables, coalesce(sum(shard_count), 0)::int as shards
         from citus_tables group by 1 order by 1`,
    );
    return { version, workers: workers.rows, tables: tables.rows };
  });
}

/** "Citus 13.2-1, 2 workers, 2 reference tables (2 shards), 3 distributed tables (96 shards)". */
export function describeCitus(info: CitusInfo): string {
  const down = info.workers.filter((w) => !w.reachable);
  const parts = [
    `Citus ${info.version}`,
    `${info.workers.length} worker${info.workers.length === 1 ? '' : 's'}${down.length === 0 ? '' : ` (unreachable: ${down.map((w) => w.node).join(', ')})`}`,
    ...info.tables.map(
      (t) => `${t.tables} ${t.type} table${t.tables === 1 ? '' : 's'} (${t.shards} shard${t.shards === 1 ? '' : 's'})`,
    ),
  ];
  return parts.join(', ');
}
