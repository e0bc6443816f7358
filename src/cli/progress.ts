import type { Output } from './output.js';
import { formatNumber } from '../domain/units.js';

/**
 * Progress on stderr: a bar per phase on a terminal, fitted to its width, plain lines every few
 * seconds otherwise. Never on stdout, which carries only the result. Rates are measured over the
 * last few seconds (not from a phase's first update, which made the first figures absurd).
 */
export interface Progress {
  /**
   * `done` of `total` (what the bar and the ETA measure); `count` what was produced so far in
   * `unit` (rows, scans), whose rate is shown; a phase with no count shows no rate.
   */
  update(phase: string, done: number, total: number, count: number, unit?: string): void;
  stop(): void;
}

/** Samples over the last few seconds: the rate people want is the current one. */
const windowMs = 5_000;

export class RateWindow {
  private readonly samples: { at: number; count: number }[] = [];

  add(at: number, count: number): void {
    this.samples.push({ at, count });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? at) < at - windowMs) this.samples.shift();
  }

  /** Per second over the window, or undefined until it spans a quarter of a second. */
  perSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined || last.at - first.at < 250) return undefined;
    return ((last.count - first.count) * 1000) / (last.at - first.at);
  }
}

export function formatRate(perSecond: number | undefined, unit: string): string {
  if (perSecond === undefined) return '';
  if (perSecond >= 10_000) return `${formatNumber(Math.round(perSecond / 1000))}k ${unit}/s`;
  return `${formatNumber(Math.round(perSecond))} ${unit}/s`;
}

const phaseWidth = 11;

export async function createProgress(output: Output): Promise<Progress> {
  const windows = new Map<string, RateWindow>();
  const rateOf = (key: string, count: number): number | undefined => {
    let window = windows.get(key);
    if (window === undefined) {
      window = new RateWindow();
      windows.set(key, window);
    }
    window.add(performance.now(), count);
    return window.perSecond();
  };

  if (!output.stderrIsTTY()) {
    let lastLine = 0;
    let lastPhase = '';
    return {
      update(phase, done, total, count, unit = 'rows') {
        const perSecond = rateOf(`${phase}:count`, count);
        const now = performance.now();
        const finished = done >= total;
        if (phase === lastPhase && !finished && now - lastLine < 2000) return;
        lastLine = now;
        lastPhase = phase;
        const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
        const rate = count > 0 ? formatRate(perSecond, unit) : '';
        output.info(
          `${phase}: ${count > 0 ? `${formatNumber(count)} ${unit}` : `${done}/${total}`} (${percent}%)${rate === '' ? '' : `, ${rate}`}`,
        );
      },
      stop() {},
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const columns = output.stderr.columns > 0 ? output.stderr.columns : 80;
  // ' phase [bar] 100% 12,345,678 rows 12,345k rows/s ETA 1h02m': everything but the bar is at
  // most ~58 columns; the bar takes what is left, so nothing is cut at the edge of the screen.
  const barsize = Math.max(6, Math.min(30, columns - 60));
  const bars = new cliProgress.MultiBar(
    {
      stream: output.stderr,
      format: ' {phase} [{bar}] {percentage}% {shown} {speed} {eta}',
      barsize,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: false,
      linewrap: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const byPhase = new Map<string, ReturnType<typeof bars.create>>();
  return {
    update(phase, done, total, count, unit = 'rows') {
      const perSecond = rateOf(`${phase}:count`, count);
      const donePerSecond = rateOf(`${phase}:done`, done);
      let bar = byPhase.get(phase);
      if (bar === undefined) {
        bar = bars.create(total, 0, { phase: phase.slice(0, phaseWidth).padEnd(phaseWidth), shown: '', speed: '', eta: '' });
        byPhase.set(phase, bar);
      }
      bar.setTotal(total);
      const remaining = total - done;
      const etaSeconds = donePerSecond !== undefined && donePerSecond > 0 ? remaining / donePerSecond : undefined;
      bar.update(done, {
        shown: count > 0 ? `${formatNumber(count)} ${unit}` : '',
        speed: count > 0 ? formatRate(perSecond, unit) : '',
        eta: etaSeconds === undefined || remaining <= 0 ? '' : `ETA ${formatEta(etaSeconds)}`,
      });
    },
    stop() {
      bars.stop();
    },
  };
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
