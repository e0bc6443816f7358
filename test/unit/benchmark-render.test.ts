import { describe, expect, it } from 'vitest';
import {
  compareRuns,
  formatLatency,
  renderBenchmarkMarkdown,
  renderBenchmarkText,
  renderComparisonText,
} from '../../src/render/benchmark.render.js';
import { plainStyle, type Style } from '../../src/render/style.js';
import type { BenchmarkRunResult, LatencySummary, ScenarioResult } from '../../src/services/benchmark/types.js';

const percentiles = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

function summary(
  values: Partial<LatencySummary> & { p50: number; p90: number; p99: number; p999: number; max: number },
): LatencySummary {
  const { p50, p90, p99, p999, max } = values;
  const at = (p: number): number =>
    p <= 50
      ? p50 * (0.5 + p / 100)
      : p <= 90
        ? p50 + ((p90 - p50) * (p - 50)) / 40
        : p <= 99
          ? p90 + ((p99 - p90) * (p - 90)) / 9
          : p < 100
            ? Math.min(p999, p99 + (p999 - p99) * ((p - 99) / 0.9))
            : max;
  return {
    count: 1000,
    errors: 0,
    durationMs: 5000,
    throughput: 200,
    mean: p50 * 1.1,
    distribution: percentiles.map((p) => [p, at(p)]),
    ...values,
  };
}

const fixture: BenchmarkRunResult = {
  id: '20261124T100000-abcd1234',
  startedAt: '2026-11-24T10:00:00.000Z',
  finishedAt: '2026-11-24T10:03:30.000Z',
  suite: 'all',
  environment: {
    shiptrack: '0.1.0',
    node: 'v20.19.0',
    platform: 'Linux 6.8.0 x64',
    cpus: 'AMD EPYC 7B13',
    cpuCount: 8,
    memoryGb: 32,
    postgres: '16.4',
    databaseMode: 'server',
    redis: '7.2.5',
    documents: 'mongodb',
    data: { packages: 100000, tracking_events: 1234567 },
    settings: { shared_buffers: '16384 8kB', jit: 'off' },
  },
  parameters: {
    scenarios: ['track-db', 'scan-single', 'report-<&>'],
    concurrency: [1, 4],
    warmupMs: 1000,
    durationMs: 5000,
    count: null,
    skipped: [{ scenario: 'track-cache-hit', reason: 'no Redis configured (set SHIPTRACK_REDIS_URL)' }],
  },
  harnessOverheadUs: 0.8,
  scenarios: [
    {
      scenario: 'track-db',
      description: 'track one package from PostgreSQL',
      concurrency: 1,
      summary: summary({ count: 12345, throughput: 2469.04, p50: 0.412, p90: 0.803, p99: 1.52, p999: 3.1, max: 12.44 }),
    },
    {
      scenario: 'scan-single',
      description: 'record one scan',
      concurrency: 4,
      summary: summary({
        count: 980,
        errors: 3,
        firstError: 'deadlock detected',
        throughput: 196.2,
        p50: 18.04,
        p90: 25.5,
        p99: 40.2,
        p999: 77.7,
        max: 130.6,
      }),
    },
    {
      scenario: 'report-<&>',
      description: 'a report with "odd" | characters',
      concurrency: 1,
      summary: summary({ count: 20, throughput: 3.9, p50: 250.4, p90: 480, p99: 1234.5, p999: 1300, max: 1400 }),
    },
  ],
  experiments: [
    {
      experiment: 'tracking-number index',
      question: 'Does the unique index on packages.tracking_number carry track?',
      isolation: 'index dropped inside a transaction that rolls back',
      before: {
        label: 'no index (seq scan)',
        summary: summary({ count: 40, throughput: 8.1, p50: 123.4, p90: 130, p99: 150, p999: 160, max: 170 }),
        plan: 'Seq Scan on packages  (cost=0.00..2500.00 rows=1 width=100)\n  Filter: (tracking_number = $1)',
      },
      after: {
        label: 'unique index',
        summary: summary({ count: 9000, throughput: 1800, p50: 0.25, p90: 0.4, p99: 0.9, p999: 1.1, max: 2 }),
        plan: 'Index Scan using packages_tracking_number_key on packages',
      },
      speedup: 493.6,
      recommendation: 'Keep the index.',
      notes: ['plans from EXPLAIN (ANALYZE, BUFFERS)'],
    },
    {
      experiment: 'documents in MongoDB',
      question: 'Is MongoDB faster than JSONB for raw scans?',
      isolation: 'scratch collection',
      before: {
        label: 'jsonb',
        summary: summary({ count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN }),
      },
      after: {
        label: 'mongodb',
        summary: summary({ count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN }),
      },
      speedup: Number.NaN,
      recommendation: '',
      notes: [],
      skipped: 'no MongoDB configured',
    },
  ],
};

