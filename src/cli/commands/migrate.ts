import { Command, Option } from 'commander';
import { ExitCode, UsageError } from '../../errors.js';
import type { MigrateRequest, RevertPlan } from '../../services/migrations.service.js';
import { infoFitted, withShiptrack, type CommandContext } from '../program.js';
import { formatNumber } from '../../domain/units.js';

interface RunOptions {
  lockWait?: string;
  lockAttempts?: string;
  statementTimeout?: string;
  dir?: string;
}

const render = () => import('../../render/migrations.render.js');

/** What a rollback reverts and drops, in one sentence. */
function describePlan(plan: RevertPlan): string {
  const batches = plan.batches.length === 1 ? `batch ${plan.batches[0]}` : `batches ${plan.batches.join(', ')}`;
  const drops =
    plan.drops.length === 0
      ? 'it drops no table'
      : `it drops ${plan.drops.map((d) => `${d.table} (${formatNumber(d.rows)} rows)`).join(', ')}`;
  return `${plan.migrations.length} migration(s) of ${batches}; ${drops}`;
}

/** Before a rollback: ask at a terminal; refuse elsewhere unless --yes was given. */
function confirmRevert(context: CommandContext) {
  return async (plan: RevertPlan): Promise<boolean> => {
    if (!process.stdin.isTTY || !context.output.stderrIsTTY()) {
      throw new UsageError(`this would revert ${describePlan(plan)}; pass --yes to confirm when not at a terminal`, {
        hint: '--dry-run shows the SQL it would run',
      });
    }
    const { confirm } = await import('../prompts.js');
    return confirm(`Revert ${describePlan(plan)}?`);
  };
}

/** What `down` and `rollback` revert: a count as typed, the last batch, or all. */
type DownScope = { kind: 'count'; count: string } | { kind: 'batch' } | { kind: 'all' };

function requestOf(options: RunOptions, context: CommandContext): MigrateRequest {
  return {
    directory: options.dir,
    lockWait: options.lockWait,
    lockAttempts: options.lockAttempts,
    statementTimeout: options.statementTimeout,
    // Progress at a terminal is fitted to it; piped to a file, each line stays whole for grep.
    log: (line) => (context.output.stderrIsTTY() ? infoFitted(context, line) : context.output.info(line)),
  };
}

function runOptions(command: Command): Command {
  return command
    .addOption(new Option('--lock-wait <duration>', 'how long to wait for another migration run').default('60s'))
    .addOption(
      new Option(
        '--lock-attempts <n>',
        'runs of a migration whose table lock is not granted within SHIPTRACK_LOCK_TIMEOUT (or that loses a deadlock), with a growing wait between them (1–20)',
      ).default('5'),
    )
    .addOption(
      new Option(
        '--statement-timeout <duration>',
        'bound on each statement (0 = none: index builds on big tables take long)',
      ).default('0'),
    )
    .addOption(new Option('--dir <folder>', 'migrations folder (default: the ones shipped with shiptrack)').hideHelp());
}

