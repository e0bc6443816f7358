import { createPgDocumentStore } from '../../../store/documents/postgres.js';
import { compareRatio, finding, measure, planText, Skip, type Definition } from './harness.js';

const verdicts = { faster: 'mongodb_faster', same: 'no_measurable_difference', slower: 'postgres_faster' } as const;

/** findRawScans on the PostgreSQL JSONB document store, then on MongoDB, for the same numbers. */
export const documents: Definition = {
  name: 'documents',
  question: 'Raw scans of one tracking number: PostgreSQL JSONB table or MongoDB?',
  async run(run) {
    const { db, documents: store } = run.deps;
    if (store.kind === 'postgres') throw new Skip('no_mongodb');
    const pgStore = createPgDocumentStore(db.knex);
    const sampled = [...new Set((await store.sampleRawScans(500)).map((d) => d.trackingNumber))];
    const present = await db.knex.raw<{ rows: { tracking_number: string }[] }>(
      `select distinct tracking_number from doc_raw_scans where tracking_number = any(?::text[])`,
      [sampled],
    );
    const numbers = present.rows.map((r) => r.tracking_number).sort();
    if (numbers.length === 0) throw new Skip('no_common_raw_scans', { sampled: sampled.length });
    const [pgCount, mongoCount] = await Promise.all([pgStore.countRawScans(), store.countRawScans()]);
    run.checkAborted();
    const at = (seq: number): string => numbers[(seq * 7919) % numbers.length] ?? '';
    const before = await measure(run, (seq) => pgStore.findRawScans(at(seq)), [0, 0.5]);
    const explained = await db.knex.raw<{ rows: { 'QUERY PLAN': string }[] }>(
      `explain (analyze, buffers) select id, tracking_number, event_id, scanned_at, source, payload
         from doc_raw_scans where tracking_number = ? order by scanned_at asc, id asc`,
      [numbers[0] ?? ''],
    );
    const after = await measure(run, (seq) => store.findRawScans(at(seq)), [0.5, 1]);
    const ratio = before.p50 / after.p50;
    return {
      before: { label: 'PostgreSQL JSONB (doc_raw_scans)', summary: before, plan: planText(explained.rows) },
      after: { label: 'MongoDB (raw_scans)', summary: after },
      speedup: ratio,
      findings: {
        isolation: finding('reads_only'),
        verdict: finding(verdicts[compareRatio(ratio)], { postgresMs: before.p50, mongodbMs: after.p50, ratio }),
        notes: [
          finding('documents_workload', { trackingNumbers: numbers.length }),
          finding('document_counts', { postgres: pgCount, mongodb: mongoCount }),
          finding('documents_plan'),
        ],
      },
    };
  },
};
