import { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { jobsOption } from '../../services/reports/registry.js';
import { withShiptrack, type CommandContext } from '../program.js';

export function checkCommand(context: CommandContext): Command {
  return new Command('check')
    .description(
      'consistency checks over the data: status = last event, legal transitions, delivered ⇒ actual_delivery, valid tracking numbers',
    )
    .option(jobsOption.flags, jobsOption.description, jobsOption.default)
    .addHelpText(
      'after',
      [
        '',
        'It proves every package against its whole history. A clean proof is recorded: the next',
        '`report consistency` proves only the packages changed since.',
        'Exits 4 when any check finds violations, so it can run from cron.',
      ].join('\n'),
    )
    .action(async (options: { jobs: string }) => {
      await withShiptrack(context, async (shiptrack) => {
        const [report, { renderCheckReport }] = await Promise.all([
          shiptrack.check({ jobs: options.jobs }),
          import('../../render/seed.render.js'),
        ]);
        context.output.result(report, (style) => renderCheckReport(report, style));
        if (!report.ok) context.exitCode = ExitCode.conflict;
      });
    });
}
