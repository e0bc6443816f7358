import { Command, Option } from 'commander';
import { parseCount } from '../../domain/report-filters.js';
import type { ProfileName, SeedSizes } from '../../domain/seed/types.js';
import { ExitCode, InterruptedError, UsageError } from '../../errors.js';
import type { CheckReport } from '../../services/check.service.js';
import type { SeedMode } from '../../services/seed.service.js';
import { configFor, withResources, type CommandContext } from '../program.js';
import { parseJobs, proofPoolMax, withJobsOption } from '../proof-jobs.js';

interface SeedCliOptions {
  profile: string;
  packages?: string;
  customers?: string;
  locations?: string;
  seed: string;
  asOf?: string;
  documents: string;
  append?: boolean;
  truncate?: boolean;
  yes?: boolean;
  verify?: boolean;
}

const profileNames: readonly ProfileName[] = ['tiny', 'small', 'medium', 'large'];

/** Start of the current UTC day: the default "now" of the generated world. */
function startOfUtcDay(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

export function seedCommand(context: CommandContext): Command {
  return new Command('seed')
    .description('load realistic, reproducible data: customers, locations, packages, shipments and their journeys')
    .addOption(new Option('--profile <name>', 'data size (DOMAIN §5)').choices(profileNames).default('tiny'))
    .option('--packages <n>', 'packages (overrides the profile)')
    .option('--customers <n>', 'customers (overrides the profile)')
    .option('--locations <n>', 'locations (overrides the profile)')
    .option('--seed <n>', 'random seed: the same seed, sizes and --as-of give the same rows', '1')
    .option('--as-of <date>', 'the "now" of the generated data (default: today 00:00 UTC)')
    .option('--documents <share>', 'share of events that also get a raw scan document, 0…1', '0.01')
    .option('--append', 'add to existing data (constraints stay on, fresh keys)')
    .option('--truncate', 'erase the seeded tables first (asks on a terminal)')
    .option('-y, --yes', 'do not ask before erasing')
    .option('--verify', 'run the consistency checks afterwards (as `shiptrack check`)')
    .addHelpText(
      'after',
      `
Profiles: tiny 1,000 packages · small 100,000 · medium 1,000,000 · large 10,000,000 (~6–8 events each).

The load is one transaction streamed with COPY: Ctrl-C or a failure leaves the tables as they
were. Into empty tables, keys, foreign keys and indexes are built after the load, then ANALYZE.
A second seed on the same database while one runs is refused (exit 4).

Examples:
  $ shiptrack seed --profile small --seed 42
  $ shiptrack seed --packages 250000 --customers 20000 --locations 300 --seed 7
  $ shiptrack seed --profile small --truncate --yes --json`,
    )
    .action(async (options: SeedCliOptions, command: Command) => {
      const { profiles } = await import('../../domain/seed/profiles.js');
      const profile = profiles[options.profile as ProfileName];
      const sizes: SeedSizes = {
        packages: options.packages === undefined ? profile.packages : parseCount(options.packages, '--packages', 0, 100_000_000),
        customers:
          options.customers === undefined ? profile.customers : parseCount(options.customers, '--customers', 2, 100_000_000),
        locations:
          options.locations === undefined ? profile.locations : parseCount(options.locations, '--locations', 2, 1_000_000),
      };
      const seed = parseCount(options.seed, '--seed', 0, 2 ** 31 - 1);
      const share = Number(options.documents);
      if (!Number.isFinite(share) || share < 0 || share > 1)
        throw new UsageError(`--documents: expected a share from 0 to 1, got "${options.documents}"`);
      let asOf = startOfUtcDay();
      if (options.asOf !== undefined) {
        asOf = new Date(options.asOf);
        if (Number.isNaN(asOf.getTime()))
          throw new UsageError(`--as-of: "${options.asOf}" is not a date (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)`);
      }
      if (options.append === true && options.truncate === true)
        throw new UsageError('--append and --truncate exclude each other');
      const mode: SeedMode = options.truncate === true ? 'truncate' : options.append === true ? 'append' : 'empty';

      const config = configFor(command, context);
      await withResources(
        context,
        config,
        async (resources) => {
          const [service, render, { createProgress }] = await Promise.all([
            import('../../services/seed.service.js'),
            import('../../render/seed.render.js'),
            import('../progress.js'),
          ]);
          const db = await resources.database();
          if (mode === 'truncate') {
            const counts = await service.countSeedTables(db);
            const erased = Object.entries(counts).filter(([, rows]) => rows > 0);
            if (erased.length > 0 && options.yes !== true) {
              const what = erased.map(([table, rows]) => `${rows.toLocaleString('en-US')} ${table}`).join(', ');
              if (!process.stdin.isTTY || !context.output.stderrIsTTY()) {
                throw new UsageError(`--truncate would erase ${what}; pass --yes to confirm when not at a terminal`);
              }
              const { confirm } = await import('../prompts.js');
              if (!(await confirm(`Erase ${what} (and their raw scan documents)?`))) {
                throw new InterruptedError('nothing was erased');
              }
            }
          }
          const progress = await createProgress(context.output);
          let summary;
          try {
            summary = await service.seedDatabase(db, {
              sizes,
              seed,
              asOf,
              mode,
              documentsShare: share,
              documentsTarget: config.mongoUrl === undefined ? 'postgres' : 'outbox',
              signal: context.signal,
              onProgress: (p) => progress.update(p.phase, p.done, p.total, p.rows),
            });
          } finally {
            progress.stop();
          }
          let delivery: { delivered: number; remaining: number; error: string | null } | undefined;
          if (config.mongoUrl !== undefined && summary.documents.count > 0) {
            const { drainOutbox } = await import('../../services/outbox.service.js');
            const store = await resources.documents();
            await store.ensureSchema();
            // The relational tables were emptied in the seed's transaction; MongoDB follows here.
            if (mode === 'truncate') await store.deleteAllRawScans();
            delivery = await drainOutbox(db.knex, store, { signal: context.signal });
            if (delivery.error !== null) {
              context.output.warn(
                `MongoDB did not take the raw scans (${delivery.error}); ${delivery.remaining} wait in the outbox for \`shiptrack outbox drain\``,
              );
            }
          }
          let checks: CheckReport | undefined;
          if (options.verify === true) {
            const { runConsistencyChecks } = await import('../../services/check.service.js');
            checks = await runConsistencyChecks(db, { connections: 2, signal: context.signal });
            if (!checks.ok) context.exitCode = ExitCode.conflict;
          }
          const result = {
            ...summary,
            ...(delivery === undefined ? {} : { delivery }),
            ...(checks === undefined ? {} : { checks }),
          };
          context.output.result(result, (style) =>
            [
              render.renderSeedSummary(summary, style),
              ...(checks === undefined ? [] : [render.renderCheckReport(checks, style)]),
            ].join('\n'),
          );
        },
        // --verify proves on two connections, and a third cancels them on Ctrl-C.
        { database: { applicationName: 'shiptrack seed', statementTimeoutMs: 0, poolMax: 3 } },
      );
    });
}

export function checkCommand(context: CommandContext): Command {
  return withJobsOption(
    new Command('check').description(
      'consistency checks over the data: status = last event, legal transitions, delivered ⇒ actual_delivery, valid tracking numbers',
    ),
  )
    .addHelpText(
      'after',
      [
        '',
        'It proves every package against its whole history. A clean proof is recorded: the next',
        '`report consistency` proves only the packages changed since.',
        'Exits 4 when any check finds violations, so it can run from cron.',
      ].join('\n'),
    )
    .action(async (options: { jobs: string }, command: Command) => {
      const config = configFor(command, context);
      const connections = parseJobs(options.jobs);
      await withResources(
        context,
        config,
        async (resources) => {
          const [{ runConsistencyChecks }, { renderCheckReport }] = await Promise.all([
            import('../../services/check.service.js'),
            import('../../render/seed.render.js'),
          ]);
          const report = await runConsistencyChecks(await resources.database(), { connections, signal: context.signal });
          context.output.result(report, (style) => renderCheckReport(report, style));
          if (!report.ok) context.exitCode = ExitCode.conflict;
        },
        { database: { applicationName: 'shiptrack check', statementTimeoutMs: 0, poolMax: proofPoolMax } },
      );
    });
}
