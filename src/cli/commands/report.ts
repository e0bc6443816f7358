import { Command, Option } from 'commander';
import { parseAsOf, parseCount, parseDay, parseMetadataFilters, parseSince } from '../../domain/report-filters.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { ReportResult } from '../../services/reports/report.js';
import type { OpenDatabaseOptions } from '../../store/database.js';
import type { Resources } from '../../store/resources.js';
import { configFor, withResources, type CommandContext } from '../program.js';
import { parseJobs, proofPoolMax, withJobsOption } from '../proof-jobs.js';

type Format = 'table' | 'csv' | 'markdown' | 'json';

interface CommonOptions {
  format: Format;
  table?: string;
  explain?: boolean;
  asOf?: string;
}

interface ReportDefinition {
  name: string;
  summary: string;
  /** Defines the report's own arguments and options. */
  define?: (command: Command) => Command;
  run: (
    resources: Resources,
    common: { now: Date; explain: boolean; signal: AbortSignal },
    args: string[],
    options: ReportOptionValues,
  ) => Promise<ReportResult>;
  examples: string[];
  /** How this report opens the database, when not with the configured defaults. */
  database?: OpenDatabaseOptions;
}

/** A report's own options as commander parses them: values, lists, and flags. */
type ReportOptionValues = Record<string, string | string[] | boolean>;

const str = (options: ReportOptionValues, key: string): string => {
  const v = options[key];
  return Array.isArray(v) ? (v[0] ?? '') : typeof v === 'string' ? v : '';
};

