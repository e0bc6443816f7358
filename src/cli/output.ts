import type { ChalkInstance } from 'chalk';
import { plainStyle, type Style } from '../render/style.js';
import { createScrubber, type Scrubber } from '../redact.js';

/**
 * Everything the CLI prints goes through here: data on stdout (only JSON in --json mode),
 * progress, warnings and errors on stderr, colours only on a TTY without NO_COLOR, text fitted to
 * the terminal's width, and every line scrubbed of configured secrets.
 */
export interface Output {
  readonly json: boolean;
  readonly verbose: boolean;
  readonly style: Style;
  readonly stderrStyle: Style;
  /** Writes a result: the rendered text, or the data as JSON in --json mode. */
  result(data: unknown, render: (style: Style) => string): void;
  /** True once a result is on stdout: in --json mode an error after it goes to stderr. */
  wroteResult(): boolean;
  /** One update of a stream (e.g. `track --watch`): a compact JSON line in --json mode. */
  update(data: unknown, render: (style: Style) => string): void;
  /** A line on stderr (progress, notices); kept out of stdout so pipes stay clean. */
  info(line: string): void;
  warn(line: string): void;
  /** Raw stderr writer for progress bars. */
  readonly stderr: NodeJS.WriteStream;
  stderrIsTTY(): boolean;
  setSecrets(secrets: readonly string[]): void;
  scrub(text: string): string;
}

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  color: boolean | undefined;
  /** --wide: every column in full, whatever the width. */
  wide?: boolean;
  env?: NodeJS.ProcessEnv;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (flag === true) return true;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/** The terminal's columns; else COLUMNS; else 80, so that piped output does not depend on the terminal. */
export function terminalWidth(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): number {
  if (stream.isTTY === true && Number.isInteger(stream.columns) && stream.columns > 0) return stream.columns;
  const columns = env.COLUMNS?.trim() ?? '';
  return /^\d+$/.test(columns) && Number(columns) > 0 ? Number(columns) : 80;
}

type Colours = Omit<Style, 'width' | 'wide'>;

function styleFrom(chalk: ChalkInstance): Colours {
  return {
    bold: (s) => chalk.bold(s),
    dim: (s) => chalk.dim(s),
    ok: (s) => chalk.green(s),
    warn: (s) => chalk.yellow(s),
    bad: (s) => chalk.red(s),
    accent: (s) => chalk.cyan(s),
  };
}

export interface Styles {
  stdout: Style;
  stderr: Style;
}

/** Colours and width for each stream; chalk is loaded only when one of them is a colour terminal. */
export async function loadStyles(options: OutputOptions): Promise<Styles> {
  const env = options.env ?? process.env;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const out = colorEnabled(stdout, env, options.color);
  const err = colorEnabled(stderr, env, options.color);
  const chalk = out || err ? new (await import('chalk')).Chalk({ level: 1 }) : undefined;
  const colours = (enabled: boolean): Colours => (enabled && chalk !== undefined ? styleFrom(chalk) : plainStyle);
  const wide = options.wide === true;
  return {
    stdout: { ...colours(out), width: terminalWidth(stdout, env), wide },
    stderr: { ...colours(err), width: terminalWidth(stderr, env), wide },
  };
}

export function createOutput(options: OutputOptions, styles: Styles): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const stdoutStyle = styles.stdout;
  const stderrStyle = styles.stderr;
  let scrub: Scrubber = createScrubber([]);
  let wrote = false;
  const writeErr = (text: string): void => {
    stderr.write(`${scrub(text)}\n`);
  };
  return {
    json: options.json,
    verbose: options.verbose,
    style: stdoutStyle,
    stderrStyle,
    stderr,
    result(data, render) {
      const text = options.json ? JSON.stringify(data, null, 2) : render(stdoutStyle);
      stdout.write(`${scrub(text)}\n`);
      wrote = true;
    },
    wroteResult: () => wrote,
    update(data, render) {
      const text = options.json ? JSON.stringify(data) : render(stdoutStyle);
      stdout.write(`${scrub(text)}\n`);
    },
    info: writeErr,
    warn(line) {
      writeErr(`${stderrStyle.warn('warning:')} ${line}`);
    },
    stderrIsTTY: () => stderr.isTTY === true,
    setSecrets(secrets) {
      scrub = createScrubber(secrets);
    },
    scrub: (text) => scrub(text),
  };
}
