import type { Client as PgClient } from 'pg';
import { parseDay } from '../../../domain/report-filters.js';
import { withSession } from '../../../store/session.js';
import type { ExperimentArm, ExperimentFindings } from '../types.js';
import {
  estimatedRows,
  finding,
  mean,
  meaningful,
  measure,
  partTimer,
  planText,
  requireServer,
  Skip,
  type Definition,
  type Run,
} from './harness.js';
import { formatNumber } from '../../../domain/units.js';

/**
 * Partitioning, in a scratch schema: the user's tables are only read. One run at a time owns the
 * schema (an advisory lock); a leftover of a killed run is dropped first, and the schema is
 * dropped afterwards, on error or interrupt too.
 */

/** Events copied into the scratch tables (at most). */
const sampleRows = 1_000_000;
const scratchSchema = 'shiptrack_bench_scratch';
/** pg_locks: classid 21781, objid 3 (migrations 1, seed 2): who owns the scratch schema. */
const scratchSchemaLock = [21781, 3] as const;
const single = `${scratchSchema}.events_single`;
const parted = `${scratchSchema}.events_partitioned`;

interface IndexDefinition {
  name: string;
  unique: boolean;
  definition: string;
}

interface Month {
  suffix: string;
  from: string;
  to: string;
}

/** Splits "CREATE [UNIQUE] INDEX n ON t USING m (keys) rest" into the parts we rebuild. */
function rebuildIndex(def: IndexDefinition, table: string, name: string, partitioned: boolean): string {
  const using = def.definition.indexOf(' USING ');
  const tail = def.definition.slice(using + ' USING '.length);
  const open = tail.indexOf('(');
  let depth = 0;
  let close = -1;
  for (let i = open; i < tail.length; i += 1) {
    if (tail[i] === '(') depth += 1;
    else if (tail[i] === ')') {
      depth -= 1;
      if (depth === 0) {
        close = i;
        break;
      }
    }
  }
  const method = tail.slice(0, open).trim();
  let keys = tail.slice(open + 1, close);
  // A unique index on a partitioned table must contain the partition key.
  if (partitioned && def.unique && !/\bevent_timestamp\b/.test(keys)) keys = `${keys}, event_timestamp`;
  return `create ${def.unique ? 'unique ' : ''}index ${name} on ${table} using ${method} (${keys})${tail.slice(close + 1)}`;
}

const dayQuery = (table: string): string =>
  `select location_id, count(*)::bigint as scans,
          count(*) filter (where status = 'exception')::bigint as exceptions,
          count(*) filter (where status = 'attempt_fail')::bigint as failed_attempts
     from ${table}
    where event_timestamp >= $1 and event_timestamp < $2
    group by location_id`;

const exceptionsQuery = (table: string): string =>
  `select e.event_id, e.location_id, e.status, e.package_id
     from ${table} e
    where e.status in ('exception', 'attempt_fail') and e.event_timestamp >= $1 and e.event_timestamp < $2`;

/** Copies every n-th package's whole timeline into an unlogged source table; its months. */
async function copySample(run: Run, client: PgClient): Promise<{ rows: number; every: number; months: Month[] }> {
  const total = await estimatedRows(run.deps.db, 'tracking_events');
  const every = Math.max(1, Math.ceil(total / sampleRows));
  await client.query(
    `create unlogged table ${scratchSchema}.source as select * from tracking_events where package_id % ${every} = 0`,
  );
  const range = await client.query<{ rows: number; months: Month[] | null }>(
    `select (select count(*)::int from ${scratchSchema}.source) as rows,
          (select json_agg(json_build_object('suffix', to_char(m, 'YYYY_MM'), 'from', m::text, 'to', (m + interval '1 month')::text) order by m)
             from generate_series(date_trunc('month', (select min(event_timestamp) from ${scratchSchema}.source) at time zone 'UTC'),
                                  date_trunc('month', (select max(event_timestamp) from ${scratchSchema}.source) at time zone 'UTC'),
                                  interval '1 month') m) as months`,
  );
  const rows = range.rows[0]?.rows ?? 0;
  if (rows === 0) throw new Skip('no_tracking_events');
  return { rows, every, months: range.rows[0]?.months ?? [] };
}

