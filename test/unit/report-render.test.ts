import { describe, expect, it } from 'vitest';
import {
  bar,
  findingSentence,
  formatBytes,
  formatCell,
  formatHours,
  noteSentence,
  pickTable,
  renderReportCsv,
  renderReportMarkdown,
  renderReportText,
  reportForJson,
  sparkline,
} from '../../src/render/report.render.js';
import { plainStyle } from '../../src/render/style.js';
import { displayWidth } from '../../src/render/text.js';
import type { Finding, ReportResult } from '../../src/services/reports/report.js';

const result: ReportResult = {
  report: 'lanes',
  title: 'Lanes | worst first',
  parameters: { since: '2026-10-25T00:00:00.000Z', by: 'state' },
  asOf: '2026-11-24T00:00:00.000Z',
  tables: [
    {
      name: 'lanes',
      title: 'Lanes',
      columns: [
        { key: 'origin', header: 'origin', kind: 'text' },
        { key: 'shipments', header: 'delivered', kind: 'integer' },
        { key: 'rate', header: 'on time', kind: 'percent' },
        { key: 'rate_bar', header: '', kind: 'bar', of: 'rate' },
        { key: 'late_p50', header: 'late p50', kind: 'hours' },
        { key: 'lateness', header: 'how late', kind: 'spark' },
      ],
      rows: [
        { origin: 'Austin, "TX"', shipments: 12345, rate: 0.5, late_p50: 30, lateness: [0, 1, 4, 8] },
        { origin: 'a,b\nc', shipments: 3, rate: 1, late_p50: null, lateness: [0, 0, 0, 0] },
      ],
      totals: { origin: 'all', shipments: 12348, rate: 0.5001 },
      caption: 'showing 2 of 2',
    },
  ],
  findings: [
    {
      level: 'warn',
      code: 'unused_index',
      subject: 'big_idx',
      figures: { table: 'packages', idx_scan: 0, bytes: 210 * 1024 * 1024, stats_reset: null, min_bytes: 1024 * 1024 },
    },
  ],
  notes: [{ code: 'in_flight', figures: { packages: 1234 } }],
  ok: true,
  elapsedMs: 12.345,
};

