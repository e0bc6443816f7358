import type { ChalkInstance } from 'chalk';
import { plainStyle, type Style } from '../render/style.js';
import { createScrubber, type Scrubber } from '../redact.js';

/**
 * Everything the CLI prints goes through here: data on stdout (only JSON in --json mode),
 * progress, warnings and errors on stderr, colours only on a TTY without NO_COLOR, and every
 * line scrubbed of configured secrets.
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

function styleFrom(chalk: ChalkInstance): Style {
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

/** Colours for each stream; chalk is loaded only when one of them is a colour terminal. */
export async function loadStyles(options: OutputOptions): Promise<Styles> {
  const env = options.env ?? process.env;
  const out = colorEnabled(options.stdout ?? process.stdout, env, options.color);
  const err = colorEnabled(options.stderr ?? process.stderr, env, options.color);
  if (!out && !err) return { stdout: plainStyle, stderr: plainStyle };
  const { Chalk } = await import('chalk');
  return {
    stdout: out ? styleFrom(new Chalk({ level: 1 })) : plainStyle,
    stderr: err ? styleFrom(new Chalk({ level: 1 })) : plainStyle,
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