/** One table and one partitioned by month, both with tracking_events' indexes; those indexes. */
async function createTables(client: PgClient, months: readonly Month[]): Promise<IndexDefinition[]> {
  await client.query(`create table ${single} (like tracking_events including defaults including constraints)`);
  await client.query(
    `create table ${parted} (like tracking_events including defaults including constraints) partition by range (event_timestamp)`,
  );
  for (const m of months) {
    await client.query(
      `create table ${parted}_${m.suffix} partition of ${parted}
       for values from ('${m.from} UTC') to ('${m.to} UTC')`,
    );
  }
  const indexes = await client.query<IndexDefinition>(
    `select c.relname as name, i.indisunique as unique, pg_get_indexdef(i.indexrelid) as definition
       from pg_index i join pg_class c on c.oid = i.indexrelid
      where i.indrelid = 'tracking_events'::regclass order by c.relname`,
  );
  for (const def of indexes.rows) {
    await client.query(rebuildIndex(def, single, `s_${def.name}`.slice(0, 63), false));
    await client.query(rebuildIndex(def, parted, `p_${def.name}`.slice(0, 63), true));
  }
  return indexes.rows;
}

/**
 * Loads both tables twice in ABBA order (one table, partitioned, then emptied: partitioned, one
 * table), so that drift (caches, write-back of the previous load) does not favour either.
 */
async function loadBoth(run: Run, client: PgClient): Promise<{ singleRunsMs: number[]; partedRunsMs: number[] }> {
  const load = async (table: string, progress: number): Promise<number> => {
    const started = performance.now();
    await client.query(`insert into ${table} select * from ${scratchSchema}.source`);
    const elapsed = performance.now() - started;
    run.checkAborted();
    run.progress(progress);
    return elapsed;
  };
  const singleRunsMs = [await load(single, 0.17)];
  const partedRunsMs = [await load(parted, 0.24)];
  await client.query(`truncate ${single}, ${parted}`);
  partedRunsMs.push(await load(parted, 0.31));
  singleRunsMs.push(await load(single, 0.38));
  return { singleRunsMs, partedRunsMs };
}

interface QueryArm {
  arm: ExperimentArm;
  dayMs: number;
  weekMs: number;
  dayRows: number;
  weekRows: number;
}

