import { Command, Option } from 'commander';
import { ExitCode, UsageError } from '../../errors.js';
import type { ReportResult } from '../../services/reports/report.js';
import { findReport, reports, type ReportDefinition, type ReportValues } from '../../services/reports/registry.js';
import { withShiptrack, type CommandContext } from '../program.js';

type Format = 'table' | 'csv' | 'markdown' | 'json';

interface CommonOptions {
  format: Format;
  table?: string;
  explain?: boolean;
  asOf?: string;
}

function addCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'markdown', 'json']).default('table'))
    .option('--table <name>', 'for csv: which of the report’s tables (default: its last, the detail)')
    .option('--explain', 'print each query’s plan (EXPLAIN ANALYZE, BUFFERS); runs each query twice')
    .option('--as-of <time>', 'compute relative windows (30d, yesterday, overdue) as of this time (default: now)')
    .option('--primary', 'read the primary even when read replicas are configured (SHIPTRACK_REPLICA_URLS)');
}

/** A report's own arguments and options, defined from the registry. */
function defineReport(definition: ReportDefinition): Command {
  const command = new Command(definition.name).description(definition.summary);
  if (definition.argument !== undefined) command.argument(definition.argument.name, definition.argument.description);
  for (const spec of definition.options) {
    const option = new Option(spec.flags, spec.description);
    if (spec.choices !== undefined) option.choices(spec.choices);
    if (spec.default !== undefined) option.default(spec.default);
    if (spec.repeatable === true) option.argParser((v: string, acc: string[] | undefined) => [...(acc ?? []), v]);
    command.addOption(option);
  }
  const help = [...(definition.help === undefined ? [] : ['', ...definition.help]), '', 'Examples:'];
  return addCommonOptions(command).addHelpText(
    'after',
    `${help.join('\n')}\n${definition.examples.map((e) => `  $ ${e}`).join('\n')}`,
  );
}

async function printReport(context: CommandContext, result: ReportResult, options: CommonOptions): Promise<void> {
  const render = await import('../../render/report.render.js');
  const format: Format = context.output.json ? 'json' : options.format;
  if (format === 'json') {
    process.stdout.write(`${context.output.scrub(JSON.stringify(render.reportForJson(result), null, 2))}\n`);
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
Every report prints tables by default, and speaks --json and --format csv|markdown|json.
Reports only read (one READ ONLY transaction, or one statement alone): a role granted pg_read_all_data (and
pg_read_all_stats for \`report db\`) can run them. Times are UTC. With read replicas
configured, every report but db and consistency reads one within the lag bound (--primary:
the primary).

Examples:
  $ shiptrack report overdue --limit 50
  $ shiptrack report lanes --since 30d --format csv > lanes.csv
  $ shiptrack report facilities --day 2026-11-20 --explain`,
    )
    .argument('[report]', 'the report to run (see Commands above)')
    .action((name: string | undefined) => {
      if (name !== undefined) {
        // An exact name is a subcommand of its own: what comes here is a misspelling, or another case.
        const match = findReport(name);
        throw new UsageError(`unknown report '${name}' (did you mean ${match.name}?); report names are lower case`);
      }
      const rows = reports.map((r) => ({ report: r.name, description: r.summary }));
      context.output.result(
        { reports: rows },
        (style) => `${style.bold('Reports')} (shiptrack report <name> --help)\n${listReports()}`,
      );
    });
  for (const definition of reports) {
    const sub = defineReport(definition).action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command;
      const options = command.opts<CommonOptions & ReportValues>();
      if (context.output.json && options.format !== 'table' && options.format !== 'json') {
        throw new UsageError(`--json and --format ${options.format} exclude each other`);
      }
      const values: ReportValues = { ...options, asOf: options.asOf, explain: options.explain === true };
      if (definition.argument !== undefined) values[definition.argument.key] = command.args[0];
      await withShiptrack(context, async (shiptrack) => {
        const result = await shiptrack.report(definition.name, values);
        await printReport(context, result, options);
      });
    });
    report.addCommand(sub);
  }
  return report;
}
