import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, type Config, type SettingName } from '../config.js';
import { findPackageRoot } from '../package-root.js';
import type { ExitCode } from '../errors.js';
import { openResources, type ResourceOptions, type Resources } from '../store/resources.js';
import type { Output } from './output.js';

export interface CommandContext {
  readonly output: Output;
  /** Aborted on Ctrl-C: long work checks it and stops cleanly. */
  readonly signal: AbortSignal;
  exitCode: ExitCode;
}

export interface GlobalOptions {
  json?: boolean;
  verbose?: boolean;
  color?: boolean;
  databaseUrl?: string;
  redisUrl?: string;
  mongoUrl?: string;
  mongoDb?: string;
  home?: string;
}

/** Reads the configuration for a command: its global flags over environment, .env and defaults. */
export function configFor(command: Command, context: CommandContext): Config {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const flags: Partial<Record<SettingName, string>> = {};
  if (globals.databaseUrl !== undefined) flags.databaseUrl = globals.databaseUrl;
  if (globals.redisUrl !== undefined) flags.redisUrl = globals.redisUrl;
  if (globals.mongoUrl !== undefined) flags.mongoUrl = globals.mongoUrl;
  if (globals.mongoDb !== undefined) flags.mongoDatabase = globals.mongoDb;
  if (globals.home !== undefined) flags.home = globals.home;
  // Secrets given on the command line must be masked even if validation fails below.
  context.output.setSecrets(
    Object.values(flags)
      .filter((v): v is string => typeof v === 'string')
      .flatMap((v) => {
        try {
          const url = new URL(v);
          return url.password === '' ? [] : [url.password, decodeURIComponent(url.password)];
        } catch {
          return [];
        }
      }),
  );
  const config = loadConfig({ flags });
  context.output.setSecrets(config.secrets);
  return config;
}

/** Runs `work` with the stores it asks for, and closes them whatever happens. */
export async function withResources<T>(
  context: CommandContext,
  config: Config,
  work: (resources: Resources) => Promise<T>,
  options: ResourceOptions = {},
): Promise<T> {
  await using resources = openResources(config, { notice: (line) => context.output.info(line), ...options });
  return await work(resources);
}

export function readVersion(): string {
  // Found by walking up: the CLI runs from the bundle (dist/cli/) and, in tests, from src/cli/.
  const pkg = JSON.parse(readFileSync(path.join(findPackageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Sub-commands built on their own do not inherit these settings from the root: copy them down. */
function inheritSettings(parent: Command): void {
  for (const child of parent.commands) {
    child.copyInheritedSettings(parent);
    inheritSettings(child);
  }
}

type CommandFactory = (context: CommandContext) => Command;

/** Each command's module, loaded only when it is needed: `track` should not pay for `seed`. */
const commandLoaders: Record<string, () => Promise<CommandFactory>> = {
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  seed: async () => (await import('./commands/seed.js')).seedCommand,
  track: async () => (await import('./commands/track.js')).trackCommand,
  scan: async () => (await import('./commands/scan.js')).scanCommand,
  check: async () => (await import('./commands/seed.js')).checkCommand,
  outbox: async () => (await import('./commands/outbox.js')).outboxCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  benchmark: async () => (await import('./commands/benchmark.js')).benchmarkCommand,
};

const globalOptionsWithValue = new Set(['--database-url', '--redis-url', '--mongo-url', '--mongo-db', '--home']);

/** The command named on the command line, if any (skipping global options and their values). */
export function invokedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === '--') return undefined;
    if (globalOptionsWithValue.has(arg)) {
      i += 1;
      continue;
    }
    if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/**
 * The commander program. Only the invoked command is defined when it is known; for help, a
 * typo (suggestions need every name) or no command at all, every command is.
 */
export async function buildProgram(context: CommandContext, argv: readonly string[]): Promise<Command> {
  const args = argv.slice(2);
  const invoked = invokedCommand(args);
  // `--version` needs no command at all.
  const versionOnly = invoked === undefined && args.some((a) => a === '-V' || a === '--version');
  const names = versionOnly ? [] : invoked !== undefined && invoked in commandLoaders ? [invoked] : Object.keys(commandLoaders);
  const loaders = names.flatMap((name) => {
    const load = commandLoaders[name];
    return load === undefined ? [] : [load()];
  });
  return defineProgram(context, await Promise.all(loaders));
}

function defineProgram(context: CommandContext, factories: readonly CommandFactory[]): Command {
  const program = new Command('shiptrack')
    .description(
      'Administer shipment-tracking data: migrate and check the PostgreSQL schema, and look at the stores behind it.\n' +
        'With no database configured, shiptrack uses an embedded PostgreSQL under ./.shiptrack.',
    )
    .version(readVersion(), '-V, --version', 'print the version')
    .option('--json', 'print machine-readable JSON on stdout (errors too)')
    .option('--verbose', 'show the causes of errors')
    .option('--no-color', 'no colours (also: NO_COLOR=1)')
    .addOption(new Option('--database-url <url>', 'PostgreSQL URL (env SHIPTRACK_DATABASE_URL)'))
    .addOption(new Option('--redis-url <url>', 'Redis URL (env SHIPTRACK_REDIS_URL)'))
    .addOption(new Option('--mongo-url <url>', 'MongoDB URL (env SHIPTRACK_MONGO_URL)'))
    .addOption(new Option('--mongo-db <name>', 'MongoDB database name (env SHIPTRACK_MONGO_DB, default shiptrack)'))
    .addOption(new Option('--home <dir>', 'data directory of the embedded database (env SHIPTRACK_HOME)'))
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      // Usage errors are reported by main(), in the same format as every other error.
      writeErr: (text) => {
        if (!/^error:/m.test(text) && !text.startsWith('(run with')) process.stderr.write(text);
      },
    })
    .addHelpText(
      'after',
      `
Examples:
  $ shiptrack migrate latest          create or update the schema
  $ shiptrack migrate status          which migrations are applied
  $ shiptrack seed --profile tiny      load 1,000 packages with their journeys
  $ shiptrack check                   is the data consistent?
  $ shiptrack report overdue          what is late right now (see: shiptrack report)
  $ shiptrack doctor                  is every configured store reachable?

Exit codes: 0 ok, 1 internal error, 2 bad input, 3 not found, 4 conflict or locked,
5 a store is unavailable, 130 interrupted.`,
    );
  for (const factory of factories) program.addCommand(factory(context));
  inheritSettings(program);
  return program;
}
