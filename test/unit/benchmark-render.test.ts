import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { compareRuns } from '../../src/services/benchmark/compare.js';
import {
  experimentSentences,
  findingCodes,
  formatLatency,
  renderBenchmarkMarkdown,
  renderBenchmarkText,
  renderComparisonText,
  renderFinding,
  withExperimentSentences,
} from '../../src/render/benchmark.render.js';
import { plainStyle, type Style } from '../../src/render/style.js';

/** Every column, whatever the width: what these tests read. Fitting is tested on its own. */
const wide: Style = { ...plainStyle, wide: true };
const widest = (text: string): number => Math.max(...text.split('\n').map((line) => [...line].length));
import { checkExperimentNames, experimentNames } from '../../src/services/benchmark/experiments.js';
import type {
  BenchmarkRunResult,
  ExperimentResult,
  Figure,
  LatencySummary,
  ScenarioResult,
} from '../../src/services/benchmark/types.js';

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
    rounds: 5,
    skipped: [{ scenario: 'track-cache-hit', reason: 'no Redis configured (set SHIPTRACK_REDIS_URL)' }],
  },
  harnessOverheadUs: 0.8,
  scenarios: [
    {
      scenario: 'track-db',
      description: 'track one package from PostgreSQL',
      concurrency: 1,
      summary: summary({ count: 12345, throughput: 2469.04, p50: 0.412, p90: 0.803, p99: 1.52, p999: 3.1, max: 12.44 }),
      roundP50s: [0.409, 0.412, 0.405, 0.418, 0.414],
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
      roundP50s: [17.9, 18.04, 18.3, 17.6, 18.2],
    },
    {
      scenario: 'report-<&>',
      description: 'a report with "odd" | characters',
      concurrency: 1,
      summary: summary({ count: 20, throughput: 3.9, p50: 250.4, p90: 480, p99: 1234.5, p999: 1300, max: 1400 }),
      roundP50s: [250.4, 244, 262, 251, 239],
    },
  ],
  experiments: [
    {
      experiment: 'tracking-number index',
      question: 'Does the unique index on packages.tracking_number carry track?',
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
      findings: {
        isolation: {
          code: 'indexes_dropped_and_rolled_back',
          figures: { table: 'packages', indexes: ['packages_tracking_number_key'], lockTimeoutMs: 5000, heldMs: 2480 },
        },
        verdict: {
          code: 'keep_index',
          figures: {
            index: 'packages_tracking_number_key',
            indexBytes: 2.1 * 2 ** 20,
            withMs: 0.25,
            withoutMs: 123.4,
            ratio: 493.6,
            alsoUsedBy: [],
          },
        },
        notes: [
          { code: 'index_plan', figures: { index: 'packages_tracking_number_key', indexBytes: 2.1 * 2 ** 20, used: true } },
        ],
      },
    },
    {
      experiment: 'documents in MongoDB',
      question: 'Is MongoDB faster than JSONB for raw scans?',
      before: {
        label: 'jsonb',
        summary: summary({ count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN }),
      },
      after: {
        label: 'mongodb',
        summary: summary({ count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN }),
      },
      speedup: Number.NaN,
      findings: {
        isolation: { code: 'nothing_run', figures: {} },
        verdict: { code: 'not_measured', figures: {} },
        notes: [],
        skipped: { code: 'no_mongodb', figures: {} },
      },
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
    expect(markdown).toContain(
      '- Warm-up: 1 s of unmeasured operations before the first round of each scenario and concurrency level.',
    );
    expect(markdown).toContain('- Measurement: 5 rounds of 5 s per scenario and concurrency level');
    expect(markdown).toContain('interleaved: round 1 of every scenario, then round 2 of every one');
    const before = { ...fixture.parameters };
    delete before.rounds;
    const old = renderBenchmarkMarkdown({ ...fixture, parameters: before }, { plotPrefix: 'p' }).markdown;
    expect(old).toContain('- Warm-up: 1 s of unmeasured operations before each measurement.');
    expect(old).toContain('- Measurement: 5 s per scenario');
    expect(markdown).toContain('3 significant digits');
  });

  it('tabulates the scenarios as a pipe table with right-aligned numbers', () => {
    expect(lines).toContain(
      '| scenario | concurrency | ops | throughput/s | p50 ms | round p50s ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |',
    );
    expect(lines).toContain('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    expect(lines).toContain('| track-db | 1 | 12,345 | 2,469 | 0.412 | 0.405–0.418 | 0.803 | 1.52 | 3.10 | 12.4 | 0 |');
    expect(lines).toContain('| scan-single | 4 | 980 | 196 | 18.0 | 17.6–18.3 | 25.5 | 40.2 | 77.7 | 131 | **3** |');
    expect(lines).toContain('| report-&lt;&amp;&gt; | 1 | 20 | 3.90 | 250 | 239–262 | 480 | 1,235 | 1,300 | 1,400 | 0 |');
    expect(markdown).toContain('> **scan-single ×4**: 3 errors; first: deadlock detected');
    expect(markdown).toContain('- **report-&lt;&amp;&gt;**: a report with "odd" \\| characters');
    expect(markdown).toContain('- track-cache-hit: no Redis configured (set SHIPTRACK_REDIS_URL)');
    expect(markdown).toContain('_Harness overhead: 0.8 µs per operation (no-op scenario)._');
    expect(markdown).not.toContain('report-<&>');
  });

  it('has an experiment summary and a section per experiment with plans folded away', () => {
    expect(lines).toContain(
      '| [tracking-number index](#tracking-number-index) | no index (seq scan) | 123 | unique index | 0.250 | 494× | keep packages_tracking_number_key (2.1 MB): p50 0.25 ms with it vs 123 ms without it (494×) |',
    );
    expect(lines).toContain(
      '| [documents in MongoDB](#documents-in-mongodb) | skipped: no MongoDB configured: both sides would be the same store | — |  | — | — |  |',
    );
    const section = markdown.slice(markdown.indexOf('### tracking-number index'), markdown.indexOf('### documents in MongoDB'));
    expect(section).toContain('**Question.** Does the unique index on packages.tracking_number carry track?');
    expect(section).toContain(
      '**Isolation.** each arm ran in its own transaction on a dedicated pooled connection, always rolled back: the "without" arm ran DROP INDEX packages_tracking_number_key inside it (lock_timeout 5.0 s), so nothing was committed and the index never left the catalog for other sessions; but DROP INDEX holds an ACCESS EXCLUSIVE lock on packages until the rollback (2.5 s here), blocking every other reader and writer of packages: run the tuning experiments against a benchmark database, not production',
    );
    expect(section).toContain('| arm | variant | p50 ms | p90 ms | p99 ms | throughput/s | ops | errors |');
    expect(section).toContain('| before | no index (seq scan) | 123 | 130 | 150 | 8.10 | 40 | 0 |');
    expect(section).toContain('| after | unique index | 0.250 | 0.400 | 0.900 | 1,800 | 9,000 | 0 |');
    expect(section).toContain('**Speedup:** 494×');
    expect(section).toContain(
      '**Recommendation:** keep packages_tracking_number_key (2.1 MB): p50 0.25 ms with it vs 123 ms without it (494×)',
    );
    expect(section).toContain('Notes:\n\n- packages_tracking_number_key: 2.1 MB; the plan with it uses it\n');
    expect(section).toContain(
      '<details><summary>plan before: no index (seq scan)</summary>\n\n```text\nSeq Scan on packages  (cost=0.00..2500.00 rows=1 width=100)\n  Filter: (tracking_number = $1)\n```\n\n</details>',
    );
    expect(section).toContain('<details><summary>plan after: unique index</summary>');
    const skipped = markdown.slice(markdown.indexOf('### documents in MongoDB'));
    expect(skipped).toContain('**Isolation.** nothing was run');
    expect(skipped).toContain('_Skipped: no MongoDB configured: both sides would be the same store_');
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
      return {
        ...s,
        summary: { ...s.summary, p50: s.summary.p50 * f, p99: s.summary.p99 * f * f },
        ...(s.roundP50s === undefined ? {} : { roundP50s: s.roundP50s.map((p) => p * f) }),
      };
    }),
  };
}

