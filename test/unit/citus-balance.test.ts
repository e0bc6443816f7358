import { describe, expect, it } from 'vitest';
import { citusBalance, dbThresholds } from '../../src/services/reports/db/rules.js';
import type { CitusLayout, DbSnapshot } from '../../src/services/reports/db/snapshot.js';

const mb = 1024 * 1024;
const snapshot = (citus: CitusLayout | null): DbSnapshot => ({ citus }) as unknown as DbSnapshot;
const table = (name: string, type: string, shards: number, bytes: number, largest: number): CitusLayout['tables'][number] => ({
  table: name,
  type,
  shards,
  bytes,
  largestShardBytes: largest,
  meanShardBytes: bytes / shards,
});

describe('report db on Citus: balance between nodes, skew between a table’s shards', () => {
  it('says nothing off Citus, for a balanced cluster, or below the size floor', () => {
    expect(citusBalance(snapshot(null), dbThresholds)).toEqual([]);
    const balanced: CitusLayout = {
      nodes: [
        { node: 'w1:5432', shards: 16, bytes: 900 * mb },
        { node: 'w2:5432', shards: 16, bytes: 1000 * mb },
      ],
      tables: [table('tracking_events', 'distributed', 32, 1900 * mb, 70 * mb)],
      statements: null,
    };
    expect(citusBalance(snapshot(balanced), dbThresholds)).toEqual([]);
    const small: CitusLayout = {
      nodes: [
        { node: 'w1:5432', shards: 16, bytes: 1 * mb },
        { node: 'w2:5432', shards: 16, bytes: 90 * mb },
      ],
      tables: [table('packages', 'distributed', 32, 91 * mb, 80 * mb)],
      statements: null,
    };
    expect(citusBalance(snapshot(small), dbThresholds)).toEqual([]);
  });

  it('names the heaviest node and the skewed distributed table, with the figures the advice needs', () => {
    const layout: CitusLayout = {
      nodes: [
        { node: 'w1:5432', shards: 10, bytes: 400 * mb },
        { node: 'w2:5432', shards: 22, bytes: 1600 * mb },
      ],
      tables: [
        table('tracking_events', 'distributed', 32, 2000 * mb, 500 * mb),
        table('locations', 'reference', 2, 800 * mb, 400 * mb),
      ],
      statements: null,
    };
    const findings = citusBalance(snapshot(layout), dbThresholds);
    expect(findings.map((f) => [f.code, f.subject])).toEqual([
      ['citus_node_imbalance', 'w2:5432'],
      ['citus_shard_skew', 'tracking_events'],
    ]);
    expect(findings[1]?.figures.skew).toBeCloseTo(8, 5);
  });
});