/** A small XML well-formedness check: balanced tags, quoted attributes, escaped text, one root. */
function checkXml(xml: string): { root: string; elements: string[] } {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const elements: string[] = [];
  let root = '';
  let closedRoot = false;
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  for (const token of body.match(/<[^>]*>|[^<]+/g) ?? []) {
    if (!token.startsWith('<')) {
      if (token.includes('>') || token.replace(entity, '').includes('&')) throw new Error(`unescaped text: ${token}`);
      if (stack.length === 0 && token.trim() !== '') throw new Error(`text outside the root: ${token}`);
      continue;
    }
    const closing = /^<\/([A-Za-z][\w:.-]*)\s*>$/.exec(token);
    if (closing !== null) {
      const open = stack.pop();
      if (open !== closing[1]) throw new Error(`</${closing[1]}> closes <${open ?? 'nothing'}>`);
      if (stack.length === 0) closedRoot = true;
      continue;
    }
    const opening = /^<([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>$/.exec(token);
    if (opening === null) throw new Error(`malformed tag: ${token}`);
    const [, name = '', attributes = '', selfClosing] = opening;
    if (attributes.replace(entity, '').includes('&')) throw new Error(`unescaped & in ${token}`);
    const names = [...attributes.matchAll(/([\w:.-]+)=/g)].map((m) => m[1]);
    if (new Set(names).size !== names.length) throw new Error(`duplicate attribute in ${token}`);
    if (stack.length === 0) {
      if (root !== '' || closedRoot) throw new Error('more than one root element');
      root = name;
      if (!attributes.includes('xmlns="http://www.w3.org/2000/svg"')) throw new Error('the root has no SVG namespace');
    }
    elements.push(name);
    if (selfClosing !== '/') stack.push(name);
    else if (stack.length === 0) closedRoot = true;
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
  return { root, elements };
}

describe('the XML check itself', () => {
  it('rejects what a parser would', () => {
    const svg = (inner: string): string => `<svg xmlns="http://www.w3.org/2000/svg">${inner}</svg>`;
    expect(checkXml(svg('<g><text x="1">a &amp; b</text></g>')).elements).toEqual(['svg', 'g', 'text']);
    expect(() => checkXml(svg('<g>'))).toThrow(/closes|unclosed/);
    expect(() => checkXml(svg('<text>a & b</text>'))).toThrow(/unescaped/);
    expect(() => checkXml(svg('<text>a < b</text>'))).toThrow();
    expect(() => checkXml(svg('<rect x=1/>'))).toThrow(/malformed/);
    expect(() => checkXml('<svg><g/></svg>')).toThrow(/namespace/);
  });
});

describe('numbers', () => {
  it('gives sub-millisecond latencies 3 decimals and large ones thousands separators', () => {
    expect(formatLatency(0.4123)).toBe('0.412');
    expect(formatLatency(1.52)).toBe('1.52');
    expect(formatLatency(18.04)).toBe('18.0');
    expect(formatLatency(1234.5)).toBe('1,235');
    expect(formatLatency(Number.NaN)).toBe('—');
  });
});

describe('Markdown report', () => {
  const { markdown, files } = renderBenchmarkMarkdown(fixture, { plotPrefix: 'performance' });
  const lines = markdown.split('\n');

  it('has the sections in order', () => {
    const headings = lines.filter((l) => l.startsWith('#'));
    expect(headings).toEqual([
      '# Performance Tuning Report',
      '## Honesty',
      '## Environment',
      '## Method',
      '## Results',
      '### Latency distribution',
      '## Experiments',
      '### tracking-number index',
      '### documents in MongoDB',
    ]);
    expect(renderBenchmarkMarkdown(fixture, { plotPrefix: 'p', title: 'Tuning | Q4' }).markdown).toMatch(/^# Tuning \\\| Q4\n/);
    expect(markdown.endsWith('\n')).toBe(true);
  });

  it('is honest about where the numbers come from', () => {
    const honesty = markdown.slice(markdown.indexOf('## Honesty'), markdown.indexOf('## Environment'));
    for (const fact of [
      'AMD EPYC 7B13',
      '8 logical CPUs',
      '32 GB',
      'Linux 6.8.0 x64',
      'v20.19.0',
      'PostgreSQL 16.4',
      '100,000 packages',
      '1,234,567 tracking_events',
    ]) {
      expect(honesty).toContain(fact);
    }
    expect(honesty).toMatch(/ratios/);
    expect(honesty).toMatch(/closed-loop/);
    expect(honesty).toMatch(/coordinated-omission/);
    expect(lines).toContain('| rows in `tracking_events` | 1,234,567 |');
    expect(lines).toContain('| `shared_buffers` | 16384 8kB |');
    expect(markdown).toContain('- Warm-up: 1 s of unmeasured operations before each measurement.');
    expect(markdown).toContain('- Measurement: 5 s per scenario');
    expect(markdown).toContain('3 significant digits');
  });

  it('tabulates the scenarios as a pipe table with right-aligned numbers', () => {
    expect(lines).toContain(
      '| scenario | concurrency | ops | throughput/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |',
    );
    expect(lines).toContain('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    expect(lines).toContain('| track-db | 1 | 12,345 | 2,469 | 0.412 | 0.803 | 1.52 | 3.10 | 12.4 | 0 |');
    expect(lines).toContain('| scan-single | 4 | 980 | 196 | 18.0 | 25.5 | 40.2 | 77.7 | 131 | **3** |');
    expect(lines).toContain('| report-&lt;&amp;&gt; | 1 | 20 | 3.90 | 250 | 480 | 1,235 | 1,300 | 1,400 | 0 |');
    expect(markdown).toContain('> **scan-single ×4**: 3 errors; first: deadlock detected');
    expect(markdown).toContain('- **report-&lt;&amp;&gt;**: a report with "odd" \\| characters');
    expect(markdown).toContain('- track-cache-hit: no Redis configured (set SHIPTRACK_REDIS_URL)');
    expect(markdown).toContain('_Harness overhead: 0.8 µs per operation (no-op scenario)._');
    expect(markdown).not.toContain('report-<&>');
  });

  it('has an experiment summary and a section per experiment with plans folded away', () => {
    expect(lines).toContain(
      '| [tracking-number index](#tracking-number-index) | no index (seq scan) | 123 | unique index | 0.250 | 494× | Keep the index. |',
    );
    expect(lines).toContain(
      '| [documents in MongoDB](#documents-in-mongodb) | skipped: no MongoDB configured | — |  | — | — |  |',
    );
    const section = markdown.slice(markdown.indexOf('### tracking-number index'), markdown.indexOf('### documents in MongoDB'));
    expect(section).toContain('**Question.** Does the unique index on packages.tracking_number carry track?');
    expect(section).toContain('**Isolation.** index dropped inside a transaction that rolls back');
    expect(section).toContain('| arm | variant | p50 ms | p90 ms | p99 ms | throughput/s | ops | errors |');
    expect(section).toContain('| before | no index (seq scan) | 123 | 130 | 150 | 8.10 | 40 | 0 |');
    expect(section).toContain('| after | unique index | 0.250 | 0.400 | 0.900 | 1,800 | 9,000 | 0 |');
    expect(section).toContain('**Speedup:** 494×');
    expect(section).toContain('**Recommendation:** Keep the index.');
    expect(section).toContain('- plans from EXPLAIN (ANALYZE, BUFFERS)');
    expect(section).toContain(
      '<details><summary>plan before: no index (seq scan)</summary>\n\n```text\nSeq Scan on packages  (cost=0.00..2500.00 rows=1 width=100)\n  Filter: (tracking_number = $1)\n```\n\n</details>',
    );
    expect(section).toContain('<details><summary>plan after: unique index</summary>');
    const skipped = markdown.slice(markdown.indexOf('### documents in MongoDB'));
    expect(skipped).toContain('_Skipped: no MongoDB configured_');
    expect(skipped).not.toContain('<details>');
  });

  it('returns the plots as files and links them relatively', () => {
    expect(files.map((f) => f.name)).toEqual(['performance-latency.svg', 'performance-experiments.svg']);
    expect(markdown).toContain('](performance-latency.svg)');
    expect(markdown).toContain('](performance-experiments.svg)');
    expect(renderBenchmarkMarkdown(fixture, { plotPrefix: 'my report' }).markdown).toContain('](my%20report-latency.svg)');
  });

  it('draws well-formed SVG: one line per scenario, a legend, escaped names', () => {
    for (const file of files) expect(checkXml(file.content).root).toBe('svg');
    const latency = files[0]?.content ?? '';
    expect(checkXml(latency).elements.filter((e) => e === 'polyline')).toHaveLength(fixture.scenarios.length);
    for (const label of ['track-db ×1', 'scan-single ×4', 'report-&lt;&amp;&gt; ×1'])
      expect(latency).toContain(`>${label}</text>`);
    expect(latency).not.toContain('report-<&>');
    for (const tick of ['>90</text>', '>99</text>', '>99.9</text>', '>99.99</text>', '>max</text>'])
      expect(latency).toContain(tick);
    expect(latency).toMatch(/width="800" height="400"/);
    expect(latency).not.toMatch(/<script|@import|href=/);
    const experiments = files[1]?.content ?? '';
    expect(checkXml(experiments).elements.filter((e) => e === 'rect').length).toBeGreaterThanOrEqual(2 + 2);
    expect(experiments).toContain('tracking-number index');
    expect(experiments).toContain('>no index (seq scan)</text>');
    expect(experiments).not.toContain('documents in MongoDB');
  });

  it('splits many scenarios into a track/scan plot and a reports plot', () => {
    const many: ScenarioResult[] = [];
    for (const name of ['track-db', 'track-cold', 'scan-single', 'scan-bulk', 'report-lanes', 'report-late', 'seed-small']) {
      for (const concurrency of [1, 4]) many.push({ ...fixture.scenarios[0]!, scenario: name, concurrency });
    }
    const { files: plots } = renderBenchmarkMarkdown({ ...fixture, scenarios: many, experiments: [] }, { plotPrefix: 'x' });
    expect(plots.map((f) => f.name)).toEqual(['x-latency-track-scan.svg', 'x-latency-reports.svg']);
    expect(checkXml(plots[0]!.content).elements.filter((e) => e === 'polyline')).toHaveLength(8);
    expect(checkXml(plots[1]!.content).elements.filter((e) => e === 'polyline')).toHaveLength(6);
  });
});

function slower(run: BenchmarkRunResult, factor: Record<string, number>): BenchmarkRunResult {
  return {
    ...run,
    id: 'current',
    scenarios: run.scenarios.map((s) => {
      const f = factor[s.scenario] ?? 1;
      return { ...s, summary: { ...s.summary, p50: s.summary.p50 * f, p99: s.summary.p99 * f * f } };
    }),
  };
}

describe('compareRuns', () => {
  const baseline = fixture;

  it('marks a 20 % p50 slowdown as a regression at 10 %, and a 5 % one not', () => {
    const current = slower(baseline, { 'track-db': 1.2, 'scan-single': 1.05 });
    const c = compareRuns(current, baseline, 10);
    expect(c.baselineId).toBe(baseline.id);
    expect(c.baselineStartedAt).toBe(baseline.startedAt);
    expect(c.thresholdPct).toBe(10);
    const track = c.rows.find((r) => r.scenario === 'track-db');
    const scan = c.rows.find((r) => r.scenario === 'scan-single');
    expect(track?.changePct).toBeCloseTo(20, 6);
    expect(track?.p99ChangePct).toBeCloseTo(44, 6);
    expect(track?.baselineP50).toBe(0.412);
    expect(track?.currentP50).toBeCloseTo(0.4944, 9);
    expect(track?.regression).toBe(true);
    expect(scan?.changePct).toBeCloseTo(5, 6);
    expect(scan?.regression).toBe(false);
    expect(c.regressions).toBe(1);
  });

  it('reports faster runs without flagging them and decides on p50 only', () => {
    const c = compareRuns(slower(baseline, { 'track-db': 0.5 }), baseline, 10);
    expect(c.rows.find((r) => r.scenario === 'track-db')?.changePct).toBeCloseTo(-50, 6);
    const p99Only = compareRuns(
      { ...baseline, scenarios: baseline.scenarios.map((s) => ({ ...s, summary: { ...s.summary, p99: s.summary.p99 * 3 } })) },
      baseline,
      10,
    );
    expect(p99Only.regressions).toBe(0);
    expect(p99Only.rows[0]?.p99ChangePct).toBeCloseTo(200, 6);
  });

  it('matches by scenario and concurrency and ignores the unmatched', () => {
    const current = slower(baseline, { 'track-db': 2 });
    current.scenarios = [
      ...current.scenarios.map((s) => (s.scenario === 'scan-single' ? { ...s, concurrency: 16 } : s)),
      { ...baseline.scenarios[0]!, scenario: 'only-here' },
    ];
    const c = compareRuns(current, baseline, 10);
    expect(c.rows.map((r) => `${r.scenario}×${r.concurrency}`)).toEqual(['track-db×1', 'report-<&>×1']);
    expect(c.regressions).toBe(1);
    const md = renderBenchmarkMarkdown(current, { plotPrefix: 'p', comparison: c }).markdown;
    expect(md).toContain('## Compared with run 20261124T100000-abcd1234');
    expect(md).toContain('| track-db | 1 | 0.412 | 0.824 | +100.0 % | 1.52 | 6.08 | +300.0 % | **regression** |');
    expect(md).toContain('| report-&lt;&amp;&gt; | 1 | 250 | 250 | 0.0 % | 1,235 | 1,235 | 0.0 % | ok |');
    expect(md).toContain('**1 regression** (p50 more than 10 % slower).');
    expect(md).toContain('Not in the baseline, so not compared: scan-single ×16, only-here ×1.');
  });

  it('prints the comparison for a terminal', () => {
    const c = compareRuns(slower(baseline, { 'track-db': 1.2 }), baseline, 10);
    const out = renderComparisonText(c, plainStyle);
    expect(out).toContain('Compared with run 20261124T100000-abcd1234 (2026-11-24 10:00 UTC)');
    expect(out).toMatch(/│ track-db\s+│\s+1 │\s+0\.412 │\s+0\.494 │\s+\+20\.0 % │/);
    expect(out).toContain('REGRESSION');
    expect(out).toContain('1 regression (p50 > +10 %)');
    expect(renderComparisonText(compareRuns(baseline, baseline, 10), plainStyle)).toContain('no regressions');
  });
});

describe('terminal output', () => {
  it('prints the header, both tables and the harness overhead without colour codes', () => {
    const text = renderBenchmarkText(fixture, plainStyle);
    expect(text).toContain('Benchmark 20261124T100000-abcd1234 · suite all');
    expect(text).toContain(
      'node v20.19.0 · PostgreSQL 16.4 (server) · 8 CPUs · data: 100,000 packages, 1,234,567 tracking_events',
    );
    expect(text).toMatch(/│ track-db\s+│\s+1 │\s+12,345 │\s+2,469 │\s+0\.412 │\s+0\.803 │\s+1\.52 │\s+3\.10 │\s+12\.4 │\s+0 │/);
    expect(text).toMatch(/│ report-<&>\s+│/);
    expect(text).toContain('scan-single ×4: 3 errors; first: deadlock detected');
    expect(text).toContain('skipped track-cache-hit: no Redis configured');
    expect(text).toMatch(
      /│ tracking-number index\s+│ no index \(seq scan\)\s+│\s+123 │ unique index\s+│\s+0\.250 │\s+494× │ Keep the index\./,
    );
    expect(text).toMatch(/│ documents in MongoDB\s+│ skipped: no MongoDB configured\s+│\s+— │/);
    expect(text).toContain('harness overhead: 0.8 µs per operation (no-op scenario)');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\u001b\[/);
  });

  it('paints through the style it is given', () => {
    const marked: Style = { ...plainStyle, bad: (t) => `!${t}!` };
    expect(renderBenchmarkText(fixture, marked)).toContain('!scan-single ×4: 3 errors; first: deadlock detected!');
  });
});