describe('compareRuns', () => {
  const baseline = fixture;

  it('marks a 20 % p50 slowdown as a regression at 10 %, and a 5 % one not, though both are significant', () => {
    const current = slower(baseline, { 'track-db': 1.2, 'scan-single': 1.05 });
    const c = compareRuns(current, baseline, 10);
    expect(c.baselineId).toBe(baseline.id);
    expect(c.baselineStartedAt).toBe(baseline.startedAt);
    expect(c.thresholdPct).toBe(10);
    expect(c.significanceLevel).toBe(0.05);
    const track = c.rows.find((r) => r.scenario === 'track-db');
    const scan = c.rows.find((r) => r.scenario === 'scan-single');
    expect(track?.changePct).toBeCloseTo(20, 6);
    expect(track?.p99ChangePct).toBeCloseTo(44, 6);
    expect(track?.baselineP50).toBe(0.412);
    expect(track?.currentP50).toBeCloseTo(0.4944, 9);
    // Every current round above every baseline round, 5 against 5: p = 2 / C(10, 5).
    expect(track?.test).toEqual({ u: 25, pValue: 2 / 252, method: 'exact' });
    // The seeded bootstrap: the same interval every time, around the ratio of the medians.
    expect(track?.ratioInterval).toEqual(compareRuns(current, baseline, 10).rows[0]?.ratioInterval);
    expect(track?.ratioInterval?.low).toBeGreaterThan(1.15);
    expect(track?.ratioInterval?.high).toBeLessThan(1.25);
    expect(track?.regression).toBe(true);
    expect(track?.verdict).toBe('regression');
    expect(scan?.changePct).toBeCloseTo(5, 6);
    expect(scan?.test?.pValue).toBeLessThan(0.05);
    expect(scan?.regression).toBe(false);
    expect(scan?.verdict).toBe('ok');
    expect(c.regressions).toBe(1);
    expect(c.unjudged).toBe(0);
  });

  it('reports faster runs without flagging them and decides on p50 only', () => {
    const c = compareRuns(slower(baseline, { 'track-db': 0.5 }), baseline, 10);
    expect(c.rows.find((r) => r.scenario === 'track-db')?.changePct).toBeCloseTo(-50, 6);
    expect(c.rows.find((r) => r.scenario === 'track-db')?.verdict).toBe('faster');
    expect(c.regressions).toBe(0);
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
    expect(md).toContain(
      '| scenario | concurrency | baseline p50 ms | p50 ms | p50 change | ratio, 95 % interval | p | rounds | baseline p99 ms | p99 ms | p99 change | verdict |',
    );
    expect(md).toContain(
      '| track-db | 1 | 0.412 | 0.824 | +100.0 % | 1.96–2.04 | 0.008 | 5 → 5 | 1.52 | 6.08 | +300.0 % | **regression** |',
    );
    expect(md).toContain(
      '| report-&lt;&amp;&gt; | 1 | 250 | 250 | 0.0 % | 0.95–1.05 | 1.00 | 5 → 5 | 1,235 | 1,235 | 0.0 % | ok |',
    );
    expect(md).toContain('**1 regression** (p50 more than 10 % slower, p < 0.05).');
    expect(md).toContain('a two-sided Mann-Whitney U test of the');
    expect(md).toContain('Not in the baseline, so not compared: scan-single ×16, only-here ×1.');
  });

  it('prints the comparison for a terminal', () => {
    const c = compareRuns(slower(baseline, { 'track-db': 1.2 }), baseline, 10);
    const out = renderComparisonText(c, wide);
    expect(out).toContain('Compared with run 20261124T100000-abcd1234 (2026-11-24 10:00 UTC)');
    expect(out).toMatch(
      /│ track-db\s+│\s+1 │\s+0\.412 │\s+0\.494 │\s+\+20\.0 % │\s+5 → 5 │\s+0\.008 │\s+\+44\.0 % │ REGRESSION │/,
    );
    expect(out).toMatch(/Mann-Whitney U test of the round\s+p50s with p < 0\.05/);
    expect(out).toContain('1 regression (p50 > +10 %, p < 0.05)');
    const same = renderComparisonText(compareRuns(baseline, baseline, 10), wide);
    expect(same).toMatch(/│ track-db\s+│\s+1 │\s+0\.412 │\s+0\.412 │\s+0\.0 % │\s+5 → 5 │\s+1\.00 │\s+0\.0 % │ ok\s+│/);
    expect(same).toContain('no regressions');
    expect(same).not.toContain('not enough rounds');
  });

  it('never declares a regression against a baseline stored before rounds, and says the comparison is weak', () => {
    const old: BenchmarkRunResult = {
      ...baseline,
      parameters: { ...baseline.parameters, rounds: undefined },
      scenarios: baseline.scenarios.map(({ roundP50s: _, ...s }) => s),
    };
    const c = compareRuns(slower(baseline, { 'track-db': 3 }), old, 10);
    const track = c.rows.find((r) => r.scenario === 'track-db');
    expect(track?.baselineRounds).toEqual([0.412]);
    expect(track?.baselineBeforeRounds).toBe(true);
    expect(track?.changePct).toBeCloseTo(200, 6);
    expect(track?.smallestPValue).toBeCloseTo(2 / 6, 9);
    expect(track?.ratioInterval).toBeNull();
    expect(track?.verdict).toBe('too_few_rounds');
    expect(c.regressions).toBe(0);
    expect(c.unjudged).toBe(3);
    const out = renderComparisonText(c, wide);
    expect(out).toMatch(/│ track-db\s+│\s+1 │\s+0\.412 │\s+1\.24 │\s+\+200\.0 % │\s+1 → 5 │\s+0\.33 │ .* │ too few rounds │/);
    expect(out).toMatch(/was stored before rounds: each of its p50s\s+is a single sample, so this comparison is weak/);
    expect(out).toMatch(
      /not enough rounds to judge track-db ×1, scan-single ×4, report-<&> ×1: 1 round\s+in the baseline against 5 here can at best give p = 0\.33/,
    );
    expect(out).toContain('no regressions (3 of 3 not judged: too few rounds)');
    const md = renderBenchmarkMarkdown(slower(baseline, { 'track-db': 3 }), { plotPrefix: 'p', comparison: c }).markdown;
    expect(md).toContain('| track-db | 1 | 0.412 | 1.24 | +200.0 % | — | 0.33 | 1 → 5 |');
    expect(md).toContain('too few rounds |');
    expect(md).toContain('_Not enough rounds to judge track-db ×1');
    expect(md).toContain('No regressions (3 of 3 not judged: too few rounds).');
  });
});

