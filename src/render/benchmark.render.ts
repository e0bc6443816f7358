import type { BenchmarkRunResult, ExperimentResult, LatencySummary, ScenarioResult } from '../services/benchmark/types.js';
import { formatCell } from './report.render.js';
import type { Style } from './style.js';
import { renderTable, type Column } from './table.js';

/**
 * Benchmark runs as a terminal summary, a Markdown performance report with SVG plots, and a
 * comparison with a baseline run: pure functions of the run's data.
 */

/** How a run differs from a baseline, scenario by scenario (matched by scenario and concurrency). */
export interface Comparison {
  baselineId: string;
  baselineStartedAt: string;
  thresholdPct: number;
  rows: {
    scenario: string;
    concurrency: number;
    baselineP50: number;
    currentP50: number;
    changePct: number;
    baselineP99: number;
    currentP99: number;
    p99ChangePct: number;
    regression: boolean;
  }[];
  regressions: number;
}

export interface BenchmarkMarkdownOptions {
  title?: string;
  /** Plot file names start with this (e.g. `performance` → `performance-latency.svg`). */
  plotPrefix: string;
  comparison?: Comparison;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** Milliseconds as tables show them: 3 decimals below 1 ms, 2 below 10, 1 below 100, then whole (1,234). */
export function formatLatency(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  if (abs < 1) return ms.toFixed(3);
  if (abs < 10) return ms.toFixed(2);
  if (abs < 100) return ms.toFixed(1);
  return Math.round(ms).toLocaleString('en-US');
}

function formatThroughput(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '—';
  if (perSecond >= 100) return Math.round(perSecond).toLocaleString('en-US');
  return perSecond.toFixed(perSecond >= 10 ? 1 : 2);
}

function formatSpeedup(factor: number): string {
  if (!Number.isFinite(factor) || factor <= 0) return '—';
  if (factor >= 100) return `${Math.round(factor).toLocaleString('en-US')}×`;
  return `${factor.toFixed(factor >= 10 ? 1 : 2)}×`;
}

function formatChange(pct: number): string {
  if (!Number.isFinite(pct)) return '—';
  const rounded = Number(pct.toFixed(1));
  return `${rounded > 0 ? '+' : rounded < 0 ? '-' : ''}${Math.abs(rounded).toFixed(1)} %`;
}

function formatMicros(us: number): string {
  return us < 10 ? us.toFixed(1) : Math.round(us).toLocaleString('en-US');
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}

function overheadLine(run: BenchmarkRunResult): string {
  return Number.isFinite(run.harnessOverheadUs)
    ? `harness overhead: ${formatMicros(run.harnessOverheadUs)} µs per operation (no-op scenario)`
    : 'harness overhead: not measured';
}

function seriesLabel(s: ScenarioResult): string {
  return `${s.scenario} ×${s.concurrency}`;
}

function dataRows(run: BenchmarkRunResult): string {
  const entries = Object.entries(run.environment.data ?? {});
  if (entries.length === 0) return 'no row counts';
  return entries.map(([table, rows]) => `${formatCell('integer', rows)} ${table}`).join(', ');
}

function skippedScenarios(run: BenchmarkRunResult): { scenario: string; reason: string }[] {
  const skipped = run.parameters.skipped;
  if (!Array.isArray(skipped)) return [];
  return skipped.flatMap((s: unknown) => {
    if (typeof s !== 'object' || s === null) return [];
    const { scenario, reason } = s as Record<string, unknown>;
    return typeof scenario === 'string' ? [{ scenario, reason: typeof reason === 'string' ? reason : '' }] : [];
  });
}

function numberParameter(run: BenchmarkRunResult, key: string): number | undefined {
  const value = run.parameters[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Breaks text into lines of at most `width` characters at spaces (for terminal table cells). */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Table columns shared by the terminal and the Markdown

interface BenchColumn<Row> {
  header: string;
  value: (row: Row) => string;
  numeric?: boolean;
  /** Ready-made Markdown for the cell, when it needs more than escaped text. */
  markdown?: (row: Row) => string;
  paint?: (row: Row, style: Style, text: string) => string;
}

const latencyColumns = (prefix: string): BenchColumn<{ summary: LatencySummary }>[] => [
  { header: `${prefix}p50 ms`, value: (r) => formatLatency(r.summary.p50), numeric: true },
  { header: `${prefix}p90 ms`, value: (r) => formatLatency(r.summary.p90), numeric: true },
  { header: `${prefix}p99 ms`, value: (r) => formatLatency(r.summary.p99), numeric: true },
];

const scenarioColumns: BenchColumn<ScenarioResult>[] = [
  { header: 'scenario', value: (s) => s.scenario },
  { header: 'concurrency', value: (s) => String(s.concurrency), numeric: true },
  { header: 'ops', value: (s) => formatCell('integer', s.summary.count), numeric: true },
  { header: 'throughput/s', value: (s) => formatThroughput(s.summary.throughput), numeric: true },
  ...latencyColumns(''),
  { header: 'p99.9 ms', value: (s) => formatLatency(s.summary.p999), numeric: true },
  { header: 'max ms', value: (s) => formatLatency(s.summary.max), numeric: true },
  {
    header: 'errors',
    value: (s) => formatCell('integer', s.summary.errors),
    numeric: true,
    markdown: (s) => (s.summary.errors > 0 ? `**${formatCell('integer', s.summary.errors)}**` : '0'),
    paint: (s, style, text) => (s.summary.errors > 0 ? style.bad(text) : text),
  },
];

function speedupPaint(factor: number, style: Style, text: string): string {
  if (!Number.isFinite(factor)) return text;
  if (factor >= 1.2) return style.ok(text);
  if (factor < 0.9) return style.bad(text);
  return text;
}

const experimentTextColumns: BenchColumn<ExperimentResult>[] = [
  { header: 'experiment', value: (e) => e.experiment },
  { header: 'before', value: (e) => (e.skipped === undefined ? wrap(e.before.label, 28) : wrap(`skipped: ${e.skipped}`, 40)) },
  { header: 'p50 ms', value: (e) => (e.skipped === undefined ? formatLatency(e.before.summary.p50) : '—'), numeric: true },
  { header: 'after', value: (e) => (e.skipped === undefined ? wrap(e.after.label, 28) : '') },
  { header: 'p50 ms', value: (e) => (e.skipped === undefined ? formatLatency(e.after.summary.p50) : '—'), numeric: true },
  {
    header: 'speedup',
    value: (e) => (e.skipped === undefined ? formatSpeedup(e.speedup) : '—'),
    numeric: true,
    paint: (e, style, text) => speedupPaint(e.speedup, style, text),
  },
  { header: 'recommendation', value: (e) => (e.skipped === undefined ? wrap(e.recommendation, 48) : '') },
];

const experimentMarkdownColumns: BenchColumn<ExperimentResult>[] = [
  { header: 'experiment', value: (e) => e.experiment, markdown: (e) => `[${mdText(e.experiment)}](#${anchorOf(e.experiment)})` },
  { header: 'before', value: (e) => (e.skipped === undefined ? e.before.label : `skipped: ${e.skipped}`) },
  { header: 'before p50 ms', value: (e) => (e.skipped === undefined ? formatLatency(e.before.summary.p50) : '—'), numeric: true },
  { header: 'after', value: (e) => (e.skipped === undefined ? e.after.label : '') },
  { header: 'after p50 ms', value: (e) => (e.skipped === undefined ? formatLatency(e.after.summary.p50) : '—'), numeric: true },
  { header: 'speedup', value: (e) => (e.skipped === undefined ? formatSpeedup(e.speedup) : '—'), numeric: true },
  { header: 'recommendation', value: (e) => (e.skipped === undefined ? e.recommendation : '') },
];

type ComparisonRow = Comparison['rows'][number];

function verdict(row: ComparisonRow, thresholdPct: number): 'regression' | 'faster' | 'ok' {
  if (row.regression) return 'regression';
  return row.changePct < -thresholdPct ? 'faster' : 'ok';
}

const comparisonColumns = (thresholdPct: number): BenchColumn<ComparisonRow>[] => [
  { header: 'scenario', value: (r) => r.scenario },
  { header: 'concurrency', value: (r) => String(r.concurrency), numeric: true },
  { header: 'baseline p50 ms', value: (r) => formatLatency(r.baselineP50), numeric: true },
  { header: 'p50 ms', value: (r) => formatLatency(r.currentP50), numeric: true },
  {
    header: 'p50 change',
    value: (r) => formatChange(r.changePct),
    numeric: true,
    paint: (r, style, text) => (r.regression ? style.bad(text) : text),
  },
  { header: 'baseline p99 ms', value: (r) => formatLatency(r.baselineP99), numeric: true },
  { header: 'p99 ms', value: (r) => formatLatency(r.currentP99), numeric: true },
  { header: 'p99 change', value: (r) => formatChange(r.p99ChangePct), numeric: true },
  {
    header: 'verdict',
    value: (r) => verdict(r, thresholdPct),
    markdown: (r) => (r.regression ? '**regression**' : verdict(r, thresholdPct)),
    paint: (r, style, text) => {
      const v = verdict(r, thresholdPct);
      return v === 'regression' ? style.bad(text.toUpperCase()) : v === 'faster' ? style.ok(text) : text;
    },
  },
];

function textTable<Row>(columns: readonly BenchColumn<Row>[], rows: readonly Row[], style: Style): string {
  const cells: Column<Row>[] = columns.map((c) => ({
    header: c.header,
    align: c.numeric === true ? 'right' : 'left',
    value: (row) => (c.paint === undefined ? c.value(row) : c.paint(row, style, c.value(row))),
  }));
  return renderTable(cells, rows);
}

// ---------------------------------------------------------------------------------------------
// Markdown text

/** Text for Markdown prose and table cells: pipes, HTML and link/emphasis characters escaped. */
function mdText(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/([*`[\]])/g, '\\$1')
    .replace(/\r?\n/g, ' ');
}

/** An inline code span (identifiers such as table and setting names). */
function mdCode(text: string): string {
  const ticks = '`'.repeat(Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length)) + 1);
  const inner = text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  return ticks.length > 1 || inner.startsWith(' ') ? `${ticks} ${inner} ${ticks}` : `${ticks}${inner}${ticks}`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

function markdownTable<Row>(columns: readonly BenchColumn<Row>[], rows: readonly Row[]): string[] {
  return [
    `| ${columns.map((c) => mdText(c.header)).join(' | ')} |`,
    `|${columns.map((c) => (c.numeric === true ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map(
      (row) => `| ${columns.map((c) => (c.markdown === undefined ? mdText(c.value(row)) : c.markdown(row))).join(' | ')} |`,
    ),
  ];
}

function fenced(text: string, language = 'text'): string[] {
  const longest = Math.max(0, ...[...text.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}${language}`, text.replace(/\s+$/, ''), fence];
}

/** A relative link target for a file beside the report (spaces and parentheses encoded). */
function linkTarget(name: string): string {
  return encodeURIComponent(name).replace(/[()!'*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// ---------------------------------------------------------------------------------------------
// SVG

const palette = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#76b7b2', '#9c755f', '#ff9da7', '#edc948', '#17becf'];
const dashes = ['', '8 4', '2 3', '12 4 2 4'];
const fontFamily = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const ink = '#222222';
const gridInk = '#dddddd';
const muted = '#666666';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function px(value: number): string {
  return String(Number(value.toFixed(1)));
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(fontFamily)}" font-size="12" fill="${ink}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${px(x)}" y="${px(y)}"${attributes === '' ? '' : ` ${attributes}`}>${escapeXml(content)}</text>`;
}

interface LogAxis {
  lo: number;
  hi: number;
  ticks: number[];
}

/** Decades around the positive values; 2 and 5 in between when the range is narrow. */
function logAxis(values: readonly number[]): LogAxis {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = positive.length === 0 ? -1 : Math.floor(Math.log10(Math.min(...positive)));
  let hi = positive.length === 0 ? 0 : Math.ceil(Math.log10(Math.max(...positive)));
  if (hi <= lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d += 1) {
    const decade = Number((10 ** d).toPrecision(6));
    ticks.push(decade);
    if (hi - lo <= 2 && d < hi) ticks.push(Number((2 * decade).toPrecision(6)), Number((5 * decade).toPrecision(6)));
  }
  return { lo, hi, ticks };
}

function tickLabel(ms: number): string {
  return ms.toLocaleString('en-US', { maximumFractionDigits: 6 });
}

interface PlotSeries {
  label: string;
  color: string;
  dash: string;
  /** [percentile, ms] */
  points: [number, number][];
}

const nineTicks: [number, string][] = [
  [0, '0'],
  [1, '90'],
  [2, '99'],
  [3, '99.9'],
  [4, '99.99'],
  [5, 'max'],
];
const maxNines = 5;

/** The x of an HDR percentile plot: how many nines (90 → 1, 99 → 2, …); the maximum sits at the right edge. */
function ninesOf(percentile: number): number {
  if (percentile >= 100) return maxNines;
  return Math.min(-Math.log10(1 - percentile / 100), maxNines - 0.4);
}

function strokeAttributes(s: { color: string; dash: string }): string {
  return `stroke="${s.color}" stroke-width="2"${s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`}`;
}

function renderPercentilePlot(title: string, series: readonly PlotSeries[]): string {
  const width = 800;
  const longest = Math.max(8, ...series.map((s) => s.label.length + (s.points.length === 0 ? 10 : 0)));
  const legendWidth = Math.min(260, 40 + longest * 7);
  const height = Math.max(400, 60 + series.length * 18 + 20);
  const left = 72;
  const right = width - legendWidth - 16;
  const top = 44;
  const bottom = height - 52;
  const axis = logAxis(series.flatMap((s) => s.points.map(([, ms]) => ms)));
  const xOf = (percentile: number): number => left + (ninesOf(percentile) / maxNines) * (right - left);
  const yOf = (ms: number): number => bottom - ((Math.log10(ms) - axis.lo) / (axis.hi - axis.lo)) * (bottom - top);
  const body: string[] = [];
  body.push(`<g stroke="${gridInk}" stroke-width="1">`);
  for (const [nines] of nineTicks) {
    const x = left + (nines / maxNines) * (right - left);
    body.push(`<line x1="${px(x)}" y1="${top}" x2="${px(x)}" y2="${bottom}"/>`);
  }
  for (const tick of axis.ticks) body.push(`<line x1="${left}" y1="${px(yOf(tick))}" x2="${px(right)}" y2="${px(yOf(tick))}"/>`);
  body.push('</g>');
  body.push(`<rect x="${left}" y="${top}" width="${px(right - left)}" height="${bottom - top}" fill="none" stroke="${muted}"/>`);
  for (const [nines, label] of nineTicks) {
    body.push(text(left + (nines / maxNines) * (right - left), bottom + 16, label, 'text-anchor="middle"'));
  }
  for (const tick of axis.ticks) body.push(text(left - 6, yOf(tick) + 4, tickLabel(tick), 'text-anchor="end"'));
  body.push(text((left + right) / 2, bottom + 38, 'percentile (log scale of nines: 90, 99, 99.9, …)', 'text-anchor="middle"'));
  body.push(
    text(
      18,
      (top + bottom) / 2,
      'latency, ms (log scale)',
      `text-anchor="middle" transform="rotate(-90 18 ${px((top + bottom) / 2)})"`,
    ),
  );
  for (const s of series) {
    const points = s.points.filter(([p, ms]) => Number.isFinite(p) && Number.isFinite(ms) && ms > 0);
    if (points.length === 0) continue;
    const coordinates = points.map(([p, ms]) => `${px(xOf(p))},${px(yOf(ms))}`).join(' ');
    body.push(
      `<polyline fill="none" ${strokeAttributes(s)} stroke-linejoin="round" points="${coordinates}"><title>${escapeXml(s.label)}</title></polyline>`,
    );
  }
  const legendX = right + 16;
  series.forEach((s, i) => {
    const y = top + 10 + i * 18;
    body.push(`<line x1="${legendX}" y1="${y}" x2="${legendX + 24}" y2="${y}" ${strokeAttributes(s)}/>`);
    body.push(text(legendX + 30, y + 4, s.points.length === 0 ? `${s.label} (no data)` : s.label));
  });
  return svgDocument(width, height, title, body);
}

function renderExperimentChart(title: string, experiments: readonly ExperimentResult[]): string {
  const width = 800;
  const labelRight = 240;
  const left = 250;
  const right = width - 110;
  const top = 64;
  const groupHeight = 62;
  const height = Math.max(200, top + experiments.length * groupHeight + 44);
  const bottom = height - 44;
  const beforeColor = palette[1] ?? ink;
  const afterColor = palette[0] ?? ink;
  const axis = logAxis(experiments.flatMap((e) => [e.before.summary.p50, e.after.summary.p50]));
  const xOf = (ms: number): number => left + ((Math.log10(ms) - axis.lo) / (axis.hi - axis.lo)) * (right - left);
  const body: string[] = [
    `<rect x="${left}" y="38" width="12" height="12" fill="${beforeColor}"/>`,
    text(left + 18, 48, 'before'),
    `<rect x="${left + 80}" y="38" width="12" height="12" fill="${afterColor}"/>`,
    text(left + 98, 48, 'after'),
    text(right, 48, 'p50 latency, ms (log scale)', `text-anchor="end" fill="${muted}"`),
    `<g stroke="${gridInk}" stroke-width="1">`,
    ...axis.ticks.map((t) => `<line x1="${px(xOf(t))}" y1="${top}" x2="${px(xOf(t))}" y2="${bottom}"/>`),
    '</g>',
    ...axis.ticks.map((t) => text(xOf(t), bottom + 16, tickLabel(t), 'text-anchor="middle"')),
  ];
  experiments.forEach((e, i) => {
    const y = top + i * groupHeight;
    const speedup = Number.isFinite(e.speedup) && e.speedup > 0 ? ` · speedup ${formatSpeedup(e.speedup)}` : '';
    body.push(text(16, y + 14, `${e.experiment}${speedup}`, 'font-weight="bold"'));
    const arms: [string, number, string, number][] = [
      [e.before.label, e.before.summary.p50, beforeColor, y + 22],
      [e.after.label, e.after.summary.p50, afterColor, y + 40],
    ];
    for (const [label, p50, color, barY] of arms) {
      body.push(text(labelRight, barY + 11, truncate(label, 34), 'text-anchor="end"'));
      if (!(Number.isFinite(p50) && p50 > 0)) {
        body.push(text(left + 4, barY + 11, 'no data', `fill="${muted}"`));
        continue;
      }
      const end = xOf(p50);
      body.push(
        `<rect x="${left}" y="${barY}" width="${px(Math.max(1, end - left))}" height="14" fill="${color}"><title>${escapeXml(`${label}: ${formatLatency(p50)} ms`)}</title></rect>`,
      );
      body.push(text(end + 4, barY + 11, `${formatLatency(p50)} ms`));
    }
  });
  body.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="${muted}"/>`);
  return svgDocument(width, height, title, body);
}

interface PlotGroup {
  suffix: string;
  title: string;
  scenarios: ScenarioResult[];
}

const maxSeriesPerPlot = 8;

/** One plot, or, when there are many lines, the fast paths and the reports (and seeding) apart. */
function plotGroups(scenarios: readonly ScenarioResult[]): PlotGroup[] {
  const all = { suffix: '', title: 'Latency by percentile', scenarios: [...scenarios] };
  if (scenarios.length <= maxSeriesPerPlot) return [all];
  const isSlow = (s: ScenarioResult): boolean => /^(report|seed)/.test(s.scenario);
  const fast = scenarios.filter((s) => !isSlow(s));
  const slow = scenarios.filter(isSlow);
  if (fast.length === 0 || slow.length === 0) return [all];
  return [
    { suffix: '-track-scan', title: 'Latency by percentile: track and scan', scenarios: fast },
    { suffix: '-reports', title: 'Latency by percentile: reports and seeding', scenarios: slow },
  ];
}

function plotSeries(scenarios: readonly ScenarioResult[]): PlotSeries[] {
  const names = [...new Set(scenarios.map((s) => s.scenario))];
  const levels = [...new Set(scenarios.map((s) => s.concurrency))].sort((a, b) => a - b);
  return scenarios.map((s) => ({
    label: seriesLabel(s),
    color: palette[names.indexOf(s.scenario) % palette.length] ?? ink,
    dash: dashes[levels.indexOf(s.concurrency) % dashes.length] ?? '',
    points: s.summary.distribution,
  }));
}

// ---------------------------------------------------------------------------------------------
// Terminal

/** The run for a terminal: header, scenario table, experiment table, harness overhead. */
export function renderBenchmarkText(run: BenchmarkRunResult, style: Style): string {
  const env = run.environment;
  const out: string[] = [
    style.bold(`Benchmark ${run.id} · suite ${run.suite}`),
    style.dim(
      `node ${env.node} · PostgreSQL ${env.postgres} (${env.databaseMode}) · ${env.cpuCount} CPUs · data: ${dataRows(run)}`,
    ),
  ];
  if (run.scenarios.length > 0) out.push('', textTable(scenarioColumns, run.scenarios, style));
  for (const s of run.scenarios) {
    if (s.summary.errors > 0) {
      out.push(
        style.bad(
          `${seriesLabel(s)}: ${formatCell('integer', s.summary.errors)} errors${s.summary.firstError === undefined ? '' : `; first: ${s.summary.firstError}`}`,
        ),
      );
    }
  }
  for (const skipped of skippedScenarios(run)) out.push(style.dim(`skipped ${skipped.scenario}: ${skipped.reason}`));
  if (run.experiments.length > 0) out.push('', textTable(experimentTextColumns, run.experiments, style));
  out.push('', style.dim(overheadLine(run)));
  return out.join('\n');
}

/** A comparison for a terminal: one row per matched scenario, regressions marked, and a verdict. */
export function renderComparisonText(c: Comparison, style: Style): string {
  const out: string[] = [
    style.bold(`Compared with run ${c.baselineId} (${formatCell('timestamp', c.baselineStartedAt)})`),
    style.dim(`a regression: p50 slower by more than ${c.thresholdPct} %; p99 is reported, not judged`),
  ];
  if (c.rows.length === 0) out.push(style.dim('(no scenario ran in both runs)'));
  else out.push(textTable(comparisonColumns(c.thresholdPct), c.rows, style));
  out.push(
    c.regressions === 0
      ? style.ok('no regressions')
      : style.bad(`${c.regressions} regression${c.regressions === 1 ? '' : 's'} (p50 > +${c.thresholdPct} %)`),
  );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Comparison

function changePct(current: number, baseline: number): number {
  if (!(Number.isFinite(current) && Number.isFinite(baseline) && baseline > 0)) return Number.NaN;
  return ((current - baseline) / baseline) * 100;
}

/**
 * Compares two runs scenario by scenario, matched by (scenario, concurrency). A regression is a p50
 * slower than the baseline's by more than `thresholdPct` percent; the p99 change is reported only.
 * Scenarios that ran in only one of the runs are left out of `rows` (the Markdown report lists the
 * current run's unmatched ones); a p50 that cannot be compared (no completed operations) is no regression.
 */
export function compareRuns(current: BenchmarkRunResult, baseline: BenchmarkRunResult, thresholdPct: number): Comparison {
  const key = (s: ScenarioResult): string => `${s.scenario}\u0000${s.concurrency}`;
  const before = new Map<string, ScenarioResult>();
  for (const s of baseline.scenarios) if (!before.has(key(s))) before.set(key(s), s);
  const rows: Comparison['rows'] = [];
  for (const s of current.scenarios) {
    const b = before.get(key(s));
    if (b === undefined) continue;
    const p50Change = changePct(s.summary.p50, b.summary.p50);
    rows.push({
      scenario: s.scenario,
      concurrency: s.concurrency,
      baselineP50: b.summary.p50,
      currentP50: s.summary.p50,
      changePct: p50Change,
      baselineP99: b.summary.p99,
      currentP99: s.summary.p99,
      p99ChangePct: changePct(s.summary.p99, b.summary.p99),
      regression: Number.isFinite(p50Change) && p50Change > thresholdPct,
    });
  }
  return {
    baselineId: baseline.id,
    baselineStartedAt: baseline.startedAt,
    thresholdPct,
    rows,
    regressions: rows.filter((r) => r.regression).length,
  };
}

// ---------------------------------------------------------------------------------------------
// Markdown report

function honesty(run: BenchmarkRunResult): string {
  const env = run.environment;
  return [
    `Every figure in this report comes from this one run (${mdCode(run.id)}) on one machine:`,
    `${mdText(env.cpus)} (${env.cpuCount} logical CPUs), ${env.memoryGb} GB memory, ${mdText(env.platform)},`,
    `Node.js ${mdText(env.node)}, PostgreSQL ${mdText(env.postgres)} (${env.databaseMode}),`,
    `with ${mdText(dataRows(run))}.`,
    'Absolute times depend on that machine, its load, its disks and its data, and will differ elsewhere;',
    'the before/after ratios of the experiments are what carry over.',
    'Workers are closed-loop: each starts its next operation only when the previous one has finished,',
    'so the latencies are service times, with no coordinated-omission correction; under overload the',
    'tail is understated, not queued.',
    Number.isFinite(run.harnessOverheadUs)
      ? `The harness itself costs ${formatMicros(run.harnessOverheadUs)} µs per operation (a no-op scenario), included in every latency.`
      : 'The harness overhead was not measured.',
  ].join('\n');
}

function environmentTable(run: BenchmarkRunResult): string[] {
  const env = run.environment;
  const rows: [string, string][] = [
    ['shiptrack', mdText(env.shiptrack)],
    ['Node.js', mdText(env.node)],
    ['platform', mdText(env.platform)],
    ['CPU', `${mdText(env.cpus)} × ${env.cpuCount}`],
    ['memory', `${env.memoryGb} GB`],
    ['PostgreSQL', `${mdText(env.postgres)} (${env.databaseMode})`],
    ['Redis', env.redis === null ? 'not configured' : mdText(env.redis)],
    ['document store', mdText(env.documents)],
    ...Object.entries(env.data ?? {}).map(([table, rows]): [string, string] => [
      `rows in ${mdCode(table)}`,
      formatCell('integer', rows),
    ]),
    ...Object.entries(env.settings ?? {}).map(([name, value]): [string, string] => [mdCode(name), mdText(value)]),
  ];
  return ['| | |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
}

function method(run: BenchmarkRunResult): string[] {
  const warmupMs = numberParameter(run, 'warmupMs');
  const durationMs = numberParameter(run, 'durationMs');
  const count = numberParameter(run, 'count');
  const levels = [...new Set(run.scenarios.map((s) => s.concurrency))].sort((a, b) => a - b);
  const lines = [
    `- Warm-up: ${warmupMs === undefined ? 'as configured' : formatDuration(warmupMs)} of unmeasured operations before each measurement.`,
    `- Measurement: ${
      count !== undefined
        ? `${formatCell('integer', count)} operations`
        : durationMs !== undefined
          ? formatDuration(durationMs)
          : 'as configured'
    } per scenario and concurrency level (slow scenarios such as seeding run a fixed count).`,
    `- Concurrency: ${levels.length === 0 ? '—' : levels.join(', ')} closed-loop workers sharing one connection pool.`,
    '- Every operation’s latency goes into an HDR histogram (microsecond resolution, 3 significant digits);',
    '  the tables give p50, p90, p99, p99.9 and the maximum, and the plots the distribution at',
    '  0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99 and 100 %.',
    '- Throughput is completed operations per second of the measured phase; failed operations are',
    '  counted as errors and left out of the latencies.',
    '- Experiments measure their before and after arms the same way, one after the other, isolated as',
    '  each section describes; speedup is before p50 ÷ after p50.',
  ];
  return lines;
}

function experimentSection(e: ExperimentResult): string[] {
  const out: string[] = [`### ${mdText(e.experiment)}`, '', `**Question.** ${mdText(e.question)}`, ''];
  out.push(`**Isolation.** ${mdText(e.isolation)}`, '');
  if (e.skipped !== undefined) {
    out.push(`_Skipped: ${mdText(e.skipped)}_`, '');
    for (const note of e.notes) out.push(`- ${mdText(note)}`);
    if (e.notes.length > 0) out.push('');
    return out;
  }
  const arms = [
    { arm: 'before', ...e.before },
    { arm: 'after', ...e.after },
  ];
  const columns: BenchColumn<(typeof arms)[number]>[] = [
    { header: 'arm', value: (a) => a.arm },
    { header: 'variant', value: (a) => a.label },
    ...latencyColumns(''),
    { header: 'throughput/s', value: (a) => formatThroughput(a.summary.throughput), numeric: true },
    { header: 'ops', value: (a) => formatCell('integer', a.summary.count), numeric: true },
    { header: 'errors', value: (a) => formatCell('integer', a.summary.errors), numeric: true },
  ];
  out.push(...markdownTable(columns, arms), '');
  out.push(`**Speedup:** ${formatSpeedup(e.speedup)} (before p50 ÷ after p50; above 1 means the change is faster).`, '');
  out.push(`**Recommendation:** ${mdText(e.recommendation)}`, '');
  if (e.notes.length > 0) out.push('Notes:', '', ...e.notes.map((n) => `- ${mdText(n)}`), '');
  for (const a of arms) {
    if (a.summary.firstError !== undefined) out.push(`> ${a.arm}: first error: ${mdText(a.summary.firstError)}`, '');
    if (a.plan === undefined) continue;
    out.push(`<details><summary>plan ${a.arm}: ${escapeHtml(a.label)}</summary>`, '', ...fenced(a.plan), '', '</details>', '');
  }
  return out;
}

function comparisonSection(run: BenchmarkRunResult, c: Comparison): string[] {
  const out: string[] = [
    `## Compared with run ${mdText(c.baselineId)}`,
    '',
    `Baseline ${mdCode(c.baselineId)} started ${formatCell('timestamp', c.baselineStartedAt)}. A **regression** is a p50`,
    `more than ${c.thresholdPct} % slower than the baseline's; the p99 change is reported but does not decide.`,
    'Absolute times only compare when both runs used the same machine and data.',
    '',
  ];
  if (c.rows.length === 0) out.push('_No scenario ran in both runs._', '');
  else out.push(...markdownTable(comparisonColumns(c.thresholdPct), c.rows), '');
  out.push(
    c.regressions === 0
      ? 'No regressions.'
      : `**${c.regressions} regression${c.regressions === 1 ? '' : 's'}** (p50 more than ${c.thresholdPct} % slower).`,
    '',
  );
  const matched = new Set(c.rows.map((r) => `${r.scenario}\u0000${r.concurrency}`));
  const unmatched = run.scenarios.filter((s) => !matched.has(`${s.scenario}\u0000${s.concurrency}`));
  if (unmatched.length > 0) {
    out.push(`Not in the baseline, so not compared: ${unmatched.map((s) => mdText(seriesLabel(s))).join(', ')}.`, '');
  }
  return out;
}

/**
 * The Performance Tuning Report: honesty statement, environment, method, results with HDR percentile
 * plots, one section per experiment (tables, recommendation, query plans) and, given a comparison, the
 * change against a baseline. The SVG plots come back in `files`, to be written beside the Markdown.
 */
export function renderBenchmarkMarkdown(
  run: BenchmarkRunResult,
  options: BenchmarkMarkdownOptions,
): { markdown: string; files: { name: string; content: string }[] } {
  const files: { name: string; content: string }[] = [];
  const started = formatCell('timestamp', run.startedAt);
  const elapsedMs = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  const out: string[] = [
    `# ${mdText(options.title ?? 'Performance Tuning Report')}`,
    '',
    `Run ${mdCode(run.id)} · suite ${mdCode(run.suite)} · started ${started}${
      Number.isFinite(elapsedMs) && elapsedMs >= 0 ? ` · took ${formatDuration(elapsedMs)}` : ''
    }.`,
    '',
    '## Honesty',
    '',
    honesty(run),
    '',
    '## Environment',
    '',
    ...environmentTable(run),
    '',
    '## Method',
    '',
    ...method(run),
    '',
    '## Results',
    '',
  ];

  if (run.scenarios.length === 0) out.push('_No scenarios were measured in this run._', '');
  else {
    out.push(...markdownTable(scenarioColumns, run.scenarios), '');
    const errors = run.scenarios.filter((s) => s.summary.errors > 0);
    for (const s of errors) {
      out.push(
        `> **${mdText(seriesLabel(s))}**: ${formatCell('integer', s.summary.errors)} errors${
          s.summary.firstError === undefined ? '' : `; first: ${mdText(s.summary.firstError)}`
        }`,
        '',
      );
    }
    const described = [...new Map(run.scenarios.map((s) => [s.scenario, s.description])).entries()];
    out.push(...described.map(([name, description]) => `- **${mdText(name)}**: ${mdText(description)}`), '');
  }
  const skipped = skippedScenarios(run);
  if (skipped.length > 0) {
    out.push('Not run:', '', ...skipped.map((s) => `- ${mdText(s.scenario)}: ${mdText(s.reason)}`), '');
  }
  out.push(`_${overheadLine(run).replace(/^h/, 'H')}._`, '');

  if (run.scenarios.length > 0) {
    out.push('### Latency distribution', '');
    out.push(
      'Latency (log scale) against percentile on a scale of nines: 90 % of operations finish left of the',
      '“90” line, 99 % left of “99”, and so on; the right edge is the slowest operation. Line styles',
      'distinguish concurrency levels.',
      '',
    );
    for (const group of plotGroups(run.scenarios)) {
      const name = `${options.plotPrefix}-latency${group.suffix}.svg`;
      files.push({ name, content: renderPercentilePlot(group.title, plotSeries(group.scenarios)) });
      out.push(`![${mdText(group.title)}](${linkTarget(name)})`, '');
    }
  }

  if (run.experiments.length > 0) {
    out.push('## Experiments', '', ...markdownTable(experimentMarkdownColumns, run.experiments), '');
    const measured = run.experiments.filter((e) => e.skipped === undefined);
    if (measured.length > 0) {
      const name = `${options.plotPrefix}-experiments.svg`;
      files.push({ name, content: renderExperimentChart('Experiments: p50 before and after', measured) });
      out.push(`![Experiments: p50 before and after (log scale)](${linkTarget(name)})`, '');
    }
    for (const e of run.experiments) out.push(...experimentSection(e));
  }

  if (options.comparison !== undefined) out.push(...comparisonSection(run, options.comparison));
  return { markdown: `${out.join('\n').trimEnd()}\n`, files };
}