export function migrateCommand(context: CommandContext): Command {
  const migrate = new Command('migrate')
    .description('create and evolve the PostgreSQL schema (checksummed, locked, transactional)')
    .addHelpText(
      'after',
      `
Each migration runs in its own transaction (except those marked { transaction: false }, such as
CREATE INDEX CONCURRENTLY, which run under lock_timeout). A run holds a PostgreSQL advisory lock,
so concurrent runs apply each migration once; the lock ends with the session, it cannot go stale.
An applied migration whose file changed or vanished blocks 'latest' until the file is restored.

Examples:
  $ shiptrack migrate latest --dry-run     print the SQL, change nothing
  $ shiptrack migrate status --check       exit 1 if anything is pending (for deploy scripts)
  $ shiptrack migrate rollback             revert the last batch`,
    );

  migrate.addCommand(
    runOptions(new Command('latest'))
      .description('apply every pending migration (and set up MongoDB collections when configured)')
      .option('--dry-run', 'print the SQL that would run; transactional migrations are executed and rolled back')
      .action(async (options: RunOptions & { dryRun?: boolean }) => {
        await withShiptrack(context, async (shiptrack) => {
          const m = await render();
          if (options.dryRun === true) {
            const preview = await shiptrack.migrations.preview(requestOf(options, context));
            context.output.result(preview, (style) => m.renderDryRun(preview, style));
            return;
          }
          const result = await shiptrack.migrations.latest(requestOf(options, context));
          context.output.result(result, (style) => m.renderMigrationRun(result, style, result.documents));
        });
      }),
  );

  migrate.addCommand(
    runOptions(new Command('up'))
      .description('apply the next pending migration (or --count of them)')
      .option('--count <n>', 'how many to apply', '1')
      .action(async (options: RunOptions & { count: string }) => {
        await withShiptrack(context, async (shiptrack) => {
          const result = await shiptrack.migrations.up(options.count, requestOf(options, context));
          const m = await render();
          context.output.result(result, (style) => m.renderMigrationRun(result, style));
        });
      }),
  );

  const down = (name: string, description: string, scopeOf: (o: { count?: string; all?: boolean }) => DownScope) =>
    runOptions(new Command(name))
      .description(description)
      .option('--dry-run', 'print what it would revert and drop, and the SQL; change nothing')
      .option('-y, --yes', 'do not ask before reverting (needed when not at a terminal)')
      .action(async (options: RunOptions & { count?: string; all?: boolean; dryRun?: boolean; yes?: boolean }) => {
        const scope = scopeOf(options);
        const asked = scope.kind === 'count' ? { count: scope.count } : { all: scope.kind === 'all' };
        await withShiptrack(context, async (shiptrack) => {
          const request = requestOf(options, context);
          const m = await render();
          if (options.dryRun === true) {
            const plan = await shiptrack.migrations.previewRevert(asked, request);
            context.output.result(plan, (style) => [m.renderDryRun(plan, style), describePlan(plan)].join('\n'));
            return;
          }
          const revert = { ...request, confirm: options.yes === true ? undefined : confirmRevert(context) };
          const result =
            scope.kind === 'count'
              ? await shiptrack.migrations.down(scope.count, revert)
              : await shiptrack.migrations.rollback({ all: scope.kind === 'all' }, revert);
          context.output.result(result, (style) => m.renderMigrationRun(result, style));
        });
      });

  migrate.addCommand(
    down('down', 'revert the last applied migration (or --count of them)', (o) => ({
      kind: 'count',
      count: o.count ?? '1',
    })).option('--count <n>', 'how many to revert', '1'),
  );
  migrate.addCommand(
    down('rollback', 'revert the last batch (or --all)', (o) => (o.all === true ? { kind: 'all' } : { kind: 'batch' })).option(
      '--all',
      'revert every applied migration',
    ),
  );

  migrate.addCommand(
    new Command('status')
      .description('list migrations: name, batch, applied at, checksum, state')
      .option('--check', 'exit 1 when migrations are pending, 4 when files drifted')
      .addOption(new Option('--dir <folder>').hideHelp())
      .action(async (options: RunOptions & { check?: boolean }) => {
        await withShiptrack(context, async (shiptrack) => {
          const report = await shiptrack.migrations.status(requestOf(options, context));
          const m = await render();
          const { databaseTarget } = await import('../../store/database.js');
          const config = context.config();
          const mode = config.databaseUrl === undefined ? 'embedded' : 'server';
          context.output.result(report, (style) => m.renderMigrationStatus(report, style, mode, databaseTarget(config)));
          if (report.problems > 0) context.exitCode = ExitCode.conflict;
          else if (options.check === true && report.pending > 0) context.exitCode = ExitCode.internal;
        });
      }),
  );

  migrate.addCommand(
    new Command('make')
      .description('create a migration file: in ./migrations (or SHIPTRACK_MIGRATIONS_DIR), run after shiptrack’s own')
      .argument('<name>', 'what it does, e.g. add_lane_index')
      .addOption(new Option('--dir <folder>').hideHelp())
      .action(async (name: string, options: RunOptions) => {
        await withShiptrack(context, async (shiptrack) => {
          const made = await shiptrack.migrations.make(name, options.dir);
          const next = made.built ? 'edit it, then run `npm run build`' : 'edit it, then run `shiptrack migrate latest`';
          context.output.result(made, (style) => `created ${style.bold(made.file)}\n${next}`);
        });
      }),
  );

  migrate.addCommand(
    new Command('lint')
      .description('check migrations for statements that lock or rewrite a busy table (PostgreSQL’s own parser)')
      .argument('[name...]', 'the migrations to lint (default: the pending ones)')
      .option('--all', 'lint every migration, applied or not')
      .addOption(new Option('--dir <folder>').hideHelp())
      .addHelpText(
        'after',
        `
Rules: index-not-concurrent, concurrently-in-transaction, constraint-not-valid, set-not-null,
column-type-change, volatile-default, lock-timeout-off (errors); rename-or-drop, int-keys
(warnings). A table created earlier in the same run is new, not busy. An error on a table of
1 MB or more that the migration does not accept stops 'migrate latest' (exit 4), which lints
the pending migrations before it applies anything. To accept a rule knowingly:
  export const lint = { accept: { 'index-not-concurrent': 'written once, read by ops only' } };
The acceptance and its reason are recorded with the migration when it is applied.

Examples:
  $ shiptrack migrate lint                 the pending migrations
  $ shiptrack migrate lint --all --json    every migration, as JSON (exit 4 on a blocking finding)`,
      )
      .action(async (names: string[], options: RunOptions & { all?: boolean }) => {
        await withShiptrack(context, async (shiptrack) => {
          const result = await shiptrack.migrations.lint({ ...requestOf(options, context), names, all: options.all === true });
          const m = await render();
          context.output.result(result, (style) => m.renderLint(result, style));
          if (!result.ok) context.exitCode = ExitCode.conflict;
        });
      }),
  );

  migrate.addCommand(
    new Command('repair')
      .description('after a reviewed edit of applied migrations: record their files’ checksums, with a reason')
      .argument('[name...]', 'the changed migrations to repair (default: every changed one)')
      .requiredOption('--reason <text>', 'why the applied file was changed (recorded in shiptrack_migration_repairs)')
      .addOption(new Option('--dir <folder>').hideHelp())
      .addHelpText(
        'after',
        `
A migration whose file changed after it was applied blocks 'latest'. When the change was
deliberate and reviewed (a comment, a formatting fix, an equivalent rewrite), repair records the
new checksum; the old one, the reason and who did it stay in shiptrack_migration_repairs. It
never runs a migration. To change the schema, add a migration instead.

Example:
  $ shiptrack migrate repair 20261124000500_report_indexes --reason "comment typo, PR #231"`,
      )
      .action(async (names: string[], options: RunOptions & { reason: string }) => {
        await withShiptrack(context, async (shiptrack) => {
          const result = await shiptrack.migrations.repair({ ...requestOf(options, context), names, reason: options.reason });
          context.output.result(result, (style) =>
            result.repaired.length === 0
              ? 'nothing to repair: every applied migration matches its file'
              : result.repaired
                  .map((r) => `repaired ${style.bold(r.name)}: ${r.from?.slice(0, 12) ?? '—'} → ${r.to.slice(0, 12)}`)
                  .join('\n'),
          );
        });
      }),
  );

  migrate.addCommand(
    new Command('baseline')
      .description('for a schema made by hand: record migrations as applied without running them, with a reason')
      .option('--through <name>', 'the last migration the schema already has (default: all of them)')
      .requiredOption('--reason <text>', 'why (recorded in shiptrack_migration_repairs)')
      .addOption(new Option('--dir <folder>').hideHelp())
      .addHelpText(
        'after',
        `
For a database whose tables were created by hand, restored from a dump without the history, or
made by another tool: the migrations up to --through are recorded as applied (batch 0) without
running, and 'latest' applies the ones after. Refused when any migration is recorded already.

Example:
  $ shiptrack migrate baseline --through 20261124000700_consistency_changes --reason "restored from the 2026-11 dump"`,
      )
      .action(async (options: RunOptions & { through?: string; reason: string }) => {
        await withShiptrack(context, async (shiptrack) => {
          const result = await shiptrack.migrations.baseline({
            ...requestOf(options, context),
            through: options.through,
            reason: options.reason,
          });
          const last = result.baselined.at(-1)?.name ?? '—';
          context.output.result(
            result,
            (style) => `recorded ${style.bold(String(result.baselined.length))} migration(s) as applied,\nthrough ${last}`,
          );
        });
      }),
  );

  migrate.addCommand(
    new Command('unlock')
      .description('show which session holds the migration lock; --force ends that session')
      .option('--force', 'terminate the session holding the lock (its running migration rolls back)')
      .action(async (options: { force?: boolean }) => {
        await withShiptrack(context, async (shiptrack) => {
          const result = await shiptrack.migrations.unlock(options.force === true);
          const m = await render();
          context.output.result(result, (style) => m.renderUnlock(result, style));
        });
      }),
  );

  return migrate;
}