const reports: ReportDefinition[] = [
  {
    name: 'status',
    summary: 'packages by current status, with shares',
    run: async (resources, common) =>
      (await import('../../services/reports/packages.report.js')).runStatusReport(await resources.database(), common),
    examples: ['shiptrack report status', 'shiptrack report status --format markdown'],
  },
  {
    name: 'overdue',
    summary: 'past the estimated delivery and not delivered, oldest first',
    define: (c) => c.option('--limit <n>', 'packages to list (1–10,000)', '50'),
    run: async (resources, common, _args, o) =>
      (await import('../../services/reports/packages.report.js')).runOverdueReport(await resources.database(), {
        ...common,
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
      }),
    examples: ['shiptrack report overdue --limit 20', 'shiptrack report overdue --format csv > overdue.csv'],
  },
  {
    name: 'lanes',
    summary: 'on-time rate and lateness percentiles per origin → destination',
    define: (c) =>
      c
        .option('--since <when>', 'deliveries since: a duration (30d, 12h, 2w) or a date', '30d')
        .addOption(new Option('--by <level>', 'what a lane joins').choices(['state', 'city', 'location']).default('state'))
        .option('--min-shipments <n>', 'lanes with fewer deliveries are not ranked', '20')
        .option('--limit <n>', 'lanes to list, worst first', '20'),
    run: async (resources, common, _args, o) =>
      (await import('../../services/reports/network.report.js')).runLanesReport(await resources.database(), {
        ...common,
        since: parseSince(str(o, 'since'), common.now),
        by: str(o, 'by') as 'state',
        minShipments: parseCount(str(o, 'minShipments'), '--min-shipments', 1, 1_000_000),
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
      }),
    examples: [
      'shiptrack report lanes --since 30d',
      'shiptrack report lanes --by city --min-shipments 50 --format csv > lanes.csv',
    ],
  },
  {
    name: 'facilities',
    summary: 'scans, exceptions, dwell and scans per hour per facility on one day',
    define: (c) =>
      c
        .option('--day <day>', 'the UTC day: YYYY-MM-DD, today or yesterday', 'yesterday')
        .addOption(new Option('--sort <by>', 'rank by').choices(['scans', 'exceptions']).default('scans'))
        .option('--limit <n>', 'facilities to list', '20'),
    run: async (resources, common, _args, o) =>
      (await import('../../services/reports/network.report.js')).runFacilitiesReport(await resources.database(), {
        ...common,
        day: parseDay(str(o, 'day'), common.now),
        sort: str(o, 'sort') as 'scans',
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
      }),
    examples: ['shiptrack report facilities --day 2026-11-20', 'shiptrack report facilities --sort exceptions --limit 10'],
  },
  {
    name: 'stale',
    summary: 'in flight with no scan for N hours',
    define: (c) =>
      c.option('--hours <n>', 'silence that makes a package stale', '48').option('--limit <n>', 'packages to list', '50'),
    run: async (resources, common, _args, o) =>
      (await import('../../services/reports/packages.report.js')).runStaleReport(await resources.database(), {
        ...common,
        hours: parseCount(str(o, 'hours'), '--hours', 1, 24 * 365),
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
      }),
    examples: ['shiptrack report stale --hours 48'],
  },
  {
    name: 'exceptions',
    summary: 'exceptions and failed attempts by reason and facility',
    define: (c) =>
      c.option('--since <when>', 'a duration (7d, 48h) or a date', '7d').option('--limit <n>', 'facilities to list', '20'),
    run: async (resources, common, _args, o) => {
      const { runExceptionsReport, reasonsFromDocuments } = await import('../../services/reports/network.report.js');
      return runExceptionsReport(await resources.database(), {
        ...common,
        since: parseSince(str(o, 'since'), common.now),
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
        reasons: reasonsFromDocuments(() => resources.documents()),
      });
    },
    examples: ['shiptrack report exceptions --since 7d'],
  },
  {
    name: 'customer',
    summary: "one customer's sent and received packages",
    define: (c) => c.argument('<id|email>', 'customer id or e-mail address').option('--limit <n>', 'packages to list', '50'),
    run: async (resources, common, args, o) => {
      const customer = (args[0] ?? '').trim();
      if (customer === '' || customer.length > 320) {
        throw new UsageError('customer: give a customer id (digits) or an e-mail address');
      }
      // Printable ASCII only: control and direction-changing characters never reach a query.
      if (!/^\d{1,18}$/.test(customer) && !/^[!-?A-~]+@[!-?A-~]+$/.test(customer)) {
        throw new UsageError(`customer: ${JSON.stringify(customer)} is neither a customer id nor an e-mail address`);
      }
      return (await import('../../services/reports/packages.report.js')).runCustomerReport(await resources.database(), {
        ...common,
        customer,
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
      });
    },
    examples: ['shiptrack report customer 42', 'shiptrack report customer ada@example.com --json'],
  },
  {
    name: 'metadata',
    summary: 'packages whose JSONB metadata matches --where key=value',
    define: (c) =>
      c
        .option(
          '--where <key=value>',
          'repeatable; all must hold (a.b=1 reaches into objects)',
          (v: string, acc: string[]) => [...acc, v],
          [] as string[],
        )
        .option('--limit <n>', 'packages to list', '20'),
    run: async (resources, common, _args, o) => {
      const where = o.where;
      return (await import('../../services/reports/packages.report.js')).runMetadataReport(await resources.database(), {
        ...common,
        filter: parseMetadataFilters(Array.isArray(where) ? where : []),
        limit: parseCount(str(o, 'limit'), '--limit', 1, 10_000),
      });
    },
    examples: [
      'shiptrack report metadata --where fragile=true',
      'shiptrack report metadata --where service=express --where signature_required=true',
    ],
  },
  {
    name: 'db',
    summary: 'DBA: sizes, unused and duplicate indexes, cache hit ratio, dead tuples, slowest statements',
    define: (c) => c.option('--limit <n>', 'rows per table', '20'),
    run: async (resources, common, _args, o) =>
      (await import('../../services/reports/db.report.js')).runDbReport(await resources.database(), {
        ...common,
        limit: parseCount(str(o, 'limit'), '--limit', 1, 1000),
      }),
    examples: ['shiptrack report db', 'shiptrack report db --format markdown > db-health.md'],
  },
  {
    name: 'benchmarks',
    summary: 'stored benchmark runs, newest first, with their headline latencies',
    define: (c) => c.option('--limit <n>', 'runs to list', '20').option('--suite <name>', 'only runs of this suite'),
    run: async (resources, common, _args, o) => {
      const { runBenchmarksReport } = await import('../../services/reports/benchmarks.report.js');
      const suite = str(o, 'suite');
      return runBenchmarksReport(await resources.documents(), {
        ...common,
        limit: parseCount(str(o, 'limit'), '--limit', 1, 1000),
        suite: suite === '' ? undefined : suite,
      });
    },
    examples: ['shiptrack report benchmarks', 'shiptrack report benchmarks --suite tuning --json'],
  },
  {
    name: 'consistency',
    summary: 'cross-store checks; exits 4 when anything is wrong (for cron)',
    define: (c) =>
      withJobsOption(c)
        .option('--sample <n>', 'raw scan documents to compare with their events', '500')
        .option('--packages <n>', 'spot check: prove only n packages drawn at random, with their whole histories (default: all)')
        .option('--full', 'prove every package, not only those changed since the last full proof')
        .addHelpText(
          'after',
          [
            '',
            'It proves every package against its whole history. The first run reads them all (seconds at',
            '1M packages, minutes at 10M) and records the proof when it is clean; later runs read only the',
            'packages changed since, which triggers list as they are written (at 1M packages: ~65 ms for',
            '1,000 changed, ~330 ms for 10,000). After a seed, a TRUNCATE, a proof that found violations or',
            'a release with other checks, the next run is full again.',
            'A read-only role or a standby builds on the proof recorded on the primary but cannot',
            'record its own: the changes it proves stay listed until a writing run on the primary.',
            'After a failover, a restore, or writes with the triggers disabled, run --full.',
            'Like `check`, it runs without the statement timeout; Ctrl-C cancels it on the server.',
            '--jobs 1 leaves the database a core to spare; more jobs help when it has idle cores.',
          ].join('\n'),
        ),
    run: async (resources, common, _args, o) => {
      const { runConsistencyReport } = await import('../../services/reports/consistency.report.js');
      const packages = str(o, 'packages');
      const settings = {
        sample: parseCount(str(o, 'sample'), '--sample', 0, 100_000),
        packages: packages === '' ? undefined : parseCount(packages, '--packages', 1, 1_000_000),
        connections: parseJobs(str(o, 'jobs')),
        full: o['full'] === true,
      };
      if (settings.full && settings.packages !== undefined) {
        throw new UsageError('--full and --packages ask for different proofs: every package, or a random few');
      }
      return runConsistencyReport(await resources.database(), await resources.documents(), { ...common, ...settings });
    },
    examples: [
      'shiptrack report consistency || alert-oncall                    # every few minutes: the packages changed since the last proof',
      'shiptrack report consistency --full || alert-oncall             # weekly: every package again',
      'shiptrack report consistency --packages 10000                   # a spot check of 10,000 packages drawn at random',
    ],
    // It reads every event by design (minutes at 80M events), like `check`: no statement timeout.
    database: { statementTimeoutMs: 0, applicationName: 'shiptrack report consistency', poolMax: proofPoolMax },
  },
];

function addCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'markdown', 'json']).default('table'))
    .option('--table <name>', 'for csv: which of the report’s tables (default: its last, the detail)')
    .option('--explain', 'print each query’s plan (EXPLAIN ANALYZE, BUFFERS); runs each query twice')
    .option('--as-of <time>', 'compute relative windows (30d, yesterday, overdue) as of this time (default: now)');
}

async function printReport(context: CommandContext, result: ReportResult, options: CommonOptions): Promise<void> {
  const render = await import('../../render/report.render.js');
  const format: Format = context.output.json ? 'json' : options.format;
  if (format === 'json') {
    process.stdout.write(`${context.output.scrub(JSON.stringify(result, null, 2))}\n`);
  } else if (format === 'csv') {
    const table = render.pickTable(result, options.table);
    if (table === undefined) {
      throw new UsageError(
        `--table: this report has no table "${options.table ?? ''}"; it has ${result.tables.map((t) => t.name).join(', ')}`,
      );
    }
    process.stdout.write(context.output.scrub(render.renderReportCsv(table)));
  } else if (format === 'markdown') {
    process.stdout.write(context.output.scrub(render.renderReportMarkdown(result)));
  } else {
    context.output.result(result, (style) => render.renderReportText(result, style));
  }
  if (!result.ok) context.exitCode = ExitCode.conflict;
}

function listReports(): string {
  const width = Math.max(...reports.map((r) => r.name.length));
  return reports.map((r) => `  ${r.name.padEnd(width)}  ${r.summary}`).join('\n');
}

export function reportCommand(context: CommandContext): Command {
  const report = new Command('report')
    .description(
      'answer the questions ops and DBAs ask: status, overdue, lanes, facilities, stale, exceptions, customer, metadata, db, consistency',
    )
    .addHelpText(
      'after',
      `
Reports:
${listReports()}

Every report prints tables by default, and speaks --json and --format csv|markdown|json.
Reports only read, in one READ ONLY transaction: a role granted pg_read_all_data (and
pg_read_all_stats for \`report db\`) can run them. Times are UTC.

Examples:
  $ shiptrack report overdue --limit 50
  $ shiptrack report lanes --since 30d --format csv > lanes.csv
  $ shiptrack report facilities --day 2026-11-20 --explain`,
    )
    .argument('[report]', 'the report to run (see the list below)')
    .action((name: string | undefined) => {
      if (name !== undefined) {
        const close = reports.map((r) => r.name).filter((r) => r.startsWith(name.slice(0, 2).toLowerCase()));
        throw new UsageError(
          `unknown report '${name}'${close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : ''}; the reports are ${reports.map((r) => r.name).join(', ')}`,
        );
      }
      const rows = reports.map((r) => ({ report: r.name, description: r.summary }));
      context.output.result(
        { reports: rows },
        (style) => `${style.bold('Reports')} (shiptrack report <name> --help)\n${listReports()}`,
      );
    });
  for (const definition of reports) {
    let sub = new Command(definition.name).description(definition.summary);
    if (definition.define !== undefined) sub = definition.define(sub);
    addCommonOptions(sub)
      .addHelpText('after', `\nExamples:\n${definition.examples.map((e) => `  $ ${e}`).join('\n')}`)
      .action(async (...params: unknown[]) => {
        const command = params[params.length - 1] as Command;
        const args = command.args;
        const options = command.opts<CommonOptions & ReportOptionValues>();
        if (context.output.json && options.format !== 'table' && options.format !== 'json') {
          throw new UsageError(`--json and --format ${options.format} exclude each other`);
        }
        const now = parseAsOf(options.asOf);
        const config = configFor(command, context);
        await withResources(
          context,
          config,
          async (resources) => {
            const common = { now, explain: options.explain === true, signal: context.signal };
            const result = await definition.run(resources, common, args, options);
            await printReport(context, result, options);
          },
          definition.database === undefined ? {} : { database: definition.database },
        );
      });
    report.addCommand(sub);
  }
  return report;
}
