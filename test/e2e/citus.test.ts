import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { testCitusUrl } from '../support/env.js';

/**
 * Against a Citus coordinator with workers (SHIPTRACK_TEST_CITUS_URL, its database given to the
 * tests): shiptrack migrates it and `doctor` names Citus, each worker and the shards. Skipped,
 * visibly, without it. The distributed layout itself is issue 19's next step.
 */

const skipped = testCitusUrl === undefined ? 'SHIPTRACK_TEST_CITUS_URL is not set' : undefined;

function ok(result: CliResult): CliResult {
  expect(result.code, `${result.stderr}${result.stdout}`).toBe(0);
  return result;
}

describe.skipIf(skipped !== undefined)(`on a Citus coordinator${skipped === undefined ? '' : ` — SKIPPED: ${skipped}`}`, () => {
  const env = { SHIPTRACK_DATABASE_URL: testCitusUrl ?? '' };

  it('migrates, and doctor names Citus, its workers (all reachable) and its tables', async () => {
    ok(await runCli(['migrate', 'latest'], { env }));
    const report = JSON.parse(ok(await runCli(['doctor', '--json'], { env })).stdout) as {
      checks: { store: string; detail: string; citus?: { version: string; workers: { node: string; reachable: boolean }[] } }[];
    };
    const postgres = report.checks.find((c) => c.store === 'PostgreSQL');
    expect(postgres?.citus?.version).toMatch(/^\d+\.\d+/);
    expect(postgres?.citus?.workers.length).toBeGreaterThan(0);
    expect(postgres?.citus?.workers.every((w) => w.reachable)).toBe(true);
    expect(postgres?.detail).toMatch(/Citus \d+\.\d+\S*, \d+ workers?/);
  });

  it('report db shows where the shards are: bytes and shards by node, and each table with its largest shard', async () => {
    const report = JSON.parse(ok(await runCli(['report', 'db', '--json'], { env })).stdout) as {
      tables: { name: string; rows: Record<string, unknown>[] }[];
    };
    const nodes = report.tables.find((t) => t.name === 'citus_nodes')?.rows ?? [];
    const tables = report.tables.find((t) => t.name === 'citus_tables')?.rows ?? [];
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.every((n) => typeof n.bytes === 'number' && typeof n.shards === 'number')).toBe(true);
    expect(tables.map((t) => t.table)).toEqual(expect.arrayContaining(['packages', 'tracking_events']));
  });
});