describe('terminal output', () => {
  it('prints the header, both tables and the harness overhead without colour codes', () => {
    const text = renderBenchmarkText(fixture, wide);
    expect(text).toContain('Benchmark 20261124T100000-abcd1234 · suite all');
    expect(text).toContain(
      'node v20.19.0 · PostgreSQL 16.4 (server) · 8 CPUs · data: 100,000 packages, 1,234,567 tracking_events',
    );
    expect(text).toMatch(
      /│ track-db\s+│\s+1 │\s+12,345 │\s+2,469 │\s+0\.412 │\s+0\.405–0\.418 │\s+0\.803 │\s+1\.52 │\s+3\.10 │\s+12\.4 │\s+0 │/,
    );
    expect(text).toContain('5 rounds per scenario, interleaved; p50 of all rounds, and the lowest–highest round p50');
    expect(text).toMatch(/│ report-<&>\s+│/);
    expect(text).toContain('scan-single ×4: 3 errors; first: deadlock detected');
    expect(text).toContain('skipped track-cache-hit: no Redis configured');
    expect(text).toMatch(
      /│ tracking-number index\s+│ no index \(seq scan\)\s+│\s+123 │ unique index\s+│\s+0\.250 │\s+494× │ keep packages_tracking_number_key \(2\.1 MB\): p50\s+│/,
    );
    expect(text).toMatch(/│ documents in MongoDB\s+│ skipped: no MongoDB configured: both\s+│\s+— │/);
    expect(text).toContain('harness overhead: 0.8 µs per operation (no-op scenario)');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\u001b\[/);
  });

  it('paints through the style it is given', () => {
    const marked: Style = { ...plainStyle, wide: true, bad: (t) => `!${t}!` };
    expect(renderBenchmarkText(fixture, marked)).toContain('!scan-single ×4: 3 errors; first: deadlock detected!');
  });
});

