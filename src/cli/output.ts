import { Chalk, type ChalkInstance } from 'chalk';
import type { Style } from '../render/style.js';
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
  /** Writes a result: the rendered text, or the data as JSON in --json mode. */
  result(data: unknown, render: (style: Style) => string): void;
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

export function createOutput(options: OutputOptions): Output {
  const env = options.env ?? process.env;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const stdoutStyle = styleFrom(new Chalk({ level: colorEnabled(stdout, env, options.color) ? 1 : 0 }));
  const stderrChalk = new Chalk({ level: colorEnabled(stderr, env, options.color) ? 1 : 0 });
  let scrub: Scrubber = createScrubber([]);
  const writeErr = (text: string): void => {
    stderr.write(`${scrub(text)}\n`);
  };
  return {
    json: options.json,
    verbose: options.verbose,
    style: stdoutStyle,
    stderr,
    result(data, render) {
      const text = options.json ? JSON.stringify(data, null, 2) : render(stdoutStyle);
      stdout.write(`${scrub(text)}\n`);
    },
    update(data, render) {
      const text = options.json ? JSON.stringify(data) : render(stdoutStyle);
      stdout.write(`${scrub(text)}\n`);
    },
    info: writeErr,
    warn(line) {
      writeErr(`${stderrChalk.yellow('warning:')} ${line}`);
    },
    stderrIsTTY: () => stderr.isTTY === true,
    setSecrets(secrets) {
      scrub = createScrubber(secrets);
    },
    scrub: (text) => scrub(text),
  };
}

/** Colours for stderr error messages, decided the same way as for data. */
export function errorStyle(options: OutputOptions): Style {
  const env = options.env ?? process.env;
  return styleFrom(new Chalk({ level: colorEnabled(options.stderr ?? process.stderr, env, options.color) ? 1 : 0 }));
}
