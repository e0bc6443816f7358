import { parseMetadataFilters, type MetadataFilter } from '../../../domain/report-filters.js';
import type { Database } from '../../../store/database.js';
import { runMetadataReport } from '../../reports/packages.report.js';
import {
  compareReportWithoutIndexes,
  dropIsolation,
  explainReport,
  finding,
  indexDecision,
  planUses,
  requireIndexes,
  requireServer,
  type Definition,
} from './harness.js';

const gin = 'packages_metadata_idx';
// fragile=true had a partial index of its own until its counts came from the rollups
// (migration 20261203000100); what the GIN index buys that filter's list is measured here too.
// The selective filter names a key beyond the facets (migration 20261205000100), so its counts
// come from the packages, as any such filter's do: a filter on the facets alone is counted from
// the rollup whatever the indexes.
const fragile = gin;

/** `report metadata` for a selective filter and for fragile=true, with and without the GIN index. */
export const metadataIndex: Definition = {
  name: 'metadata-index',
  question: `What does ${gin} (GIN) buy \`report metadata\`, for a selective filter and for fragile=true?`,
  async run(run) {
    const { db, now } = run.deps;
    requireServer(db);
    const sizes = await requireIndexes(db, [gin]);
    const selective: MetadataFilter = parseMetadataFilters(['contents=health', 'signature_required=true']);
    const fragileFilter: MetadataFilter = parseMetadataFilters(['fragile=true']);
    const report = (session: Database, filter: MetadataFilter, explain = false) =>
      runMetadataReport(session, { now, filter, limit: 20, explain });
    const matches = await db.knex.raw<{ rows: { selective: number; fragile: number; total: number }[] }>(
      `select count(*) filter (where metadata @> ?::jsonb)::bigint as selective,
              count(*) filter (where metadata @> ?::jsonb)::bigint as fragile, count(*)::bigint as total from packages`,
      [JSON.stringify(selective.containment), JSON.stringify(fragileFilter.containment)],
    );
    const m = matches.rows[0] ?? { selective: 0, fragile: 0, total: 0 };
    const arms = await compareReportWithoutIndexes(
      run,
      [gin],
      async (session, time) => {
        await time.time('selective', () => report(session, selective));
        await time.time('fragile', () => report(session, fragileFilter));
      },
      async (session) =>
        [
          `-- report metadata --where ${selective.terms.join(' --where ')}`,
          await explainReport(report(session, selective, true)),
          `\n-- report metadata --where ${fragileFilter.terms.join(' --where ')}`,
          await explainReport(report(session, fragileFilter, true)),
        ].join('\n'),
      ['selective', 'fragile'],
    );
    const part = (arm: 'with' | 'without', name: string): number => arms.parts?.[arm].get(name) ?? Number.NaN;
    const p50s = (name: string) => ({
      withMs: part('with', name),
      withoutMs: part('without', name),
      ratio: part('without', name) / part('with', name),
    });
    const selectiveP50 = p50s('selective');
    const fragileP50 = p50s('fragile');
    const ginBytes = sizes.get(gin) ?? 0;
    const fragileBytes = sizes.get(fragile) ?? 0;
    return {
      before: arms.without,
      after: arms.with,
      speedup: arms.without.summary.p50 / arms.with.summary.p50,
      findings: {
        isolation: dropIsolation('packages', [gin], arms.heldMs),
        verdict: finding('metadata_indexes', {
          gin,
          ginBytes,
          ginVerdict: indexDecision(selectiveP50.withMs, selectiveP50.withoutMs),
          selectiveTerms: selective.terms,
          selectiveWithMs: selectiveP50.withMs,
          selectiveWithoutMs: selectiveP50.withoutMs,
          selectiveRatio: selectiveP50.ratio,
          fragile,
          fragileBytes,
          fragileVerdict: indexDecision(fragileP50.withMs, fragileP50.withoutMs),
          fragileTerms: fragileFilter.terms,
          fragileWithMs: fragileP50.withMs,
          fragileWithoutMs: fragileP50.withoutMs,
          fragileRatio: fragileP50.ratio,
        }),
        notes: [
          finding('metadata_workload', {
            selectiveTerms: selective.terms,
            selectivePackages: Number(m.selective),
            fragileTerms: fragileFilter.terms,
            fragilePackages: Number(m.fragile),
            packages: Number(m.total),
          }),
          finding('selective_filter_p50', selectiveP50),
          finding('fragile_filter_p50', fragileP50),
          finding('metadata_index_plans', {
            gin,
            ginBytes,
            ginUsed: planUses(arms.with.plan, gin),
            fragile,
            fragileBytes,
            fragileUsed: planUses(arms.with.plan, fragile),
          }),
          finding('metadata_counts_all_packages'),
        ],
      },
    };
  },
};