/** One operation: scans per facility on yesterday, then the exceptions of the last 7 days. */
async function measureQueries(
  run: Run,
  client: PgClient,
  table: string,
  label: string,
  range: [number, number],
): Promise<QueryArm> {
  const { now } = run.deps;
  const day = parseDay('yesterday', now);
  const weekStart = new Date(now.getTime() - 7 * 86_400_000);
  const timer = partTimer();
  let dayRows = 0;
  let weekRows = 0;
  const summary = await measure(
    run,
    async () => {
      dayRows = (await timer.time('day', () => client.query(dayQuery(table), [day.start, day.end]))).rows.length;
      weekRows = (await timer.time('week', () => client.query(exceptionsQuery(table), [weekStart, now]))).rows.length;
    },
    range,
  );
  const explain = (sql: string, values: unknown[]) =>
    client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${sql}`, values);
  const dayPlan = await explain(dayQuery(table), [day.start, day.end]);
  const weekPlan = await explain(exceptionsQuery(table), [weekStart, now]);
  const plan = `-- scans per facility, ${day.label}\n${planText(dayPlan.rows)}\n\n-- exceptions, 7 days\n${planText(weekPlan.rows)}`;
  return {
    arm: { label, summary, plan },
    dayMs: timer.take('day', summary.count),
    weekMs: timer.take('week', summary.count),
    dayRows,
    weekRows,
  };
}

interface PartitioningMeasurements {
  sample: { rows: number; every: number; months: Month[] };
  indexes: IndexDefinition[];
  loads: { singleRunsMs: number[]; partedRunsMs: number[] };
  sizes: { single: number; parted: number };
  one: QueryArm;
  many: QueryArm;
  day: string;
  leftoverDropped: boolean;
}

/** Partition when at least two of day query, 7-day query and load are faster and none slower. */
function judgePartitioning(m: PartitioningMeasurements): ExperimentFindings {
  const { one, many, sample } = m;
  const loadSingleMs = mean(m.loads.singleRunsMs);
  const loadPartedMs = mean(m.loads.partedRunsMs);
  const ratios = {
    dayRatio: one.dayMs / many.dayMs,
    weekRatio: one.weekMs / many.weekMs,
    loadRatio: loadSingleMs / loadPartedMs,
  };
  const wins = Object.values(ratios).filter((x) => x >= meaningful).length;
  const losses = Object.values(ratios).filter((x) => x <= 1 / meaningful).length;
  const verdict =
    wins >= 2 && losses === 0 ? 'partition_by_month' : wins > losses ? 'partitioning_helps_in_part' : 'keep_one_table';
  const p50s = { daySingleMs: one.dayMs, dayPartedMs: many.dayMs, weekSingleMs: one.weekMs, weekPartedMs: many.weekMs };
  return {
    isolation: finding('scratch_schema', { schema: scratchSchema, leftoverDropped: m.leftoverDropped }),
    verdict: finding(verdict, { ...p50s, loadSingleMs, loadPartedMs, ...ratios, wins, losses }),
    notes: [
      finding('partition_sample', {
        rows: sample.rows,
        every: sample.every,
        months: sample.months.length,
        indexes: m.indexes.map((d) => d.name),
      }),
      finding('partition_load', {
        rows: sample.rows,
        singleMs: loadSingleMs,
        singleRunsMs: m.loads.singleRunsMs,
        partedMs: loadPartedMs,
        partedRunsMs: m.loads.partedRunsMs,
        ratio: ratios.loadRatio,
      }),
      finding('partition_queries', {
        day: m.day,
        facilities: one.dayRows,
        exceptions: one.weekRows,
        sameRows: one.dayRows === many.dayRows && one.weekRows === many.weekRows,
      }),
      finding('partition_p50', { ...p50s, dayRatio: ratios.dayRatio, weekRatio: ratios.weekRatio }),
      finding('partition_sizes', { singleBytes: m.sizes.single, partedBytes: m.sizes.parted }),
      finding('partition_unique_keys', { uniques: m.indexes.filter((d) => d.unique).map((d) => d.name) }),
    ],
  };
}

async function measurePartitioning(run: Run, client: PgClient, leftoverDropped: boolean): Promise<PartitioningMeasurements> {
  const sample = await copySample(run, client);
  run.progress(0.1);
  run.checkAborted();
  const indexes = await createTables(client, sample.months);
  run.checkAborted();
  const loads = await loadBoth(run, client);
  await client.query(`vacuum (analyze) ${single}`);
  await client.query(`vacuum (analyze) ${parted}`);
  const sizes = await client.query<{ single: number; parted: number }>(
    `select pg_total_relation_size($1::regclass) as single,
          (select sum(pg_total_relation_size(inhrelid))::bigint from pg_inherits where inhparent = $2::regclass) as parted`,
    [single, parted],
  );
  run.checkAborted();
  const events = formatNumber(sample.rows);
  const one = await measureQueries(run, client, single, `one table (${events} events)`, [0.45, 0.7]);
  const many = await measureQueries(
    run,
    client,
    parted,
    `partitioned by month (${sample.months.length} partitions, ${events} events)`,
    [0.7, 0.95],
  );
  return {
    sample,
    indexes,
    loads,
    sizes: { single: Number(sizes.rows[0]?.single ?? 0), parted: Number(sizes.rows[0]?.parted ?? 0) },
    one,
    many,
    day: parseDay('yesterday', run.deps.now).label,
    leftoverDropped,
  };
}

export const partitioning: Definition = {
  name: 'partitioning',
  question: 'Would partitioning tracking_events by month (declarative) help loading and event-time reports?',
  async run(run) {
    const { db } = run.deps;
    requireServer(db, 'one');
    const session = {
      signal: run.options.signal,
      advisoryLock: { key: scratchSchemaLock, waitMs: 0, busy: () => new Skip('scratch_schema_busy', { schema: scratchSchema }) },
    };
    return withSession(db, session, async ({ connection, settled }) => {
      const client = connection as PgClient;
      let created = false;
      try {
        const leftover = await client.query<{ n: number }>(`select count(*)::int as n from pg_namespace where nspname = $1`, [
          scratchSchema,
        ]);
        created = true;
        await client.query(`drop schema if exists ${scratchSchema} cascade`);
        await client.query(`create schema ${scratchSchema}`);
        run.checkAborted();
        const measured = await measurePartitioning(run, client, (leftover.rows[0]?.n ?? 0) > 0);
        return {
          before: measured.one.arm,
          after: measured.many.arm,
          speedup: measured.one.arm.summary.p50 / measured.many.arm.summary.p50,
          findings: judgePartitioning(measured),
        };
      } finally {
        // After a cancel sent on abort has landed: it must not cancel the drop.
        await settled();
        if (created) await client.query(`drop schema if exists ${scratchSchema} cascade`).catch(() => undefined);
      }
    });
  },
};
