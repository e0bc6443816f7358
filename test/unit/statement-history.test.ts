import { describe, expect, it } from 'vitest';
import { compareStatements, historyThresholds, type StatementCountersNow } from '../../src/services/reports/db/history.js';
import type { StatementCounters, StatementSnapshotDocument } from '../../src/store/documents/document-store.js';

const takenAt = new Date('2026-12-01T00:00:00Z');
const asked = new Date('2026-12-01T00:00:00Z');

const counters = (queryId: string, calls: number, totalMs: number): StatementCounters => ({
  queryId,
  query: `select ${queryId}`,
  calls,
  totalMs,
  rows: calls,
});

const before = (statements: StatementCounters[], truncated = false): StatementSnapshotDocument => ({
  id: 'a',
  server: 'db@local:5432',
  takenAt,
  statsReset: null,
  statements,
  truncated,
});

const now = (statements: StatementCounters[], truncated = false, statsReset: Date | null = null): StatementCountersNow => ({
  server: 'db@local:5432',
  statsReset,
  statements,
  truncated,
});

describe('compareStatements', () => {
  it('takes the window’s mean from the differences of the cumulative counters', () => {
    // 100 calls of 1 ms before; 10 more calls adding 50 ms: 5 ms each in the window.
    const history = compareStatements(before([counters('a', 100, 100)]), now([counters('a', 110, 150)]), asked);
    expect(history).toMatchObject({ state: 'compared', slower: [{ calls: 10, meanBeforeMs: 1, meanMs: 5, addedMs: 40 }] });
  });

  it('needs the factor, the absolute step and enough calls before it calls a statement slower', () => {
    const cases: [StatementCounters, boolean][] = [
      [counters('a', 110, 100 + 10 * 1.4), false], // 1.4×
      [counters('a', 110, 100 + 10 * 1.49), false], // +0.49 ms
      [counters('a', 104, 100 + 4 * 5), false], // 4 calls
      [counters('a', 110, 100 + 10 * 1.5), true],
    ];
    for (const [current, slower] of cases) {
      const history = compareStatements(before([counters('a', 100, 100)]), now([current]), asked);
      expect(history.state === 'compared' && history.slower.length === 1, JSON.stringify(current)).toBe(slower);
    }
    expect(historyThresholds).toMatchObject({ slowerFactor: 1.5, slowerMinMs: 0.5, minCalls: 5 });
  });

  it('started: new since; stopped: no calls since, or gone from the server’s list', () => {
    const history = compareStatements(
      before([counters('kept', 10, 10), counters('idle', 5, 50), counters('gone', 3, 30)]),
      now([counters('kept', 20, 20), counters('idle', 5, 50), counters('new', 2, 8)]),
      asked,
    );
    expect(history).toMatchObject({
      state: 'compared',
      started: [{ query: 'select new', calls: 2, totalMs: 8, meanMs: 4 }],
      stopped: [
        { query: 'select idle', callsBefore: 5 },
        { query: 'select gone', callsBefore: 3 },
      ],
    });
  });

  it('a statement with fewer calls than before was evicted and came back: all it counts is recent', () => {
    const history = compareStatements(before([counters('a', 100, 100)]), now([counters('a', 4, 40)]), asked);
    expect(history).toMatchObject({ state: 'compared', slower: [], started: [{ calls: 4, totalMs: 40 }] });
  });

  it('below the cut of a truncated list, absence proves nothing', () => {
    const cutBefore = before([counters('big', 10, 1000), counters('small', 10, 20)], true);
    // "small" may still run below the new cut (40); "over" and "mid" were above the old one (20).
    const later = compareStatements(
      cutBefore,
      now([counters('big', 20, 2000), counters('over', 1, 50), counters('mid', 1, 40)], true),
      asked,
    );
    expect(later).toMatchObject({ state: 'compared', started: [{ query: 'select over' }, { query: 'select mid' }], stopped: [] });
    // "under" (15) may have been tracked below the old cut; with the whole list now, "small" is gone.
    const complete = compareStatements(cutBefore, now([counters('big', 20, 2000), counters('under', 1, 15)]), asked);
    expect(complete).toMatchObject({ state: 'compared', started: [], stopped: [{ query: 'select small' }], truncated: true });
  });

  it('after a reset of pg_stat_statements, compares nothing', () => {
    const reset = new Date(takenAt.getTime() + 1000);
    const history = compareStatements(before([counters('a', 100, 100)]), now([counters('a', 1, 1)], false, reset), asked);
    expect(history).toEqual({
      state: 'reset',
      asked: asked.toISOString(),
      since: takenAt.toISOString(),
      reset: reset.toISOString(),
    });
  });
});
