import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type { Config } from '../config.js';
import type { ExitCode } from '../errors.js';
import { readPackageVersion } from '../package-root.js';
import type { ServiceWarning } from '../services/warnings.js';
import { createShiptrack, type Shiptrack } from '../shiptrack.js';
import { addGlobalOptions } from './globals.js';
import { fitHelp } from './help.js';
import { fitProse } from '../render/text.js';
import type { Output } from './output.js';

export interface CommandContext {
  readonly output: Output;
  /** Help text commander printed, kept for --json (stdout then carries it as one JSON document). */
  readonly help: string[];
  /** Aborted on Ctrl-C: long work checks it and stops cleanly. */
  readonly signal: AbortSignal;
  exitCode: ExitCode;
  /** The configuration, read once: the global flags over the environment, .env and defaults. */
  config(): Config;
}

function writeHelp(context: CommandContext, text: string): void {
  if (context.output.json) context.help.push(text);
  else process.stdout.write(context.output.style.wide === true ? text : fitHelp(text, context.output.style.width));
}

/** Runs `work` with a library handle over the configured stores, and closes them whatever happens. */
export async function withShiptrack<T>(context: CommandContext, work: (shiptrack: Shiptrack) => Promise<T>): Promise<T> {
  const config = context.config();
  await using shiptrack = createShiptrack(config, {
    signal: context.signal,
    onNotice: (line) => noticeOnce(context, config, line),
    onAlert: (line) => infoFitted(context, line),
    onWait: (line) => context.output.info(line),
    shortLived: true,
  });
  return await work(shiptrack);
}

/** A line for stderr, wrapped to the terminal's width (continuation lines indented). */
export function infoFitted(context: CommandContext, line: string): void {
  for (const part of fitProse(line, context.output.stderrStyle, '  ')) context.output.info(part);
}

/**
 * A notice about the mode in force (the cache being off) is news once: it is shown with
 * --verbose, and otherwise once per embedded home (a marker file there remembers it).
 */
function noticeOnce(context: CommandContext, config: Config, line: string): void {
  if (context.output.verbose) {
    context.output.info(line);
    return;
  }
  if (config.databaseUrl !== undefined) return;
  const marker = path.join(config.home, `.noticed-${createHash('sha256').update(line).digest('hex').slice(0, 12)}`);
  if (existsSync(marker)) return;
  for (const part of fitProse(`${line} (shown once; --verbose shows it every time)`, context.output.stderrStyle, '  ')) {
    context.output.info(part);
  }
  try {
    mkdirSync(config.home, { recursive: true });
    writeFileSync(marker, `${line}\n`);
  } catch {
    // a home we cannot write to: the notice shows again next time
  }
}

/** A use case's warnings, one line each on stderr (they are part of the result in --json). */
export async function printWarnings(context: CommandContext, warnings: readonly ServiceWarning[]): Promise<void> {
  if (warnings.length === 0) return;
  const { describeWarning } = await import('../render/warnings.render.js');
  for (const warning of warnings) context.output.warn(describeWarning(warning));
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
  check: async () => (await import('./commands/check.js')).checkCommand,
  outbox: async () => (await import('./commands/outbox.js')).outboxCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  benchmark: async () => (await import('./commands/benchmark.js')).benchmarkCommand,
};

/**
 * The commander program. Only the invoked command is defined when it is known; for help, a
 * typo (suggestions need every name) or no command at all, every command is.
 */
export async function buildProgram(
  context: CommandContext,
  args: readonly string[],
  invoked: string | undefined,
): Promise<Command> {
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
    .version(readPackageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => writeHelp(context, text),
      // Usage errors are reported by main(), in the same format as every other error; what else
      // comes this way is the help of a bare group (`shiptrack migrate`), which is no error.
      writeErr: (text) => {
        if (!/^error:/m.test(text) && !text.startsWith('(run with')) writeHelp(context, text);
      },
    })
    .addHelpText(
      'after',
      `
Examples:
  $ shiptrack migrate latest            create or update the schema
  $ shiptrack seed --profile tiny       load 1,000 packages with their journeys
  $ shiptrack track RB123456785US       where is a package, and is it late?
  $ shiptrack scan --file scans.ndjson  record a file of scans
  $ shiptrack check                     is the data consistent?
  $ shiptrack report overdue            what is late right now (see: shiptrack report)
  $ shiptrack doctor                    is every configured store reachable?

Exit codes: 0 ok, 1 internal error, 2 bad input, 3 not found, 4 conflict or locked,
5 a store is unavailable, 6 not permitted, 130 interrupted (143 on SIGTERM).`,
    );
  addGlobalOptions(program);
  for (const factory of factories) program.addCommand(factory(context));
  inheritSettings(program);
  return program;
}
