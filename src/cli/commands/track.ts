import { Command } from 'commander';
import { parseTrackingNumber } from '../../domain/tracking-number.js';
import { NotFoundError, UsageError } from '../../errors.js';
import { positiveOption } from '../../options.js';
import type * as TrackRender from '../../render/track.render.js';
import type { TrackJson, TrackRenderOptions, TrackView } from '../../render/track.render.js';

type TrackRenderer = typeof TrackRender;
import type { Shiptrack } from '../../shiptrack.js';
import { printWarnings, withShiptrack, type CommandContext } from '../program.js';

interface TrackOptions {
  cache: boolean;
  staleHours: string;
  watch?: boolean;
  oldestFirst?: boolean;
  utc?: boolean;
}

/** On a terminal without a number: ask for one, checking it as it is typed. */
async function askForNumber(context: CommandContext): Promise<string[]> {
  if (!process.stdin.isTTY || context.output.json) throw new UsageError('give at least one tracking number');
  const { askTrackingNumber } = await import('../prompts.js');
  const answer = await askTrackingNumber((value) => {
    const parsed = parseTrackingNumber(value);
    return parsed.ok ? true : parsed.reason;
  });
  return [answer];
}

export function trackCommand(context: CommandContext): Command {
  return new Command('track')
    .description('where is a package: summary and timeline (several numbers at once; a prompt on a terminal)')
    .argument('[numbers...]', 'tracking numbers: UPU S10 (RB123456785US); UPS, FedEx and USPS numbers are recognised')
    .option('--no-cache', 'read from PostgreSQL even when the answer is cached')
    .option('--stale-hours <n>', 'flag gaps of more than this many hours without a scan', '48')
    .option('--watch', 'stay and show new scans as they are recorded (Ctrl-C to stop)')
    .option('--oldest-first', 'list the journey from its first scan (default: newest first)')
    .option('--utc', 'show times in UTC rather than in each location’s zone')
    .addHelpText(
      'after',
      `
Input is forgiving: spaces, dashes and lower case are fine ("rb 1234 5678 5us").
A number that cannot be valid exits 2 with the reason (and a "did you mean" when one character
fixes it); a valid number that is not in the database exits 3.

The first line is the verdict: where the package is and whether it keeps its promise. Times are
the local time of each scan's place, with its zone (--utc for UTC). --json prints the same shape
for one number or many: {"packages": [...], "notFound": [...]} (see the README).

Examples:
  $ shiptrack track RB123456785US
  $ shiptrack track RB123456785US CP271828189US --json`,
    )
    .action(async (inputs: string[], options: TrackOptions) => {
      const staleHours = positiveOption(options.staleHours, '--stale-hours', 24 * 365);
      const words = inputs.length > 0 ? inputs : await askForNumber(context);
      if (options.watch === true && context.config().databaseUrl === undefined) {
        throw new UsageError(
          '--watch needs a PostgreSQL server: the embedded database serves one process at a time, so no scan could reach it',
          { hint: 'set SHIPTRACK_DATABASE_URL (see "Against real servers" in the README)' },
        );
      }
      await withShiptrack(context, async (shiptrack) => {
        // Every number is checked before any store is opened; the render module loads meanwhile.
        const [answer, render] = await Promise.all([
          shiptrack.track(words, { cache: options.cache }),
          import('../../render/track.render.js'),
        ]);
        await printWarnings(context, answer.warnings);
        const now = new Date();
        const views = answer.results.flatMap((r) =>
          r.package === null ? [] : [render.trackView({ ...r, package: r.package }, now, staleHours)],
        );
        const missing = answer.notFound.map((n) => n.trackingNumber);
        const shape = { oldestFirst: options.oldestFirst === true, utc: options.utc === true };
        const json: TrackJson = { packages: views.map(render.trackPackageJson), notFound: answer.notFound };
        context.output.result(json, (style) => views.map((view) => render.renderTrack(view, style, shape)).join('\n\n'));
        if (missing.length > 0) {
          // Partner carriers' numbers are recognised and named: they are not ours to find.
          const named = answer.notFound.map((n) =>
            n.carrier === null ? n.trackingNumber : `${n.trackingNumber} (${n.carrier} number)`,
          );
          const error = new NotFoundError(`not found: ${named.join(', ')}`, {
            hint: 'the number is valid but no package has it',
            details: { notFound: missing },
          });
          // With --json the result above already says what was not found: the exit code tells.
          if (views.length === 0 && !context.output.json) throw error;
          context.output.warn(error.message);
          context.exitCode = error.exitCode;
        }
        if (options.watch !== true) return;
        await watch(context, shiptrack, views, { staleHours, ...shape }, render);
      });
    });
}

/**
 * `--watch`: on a terminal the view is redrawn in place whenever a watched package changes; piped,
 * each change is printed once (a JSON line with --json).
 */
async function watch(
  context: CommandContext,
  shiptrack: Shiptrack,
  views: TrackView[],
  options: TrackRenderOptions & { staleHours: number },
  render: TrackRenderer,
): Promise<void> {
  const current = new Map(views.map((v) => [v.trackingNumber, v]));
  const inPlace = process.stdout.isTTY === true && !context.output.json;
  await shiptrack.watch([...current.keys()], {
    signal: context.signal,
    onStart: (how) => {
      if (how === 'polling') context.output.info('watching by polling PostgreSQL every 2 s (no Redis configured)');
      context.output.info(`watching ${[...current.keys()].join(', ')} — Ctrl-C to stop`);
    },
    onChange: (result) => {
      const view = render.trackView(result, new Date(), options.staleHours);
      current.set(view.trackingNumber, view);
      if (inPlace) {
        // Home and clear, then the whole view: the screen shows the present, not a scroll of pasts.
        process.stdout.write('\u001b[H\u001b[2J');
        context.output.result(null, (style) =>
          [...current.values()].map((v) => render.renderTrack(v, style, options)).join('\n\n'),
        );
      } else {
        context.output.update(render.trackPackageJson(view), (style) => render.renderTrack(view, style, options));
      }
    },
    onError: (error) => context.output.warn(`refresh failed: ${(error as Error).message}`),
  });
}