const sentence = (code: string, figures: Record<string, Figure> = {}): string => renderFinding({ code, figures });

describe('experiment findings as sentences', () => {
  it('writes the verdicts docs/PERFORMANCE.md quotes, from codes and raw figures', () => {
    expect(
      sentence('keep_index', {
        index: 'tracking_events_package_time_idx',
        indexBytes: 316 * 2 ** 20,
        withMs: 0.252,
        withoutMs: 368.4,
        ratio: 1462,
        alsoUsedBy: ['report stale', 'report overdue'],
      }),
    ).toBe('keep tracking_events_package_time_idx (316 MB): p50 0.25 ms with it vs 368 ms without it (1,462×)');
    expect(
      sentence('metadata_indexes', {
        gin: 'packages_metadata_idx',
        ginBytes: 19 * 2 ** 20,
        ginVerdict: 'keep_index',
        selectiveTerms: ['service="express"', 'signature_required=true'],
        selectiveWithMs: 123,
        selectiveWithoutMs: 188,
        selectiveRatio: 188 / 123,
        fragile: 'packages_fragile_idx',
        fragileBytes: 768 * 1024,
        fragileVerdict: 'keep_index',
        fragileTerms: ['fragile=true'],
        fragileWithMs: 69,
        fragileWithoutMs: 186,
        fragileRatio: 186 / 69,
      }),
    ).toBe(
      'keep packages_metadata_idx (19 MB) for the selective filter (service="express", signature_required=true): p50 123 ms with it vs 188 ms without it (1.5×); keep packages_fragile_idx (768 kB) for fragile=true: p50 69 ms with it vs 186 ms without it (2.7×)',
    );
    expect(
      sentence('keep_btree', {
        btree: 'tracking_events_time_idx',
        btreeMs: 97.9,
        brinMs: 365,
        ratio: 97.9 / 365,
        btreeBytes: 391 * 2 ** 20,
        brinBytes: 40 * 1024,
      }),
    ).toBe(
      'keep the B-tree tracking_events_time_idx: p50 98 ms with it vs 365 ms with BRIN (BRIN 3.7× slower), even though BRIN is 40 kB vs 391 MB',
    );
    expect(
      sentence('keep_cache_ttl', {
        ttlMs: 60_000,
        hitMs: 0.05,
        missMs: 0.35,
        databaseMs: 0.31,
        breakEvenHitRatio: 0.23,
        lookupsPerSecond: 2825.3,
        steadyHitRatio: 0.59,
        warmLookupMs: 0.18,
        warmRatio: 1.8,
        suggestedTtlMs: null,
        suggestedTtlBytes: null,
        runMs: 2000,
        hitRatio: 0.067,
        withMs: 0.348,
        withoutMs: 0.31,
        ratio: 0.89,
      }),
    ).toBe(
      "keep the cache and its 60-s TTL: a hit typically (p50) costs 0.05 ms, a database read 0.31 ms, a miss 0.35 ms (Redis look-up, database, fill), so the cache pays (10% faster per lookup) above 23% hits; at this run's 2,825 lookups/s (model; the TTL needed scales with 1/rate) the TTL gives ≈59% hits once warm, ≈0.18 ms per lookup vs 0.31 ms (1.8×); this 2.0 s run started cold and hit 6.7% (p50 0.35 ms with the cache vs 0.31 ms without: 0.89×)",
    );
    expect(
      sentence('keep_one_table', {
        daySingleMs: 2.68,
        dayPartedMs: 2.81,
        dayRatio: 2.68 / 2.81,
        weekSingleMs: 1.06,
        weekPartedMs: 1.07,
        weekRatio: 1.06 / 1.07,
        loadSingleMs: 4000,
        loadPartedMs: 4100,
        loadRatio: 4000 / 4100,
        wins: 0,
        losses: 0,
      }),
    ).toBe(
      'keep one table: partitioned by month it was no faster (day query 2.81 ms partitioned vs 2.68 ms one table (0.95×), 7-day exceptions 1.07 ms vs 1.06 ms (0.99×), load 4.1 s vs 4.0 s (0.98×); above 1× partitioned is faster); the time indexes already confine these queries to their window — revisit for retention (dropping a month at once) or a much larger table',
    );
  });

  it('writes the isolation, skip and note sentences', () => {
    expect(
      sentence('indexes_dropped_and_rolled_back', {
        table: 'tracking_events',
        indexes: ['tracking_events_package_time_idx'],
        lockTimeoutMs: 5000,
        heldMs: 3790,
      }),
    ).toBe(
      'each arm ran in its own transaction on a dedicated pooled connection, always rolled back: the "without" arm ran DROP INDEX tracking_events_package_time_idx inside it (lock_timeout 5.0 s), so nothing was committed and the index never left the catalog for other sessions; but DROP INDEX holds an ACCESS EXCLUSIVE lock on tracking_events until the rollback (3.8 s here), blocking every other reader and writer of tracking_events: run the tuning experiments against a benchmark database, not production',
    );
    expect(sentence('scratch_schema', { schema: 'shiptrack_bench_scratch', leftoverDropped: true })).toBe(
      "scratch schema shiptrack_bench_scratch (created for this experiment under an advisory lock, dropped afterwards, also on error or interrupt; a leftover from an earlier run was dropped first); the user's tables were only read (one sequential scan of tracking_events)",
    );
    expect(sentence('lock_timeout', { lockTimeoutMs: 5000 })).toBe(
      'could not take the table lock within 5.0 s (another session is using the table); nothing was changed',
    );
    expect(sentence('needs_server', { perArm: true })).toBe('needs a PostgreSQL server (a dedicated connection per arm)');
    expect(sentence('needs_server', { perArm: false })).toBe('needs a PostgreSQL server (a dedicated connection)');
    expect(sentence('indexes_missing', { indexes: ['packages_metadata_idx', 'packages_fragile_idx'] })).toBe(
      'index packages_metadata_idx, packages_fragile_idx is not in this database (apply the migrations: shiptrack migrate latest)',
    );
    expect(sentence('cache_hit_ratio', { hitRatio: 0.4213, measured: 12_345, warmupMs: 1020 })).toBe(
      'hit ratio: 42% of 12,345 measured lookups (cache started empty at the warm-up, 1.0 s before); the TTL never expired within the run',
    );
    expect(
      sentence('partition_load', {
        rows: 892_822,
        singleMs: 4000,
        singleRunsMs: [3900, 4100],
        partedMs: 4100,
        partedRunsMs: [4000, 4200],
        ratio: 4000 / 4100,
      }),
    ).toBe(
      'load (INSERT … SELECT from an unlogged copy, indexes in place; twice each, ABBA order, mean): one table 4.0 s (223,206 rows/s; runs 3.9 s, 4.1 s), partitioned 4.1 s (217,761 rows/s; runs 4.0 s, 4.2 s): 0.98×',
    );
    expect(sentence('time_correlation', { correlation: null })).toBe(
      'physical correlation of event_timestamp (pg_stats): unknown (not analyzed); BRIN only works when rows arrive in time order',
    );
  });

  it('advises dropping an index within the noise band, naming the other readers to check', () => {
    const figures = { index: 'packages_in_flight_idx', indexBytes: 3.6 * 2 ** 20, withMs: 100, withoutMs: 104, ratio: 1.04 };
    expect(sentence('drop_index', { ...figures, alsoUsedBy: ['report overdue'] })).toBe(
      'drop packages_in_flight_idx? this query is as fast without it (p50 100 ms with, 104 ms without: 1.0×, within the ±10% noise band) and it costs 3.6 MB plus upkeep on every write; check `report overdue` first',
    );
    expect(sentence('drop_index_or_fix_plan', { ...figures, withoutMs: 50, ratio: 0.5, alsoUsedBy: [] })).toBe(
      'drop packages_in_flight_idx or fix the plan: this query is slower with it (p50 100 ms with, 50 ms without: 0.50×); check no other query needs it',
    );
    expect(sentence('drop_index', { ...figures, alsoUsedBy: ['report stale', 'report overdue'] })).toMatch(
      /; check `report stale` and `report overdue` first$/,
    );
  });

  it('says n/a for figures that were not finite (stored as null) and shows unknown codes with their figures', () => {
    expect(sentence('cache_no_hits', { withMs: null, withoutMs: 0.31 })).toBe(
      'not enough data: no lookup hit the cache in this run (p50 n/a with it vs 0.31 ms without); run longer',
    );
    expect(sentence('from_a_newer_shiptrack', { p50Ms: 1.5, index: 'x' })).toBe('from_a_newer_shiptrack (p50Ms 1.5, index "x")');
    expect(sentence('from_a_newer_shiptrack')).toBe('from_a_newer_shiptrack');
  });

  it('has a sentence for every code of the fixture, and says why a skipped experiment was not measured', () => {
    for (const e of fixture.experiments) {
      const { isolation, verdict, notes, skipped } = e.findings;
      for (const f of [isolation, verdict, ...notes, ...(skipped === undefined ? [] : [skipped])]) {
        expect(findingCodes, f.code).toContain(f.code);
      }
    }
    const documents = fixture.experiments[1]!;
    expect(experimentSentences(documents)).toEqual({
      recommendation: 'not measured: no MongoDB configured: both sides would be the same store',
      isolation: 'nothing was run',
      notes: [],
      skipped: 'no MongoDB configured: both sides would be the same store',
    });
  });
});

