import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { BenchmarkRunDocument } from '../../store/documents/document-store.js';
import { measureHarnessOverhead, runWorkload } from './harness.js';
import type { ScenarioContext, ScenarioDefinition } from './scenarios.js';
import type { BenchmarkEnvironment, BenchmarkRunResult, ExperimentResult, ScenarioResult } from './types.js';

/** Runs scenarios (each at each concurrency) and experiments, and describes where it ran. */

export interface BenchmarkOptions {
  suite: string;
  scenarios: readonly ScenarioDefinition[];
  concurrency: readonly number[];
  warmupMs: number;
  durationMs: number;
  count?: number | undefined;
  /** Runs the tuning experiments after the scenarios (undefined: none). */
  experiments?: (() => Promise<ExperimentResult[]>) | undefined;
  version: string;
  onProgress?: (label: string, fraction: number) => void;
  onSkip?: (scenario: string, reason: string) => void;
}

const isAborted = (ctx: ScenarioContext): boolean => ctx.signal?.aborted === true;

export interface SkippedScenario {
  scenario: string;
  reason: string;
}

async function describeEnvironment(ctx: ScenarioContext, version: string): Promise<BenchmarkEnvironment> {
  const knex = ctx.db.knex;
  const [server] = (await knex.raw<{ rows: { version: string }[] }>(`select current_setting('server_version') as version`)).rows;
  const settings = await knex.raw<{ rows: { name: string; setting: string; unit: string | null }[] }>(
    `select name, setting, unit from pg_settings
      where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit',
                     'max_parallel_workers_per_gather', 'synchronous_commit', 'max_connections')
      order by name`,
  );
  const counts = await knex.raw<{ rows: { table: string; rows: number }[] }>(
    `select c.relname as table, greatest(c.reltuples, 0)::bigint as rows
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'r'
        and c.relname in ('customers', 'locations', 'packages', 'shipments', 'tracking_events', 'doc_raw_scans')
      order by c.relname`,
  );
  let redis: string | null = null;
  if (ctx.redis !== undefined) {
    const info = await ctx.redis.info('server');
    redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  }
  const cpus = os.cpus();
  return {
    shiptrack: version,
    node: process.version,
    platform: `${os.type()} ${os.arch()}`,
    cpus: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    postgres: server?.version ?? 'unknown',
    databaseMode: ctx.db.mode,
    redis,
    documents: ctx.documents.kind,
    data: Object.fromEntries(counts.rows.map((r) => [r.table, r.rows])),
    settings: Object.fromEntries(settings.rows.map((s) => [s.name, s.unit === null ? s.setting : `${s.setting} ${s.unit}`])),
  };
}

export async function runBenchmark(
  ctx: ScenarioContext,
  options: BenchmarkOptions,
): Promise<{ run: BenchmarkRunResult; skipped: SkippedScenario[] }> {
  const startedAt = new Date();
  const environment = await describeEnvironment(ctx, options.version);
  const harnessOverheadUs = await measureHarnessOverhead();
  const results: ScenarioResult[] = [];
  const skipped: SkippedScenario[] = [];
  for (const scenario of options.scenarios) {
    if (isAborted(ctx)) break;
    const reason = scenario.unavailable?.(ctx);
    if (reason !== undefined) {
      skipped.push({ scenario: scenario.name, reason });
      options.onSkip?.(scenario.name, reason);
      continue;
    }
    const levels = scenario.fixedConcurrency === undefined ? options.concurrency : [scenario.fixedConcurrency];
    for (const concurrency of levels) {
      if (isAborted(ctx)) break;
      const prepared = await scenario.prepare(ctx, concurrency);
      try {
        const summary = await runWorkload({
          operation: prepared.operation,
          concurrency,
          warmupMs: scenario.fixedCount === undefined ? options.warmupMs : 0,
          durationMs: options.durationMs,
          count: scenario.fixedCount ?? options.count,
          signal: ctx.signal,
          onProgress: (f) => options.onProgress?.(`${scenario.name} ×${concurrency}`, f),
        });
        results.push({
          scenario: scenario.name,
          description: prepared.note === undefined ? scenario.description : `${scenario.description} (${prepared.note})`,
          concurrency,
          summary,
        });
      } finally {
        await prepared.close?.();
      }
    }
  }
  const experiments = options.experiments === undefined || isAborted(ctx) ? [] : await options.experiments();
  return {
    run: {
      id: `${startedAt.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      suite: options.suite,
      environment,
      parameters: {
        scenarios: options.scenarios.map((s) => s.name),
        concurrency: options.concurrency,
        warmupMs: options.warmupMs,
        durationMs: options.count === undefined ? options.durationMs : null,
        count: options.count ?? null,
        asOf: ctx.now.toISOString(),
        allowWrites: ctx.allowWrites,
        skipped,
      },
      harnessOverheadUs,
      scenarios: results,
      experiments,
    },
    skipped,
  };
}

/** The run as a document-store document (benchmark history). */
export function toRunDocument(run: BenchmarkRunResult): BenchmarkRunDocument {
  return {
    id: run.id,
    startedAt: new Date(run.startedAt),
    suite: run.suite,
    environment: { ...run.environment },
    parameters: run.parameters,
    results: {
      finishedAt: run.finishedAt,
      harnessOverheadUs: run.harnessOverheadUs,
      scenarios: run.scenarios,
      experiments: run.experiments,
    },
  };
}

/** The inverse of toRunDocument, for baselines and history read back from the store. */
export function fromRunDocument(doc: BenchmarkRunDocument): BenchmarkRunResult {
  const results = doc.results as {
    finishedAt?: string;
    harnessOverheadUs?: number;
    scenarios?: ScenarioResult[];
    experiments?: ExperimentResult[];
  };
  return {
    id: doc.id,
    startedAt: doc.startedAt.toISOString(),
    finishedAt: results.finishedAt ?? doc.startedAt.toISOString(),
    suite: doc.suite,
    environment: doc.environment as unknown as BenchmarkEnvironment,
    parameters: doc.parameters,
    harnessOverheadUs: results.harnessOverheadUs ?? Number.NaN,
    scenarios: results.scenarios ?? [],
    experiments: results.experiments ?? [],
  };
}
