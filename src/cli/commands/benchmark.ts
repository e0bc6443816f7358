import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parseAsOf, parseCount } from '../../domain/report-filters.js';
import { ExitCode, NotFoundError, UsageError } from '../../errors.js';
import { configFor, readVersion, withResources, type CommandContext } from '../program.js';

interface BenchmarkCliOptions {
  suite: 'default' | 'tuning' | 'all';
  duration: string;
  count?: string;
  warmup: string;
  concurrency: string;
  experimentDuration: string;
  allowWrites?: boolean;
  baseline?: string;
  failIfSlower?: string;
  report?: string;
  store: boolean;
  asOf?: string;
  list?: boolean;
  experiments?: string;
}

function durationMs(text: string, flag: string, parse: (t: string) => number | undefined): number {
  const ms = parse(text);
  if (ms === undefined || ms < 0 || ms > 3_600_000) {
    throw new UsageError(`${flag}: "${text}" is not a duration from 0 to 1 hour (e.g. 500ms, 30s, 2m)`);
  }
  return ms;
}

function concurrencyLevels(text: string): number[] {
  const levels = text.split(',').map((part) => Number(part.trim()));
  if (levels.length === 0 || levels.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) {
    throw new UsageError(`--concurrency: "${text}" is not a list of whole numbers from 1 to 256 (e.g. 1,4,16)`);
  }
  return [...new Set(levels)];
}

function percentage(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*%?$/.exec(text.trim());
  const value = match === null ? Number.NaN : Number(match[1]);
  if (!Number.isFinite(value) || value <= 0 || value > 1000) {
    throw new UsageError(`--fail-if-slower: "${text}" is not a percentage (e.g. 10%)`);
  }
  return value;
}