describe('JSON output of a run', () => {
  it('keeps the findings and adds their sentences beside them, JSON-safe', () => {
    const json = withExperimentSentences(fixture);
    const [index, documents] = json.experiments;
    expect(index?.findings).toEqual(fixture.experiments[0]?.findings);
    expect(index?.recommendation).toBe(
      'keep packages_tracking_number_key (2.1 MB): p50 0.25 ms with it vs 123 ms without it (494×)',
    );
    expect(index?.notes).toEqual(['packages_tracking_number_key: 2.1 MB; the plan with it uses it']);
    expect(index?.isolation).toMatch(/^each arm ran in its own transaction/);
    expect(index?.skipped).toBeUndefined();
    expect(documents?.skipped).toBe('no MongoDB configured: both sides would be the same store');
    expect(json.scenarios).toBe(fixture.scenarios);
    expect(fixture.experiments[0]).not.toHaveProperty('recommendation'); // the run itself is left as it was
    const parsed = JSON.parse(JSON.stringify(json)) as typeof json;
    expect(parsed.experiments[0]?.findings.verdict).toEqual(fixture.experiments[0]?.findings.verdict);
  });
});

describe('runs stored before findings existed', () => {
  // What benchmark run documents held until findings: the sentences themselves.
  const stored = {
    ...fixture,
    experiments: [
      {
        ...fixture.experiments[0]!,
        findings: undefined,
        isolation: 'index dropped inside a transaction that rolls back',
        recommendation: 'Keep the index.',
        notes: ['plans from EXPLAIN (ANALYZE, BUFFERS)'],
      },
      {
        ...fixture.experiments[1]!,
        findings: undefined,
        isolation: 'nothing was run',
        recommendation: 'not measured: no MongoDB configured',
        notes: [],
        skipped: 'no MongoDB configured',
      },
    ] as unknown as ExperimentResult[],
  };

  it('render their sentences as they were', () => {
    const { markdown } = renderBenchmarkMarkdown(stored, { plotPrefix: 'performance' });
    expect(markdown).toContain('**Isolation.** index dropped inside a transaction that rolls back');
    expect(markdown).toContain('**Recommendation:** Keep the index.');
    expect(markdown).toContain('- plans from EXPLAIN (ANALYZE, BUFFERS)');
    expect(markdown).toContain('_Skipped: no MongoDB configured_');
    expect(markdown).toContain(
      '| [documents in MongoDB](#documents-in-mongodb) | skipped: no MongoDB configured | — |  | — | — |  |',
    );
    const text = renderBenchmarkText(stored, wide);
    expect(text).toMatch(/494× │ Keep the index\.\s+│/);
    expect(text).toMatch(/│ documents in MongoDB\s+│ skipped: no MongoDB configured\s+│\s+— │/);
  });

  it('come back in JSON with their sentences, and their findings as text', () => {
    const [index, documents] = withExperimentSentences(stored).experiments;
    expect(index?.recommendation).toBe('Keep the index.');
    expect(index?.findings.verdict).toEqual({ code: 'text', figures: { text: 'Keep the index.' } });
    expect(documents?.recommendation).toBe('not measured: no MongoDB configured');
    expect(documents?.skipped).toBe('no MongoDB configured');
  });
});

