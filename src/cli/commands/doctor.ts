import { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { withShiptrack, type CommandContext } from '../program.js';

export function doctorCommand(context: CommandContext): Command {
  return new Command('doctor')
    .description('check each store: mode, reachable, version, round-trip latency, migration state')
    .addHelpText(
      'after',
      `
Modes: PostgreSQL "server" or "embedded" (PGlite under SHIPTRACK_HOME); Redis "server" or "off"
(no cache); MongoDB "server" or "postgres" (documents in JSONB tables).
Exits 5 when a configured store is unreachable; every check is bounded by SHIPTRACK_CONNECT_TIMEOUT.`,
    )
    .action(async () => {
      await withShiptrack(context, async (shiptrack) => {
        const [report, { renderDoctor }] = await Promise.all([shiptrack.doctor(), import('../../render/doctor.render.js')]);
        context.output.result(report, (style) => renderDoctor(report, style));
        if (!report.healthy) context.exitCode = ExitCode.unavailable;
      });
    });
}