export function benchmarkCommand(context: CommandContext): Command {
  return new Command('benchmark')
    .description('measure the real paths (track, scan, reports, seed) and the tuning experiments; store every run')
    .argument('[scenarios...]', 'scenario names or groups: track, scan, report, seed, noop (default: all but noop)')
    .addOption(
      new Option('--suite <suite>', 'default: scenarios; tuning: the before/after experiments; all: both')
        .choices(['default', 'tuning', 'all'])
        .default('default'),
    )
    .option('--duration <time>', 'measured time per scenario and concurrency level', '5s')
    .option('--count <n>', 'measure this many operations instead of a duration')
    .option('--warmup <time>', 'unmeasured warm-up before each measurement', '1s')
    .option('--concurrency <list>', 'closed-loop workers, one measurement per level', '1,4')
    .option('--experiment-duration <time>', 'measured time per experiment arm (tuning suite)', '2s')
    .option('--experiments <names>', 'only these experiments, comma-separated (see --list)')
    .option('--allow-writes', 'let scenarios write: scan scenarios record scans here; seed-small creates a scratch database')
    .option('--baseline <run>', 'compare with a stored run: its id, or "last" (the latest of the same suite)')
    .option('--fail-if-slower <pct>', 'with --baseline: exit 1 if any scenario’s p50 is slower by more than this (e.g. 10%)')
    .option('--report <file>', 'write the Markdown performance report (SVG plots beside it)')
    .option('--no-store', 'do not keep this run in the document store')
    .option('--as-of <time>', 'the "now" of report scenarios (default: now; use the seed’s --as-of on seeded data)')
    .option('--list', 'list the scenarios and experiments, and exit')
    .addHelpText(
      'after',
      `
Every latency goes into an HDR histogram (3 significant digits): throughput, p50, p90, p99,
p99.9, max and errors per scenario and concurrency level. Workers are closed-loop. The harness's
own cost is measured first (a no-op scenario) and reported.

Runs are stored in the document store (MongoDB, or PostgreSQL's JSONB table), so they can be
compared: see \`shiptrack report benchmarks\` and --baseline.

Run against a benchmark database: scan scenarios write (only with --allow-writes), and the
tuning experiments drop indexes inside transactions that roll back (holding table locks while
they run) and build their partitioning test in a scratch schema they drop afterwards.

Examples:
  $ shiptrack benchmark                                    a few minutes, progress on stderr
  $ shiptrack benchmark track --duration 30s --concurrency 1,4,16 --warmup 5s
  $ shiptrack benchmark --suite tuning
  $ shiptrack benchmark --baseline last --fail-if-slower 10%   exit 1 on a regression (CI)
  $ shiptrack benchmark --suite all --allow-writes --report docs/PERFORMANCE.md`,
    )
    .action(async (names: string[], options: BenchmarkCliOptions, command: Command) => {
      const [{ parseDurationMs }, { scenarios, selectScenarios }] = await Promise.all([
        import('../../services/benchmark/harness.js'),
        import('../../services/benchmark/scenarios.js'),
      ]);
      const { experimentNames } = await import('../../services/benchmark/experiments.js');
      if (options.list === true) {
        const rows = {
          scenarios: scenarios.map((s) => ({ name: s.name, group: s.group, description: s.description })),
          experiments: experimentNames,
        };
        const width = Math.max(...scenarios.map((s) => s.name.length));
        context.output.result(rows, () =>
          [
            'Scenarios:',
            ...scenarios.map((s) => `  ${s.name.padEnd(width)}  ${s.description}`),
            '',
            `Experiments (--suite tuning): ${experimentNames.join(', ')}`,
          ].join('\n'),
        );
        return;
      }
      const unknown = (options.experiments ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '' && !experimentNames.includes(n));
      if (unknown.length > 0) {
        throw new UsageError(
          `--experiments: no experiment is called ${unknown.join(', ')}; they are ${experimentNames.join(', ')}`,
        );
      }
      if (options.experiments !== undefined && options.suite === 'default') {
        throw new UsageError('--experiments needs --suite tuning or --suite all');
      }
      const picked = options.suite === 'tuning' ? [] : selectScenarios(names);
      if (options.suite !== 'tuning' && picked.length === 0) {
        throw new UsageError(
          `no scenario is called ${names.map((n) => `"${n}"`).join(' or ')}; see \`shiptrack benchmark --list\``,
        );
      }
      const duration = durationMs(options.duration, '--duration', parseDurationMs);
      const warmup = durationMs(options.warmup, '--warmup', parseDurationMs);
      const experimentDuration = durationMs(options.experimentDuration, '--experiment-duration', parseDurationMs);
      const levels = concurrencyLevels(options.concurrency);
      const count = options.count === undefined ? undefined : parseCount(options.count, '--count', 1, 100_000_000);
      const threshold = options.failIfSlower === undefined ? undefined : percentage(options.failIfSlower);
      if (threshold !== undefined && options.baseline === undefined) {
        throw new UsageError('--fail-if-slower needs --baseline (a run id, or last)');
      }
      const now = parseAsOf(options.asOf);
      const config = configFor(command, context);
      await withResources(
        context,
        config,
        async (resources) => {
          const [service, render, { createProgress }] = await Promise.all([
            import('../../services/benchmark/benchmark.service.js'),
            import('../../render/benchmark.render.js'),
            import('../progress.js'),
          ]);
          const db = await resources.database();
          // The cache scenarios and the experiments (cache on vs off) use Redis; nothing else does.
          const redis =
            options.suite !== 'default' || picked.some((s) => s.usesRedis === true) ? await resources.redis() : undefined;
          const documents = await resources.documents();
          await documents.ensureSchema();
          let baseline;
          if (options.baseline !== undefined) {
            const found =
              options.baseline === 'last'
                ? (await documents.listBenchmarkRuns({ limit: 1, suite: options.suite }))[0]
                : await documents.findBenchmarkRun(options.baseline);
            if (found === undefined || found === null) {
              throw new NotFoundError(
                options.baseline === 'last'
                  ? `no stored run of suite "${options.suite}" to compare with`
                  : `no stored benchmark run ${options.baseline}`,
                { hint: 'see `shiptrack report benchmarks`' },
              );
            }
            baseline = service.fromRunDocument(found);
          }
          const progress = await createProgress(context.output);
          const ctx = { db, config, redis, documents, now, allowWrites: options.allowWrites === true, signal: context.signal };
          let result;
          try {
            result = await service.runBenchmark(ctx, {
              suite: options.suite,
              scenarios: picked,
              concurrency: levels,
              warmupMs: warmup,
              durationMs: duration,
              count,
              version: readVersion(),
              experiments:
                options.suite === 'default'
                  ? undefined
                  : async () => {
                      const { runExperiments } = await import('../../services/benchmark/experiments.js');
                      return runExperiments(
                        { db, redis, documents, now },
                        {
                          durationMs: experimentDuration,
                          warmupMs: Math.min(warmup, 1000),
                          ...(options.experiments === undefined
                            ? {}
                            : { only: options.experiments.split(',').map((n) => n.trim()) }),
                          signal: context.signal,
                          onProgress: (name, f) => progress.update(`experiment ${name}`, Math.round(f * 100), 100, 0),
                        },
                      );
                    },
              onProgress: (label, f) => progress.update(label, Math.round(f * 100), 100, 0),
              onSkip: (scenario, reason) => context.output.info(`skipped ${scenario}: ${reason}`),
            });
          } finally {
            progress.stop();
          }
          const { run } = result;
          if (context.signal.aborted) return;
          if (options.store) {
            try {
              await documents.insertBenchmarkRun(service.toRunDocument(run));
              context.output.info(`stored as run ${run.id} (${documents.kind})`);
            } catch (error) {
              context.output.warn(`run not stored: ${error instanceof Error ? error.message : String(error)}`);
            }
          }
          const comparison = baseline === undefined ? undefined : render.compareRuns(run, baseline, threshold ?? 10);
          if (options.report !== undefined) {
            const file = path.resolve(options.report);
            const prefix = path.basename(file).replace(/\.md$/i, '').toLowerCase();
            const written = render.renderBenchmarkMarkdown(run, {
              plotPrefix: prefix,
              ...(comparison === undefined ? {} : { comparison }),
            });
            mkdirSync(path.dirname(file), { recursive: true });
            writeFileSync(file, written.markdown);
            for (const extra of written.files) writeFileSync(path.join(path.dirname(file), extra.name), extra.content);
            context.output.info(`wrote ${options.report} and ${written.files.length} plot(s) beside it`);
          }
          context.output.result({ ...run, ...(comparison === undefined ? {} : { comparison }) }, (style) =>
            [
              render.renderBenchmarkText(run, style),
              ...(comparison === undefined ? [] : ['', render.renderComparisonText(comparison, style)]),
            ].join('\n'),
          );
          if (threshold !== undefined && comparison !== undefined && comparison.regressions > 0)
            context.exitCode = ExitCode.internal;
        },
        { database: { poolMax: Math.max(...levels) + 4, statementTimeoutMs: 0 } },
      );
    });
}
