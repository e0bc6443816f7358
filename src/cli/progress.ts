import type { Output } from './output.js';

/**
 * Progress on stderr: a bar per phase on a terminal, plain lines every few seconds otherwise.
 * Never on stdout, which carries only the result.
 */
export interface Progress {
  update(phase: string, done: number, total: number, rows: number): void;
  stop(): void;
}

function rate(rows: number, ms: number): string {
  const perSecond = ms > 0 ? (rows * 1000) / ms : 0;
  return perSecond >= 1000
    ? `${Math.round(perSecond / 1000).toLocaleString('en-US')}k rows/s`
    : `${Math.round(perSecond)} rows/s`;
}

export async function createProgress(output: Output): Promise<Progress> {
  if (!output.stderrIsTTY()) {
    let lastLine = 0;
    let lastPhase = '';
    const phaseStarted = new Map<string, number>();
    return {
      update(phase, done, total, rows) {
        const now = performance.now();
        if (!phaseStarted.has(phase)) phaseStarted.set(phase, now);
        const finished = done >= total;
        if (phase === lastPhase && !finished && now - lastLine < 2000) return;
        lastLine = now;
        lastPhase = phase;
        const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
        const ms = now - (phaseStarted.get(phase) ?? now);
        output.info(
          `${phase}: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${percent}%)${rows > 0 && ms > 250 ? `, ${rate(rows, ms)}` : ''}`,
        );
      },
      stop() {},
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const bars = new cliProgress.MultiBar(
    {
      stream: output.stderr,
      format: ' {phase} [{bar}] {percentage}% | {value}/{total} | {speed} | ETA {eta_formatted}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: false,
      formatValue: (value, _options, type) =>
        type === 'value' || type === 'total' ? value.toLocaleString('en-US') : String(value),
    },
    cliProgress.Presets.shades_classic,
  );
  const byPhase = new Map<string, { bar: ReturnType<typeof bars.create>; started: number }>();
  return {
    update(phase, done, total, rows) {
      let entry = byPhase.get(phase);
      if (entry === undefined) {
        entry = { bar: bars.create(total, 0, { phase: phase.padEnd(11), speed: '' }), started: performance.now() };
        byPhase.set(phase, entry);
      }
      entry.bar.setTotal(total);
      entry.bar.update(done, { phase: phase.padEnd(11), speed: rows > 0 ? rate(rows, performance.now() - entry.started) : '' });
    },
    stop() {
      bars.stop();
    },
  };
}
