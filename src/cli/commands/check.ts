import { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { fitProse } from '../../render/text.js';
import { jobsOption } from '../../services/reports/registry.js';
import { withShiptrack, type CommandContext } from '../program.js';
import { formatNumber } from '../../domain/units.js';

export function checkCommand(context: CommandContext): Command {
  return new Command('check')
    .description(
      'consistency checks over the data: status = last event, legal transitions, delivered ⇒ actual_delivery, valid tracking numbers',
    )
    .option(jobsOption.flags, jobsOption.description, jobsOption.default)
    .option(
      '--repair-rollups',
      'rebuild the maintained rollups (per status, in flight, per lane and day, per facility and day) from the data, then check; writes wait meanwhile',
    )
    .addHelpText(
      'after',
      [
        '',
        'It proves every package against its whole history. A clean proof is recorded:',
        'the next `report consistency` proves only the packages changed since.',
        'Exits 4 when any check finds violations, so it can run from cron.',
        '',
        'The rollups that status, overdue, stale, lanes and facilities read are kept',
        'by triggers. Writes that bypass triggers (session_replication_role = replica,',
        'a restore with triggers disabled) leave them stale: in_flight_rollup,',
        'status_counts_rollup, lane_counts_rollup, city_lane_counts_rollup or',
        'facility_counts_rollup then fails, and --repair-rollups rebuilds them.',
        'Meanwhile packages, shipments, tracking_events and locations take no writes',
        '(getting the lock waits up to lock_timeout); reads go on.',
        'Seconds at medium, a minute or more at large.',
        '',
        'Examples:',
        '  $ shiptrack check --jobs 4',
        '  $ shiptrack check --repair-rollups',
      ].join('\n'),
    )
    .action(async (options: { jobs: string; repairRollups?: boolean }) => {
      await withShiptrack(context, async (shiptrack) => {
        const [report, { renderCheckReport }] = await Promise.all([
          shiptrack.check({ jobs: options.jobs, repairRollups: options.repairRollups === true }),
          import('../../render/seed.render.js'),
        ]);
        const { repair } = report;
        if (repair !== undefined) {
          const n = formatNumber;
          const line =
            `rollups rebuilt in ${(repair.elapsedMs / 1000).toFixed(1)} s: ${n(repair.differed.inFlight)} in-flight rows, ` +
            `${n(repair.differed.statusCounts)} status groups, ${n(repair.differed.laneCounts)} state lane days, ` +
            `${n(repair.differed.cityLaneCounts)} city lane days and ${n(repair.differed.facilityCounts)} facility days differed; ` +
            `now ${n(repair.rebuilt.inFlight)} packages in flight`;
          for (const part of fitProse(line, context.output.stderrStyle, '  ')) context.output.info(part);
        }
        context.output.result(report, (style) => renderCheckReport(report, style));
        if (!report.ok) context.exitCode = ExitCode.conflict;
      });
    });
}
