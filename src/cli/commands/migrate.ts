import path from 'node:path';
import { Command, Option } from 'commander';
import { parseDuration } from '../../config.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { MigratorOptions, RollbackScope } from '../../services/migrations.service.js';
import type { Database } from '../../store/database.js';
import { configFor, withResources, type CommandContext } from '../program.js';

interface RunOptions {
  lockWait?: string;
  statementTimeout?: string;
  dir?: string;
}

function durationOption(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag}: "${value}" is not a duration (e.g. 30s, 5m, 0 for none)`);
  return ms;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a whole number ≥ 1, got "${value}"`);
  return n;
}

/** The runner and its renderers load only when a migrate command runs, not for --help. */
async function load() {
  const [service, render] = await Promise.all([
    import('../../services/migrations.service.js'),
    import('../../render/migrations.render.js'),
  ]);
  return { ...service, ...render };
}

async function migratorOptions(options: RunOptions, context: CommandContext): Promise<MigratorOptions> {
  const defaults = (await load()).defaultMigratorOptions();
  return {
    directory: options.dir === undefined ? defaults.directory : path.resolve(options.dir),
    compiledDirectory: options.dir === undefined ? defaults.compiledDirectory : path.resolve(options.dir),
    lockWaitMs: durationOption(options.lockWait, '--lock-wait', 60_000),
    signal: context.signal,
    log: (line) => context.output.info(line),
  };
}

function runOptions(command: Command): Command {
  return command
    .addOption(new Option('--lock-wait <duration>', 'how long to wait for another migration run').default('60s'))
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

  const withDatabase = async <T>(command: Command, options: RunOptions, work: (db: Database) => Promise<T>) => {
    const config = configFor(command, context);
    const statementTimeoutMs = durationOption(options.statementTimeout, '--statement-timeout', 0);
    return withResources(context, config, async (resources) => work(await resources.database()), {
      database: { statementTimeoutMs, applicationName: 'shiptrack migrate', poolMax: 2 },
    });
  };
  migrate.addCommand(
    runOptions(new Command('latest'))
      .description('apply every pending migration (and set up MongoDB collections when configured)')
      .option('--dry-run', 'print the SQL that would run; transactional migrations are executed and rolled back')
      .action(async (options: RunOptions & { dryRun?: boolean }, command: Command) => {
        const config = configFor(command, context);
        const statementTimeoutMs = durationOption(options.statementTimeout, '--statement-timeout', 0);
        await withResources(
          context,
          config,
          async (resources) => {
            const m = await load();
            const db = await resources.database();
            const migrator = await migratorOptions(options, context);
            if (options.dryRun === true) {
              const result = await m.dryRunLatest(db, migrator);
              context.output.result(result, (style) => m.renderDryRun(result, style));
              return;
            }
            const result = await m.migrateLatest(db, migrator);
            let documents: { kind: string; ready: boolean } | undefined;
            if (config.mongoUrl !== undefined) {
              const store = await resources.documents();
              await store.ensureSchema();
              documents = { kind: store.kind, ready: true };
            }
            context.output.result({ ...result, documents }, (style) => m.renderMigrationRun(result, style, documents));
          },
          { database: { statementTimeoutMs, applicationName: 'shiptrack migrate', poolMax: 2 } },
        );
      }),
  );

  migrate.addCommand(
    runOptions(new Command('up'))
      .description('apply the next pending migration (or --count of them)')
      .option('--count <n>', 'how many to apply', '1')
      .action(async (options: RunOptions & { count: string }, command: Command) => {
        const count = positiveInt(options.count, '--count');
        await withDatabase(command, options, async (db) => {
          const m = await load();
          const result = await m.migrateUp(db, await migratorOptions(options, context), count);
          context.output.result(result, (style) => m.renderMigrationRun(result, style));
        });
      }),
  );

  const down = (name: string, description: string, scopeOf: (o: { count?: string; all?: boolean }) => RollbackScope) =>
    runOptions(new Command(name))
      .description(description)
      .action(async (options: RunOptions & { count?: string; all?: boolean }, command: Command) => {
        const scope = scopeOf(options);
        await withDatabase(command, options, async (db) => {
          const m = await load();
          const result = await m.migrateDown(db, await migratorOptions(options, context), scope);
          context.output.result(result, (style) => m.renderMigrationRun(result, style));
        });
      });

  migrate.addCommand(
    down('down', 'revert the last applied migration (or --count of them)', (o) => ({
      kind: 'count',
      count: positiveInt(o.count ?? '1', '--count'),
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
      .action(async (options: RunOptions & { check?: boolean }, command: Command) => {
        await withDatabase(command, {}, async (db) => {
          const m = await load();
          const report = await m.getMigrationStatus(db, await migratorOptions(options, context));
          context.output.result(report, (style) => m.renderMigrationStatus(report, style, db.mode, db.target));
          if (report.problems > 0) context.exitCode = ExitCode.conflict;
          else if (options.check === true && report.pending > 0) context.exitCode = ExitCode.internal;
        });
      }),
  );

  migrate.addCommand(
    new Command('make')
      .description('create a new migration file in migrations/')
      .argument('<name>', 'what it does, e.g. add_lane_index')
      .addOption(new Option('--dir <folder>').hideHelp())
      .action(async (name: string, options: RunOptions) => {
        const m = await load();
        const dir = options.dir === undefined ? m.defaultMigratorOptions().directory : path.resolve(options.dir);
        const file = m.makeMigration(dir, name);
        context.output.result({ file }, (style) => `created ${style.bold(file)}\nedit it, then run \`npm run build\``);
      }),
  );

  migrate.addCommand(
    new Command('unlock')
      .description('show which session holds the migration lock; --force ends that session')
      .option('--force', 'terminate the session holding the lock (its running migration rolls back)')
      .action(async (options: { force?: boolean }, command: Command) => {
        await withDatabase(command, {}, async (db) => {
          const m = await load();
          const result = await m.unlockMigrations(db, options.force === true);
          context.output.result(result, (style) => m.renderUnlock(result, style));
        });
      }),
  );

  return migrate;
}
