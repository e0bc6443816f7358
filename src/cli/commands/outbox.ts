import { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { withShiptrack, type CommandContext } from '../program.js';
import { formatNumber } from '../../domain/units.js';

export function outboxCommand(context: CommandContext): Command {
  const outbox = new Command('outbox').description(
    'documents waiting in PostgreSQL for the document store (transactional outbox)',
  );
  outbox.addCommand(
    new Command('drain')
      .description('deliver every due document now; safe to repeat (delivery is idempotent)')
      .action(async () => {
        await withShiptrack(context, async (shiptrack) => {
          const result = await shiptrack.outbox.drain();
          context.output.result(result, (style) =>
            [
              `${style.ok('delivered')} ${formatNumber(result.delivered)}, waiting ${formatNumber(result.remaining)}`,
              ...(result.error === null ? [] : [style.bad(`delivery failed: ${result.error}`)]),
            ].join('\n'),
          );
          if (result.error !== null) context.exitCode = ExitCode.unavailable;
        });
      }),
  );
  outbox.addCommand(
    new Command('status').description('how many documents wait, and since when').action(async () => {
      await withShiptrack(context, async (shiptrack) => {
        const status = await shiptrack.outbox.status();
        context.output.result(status, (style) =>
          status.waiting === 0
            ? style.ok('outbox empty: every document was delivered')
            : `${formatNumber(status.waiting)} waiting, oldest from ${status.oldest?.toISOString() ?? '—'}` +
              (status.lastError === null ? '' : `\n${style.bad(`last error: ${status.lastError}`)}`),
        );
      });
    }),
  );
  return outbox;
}
