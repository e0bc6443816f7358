import { ShiptrackError, UsageError } from '../../errors.js';
import { brinVersusBtree } from './experiments/brin-vs-btree.js';
import { cache } from './experiments/cache.js';
import { documents } from './experiments/documents.js';
import {
  finding,
  lockTimeoutMs,
  Skip,
  type Definition,
  type ExperimentDeps,
  type ExperimentOptions,
  type Run,
} from './experiments/harness.js';
import { metadataIndex } from './experiments/metadata-index.js';
import { overdueIndex } from './experiments/overdue-index.js';
import { partitioning } from './experiments/partitioning.js';
import { staleIndex } from './experiments/stale-index.js';
import { trackIndex } from './experiments/track-index.js';
import type { ExperimentResult, Finding, LatencySummary } from './types.js';

export type { ExperimentDeps, ExperimentOptions } from './experiments/harness.js';

/**
 * The tuning experiments of `shiptrack benchmark --suite tuning`: each a before/after pair measured
 * in the same run, on the library's own functions where one exists. The user's schema is never
 * changed: indexes are dropped (or built) only inside transactions that are rolled back, and the
 * partitioning test lives in a scratch schema that is dropped afterwards, on error or interrupt too.
 * One module per experiment in ./experiments/, beside the harness they share.
 */

const definitions: readonly Definition[] = [
  trackIndex,
  overdueIndex,
  staleIndex,
  metadataIndex,
  brinVersusBtree,
  cache,
  documents,
  partitioning,
];

/** The experiments, in the order they run. */
export const experimentNames: readonly string[] = definitions.map((d) => d.name);

/**
 * The experiment names given (trimmed, blanks and repeats left out), or a UsageError naming the
 * unknown ones and listing the valid ones.
 */
export function checkExperimentNames(names: readonly string[]): string[] {
  const given = [...new Set(names.map((n) => n.trim()).filter((n) => n !== ''))];
  const unknown = given.filter((n) => !experimentNames.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(`--experiments: no experiment is called ${unknown.join(', ')}; they are ${experimentNames.join(', ')}`);
  }
  return given;
}

class Aborted extends Error {
  constructor() {
    super('experiment interrupted');
  }
}

function errorCode(error: unknown): string | undefined {
  if (error instanceof ShiptrackError) {
    if (error.code === 'lock_timeout') return '55P03';
    return errorCode(error.cause);
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function emptySummary(): LatencySummary {
  return {
    count: 0,
    errors: 0,
    durationMs: 0,
    throughput: 0,
    mean: Number.NaN,
    p50: Number.NaN,
    p90: Number.NaN,
    p99: Number.NaN,
    p999: Number.NaN,
    max: Number.NaN,
    distribution: [],
  };
}

function skippedResult(definition: Definition, reason: Finding, isolation = finding('nothing_run')): ExperimentResult {
  return {
    experiment: definition.name,
    question: definition.question,
    before: { label: 'before', summary: emptySummary() },
    after: { label: 'after', summary: emptySummary() },
    speedup: Number.NaN,
    findings: { isolation, verdict: finding('not_measured'), notes: [], skipped: reason },
  };
}

/**
 * Runs the tuning experiments (all, or `options.only`, checked by checkExperimentNames) one after
 * another. An experiment that cannot run here (no Redis, no MongoDB, a table lock it could not get
 * within 5 s) comes back with `findings.skipped` set. On abort, whatever was changed is rolled back
 * or dropped and the experiments completed so far are returned.
 */
export async function runExperiments(deps: ExperimentDeps, options: ExperimentOptions): Promise<ExperimentResult[]> {
  const only = options.only === undefined ? undefined : checkExperimentNames(options.only);
  const selected = only === undefined ? definitions : definitions.filter((d) => only.includes(d.name));
  const aborted = (): boolean => options.signal?.aborted === true;
  const results: ExperimentResult[] = [];
  for (const definition of selected) {
    if (aborted()) break;
    // Each builds, drops or rewrites indexes and tables as one server has them: not tried on Citus.
    if (deps.db.distributed === true) {
      results.push(skippedResult(definition, finding('citus_layout')));
      continue;
    }
    const run: Run = {
      deps,
      options,
      name: definition.name,
      progress: (f) => options.onProgress?.(definition.name, Math.max(0, Math.min(1, f))),
      checkAborted: () => {
        if (aborted()) throw new Aborted();
      },
    };
    try {
      const result = await definition.run(run);
      if (aborted()) break;
      results.push({ experiment: definition.name, question: definition.question, ...result });
      run.progress(1);
    } catch (error) {
      if (aborted() || error instanceof Aborted) break;
      if (error instanceof Skip) results.push(skippedResult(definition, error.reason));
      else if (errorCode(error) === '55P03') {
        results.push(skippedResult(definition, finding('lock_timeout', { lockTimeoutMs }), finding('lock_attempt_rolled_back')));
      } else throw error;
    }
  }
  return results;
}
