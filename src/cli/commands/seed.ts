import { Command, Option } from 'commander';
import { profileNames } from '../../domain/seed/profiles.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { SeedMode, SeedTable } from '../../services/seed.service.js';
import { printWarnings, withShiptrack, type CommandContext } from '../program.js';
import { formatNumber } from '../../domain/units.js';

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

/** Before a truncate erases rows: ask at a terminal; refuse elsewhere unless --yes was given. */
function confirmEraseAt(context: CommandContext) {
  return async (rows: Record<SeedTable, number>): Promise<boolean> => {
    const what = Object.entries(rows)
      .filter(([, n]) => n > 0)
      .map(([table, n]) => `${formatNumber(n)} ${table}`)
      .join(', ');
    if (!process.stdin.isTTY || !context.output.stderrIsTTY()) {
      throw new UsageError(`--truncate would erase ${what}; pass --yes to confirm when not at a terminal`);
    }
    const { confirm } = await import('../prompts.js');
    return confirm(`Erase ${what} (and their raw scan documents)?`);
  };
}

/** `seed run [name…]`: the seed files, in name order, in one transaction. */
function seedRunCommand(context: CommandContext): Command {
  return new Command('run')
    .description("run the seed files: shiptrack's seeds/, then yours (SHIPTRACK_SEEDS_DIR), in name order")
    .argument('[name...]', 'only these seed files (default: all of them)')
    .addHelpText(
      'after',
      `
Each file is a module exporting seed(knex, shiptrack). Running them again changes nothing:
rows are upserted on their natural keys (e-mail, location name, tracking number), scans go
through the write path (idempotent, judged by the state machine), and a file's times count
from when it was first applied here. The run is one transaction, proven by the consistency
checks: a file that breaks a rule is named with its line, and nothing is applied (exit 4).

shiptrack's own: 01_locations (real facilities), 02_demo_world (a dozen packages, each
with a story: on time, late, out for delivery, customs, returned, stale…).

Examples:
  $ shiptrack seed run                          every seed file, then try the numbers it prints
  $ shiptrack seed run 01_locations             only the reference facilities
  $ SHIPTRACK_SEEDS_DIR=./my-seeds shiptrack seed run   yours too, after shiptrack's
  $ shiptrack seed run --json                   what each file wrote, as JSON`,
    )
    .action(async (names: string[]) => {
      await withShiptrack(context, async (shiptrack) => {
        const render = await import('../../render/seed.render.js');
        const report = await shiptrack.seeds.run({ names });
        await printWarnings(context, report.warnings);
        context.output.result(report, (style) => render.renderSeedRun(report, style));
      });
    });
}

/** `seed list`: the seed files and whether each was applied to this database. */
function seedListCommand(context: CommandContext): Command {
  return new Command('list')
    .description('the seed files, and whether and when each was applied to this database')
    .addHelpText(
      'after',
      `
States: "not applied"; "applied" (the file as it is now); "changed since applied" (the
next \`seed run\` applies it again, idempotently).

Examples:
  $ shiptrack seed list
  $ SHIPTRACK_SEEDS_DIR=./my-seeds shiptrack seed list --json`,
    )
    .action(async () => {
      await withShiptrack(context, async (shiptrack) => {
        const render = await import('../../render/seed.render.js');
        const listing = await shiptrack.seeds.list();
        context.output.result(listing, (style) => render.renderSeedList(listing, style));
      });
    });
}

export function seedCommand(context: CommandContext): Command {
  return new Command('seed')
    .description('load realistic, reproducible data at volume (--profile), or run the seed files (seed run, seed list)')
    .addCommand(seedRunCommand(context))
    .addCommand(seedListCommand(context))
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

Seed files (small, readable, a known state): \`shiptrack seed run --help\`.

Examples:
  $ shiptrack seed --profile small --seed 42
  $ shiptrack seed --packages 250000 --customers 20000 --locations 300 --seed 7
  $ shiptrack seed --profile small --truncate --yes --json`,
    )
    .action(async (options: SeedCliOptions) => {
      if (options.append === true && options.truncate === true)
        throw new UsageError('--append and --truncate exclude each other');
      const mode: SeedMode = options.truncate === true ? 'truncate' : options.append === true ? 'append' : 'empty';
      await withShiptrack(context, async (shiptrack) => {
        const [render, { createProgress }] = await Promise.all([import('../../render/seed.render.js'), import('../progress.js')]);
        const progress = await createProgress(context.output);
        let report;
        try {
          report = await shiptrack.seed({
            profile: options.profile as (typeof profileNames)[number],
            packages: options.packages,
            customers: options.customers,
            locations: options.locations,
            seed: options.seed,
            asOf: options.asOf,
            documents: options.documents,
            mode,
            confirmErase: options.yes === true ? undefined : confirmEraseAt(context),
            verify: options.verify,
            onProgress: (p) => progress.update(p.phase, p.done, p.total, p.rows),
          });
        } finally {
          progress.stop();
        }
        await printWarnings(context, report.warnings);
        const { checks } = report;
        context.output.result(report, (style) =>
          [
            render.renderSeedSummary(report, style),
            ...(checks === undefined ? [] : [render.renderCheckReport(checks, style)]),
          ].join('\n'),
        );
        if (checks !== undefined && !checks.ok) context.exitCode = ExitCode.conflict;
      });
    });
}
