import type { DocumentStore } from '../../store/documents/document-store.js';
import { fromRunDocument } from '../benchmark/benchmark.service.js';
import { note, type ReportOptions, type ReportResult, type ReportRow } from './report.js';

/** `report benchmarks`: the stored benchmark runs, newest first, with the headline figures. */
export async function runBenchmarksReport(
  documents: DocumentStore,
  options: ReportOptions & { limit: number; suite?: string | undefined },
): Promise<ReportResult> {
  const started = performance.now();
  const docs = await documents.listBenchmarkRuns({
    limit: options.limit,
    ...(options.suite === undefined ? {} : { suite: options.suite }),
  });
  const runs = docs.map(fromRunDocument);
  const p50 = (run: (typeof runs)[number], scenario: string): number | null =>
    run.scenarios.find((s) => s.scenario === scenario && s.concurrency === 1)?.summary.p50 ?? null;
  const rows: ReportRow[] = runs.map((run) => ({
    id: run.id,
    started_at: run.startedAt,
    suite: run.suite,
    packages: run.environment.data?.packages ?? null,
    scenarios: run.scenarios.length,
    experiments: run.experiments.length,
    track_db_p50_ms: p50(run, 'track-db'),
    track_cache_hit_p50_ms: p50(run, 'track-cache-hit'),
    report_overdue_p50_ms: p50(run, 'report-overdue'),
    harness_overhead_us: Number.isFinite(run.harnessOverheadUs) ? run.harnessOverheadUs : null,
    machine: `${run.environment.cpuCount ?? '?'} × ${run.environment.cpus ?? '?'}`,
  }));
  return {
    report: 'benchmarks',
    title: 'Benchmark runs, newest first',
    parameters: { limit: options.limit, ...(options.suite === undefined ? {} : { suite: options.suite }) },
    asOf: options.now.toISOString(),
    tables: [
      {
        name: 'runs',
        title: 'Runs',
        columns: [
          { key: 'id', header: 'run', kind: 'text' },
          { key: 'started_at', header: 'started', kind: 'timestamp', priority: 2 },
          { key: 'suite', header: 'suite', kind: 'text', priority: 3 },
          { key: 'packages', header: 'packages', kind: 'integer', priority: 4 },
          { key: 'scenarios', header: 'scenarios', kind: 'integer', priority: 4 },
          { key: 'experiments', header: 'experiments', kind: 'integer', priority: 4 },
          { key: 'track_db_p50_ms', header: 'track db p50', kind: 'ms' },
          { key: 'track_cache_hit_p50_ms', header: 'cache hit p50', kind: 'ms', priority: 2 },
          { key: 'report_overdue_p50_ms', header: 'overdue p50', kind: 'ms', priority: 2 },
          { key: 'harness_overhead_us', header: 'harness µs/op', kind: 'decimal', priority: 4 },
          { key: 'machine', header: 'machine', kind: 'text', priority: 5 },
        ],
        rows,
        caption: `${rows.length} run(s) from the ${documents.kind === 'mongodb' ? 'MongoDB' : 'PostgreSQL'} document store; p50 at concurrency 1`,
      },
    ],
    findings: [],
    notes: rows.length === 0 ? [note('no_benchmark_runs')] : [],
    ok: true,
    elapsedMs: performance.now() - started,
  };
}
