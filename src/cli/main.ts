import { CommanderError } from 'commander';
import { ExitCode, ShiptrackError, UsageError, isShiptrackError } from '../errors.js';
import { loadConfig, type Config } from '../config.js';
import { secretsInUrls } from '../redact.js';
import { scanGlobalArgs } from './globals.js';
import { createOutput, loadStyles, type Output, type OutputOptions } from './output.js';
import { buildProgram, type CommandContext } from './program.js';

/**
 * The CLI entry point and the only place that turns errors into exit codes. `main` returns the
 * code; the process exits with it only once stdout and stderr are flushed.
 */

function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  let current: unknown = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; current !== undefined && depth < 5; depth += 1) {
    if (current instanceof Error) {
      lines.push(`caused by: ${current.name}: ${current.message}`);
      current = current.cause;
    } else {
      lines.push(`caused by: ${typeof current === 'string' ? current : JSON.stringify(current)}`);
      current = undefined;
    }
  }
  return lines;
}

export function reportError(error: unknown, output: Output): number {
  const known = isShiptrackError(error);
  const shiptrackError: ShiptrackError = known
    ? error
    : new ShiptrackError(
        'internal',
        ExitCode.internal,
        `internal error: ${error instanceof Error ? error.message : String(error)}`,
        {
          hint: 'this is a bug in shiptrack; run with --verbose for details and report it',
        },
      );
  if (output.json) {
    // stdout carries exactly one JSON document: after a result, the error goes to stderr.
    const stream = output.wroteResult() ? process.stderr : process.stdout;
    stream.write(`${output.scrub(JSON.stringify({ error: shiptrackError.toJSON() }, null, 2))}\n`);
  } else {
    const style = output.stderrStyle;
    output.info(`${style.bad('error:')} ${shiptrackError.message}`);
    if (shiptrackError.hint !== undefined) output.info(`${style.dim('hint:')} ${shiptrackError.hint}`);
  }
  if (output.verbose) {
    for (const line of causeChain(known ? error : shiptrackError)) output.info(line);
    if (!known && error instanceof Error && error.stack !== undefined) output.info(error.stack);
  }
  return shiptrackError.exitCode;
}

/**
 * Node 21+ defines `navigator`; Node 20 does not, so pg's "am I in a Cloudflare Worker?" check
 * falls through to `new Response(…)`, which loads the whole fetch implementation: ~13 ms of
 * every `track`. Giving Node 20 the same `navigator` Node 21 has keeps that check cheap.
 */
function defineNavigatorLikeNode21(): void {
  const global = globalThis as { navigator?: unknown };
  global.navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0] ?? ''}` };
}

/** How long an interrupted command waits for its work to stop before it leaves anyway. */
const interruptGraceMs = 3000;

export async function main(argv: readonly string[]): Promise<number> {
  defineNavigatorLikeNode21();
  // The arguments are read once: the command, the output mode and the settings given as flags.
  const args = argv.slice(2);
  const globals = scanGlobalArgs(args);
  const outputOptions: OutputOptions = { json: globals.json, verbose: globals.verbose, color: globals.color, wide: globals.wide };
  const output = createOutput(outputOptions, await loadStyles(outputOptions));
  // Secrets given on the command line are masked even if the configuration is refused below.
  output.setSecrets(secretsInUrls(Object.values(globals.settings)));
  if (process.env.DEBUG !== undefined && process.env.DEBUG !== '') {
    await (await import('./debug-output.js')).scrubDebugOutput((text) => output.scrub(text));
  }
  let config: Config | undefined;
  const readConfig = (): Config => {
    config ??= loadConfig({ flags: globals.settings });
    output.setSecrets(config.secrets);
    return config;
  };
  const controller = new AbortController();
  // SIGINT (Ctrl-C) exits 130, SIGTERM (systemd, Kubernetes, `timeout`) 143.
  let signalled: NodeJS.Signals | undefined;
  const interruptedCode = (): number => (signalled === 'SIGTERM' ? 143 : ExitCode.interrupted);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) process.exit(interruptedCode());
    signalled = signal;
    output.info(`interrupting… (${signal === 'SIGINT' ? 'press Ctrl-C again' : 'send it again'} to quit at once)`);
    controller.abort();
    // Work in flight is cancelled on the server; a server that does not answer the cancel must
    // not hold the command: its sockets are dropped with the process, and its open transaction
    // rolls back when the server notices. Nothing uncommitted is kept either way.
    setTimeout(() => {
      output.info(
        `the server did not confirm the cancel within ${interruptGraceMs / 1000} s: leaving; nothing uncommitted was kept`,
      );
      process.exit(interruptedCode());
    }, interruptGraceMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const context: CommandContext = { output, help: [], signal: controller.signal, exitCode: ExitCode.ok, config: readConfig };
  const program = await buildProgram(context, args, globals.command);
  try {
    await program.parseAsync(argv);
    if (controller.signal.aborted && context.exitCode === ExitCode.ok) return interruptedCode();
    return context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, --version, or a bare group (`shiptrack`, `shiptrack migrate`): its help, exit 0.
      if (error.exitCode === 0 || error.code === 'commander.help') {
        if (output.json && context.help.length > 0) output.result({ help: context.help.join('') }, () => '');
        return ExitCode.ok;
      }
      const message = error.message.replace(/^error: /, '');
      return reportError(new UsageError(message, { hint: 'see --help' }), output);
    }
    if (controller.signal.aborted && !(isShiptrackError(error) && error.exitCode === ExitCode.usage)) {
      const interrupted = isShiptrackError(error) && error.code === 'interrupted';
      reportError(
        interrupted ? error : new ShiptrackError('interrupted', ExitCode.interrupted, 'interrupted', { cause: error }),
        output,
      );
      return interruptedCode();
    }
    return reportError(error, output);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

// `shiptrack report status | head`: when the reader goes away, stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

/**
 * Resolves once everything written to the stream so far has reached the operating system: the
 * callback of an empty write runs after every earlier write (a 'drain' event would only come
 * after a write that filled the buffer).
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

/**
 * Runs the command line, then leaves. Every store is closed by now. Once the output is written,
 * leave: an idle process would still spend its last milliseconds in a garbage collection V8 had
 * scheduled (up to 8 ms of a `track`), and a driver timer still pending (a socket a frozen server
 * never answered) must not hold the shell prompt. A slow reader is waited for, as any Unix tool
 * waits: its output is never cut.
 */
async function run(): Promise<void> {
  process.exitCode = await main(process.argv);
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit();
}

// Not a top-level await: the CLI's bundle is a CommonJS script (scripts/bundle.mjs).
void run();
