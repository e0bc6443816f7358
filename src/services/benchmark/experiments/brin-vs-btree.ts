import { parseDay } from '../../../domain/report-filters.js';
import { runFacilitiesReport } from '../../reports/network.report.js';
import {
  compareRatio,
  explainReport,
  finding,
  inRolledBackTransaction,
  measure,
  planUses,
  requireIndexes,
  requireServer,
  type Definition,
} from './harness.js';

const btree = 'tracking_events_time_idx';
const brinIndex = 'shiptrack_bench_time_brin';

const verdicts = { faster: 'replace_btree_with_brin', same: 'brin_would_do', slower: 'keep_btree' } as const;

/** `report facilities` with the B-tree on event_timestamp, then with a BRIN index in its place. */
export const brinVersusBtree: Definition = {
  name: 'brin-vs-btree',
  question: `Could a BRIN index on tracking_events(event_timestamp) replace the B-tree ${btree} for \`report facilities\`?`,
  async run(run) {
    const { db, now } = run.deps;
    requireServer(db);
    const btreeBytes = (await requireIndexes(db, [btree])).get(btree) ?? 0;
    const day = parseDay('yesterday', now);
    const options = { now, day, sort: 'scans' as const, limit: 20 };
    const correlation = await db.knex.raw<{ rows: { correlation: number | null }[] }>(
      `select correlation from pg_stats where schemaname = current_schema() and tablename = 'tracking_events' and attname = 'event_timestamp'`,
    );
    run.checkAborted();
    const withBtree = await inRolledBackTransaction(run, async (session) => {
      const summary = await measure(run, () => runFacilitiesReport(session, options), [0, 0.45]);
      const plan = await explainReport(runFacilitiesReport(session, { ...options, explain: true }));
      return { label: `B-tree ${btree}`, summary, plan };
    });
    run.checkAborted();
    const withBrin = await inRolledBackTransaction(run, async (session, trx) => {
      const started = performance.now();
      await trx.raw(`create index ${brinIndex} on tracking_events using brin (event_timestamp)`);
      const buildMs = performance.now() - started;
      await trx.raw(`drop index ${btree}`);
      const size = await trx.raw<{ rows: { size: number }[] }>(`select pg_relation_size(?::regclass) as size`, [brinIndex]);
      run.progress(0.55);
      const summary = await measure(run, () => runFacilitiesReport(session, options), [0.55, 1]);
      const plan = await explainReport(runFacilitiesReport(session, { ...options, explain: true }));
      return {
        arm: { label: `BRIN on event_timestamp (pages_per_range 128), B-tree dropped`, summary, plan },
        buildMs,
        size: Number(size.rows[0]?.size ?? 0),
      };
    });
    const before = withBtree.value;
    const after = withBrin.value.arm;
    const brinBytes = withBrin.value.size;
    const { buildMs } = withBrin.value;
    const ratio = before.summary.p50 / after.summary.p50;
    const corr = correlation.rows[0]?.correlation;
    return {
      before,
      after,
      speedup: ratio,
      findings: {
        isolation: finding('brin_built_and_rolled_back', { brinIndex, btree, buildMs, heldMs: withBrin.heldMs }),
        verdict: finding(verdicts[compareRatio(ratio)], {
          btree,
          btreeMs: before.summary.p50,
          brinMs: after.summary.p50,
          ratio,
          btreeBytes,
          brinBytes,
        }),
        notes: [
          finding('facilities_workload', { day: day.label, limit: options.limit }),
          finding('brin_sizes', { brinBytes, btreeBytes, buildMs }),
          finding('time_correlation', { correlation: corr === null || corr === undefined ? null : Number(corr) }),
          finding('brin_plans', { brinUsed: planUses(after.plan, brinIndex), btreeUsed: planUses(before.plan, btree) }),
        ],
      },
    };
  },
};