describe('checkExperimentNames', () => {
  it('returns the names given, trimmed, without blanks or repeats', () => {
    expect(checkExperimentNames([' cache', 'track-index', '', 'cache'])).toEqual(['cache', 'track-index']);
    expect(checkExperimentNames([])).toEqual([]);
    expect(checkExperimentNames(experimentNames)).toEqual([...experimentNames]);
  });

  it('names the unknown experiments and lists the valid ones in a UsageError', () => {
    expect(() => checkExperimentNames(['track-index', 'nope', 'brin'])).toThrow(UsageError);
    expect(() => checkExperimentNames(['track-index', 'nope', 'brin'])).toThrow(
      '--experiments: no experiment is called nope, brin; they are track-index, overdue-index, stale-index, metadata-index, brin-vs-btree, cache, documents, partitioning',
    );
  });
});

describe('on an 80-column terminal', () => {
  it('fits: the scenario, p50, the test and the verdict stay; the rest gives way', () => {
    const text = renderBenchmarkText(fixture, plainStyle);
    expect(widest(text), text).toBeLessThanOrEqual(80);
    expect(text).toContain('track-db');
    const c = compareRuns(slower(fixture, { 'track-db': 0.5 }), fixture, 10);
    const compared = renderComparisonText(c, plainStyle);
    expect(widest(compared)).toBeLessThanOrEqual(80);
    expect(compared).toMatch(/│ track-db\s+│\s+1 │.* -50\.0 % │\s+5 → 5 │ 0\.008 │ faster\s+│/);
  });
});

