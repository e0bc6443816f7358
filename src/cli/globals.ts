import { Option, type Command } from 'commander';
import { settingByFlag, settings, type SettingName } from '../config.js';

/**
 * The global options, read once: one pass over argv, driven by the settings table (config.ts)
 * and the output flags below, finds the command, the output mode and the settings given as
 * flags. The same tables define the options commander shows in --help.
 */

const outputFlags = [
  { flags: '--json', description: 'print machine-readable JSON on stdout (errors too)' },
  { flags: '--verbose', description: 'show the causes of errors' },
  { flags: '--no-color', description: 'no colours (also: NO_COLOR=1)' },
  { flags: '--wide', description: 'show every column, whatever the width' },
] as const;

export interface GlobalArgs {
  /** The command named on the command line (the first word that is not an option). */
  readonly command: string | undefined;
  readonly json: boolean;
  readonly verbose: boolean;
  /** false for --no-color; undefined lets the terminal and NO_COLOR decide. */
  readonly color: false | undefined;
  /** --wide: tables are not fitted to the terminal. */
  readonly wide: boolean;
  /** Settings given as global flags, by setting name. */
  readonly settings: Partial<Record<SettingName, string>>;
}

/** Reads the global options from the arguments after `node script` (up to a `--`). */
export function scanGlobalArgs(args: readonly string[]): GlobalArgs {
  let command: string | undefined;
  let json = false;
  let verbose = false;
  let color: false | undefined;
  let wide = false;
  const given: Partial<Record<SettingName, string>> = {};
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === '--') break;
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const setting = settingByFlag.get(flag);
    if (setting !== undefined) {
      const value = equals === -1 ? args[(i += 1)] : arg.slice(equals + 1);
      const earlier = given[setting];
      if (value !== undefined) {
        given[setting] = settings[setting].flag?.repeatable === true && earlier !== undefined ? `${earlier},${value}` : value;
      }
    } else if (arg === '--json') json = true;
    else if (arg === '--verbose') verbose = true;
    else if (arg === '--no-color') color = false;
    else if (arg === '--wide') wide = true;
    else if (command === undefined && !arg.startsWith('-')) command = arg;
  }
  return { command, json, verbose, color, wide, settings: given };
}

/** Defines the global options on the program, from the same tables. */
export function addGlobalOptions(program: Command): Command {
  for (const { flags, description } of outputFlags) program.option(flags, description);
  for (const name of Object.keys(settings) as SettingName[]) {
    const flag = settings[name].flag;
    if (flag === undefined) continue;
    const option = new Option(`${flag.name} ${flag.value}`, flag.description);
    if (flag.repeatable === true)
      option.argParser((v: string, earlier: string | undefined) => (earlier === undefined ? v : `${earlier},${v}`));
    program.addOption(option);
  }
  return program;
}
