import { Command } from 'commander';
import { configFor, withResources, type CommandContext } from '../program.js';

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
    .action(async (_options: unknown, command: Command) => {
      const config = configFor(command, context);
      await withResources(
        context,
        config,
        async (resources) => {
          const [{ runDoctor, doctorUnhealthyExitCode }, { renderDoctor }] = await Promise.all([
            import('../../services/doctor.service.js'),
            import('../../render/doctor.render.js'),
          ]);
          const report = await runDoctor(resources);
          context.output.result(report, (style) => renderDoctor(report, style));
          if (!report.healthy) context.exitCode = doctorUnhealthyExitCode;
        },
        {
          database: {
            statementTimeoutMs: Math.max(config.connectTimeoutMs, 1000),
            applicationName: 'shiptrack doctor',
            poolMax: 1,
          },
        },
      );
    });
}
