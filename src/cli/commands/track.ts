import { Command } from 'commander';
import { parseTrackingNumber } from '../../domain/tracking-number.js';
import { NotFoundError, UsageError } from '../../errors.js';
import { databaseTarget } from '../../store/database.js';
import type { TrackSource } from '../../store/track-query.js';
import { configFor, withResources, type CommandContext } from '../program.js';

interface TrackOptions {
  cache: boolean;
  staleHours: string;
  watch?: boolean;
}

function usageErrorFor(parsed: Extract<ReturnType<typeof parseTrackingNumber>, { ok: false }>): UsageError {
  const hint =
    parsed.didYouMean !== undefined && parsed.didYouMean.length > 0
      ? `did you mean ${parsed.didYouMean.slice(0, 3).join(' or ')}?`
      : undefined;
  return new UsageError(parsed.reason, { hint, details: { input: parsed.input, reason: parsed.code } });
}

/**
 * Validates every number before any store is opened: bad input never reaches a query. Words are
 * joined when together they make one number, so both `track N1 N2` and `track rb 1234 5678 5us`
 * work; when nothing fits, the most specific complaint (a wrong check digit) is reported.
 */
export function parseNumbers(words: readonly string[]): string[] {
  const numbers: string[] = [];
  let i = 0;
  while (i < words.length) {
    let taken = 0;
    let specific: Extract<ReturnType<typeof parseTrackingNumber>, { ok: false }> | undefined;
    for (let j = Math.min(words.length, i + 6); j > i; j -= 1) {
      const parsed = parseTrackingNumber(words.slice(i, j).join(''));
      if (parsed.ok) {
        numbers.push(parsed.number);
        taken = j - i;
        break;
      }
      if (parsed.code === 'check_digit' && specific === undefined) specific = parsed;
    }
    if (taken === 0) {
      // j = i + 1 was tried above, so the word alone is not a number either.
      const alone = parseTrackingNumber(words[i] ?? '');
      if (!alone.ok) throw usageErrorFor(specific ?? alone);
      numbers.push(alone.number);
      taken = 1;
    }
    i += taken;
  }
  return numbers;
}

export function trackCommand(context: CommandContext): Command {
  return new Command('track')
    .description('where is a package: summary and timeline (several numbers at once; a prompt on a terminal)')
    .argument('[numbers...]', 'tracking numbers: UPU S10 (RB123456785US); UPS, FedEx and USPS numbers are recognised')
    .option('--no-cache', 'read from PostgreSQL even when the answer is cached')
    .option('--stale-hours <n>', 'flag gaps of more than this many hours without a scan', '48')
    .option('--watch', 'stay and show new scans as they are recorded (Ctrl-C to stop)')
    .addHelpText(
      'after',
      `
Input is forgiving: spaces, dashes and lower case are fine ("rb 1234 5678 5us").
A number that cannot be valid exits 2 with the reason (and a "did you mean" when one character
fixes it); a valid number that is not in the database exits 3.

Examples:
  $ shiptrack track RB123456785US
  $ shiptrack track RB123456785US CP271828189US --json`,
    )
    .action(async (inputs: string[], options: TrackOptions, command: Command) => {
      const staleHours = Number(options.staleHours);
      if (!Number.isFinite(staleHours) || staleHours <= 0) {
        throw new UsageError(`--stale-hours: expected a positive number of hours, got "${options.staleHours}"`);
      }
      let raw = inputs;
      if (raw.length === 0) {
        if (!process.stdin.isTTY || context.output.json) throw new UsageError('give at least one tracking number');
        const { askTrackingNumber } = await import('../prompts.js');
        raw = [
          await askTrackingNumber((value) => {
            const parsed = parseTrackingNumber(value);
            return parsed.ok ? true : parsed.reason;
          }),
        ];
      }
      const numbers = parseNumbers(raw);
      const config = configFor(command, context);
      if (options.watch === true && config.databaseUrl === undefined) {
        throw new UsageError(
          '--watch needs a PostgreSQL server: the embedded database serves one process at a time, so no scan could reach it',
          {
            hint: 'set SHIPTRACK_DATABASE_URL (see "Against real servers" in the README)',
          },
        );
      }
      await withResources(
        context,
        config,
        async (resources) => {
          const [{ createTracker }, { createTrackCache, trackCachePrefix }, render] = await Promise.all([
            import('../../services/track.service.js'),
            import('../../store/track-cache.js'),
            import('../../render/track.render.js'),
          ]);
          const warnCache = (error: unknown): void =>
            context.output.warn(
              `cache unavailable (${error instanceof Error ? error.message : 'Redis error'}); answering from PostgreSQL`,
            );
          // Database and Redis connect at the same time; a dead Redis costs at most its timeout.
          // On a server, a plain pg connection: knex is not loaded for a one-query command.
          // The database is opened only when the cache cannot answer: a cache hit loads no pg.
          const openSource = async (): Promise<TrackSource> => {
            const client = await resources.sqlClient();
            if (client !== undefined) return { kind: 'client', client };
            return { kind: 'database', db: await resources.database() };
          };
          const target = databaseTarget(config);
          const redis = options.cache
            ? await resources.redis().catch((error: unknown) => (warnCache(error), undefined))
            : undefined;
          const tracker = createTracker({
            source: openSource,
            cache:
              redis === undefined
                ? undefined
                : createTrackCache(redis, { ttlMs: 60_000, negativeTtlMs: 10_000, prefix: trackCachePrefix(target) }),
            onCacheError: warnCache,
          });
          const now = new Date();
          const results = await Promise.all(numbers.map((n) => tracker.track(n, { useCache: options.cache })));
          const found = results.flatMap((r) =>
            r.package === null ? [] : [render.trackView({ ...r, package: r.package }, now, staleHours)],
          );
          const missing = results.filter((r) => r.package === null).map((r) => r.trackingNumber);
          context.output.result(
            numbers.length === 1 && found.length === 1 ? found[0] : { packages: found, notFound: missing },
            (style) => found.map((view) => render.renderTrack(view, style)).join('\n\n'),
          );
          if (missing.length > 0) {
            // Partner carriers' numbers are recognised and named: they are not ours to find.
            const named = missing.map((n) => {
              const parsed = parseTrackingNumber(n);
              return parsed.ok && parsed.format !== 's10' ? `${n} (${parsed.carrier} number)` : n;
            });
            const error = new NotFoundError(`not found: ${named.join(', ')}`, {
              hint: 'the number is valid but no package has it',
              details: { notFound: missing },
            });
            if (found.length === 0) throw error;
            context.output.warn(error.message);
            context.exitCode = error.exitCode;
          }
          if (options.watch === true) {
            const { watchPackages } = await import('../watch.js');
            await watchPackages({
              context,
              numbers: found.map((v) => v.trackingNumber),
              redis,
              channel: (await import('../../store/track-cache.js')).eventChannel(target),
              refresh: async (n) => {
                const r = await tracker.track(n, { useCache: false });
                return r.package === null ? undefined : render.trackView({ ...r, package: r.package }, new Date(), staleHours);
              },
              render: render.renderTrack,
            });
          }
        },
        { redisConnectTimeoutMs: config.redisCommandTimeoutMs },
      );
    });
}
