import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fitProse } from '../../render/text.js';
import { Command, Option } from 'commander';
import { ExitCode } from '../../errors.js';
import type { BenchmarkOutcome } from '../../services/benchmark/benchmark.service.js';
import { withShiptrack, type CommandContext } from '../program.js';

interface BenchmarkCliOptions {
  suite: 'default' | 'tuning' | 'all';
  duration: string;
  count?: string;
  rounds?: string;
  warmup: string;
  concurrency: string;
  rate?: string;
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

async function printList(context: CommandContext): Promise<void> {
  const { listBenchmarks } = await import('../../services/benchmark/benchmark.service.js');
  const list = await listBenchmarks();
  const width = Math.max(...list.scenarios.map((s) => s.name.length));
  context.output.result(list, () =>
    [
      'Scenarios:',
      ...list.scenarios.map((s) => `  ${s.name.padEnd(width)}  ${s.description}`),
      '',
      `Experiments (--suite tuning): ${list.experiments.join(', ')}`,
    ].join('\n'),
  );
}

/** `--report`: the Markdown performance report, with its SVG plots beside it. */
async function writeReport(context: CommandContext, file: string, outcome: BenchmarkOutcome): Promise<void> {
  const render = await import('../../render/benchmark.render.js');
  const target = path.resolve(file);
  const prefix = path.basename(target).replace(/\.md$/i, '').toLowerCase();
  const written = render.renderBenchmarkMarkdown(outcome.run, {
    plotPrefix: prefix,
    ...(outcome.comparison === undefined ? {} : { comparison: outcome.comparison }),
  });
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, written.markdown);
  for (const extra of written.files) writeFileSync(path.join(path.dirname(target), extra.name), extra.content);
  context.output.info(`wrote ${file} and ${written.files.length} plot(s) beside it`);
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
    .option('--duration <time>', 'measured time per round of each scenario and concurrency level', '5s')
    .option('--count <n>', 'measure this many operations per round instead of a duration')
    .option(
      '--rounds <n>',
      'measured rounds per scenario and concurrency level, interleaved (1–20; default 3, 5 with --baseline)',
    )
    .option('--warmup <time>', 'unmeasured warm-up before the first round of each scenario and concurrency level', '1s')
    .option('--concurrency <list>', 'closed-loop workers, one measurement per level (with --rate: the most in flight)', '1,4')
    .option(
      '--rate <n/s>',
      'also measure open-loop: operations started at this fixed rate (e.g. 500/s; 1–1,000,000), latency from each one’s scheduled start',
    )
    .option('--experiment-duration <time>', 'measured time per experiment arm (tuning suite)', '2s')
    .option('--experiments <names>', 'only these experiments, comma-separated (see --list)')
    .option('--allow-writes', 'let scenarios write: scan scenarios record scans here; seed-small creates a scratch database')
    .option('--baseline <run>', 'compare with a stored run: its id, or "last" (the latest of the same suite)')
    .option(
      '--fail-if-slower <pct>',
      'with --baseline: exit 1 if a scenario’s median round p50 is slower by more than this (e.g. 10%) and significantly (p < 0.05)',
    )
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

Open loop (--rate): a closed loop hides a stall, since the operations that would have arrived
during it are never started (coordinated omission). With --rate, each round measures every
scenario and concurrency level closed-loop as always, then again for the same --duration (or
--count) with operations scheduled at the rate, as wrk2 and k6's constant-arrival-rate executor
do, and each latency counted from the operation's scheduled start. The concurrency level caps
the operations in flight: one that falls due while all are busy waits for the first free slot,
charged its wait. Late: started more than 10 ms after its scheduled time. Dropped: still waiting
10 ms after the schedule ended; never run, not in the latencies. The closed-loop and open-loop
percentiles print side by side (text, --report, --json: scenarios[].openLoop). Scenarios with a
fixed count (report-consistency-full, seed-small) stay closed-loop only; the regression gate
judges the closed loop. The scheduler is a timer: starts can be about 1 ms late even when idle
(compare noop at the same rate). A run with --rate takes about twice as long.

Rounds: each scenario and concurrency level is measured --rounds times, interleaved (round 1 of
every scenario, then round 2 of every one, …; one warm-up before the first), so the slow drift of
a shared machine spreads over all scenarios. The table gives the p50 of all rounds and the range
of the round p50s.

Runs are stored in the document store (MongoDB, or PostgreSQL's JSONB table), so they can be
compared: see \`shiptrack report benchmarks\` and --baseline.

The regression gate (--baseline with --fail-if-slower) compares the round p50s of each scenario
and concurrency level with the baseline's. A regression is a median slower by more than the
threshold AND significant: a two-sided Mann-Whitney U test of the round p50s with p < 0.05 (exact
for small samples, ties included), printed beside each change; the report and --json add a 95 %
bootstrap interval of the ratio of the medians. Too few rounds are never a regression, only "not
enough rounds to judge": 3 rounds against 3 can at best give p = 0.10, so a run with --baseline
measures 5 by default; a baseline stored before rounds has one p50 per scenario, a single sample.

Run against a benchmark database: scan scenarios write (only with --allow-writes; when every
scenario asked for is skipped, nothing is measured or stored and the exit code is 2), and the
tuning experiments drop indexes inside transactions that roll back (holding table locks while
they run) and build their partitioning test in a scratch schema they drop afterwards.

Examples:
  $ shiptrack benchmark                                    several minutes, progress on stderr
  $ shiptrack benchmark track --duration 30s --concurrency 1,4,16 --warmup 5s
  $ shiptrack benchmark track-db --rate 500/s --concurrency 4   closed and open loop side by side
  $ shiptrack benchmark --suite tuning
  $ shiptrack benchmark --baseline last --fail-if-slower 10%   exit 1 on a significant regression (CI)
  $ shiptrack benchmark --suite all --allow-writes --report docs/PERFORMANCE.md`,
    )
    .action(async (names: string[], options: BenchmarkCliOptions) => {
      if (options.list === true) {
        await printList(context);
        return;
      }
      await withShiptrack(context, async (shiptrack) => {
        const [render, { createProgress }] = await Promise.all([
          import('../../render/benchmark.render.js'),
          import('../progress.js'),
        ]);
        const progress = await createProgress(context.output);
        let outcome;
        try {
          outcome = await shiptrack.benchmark({
            suite: options.suite,
            scenarios: names,
            duration: options.duration,
            count: options.count,
            rounds: options.rounds,
            warmup: options.warmup,
            concurrency: options.concurrency,
            rate: options.rate,
            experimentDuration: options.experimentDuration,
            experiments: options.experiments,
            allowWrites: options.allowWrites === true,
            baseline: options.baseline,
            failIfSlower: options.failIfSlower,
            store: options.store,
            asOf: options.asOf,
            onProgress: (label, f) => progress.update(label, Math.round(f * 100), 100, 0),
            onSkip: (scenario, reason) => context.output.info(`skipped ${scenario}: ${reason}`),
          });
        } finally {
          progress.stop();
        }
        if (context.signal.aborted) return;
        const { run, comparison, stored } = outcome;
        if (stored !== null) {
          if ('error' in stored) context.output.warn(`run not stored: ${stored.error}`);
          else context.output.info(`stored as run ${stored.id} (${stored.store})`);
        }
        if (options.report !== undefined) await writeReport(context, options.report, outcome);
        context.output.result(
          { ...render.withExperimentSentences(run), ...(comparison === undefined ? {} : { comparison }) },
          (style) =>
            [
              render.renderBenchmarkText(run, style),
              ...(comparison === undefined ? [] : ['', render.renderComparisonText(comparison, style)]),
            ].join('\n'),
        );
        if (outcome.regression) context.exitCode = ExitCode.internal;
        if (outcome.measuredNothing) {
          context.output.warn('nothing was measured, every experiment was skipped; not stored');
          for (const e of run.experiments) {
            const why = `${e.experiment}: ${render.experimentSentences(e).skipped ?? 'skipped'}`;
            const style = context.output.stderrStyle;
            for (const line of fitProse(why, { ...style, width: style.width - 2 }, '  ')) context.output.info(`  ${line}`);
          }
          context.exitCode = ExitCode.usage;
        }
      });
    });
}