describe('cells', () => {
  it('formats each kind for people', () => {
    expect(formatCell('integer', 1234567)).toBe('1,234,567');
    expect(formatCell('percent', 0.9234)).toBe('92.3 %');
    expect(formatCell('hours', 30)).toBe('30.0 h');
    expect(formatCell('hours', 72)).toBe('3.0 d');
    expect(formatCell('timestamp', '2026-11-20T14:03:09.000Z')).toBe('2026-11-20 14:03 UTC');
    expect(formatCell('text', null)).toBe('—');
    expect(formatCell('text', true)).toBe('yes');
    expect(formatBytes(210 * 1024 * 1024)).toBe('210 MB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatHours(0.5)).toBe('30 min');
    expect(formatHours(-3)).toBe('−3.0 h');
  });

  it('draws sparklines and bars to scale', () => {
    expect(sparkline([0, 1, 4, 8])).toBe(' ▁▄█');
    expect(sparkline([0, 0])).toBe('  ');
    expect(bar(1, 1, 4)).toBe('████');
    expect(bar(0.5, 1, 4)).toBe('██');
    expect(bar(0.1, 1, 4)).toBe('▍');
    expect(bar(0, 1, 4)).toBe('');
  });
});

describe('CSV', () => {
  it('is RFC 4180 with machine keys and raw values, bars left out', () => {
    const csv = renderReportCsv(pickTable(result, undefined) ?? result.tables[0]!);
    expect(csv.split('\r\n')).toEqual([
      'origin,shipments,rate,late_p50,lateness',
      '"Austin, ""TX""",12345,0.5,30,0 1 4 8',
      '"a,b\nc",3,1,,0 0 0 0',
      '',
    ]);
  });

  it('finds a table by name, or says there is none', () => {
    expect(pickTable(result, 'lanes')?.name).toBe('lanes');
    expect(pickTable(result, 'nope')).toBeUndefined();
  });
});

describe('Markdown', () => {
  it('has a heading, a pipe table with right-aligned numbers, escaped pipes and the totals in bold', () => {
    const md = renderReportMarkdown(result);
    const lines = md.split('\n');
    expect(lines[0]).toBe('## Lanes \\| worst first');
    expect(lines).toContain('| origin | delivered | on time |   | late p50 | how late |');
    expect(lines).toContain('| --- | ---: | ---: | --- | ---: | --- |');
    expect(lines).toContain('| Austin, "TX" | 12,345 | 50.0 % | ████████ | 30.0 h | ` ▁▄█` |');
    expect(lines).toContain('| **all** | **12,348** | **50.0 %** |  |  |  |');
    expect(md).toContain(
      '- **warn** (unused_index): index big_idx on packages has 0 scans since statistics began and is 210 MB — consider dropping it',
    );
    expect(lines).toContain('> 1,234 in flight (not delivered, returned or cancelled)');
    expect(md.endsWith('\n')).toBe(true);
  });
});

describe('terminal table', () => {
  it('prints title, parameters, rows, totals, caption, findings and notes without colour codes', () => {
    const text = renderReportText(result, plainStyle);
    expect(text).toContain('Lanes | worst first');
    expect(text).toContain('as of 2026-11-24 00:00 UTC · since=2026-10-25T00:00:00.000Z by=state');
    expect(text).toMatch(/│ Austin, "TX" │\s+12,345 │\s+50\.0 % │/);
    expect(text).toContain('showing 2 of 2');
    // At 80 columns the finding wraps under its mark; with --wide it is one line.
    expect(text).toContain(
      '! index big_idx on packages has 0 scans since statistics began and is 210 MB —\n  consider dropping it',
    );
    expect(renderReportText(result, { ...plainStyle, wide: true })).toContain(
      '! index big_idx on packages has 0 scans since statistics began and is 210 MB — consider dropping it',
    );
    expect(text).toContain('notes:\n· 1,234 in flight (not delivered, returned or cancelled)');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\u001b\[/);
  });

  it('fits the width: essential columns stay, the others give way by priority, prose wraps', () => {
    const base = result.tables[0]!;
    const prioritised: ReportResult = {
      ...result,
      tables: [
        {
          ...base,
          columns: base.columns.map((c) =>
            c.key === 'origin' || c.key === 'rate' ? c : { ...c, priority: c.key === 'shipments' ? 2 : 3 },
          ),
        },
      ],
    };
    const widths = (text: string): number[] => text.split('\n').map((line) => displayWidth(line));
    const narrow = renderReportText(prioritised, { ...plainStyle, width: 40 });
    expect(Math.max(...widths(narrow))).toBeLessThanOrEqual(40);
    expect(narrow).toMatch(/│ origin\s+│ delivered │ on time │\n/);
    expect(narrow).toMatch(/│ Austin, "TX" │\s+12,345 │ {2}50\.0 % │/);
    expect(narrow).toContain('notes:\n· 1,234 in flight (not delivered,\n  returned or cancelled)');
    const tight = renderReportText(prioritised, { ...plainStyle, width: 30 });
    expect(Math.max(...widths(tight))).toBeLessThanOrEqual(30);
    expect(tight).toMatch(/│ origin\s+│ on time │\n/);
    const wide = renderReportText(prioritised, { ...plainStyle, width: 30, wide: true });
    expect(wide).toMatch(/│ origin\s+│ delivered │ on time │\s+│ late p50 │ how late │/);
    // Priorities are for terminals only: CSV and Markdown keep every column.
    expect(renderReportCsv(prioritised.tables[0]!)).toBe(renderReportCsv(base));
    expect(renderReportMarkdown(prioritised)).toBe(renderReportMarkdown(result));
  });
});

describe('findings and notes as sentences', () => {
  const finding = (
    code: string,
    subject: string | null,
    figures: Finding['figures'],
    level: Finding['level'] = 'warn',
  ): Finding => ({
    level,
    code,
    subject,
    figures,
  });

  it('writes report db findings from their figures', () => {
    expect(
      findingSentence(
        finding('dead_tuples', 'report_db_scratch', {
          dead_rows: 100_000,
          live_rows: 50_000,
          dead_share: 2 / 3,
          last_vacuum: null,
          table_autovacuum: false,
          server_autovacuum: true,
        }),
      ),
    ).toBe(
      'table report_db_scratch has 66.7 % dead tuples (100,000 dead, 50,000 live; last vacuum never) — ' +
        'run VACUUM (ANALYZE) report_db_scratch; autovacuum is disabled on this table (autovacuum_enabled = false) — re-enable it',
    );
    // The embedded database has no autovacuum worker: no advice about it.
    expect(
      findingSentence(
        finding('dead_tuples', 't', {
          dead_rows: 20_000,
          live_rows: 0,
          dead_share: 1,
          last_vacuum: '2026-11-01T00:00:00.000Z',
          server_autovacuum: null,
        }),
      ),
    ).toBe(
      'table t has 100.0 % dead tuples (20,000 dead, 0 live; last vacuum 2026-11-01T00:00:00.000Z) — run VACUUM (ANALYZE) t',
    );
    expect(
      findingSentence(
        finding('duplicate_index', 'dup_idx', {
          table: 'packages',
          kind: 'same',
          definition: 'btree (tracking_number)',
          covered_by: 'packages_tracking_number_key',
          covered_by_definition: 'btree (tracking_number)',
          bytes: 2 * 1024 * 1024,
          idx_scan: 1234,
        }),
      ),
    ).toBe(
      'index dup_idx on packages duplicates packages_tracking_number_key (btree (tracking_number)); 2.0 MB, 1,234 scans — consider dropping it',
    );
    expect(
      findingSentence(
        finding('duplicate_index', 'events_idx', {
          table: 'tracking_events',
          kind: 'prefix',
          definition: 'btree (package_id)',
          covered_by: 'tracking_events_package_time_idx',
          covered_by_definition: 'btree (package_id, event_timestamp)',
          bytes: 0,
          idx_scan: 0,
        }),
      ),
    ).toContain(
      'is covered by tracking_events_package_time_idx: its columns (btree (package_id)) lead btree (package_id, event_timestamp)',
    );
    expect(
      findingSentence(
        finding('duplicate_constraint_index', 'b_key', {
          table: 't',
          kind: 'same',
          definition: 'btree (a)',
          covered_by: 'a_key',
          enforces: 'unique',
          constraint: 'b_key',
          covered_by_constraint: 'a_key',
          repeats_constraint: true,
        }),
      ),
    ).toBe(
      'index b_key on t duplicates a_key (btree (a)), but it backs the unique constraint b_key, which repeats a_key: ' +
        'drop the redundant constraint (alter table t drop constraint b_key) if no foreign key depends on it',
    );
    expect(
      findingSentence(
        finding('cache_hit_ratio', 'indexes', {
          hit_ratio: 0.9,
          hits: 90_000,
          reads: 10_000,
          stats_reset: '2026-10-01T00:00:00.000Z',
          shared_buffers_bytes: 128 * 1024 * 1024,
        }),
      ),
    ).toBe(
      'the buffer cache hit ratio of indexes is 90.0 % (10,000 reads of 100,000 since the statistics reset of 2026-10-01T00:00:00.000Z): ' +
        'the working set may not fit shared_buffers (128 MB), or bulk loads and sequential scans read cold data',
    );
    expect(findingSentence(finding('xid_wraparound', 'shiptrack', { xid_age: 1_200_000_000 }))).toBe(
      'database shiptrack is 1,200,000,000 transactions old (the server stops writes near 2,100 million): run VACUUM (FREEZE) on its oldest tables',
    );
  });

  it('says how to get pg_stat_statements, keeping what is preloaded already', () => {
    const advice = (figures: Finding['figures']): string =>
      findingSentence(finding('pg_stat_statements_missing', 'pg_stat_statements', figures, 'info'));
    expect(advice({ state: 'not_enabled', preload: 'timescaledb' })).toBe(
      "pg_stat_statements is not enabled, so there are no statement timings: set shared_preload_libraries = 'pg_stat_statements' " +
        "in postgresql.conf (keeping 'timescaledb') and restart PostgreSQL, then run `create extension pg_stat_statements;` in this database",
    );
    expect(advice({ state: 'not_loaded', preload: null })).toBe(
      'the pg_stat_statements extension is installed but the module is not loaded, so its view cannot be read: ' +
        "set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf and restart PostgreSQL",
    );
    expect(advice({ state: 'not_installed' })).toBe(
      'pg_stat_statements is loaded but not installed in this database: run `create extension pg_stat_statements;`',
    );
    expect(advice({ state: 'not_readable', schema: 'public' })).toBe(
      'this role may not read public.pg_stat_statements: grant it select on that view',
    );
    expect(advice({ state: 'embedded' })).toContain('PGlite');
  });

  it('writes consistency findings, whose codes are the checks’ names', () => {
    expect(
      findingSentence(
        finding(
          'status_matches_last_event',
          'status_matches_last_event',
          { violations: 1234, description: 'current_status is the status of the latest accepted event', samples: 'AA1 BB2' },
          'problem',
        ),
      ),
    ).toBe('1,234 violations of "current_status is the status of the latest accepted event", e.g. AA1 BB2');
    expect(
      findingSentence(
        finding(
          'document_mismatch',
          'scan-1',
          { event_id: 402, field: 'tracking_number', document_value: 'AA1', event_value: 'BB2' },
          'problem',
        ),
      ),
    ).toBe('raw scan scan-1: tracking number AA1, but event 402 belongs to BB2');
    expect(findingSentence(finding('document_mismatch', 'scan-2', { event_id: 9, field: 'event' }, 'problem'))).toBe(
      'raw scan scan-2: event 9 does not exist in PostgreSQL',
    );
    expect(findingSentence(finding('document_mismatch', null, { more: 5 }, 'problem'))).toBe('… and 5 more mismatches');
    expect(
      findingSentence(
        finding('outbox_backlog', 'document_outbox', {
          waiting: 3,
          oldest: '2026-11-23T00:00:00.000Z',
          last_error: 'connect ECONNREFUSED',
        }),
      ),
    ).toBe(
      '3 document(s) wait in the outbox, the oldest since 2026-11-23T00:00:00.000Z (last error: connect ECONNREFUSED); ' +
        'deliver with `shiptrack outbox drain`',
    );
  });

  it('still says something for a code it has no sentence for', () => {
    expect(findingSentence(finding('new_kind', 'x', { n: 3 }))).toBe('new kind: x (n 3)');
    expect(noteSentence({ code: 'new_note', figures: {} })).toBe('new note');
  });

  it('writes notes from their figures', () => {
    expect(noteSentence({ code: 'proof_full', figures: { reason: 'many_changes', changed: 12_000, connections: 2 } })).toBe(
      'the PostgreSQL checks read every package and event (12,000 packages changed since the last full proof) on 2 connections ' +
        'sharing one snapshot: expect seconds on large databases; a clean proof is recorded, and the next run reads only the ' +
        'packages changed since',
    );
    expect(noteSentence({ code: 'proof_changes', figures: { changed: 1, proven_at: '2026-11-20T00:00:00.000Z' } })).toMatch(
      /^the PostgreSQL checks read the 1 package\(s\) changed since the full proof of 2026-11-20T00:00:00.000Z \(/,
    );
    expect(noteSentence({ code: 'metadata_matches', figures: { matching: 2, packages: 7, share: 2 / 7 } })).toBe(
      '2 of 7 packages match (28.6 %)',
    );
    expect(noteSentence({ code: 'metadata_matches', figures: { matching: 0, packages: 0, share: null } })).toBe(
      '0 of 0 packages match (0 %)',
    );
  });

  it('gives --json the sentence beside the data', () => {
    const json = reportForJson(result);
    expect(json.findings).toEqual([{ ...result.findings[0], message: findingSentence(result.findings[0]!) }]);
    expect(json.notes).toEqual([
      { code: 'in_flight', figures: { packages: 1234 }, message: '1,234 in flight (not delivered, returned or cancelled)' },
    ]);
    expect(json.tables).toBe(result.tables);
    expect(result.findings[0]).not.toHaveProperty('message');
  });
});