describe('the open loop beside the closed loop (--rate)', () => {
  const withRate: BenchmarkRunResult = {
    ...fixture,
    parameters: { ...fixture.parameters, rate: 500 },
    scenarios: fixture.scenarios.map((s, i) =>
      i === 2
        ? s
        : {
            ...s,
            openLoop: {
              ratePerSecond: 500,
              slackMs: 10,
              scheduled: i === 0 ? 12_500 : 2500,
              late: i === 0 ? 0 : 412,
              dropped: i === 0 ? 0 : 37,
              summary: summary(
                i === 0
                  ? { count: 12_500, throughput: 500, p50: 1.1, p90: 1.6, p99: 2.2, p999: 5.5, max: 14.1 }
                  : {
                      count: 2460,
                      errors: 3,
                      firstError: 'deadlock detected',
                      throughput: 196,
                      p50: 25.1,
                      p90: 310,
                      p99: 1820,
                      p999: 2210,
                      max: 2304,
                    },
              ),
            },
          },
    ),
  };

  it('prints both sets of percentiles side by side on a terminal, with late and dropped', () => {
    const text = renderBenchmarkText(withRate, wide);
    expect(text).toContain('Open loop at 500/s, beside the closed loop');
    expect(text).toContain("latency from each operation's scheduled start (coordinated omission corrected)");
    expect(text).toContain('late: started more than 10 ms after its time');
    expect(text).toMatch(
      /│ scenario\s+│ concurrency │ scheduled │ throughput\/s │ closed p50 ms │ open p50 ms │ closed p99 ms │ open p99 ms │ closed p99\.9 ms │ open p99\.9 ms │ open max ms │ late │ dropped │/,
    );
    expect(text).toMatch(
      /│ track-db\s+│\s+1 │\s+12,500 │\s+500 │\s+0\.412 │\s+1\.10 │\s+1\.52 │\s+2\.20 │\s+3\.10 │\s+5\.50 │\s+14\.1 │\s+0 │\s+0 │/,
    );
    expect(text).toMatch(
      /│ scan-single\s+│\s+4 │\s+2,500 │\s+196 │\s+18\.0 │\s+25\.1 │\s+40\.2 │\s+1,820 │\s+77\.7 │\s+2,210 │\s+2,304 │\s+412 │\s+37 │/,
    );
    expect(text).toContain('scan-single ×4 open loop: 3 errors; first: deadlock detected');
    expect(text).toContain('closed loop only (a fixed count of operations): report-<&>');
    // On 80 columns the closed and open p99, late and dropped stay.
    const narrow = renderBenchmarkText(withRate, plainStyle);
    expect(widest(narrow), narrow).toBeLessThanOrEqual(80);
    expect(narrow).toMatch(/│ scan-single\s+│\s+4 │\s+40\.2 │\s+1,820 │\s+412 │\s+37 │/);
    // A run without --rate (or stored before it) has no open-loop table.
    expect(renderBenchmarkText(fixture, wide)).not.toContain('Open loop');
  });

  it('adds a section, a table and a plot of both loops to the Markdown report', () => {
    const { markdown, files } = renderBenchmarkMarkdown(withRate, { plotPrefix: 'performance' });
    const lines = markdown.split('\n');
    expect(lines.filter((l) => l.startsWith('### ')).slice(0, 2)).toEqual(['### Latency distribution', '### Open loop at 500/s']);
    expect(lines).toContain(
      '| scenario | concurrency | scheduled | throughput/s | closed p50 ms | open p50 ms | closed p99 ms | open p99 ms | closed p99.9 ms | open p99.9 ms | open max ms | late | dropped |',
    );
    expect(lines).toContain('| track-db | 1 | 12,500 | 500 | 0.412 | 1.10 | 1.52 | 2.20 | 3.10 | 5.50 | 14.1 | 0 | 0 |');
    expect(lines).toContain(
      '| scan-single | 4 | 2,500 | 196 | 18.0 | 25.1 | 40.2 | 1,820 | 77.7 | 2,210 | 2,304 | **412** | **37** |',
    );
    expect(markdown).toContain("runs from the operation's **scheduled** start to its end");
    expect(markdown).toContain('Measured closed-loop only (a fixed count of operations): report-&lt;&amp;&gt;.');
    expect(markdown).toContain('> scan-single ×4 open loop: 3 errors; first: deadlock detected');
    expect(markdown).toContain('see [Open loop at 500/s](#open-loop-at-500s)');
    const honesty = markdown.slice(markdown.indexOf('## Honesty'), markdown.indexOf('## Environment'));
    expect(honesty).toContain('The open-loop measurement at 500/s corrects for that');
    expect(files.map((f) => f.name)).toEqual([
      'performance-latency.svg',
      'performance-latency-open-loop.svg',
      'performance-experiments.svg',
    ]);
    expect(markdown).toContain('](performance-latency-open-loop.svg)');
    const plot = files[1]?.content ?? '';
    expect(checkXml(plot).root).toBe('svg');
    // Two lines per scenario and level: the closed loop (faint) and the open loop.
    expect(checkXml(plot).elements.filter((e) => e === 'polyline')).toHaveLength(4);
    expect(plot).toContain('>scan-single ×4 open 500/s</text>');
    expect(plot).toContain('>scan-single ×4 closed</text>');
    expect(plot).toContain('stroke-opacity="0.35"');
    // Without --rate: no section, no plot, the honesty statement as before.
    const old = renderBenchmarkMarkdown(fixture, { plotPrefix: 'performance' });
    expect(old.markdown).not.toMatch(/open loop|open-loop/i);
    expect(old.files).toHaveLength(2);
  });

  it('keeps both sets of percentiles in JSON', () => {
    const json = JSON.parse(JSON.stringify(withExperimentSentences(withRate))) as BenchmarkRunResult;
    const scan = json.scenarios[1];
    expect(scan?.summary.p99).toBe(40.2);
    expect(scan?.openLoop?.summary.p99).toBe(1820);
    expect(scan?.openLoop).toMatchObject({ ratePerSecond: 500, slackMs: 10, scheduled: 2500, late: 412, dropped: 37 });
    expect(json.scenarios[2]?.openLoop).toBeUndefined();
    expect(json.parameters.rate).toBe(500);
  });
});
