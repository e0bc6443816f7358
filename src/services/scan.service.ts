import { checkScan, checkScanLine, scanLimits, type ScanInput, type ScanRecord } from '../domain/scan-input.js';
import { ConflictError, NotFoundError, UsageError } from '../errors.js';
import { countOption } from '../options.js';
import type { Resources } from '../store/resources.js';
import { createScanPipeline, writeScans, type ScanDeps, type ScanOutcome } from './scan-write.js';
import { trackCachePolicy } from './track.service.js';
import { reasonOf, type ServiceWarning } from './warnings.js';

/**
 * Recording scans, the whole use case: each scan is checked against the limits before any query,
 * written (idempotent, judged by the state machine), and once its transaction commits the
 * service itself drops the cached `track` answers, publishes the event for watchers and hands the
 * raw scans to the document store (or leaves them in the outbox). What it could not do after the
 * commit comes back as warnings, never as a failure: the scan is recorded.
 */

export type RecordedOutcome = Exclude<ScanOutcome, { outcome: 'rejected' }>;

async function deps(resources: Resources): Promise<ScanDeps> {
  return { db: await resources.database(), documentsTarget: resources.documentsTarget };
}

const hasEvent = (o: ScanOutcome): o is Extract<ScanOutcome, { eventId: number }> & { status: string } =>
  o.outcome === 'accepted' || o.outcome === 'out_of_order' || o.outcome === 'after_terminal';

/**
 * After scans commit: stale cache entries go and watchers hear of it (one Redis round trip), and
 * MongoDB gets the raw scans waiting in the outbox.
 */
export async function afterScansCommitted(resources: Resources, outcomes: readonly ScanOutcome[]): Promise<ServiceWarning[]> {
  const recorded = outcomes.filter(hasEvent);
  if (recorded.length === 0) return [];
  const warnings: ServiceWarning[] = [];
  const { config } = resources;
  // Where the scans' commit is in the WAL: what a read on a replica must have replayed.
  const position = config.redisUrl !== undefined || config.replicaUrls.length > 0 ? await commitPosition(resources) : undefined;
  if (position !== undefined && config.replicaUrls.length > 0) {
    const { rememberWrite } = await import('../store/replicas.js');
    rememberWrite(config, resources.databaseTarget, position);
  }
  // Only with Redis configured: asking for it otherwise would announce "cache off" to a scan.
  if (config.redisUrl !== undefined) {
    try {
      const redis = await resources.cacheWriter();
      if (redis !== undefined) {
        const { announceScans } = await import('../store/track-cache.js');
        await announceScans(redis, resources.databaseTarget, recorded, position);
      }
    } catch (error) {
      warnings.push({ code: 'cache_not_refreshed', store: 'Redis', reason: reasonOf(error), ttlMs: trackCachePolicy.ttlMs });
    }
  }
  if (config.mongoUrl !== undefined) {
    // The scans are committed and their raw scans are safe in the outbox: delivery is best effort.
    const { drainOutbox } = await import('./outbox.service.js');
    try {
      const result = await drainOutbox((await resources.database()).knex, await resources.documents());
      if (result.error !== null) {
        warnings.push({ code: 'documents_waiting', store: 'MongoDB', reason: result.error, waiting: result.remaining });
      }
    } catch (error) {
      warnings.push({ code: 'documents_waiting', store: 'MongoDB', reason: reasonOf(error), waiting: recorded.length });
    }
  }
  return warnings;
}

/**
 * A WAL position at or past the commit of the scans just recorded (read after it), which a
 * replica must have replayed to show them; undefined on the embedded database (no replicas) or
 * when the primary cannot say (then readers that need the scans go to the primary).
 */
async function commitPosition(resources: Resources): Promise<string | undefined> {
  if (resources.config.databaseUrl === undefined) return undefined;
  try {
    const db = await resources.database();
    // The insert position: at or past the commit record even under synchronous_commit = off,
    // where the write position may still be behind it.
    const { rows } = await db.knex.raw<{ rows: { lsn: string }[] }>('select pg_current_wal_insert_lsn()::text as lsn');
    return rows[0]?.lsn;
  } catch {
    return undefined;
  }
}

/** The same warning once, however many batches ran into it. */
function mergeWarnings(into: ServiceWarning[], more: readonly ServiceWarning[]): void {
  for (const w of more) if (!into.some((x) => x.code === w.code && x.reason === w.reason)) into.push(w);
}

export interface RecordedScans {
  /** One per scan, in input order; a scan the state machine or the data refused is `rejected`. */
  outcomes: ScanOutcome[];
  warnings: ServiceWarning[];
}

/**
 * Records scans in one transaction. Every scan is checked first: one that breaks a limit is a
 * UsageError naming the scan's position and field, and nothing is written.
 */
export async function recordScans(resources: Resources, scans: readonly ScanRecord[]): Promise<RecordedScans> {
  const now = new Date();
  const checked = scans.map((record, i) => {
    const result = checkScan(record, { now });
    if (!result.ok) throw new UsageError(`scan ${i + 1}: ${result.reason}`, { details: { index: i, field: result.field } });
    return result.scan;
  });
  if (checked.length === 0) return { outcomes: [], warnings: [] };
  const outcomes = await writeScans(await deps(resources), checked);
  return { outcomes, warnings: await afterScansCommitted(resources, outcomes) };
}

/** The command-line names of a scan's fields, for messages about one scan given with flags. */
export type FieldLabels = Partial<Record<keyof ScanRecord, string>>;

/**
 * Records one scan; its time defaults to now. A scan that cannot be recorded is an error:
 * NotFoundError for an unknown package or location, ConflictError when the state machine or an
 * idempotency key refuses it, UsageError (naming the field) for a bad value.
 */
export async function recordScan(
  resources: Resources,
  scan: ScanRecord,
  labels: FieldLabels = {},
): Promise<{ outcome: RecordedOutcome; warnings: ServiceWarning[] }> {
  const now = new Date();
  const result = checkScan(scan, { now, defaultAt: now });
  if (!result.ok) {
    const label = labels[result.field];
    throw new UsageError(label === undefined ? result.reason : `${label}: ${result.reason}`, {
      details: { field: result.field },
    });
  }
  const [outcome] = await writeScans(await deps(resources), [result.scan]);
  if (outcome === undefined) throw new Error('the write path returned no outcome');
  if (outcome.outcome === 'rejected') {
    if (outcome.code === 'unknown_package' || outcome.code === 'unknown_location') throw new NotFoundError(outcome.reason);
    throw new ConflictError(outcome.code, outcome.reason);
  }
  return { outcome, warnings: await afterScansCommitted(resources, [outcome]) };
}

export interface ScanStreamOptions {
  /** Scans per transaction, 1 to scanLimits.batchScans (default scanLimits.defaultBatchScans). */
  batchSize?: number;
  /** Transactions at a time, 1 to scanLimits.parallelBatches (default 2 on a server, 1 embedded). */
  parallel?: number;
  /** Stops reading; the scans in hand are recorded (never half a batch), then it returns. */
  signal?: AbortSignal | undefined;
  /** After each committed batch: lines read so far, and bytes of input read so far. */
  onProgress?: (progress: { lines: number; bytes: number }) => void;
}

export interface ScanStreamSummary {
  lines: number;
  accepted: number;
  duplicate: number;
  outOfOrder: number;
  afterFinal: number;
  rejected: number;
  /** The first 20 rejected lines, by line number. */
  rejections: { line: number; reason: string }[];
  seconds: number;
  scansPerSecond: number;
  warnings: ServiceWarning[];
}

/**
 * Records a stream of NDJSON lines (a scans file): each line is checked on its own, a bad one is
 * rejected by its line number and the good ones are still recorded, in batches of one
 * transaction each, with the after-commit work done for every batch.
 */
export async function recordScanLines(
  resources: Resources,
  lines: AsyncIterable<string>,
  options: ScanStreamOptions = {},
): Promise<ScanStreamSummary> {
  // Taken before anything is awaited: a readline interface drops the lines it reads while no
  // iterator listens.
  const input = lines[Symbol.asyncIterator]();
  // Checked before anything is read or opened.
  const batchSize = countOption(options.batchSize ?? scanLimits.defaultBatchScans, 'batchSize', 1, scanLimits.batchScans);
  const parallel =
    options.parallel === undefined ? undefined : countOption(options.parallel, 'parallel', 1, scanLimits.parallelBatches);
  const started = performance.now();
  const summary: ScanStreamSummary = {
    lines: 0,
    accepted: 0,
    duplicate: 0,
    outOfOrder: 0,
    afterFinal: 0,
    rejected: 0,
    rejections: [],
    seconds: 0,
    scansPerSecond: 0,
    warnings: [],
  };
  const byLine = (a: { line: number }, b: { line: number }): number => a.line - b.line;
  // The first 20 rejected lines; a batch's rejections may be known only after later lines'.
  const reject = (line: number, reason: string): void => {
    summary.rejected += 1;
    summary.rejections.push({ line, reason });
    if (summary.rejections.length >= 40) summary.rejections = summary.rejections.sort(byLine).slice(0, 20);
  };
  let bytes = 0;
  const pipeline = createScanPipeline<number>(await deps(resources), {
    batchSize,
    streams: parallel,
    onRecorded: async (outcomes, lineNumbers) => {
      outcomes.forEach((o, i) => {
        if (o.outcome === 'accepted') summary.accepted += 1;
        else if (o.outcome === 'duplicate') summary.duplicate += 1;
        else if (o.outcome === 'out_of_order') summary.outOfOrder += 1;
        else if (o.outcome === 'after_terminal') summary.afterFinal += 1;
        else reject(lineNumbers[i] ?? 0, o.reason);
      });
      mergeWarnings(summary.warnings, await afterScansCommitted(resources, outcomes));
      options.onProgress?.({ lines: summary.lines, bytes });
    },
  });
  const now = new Date();
  try {
    for await (const line of { [Symbol.asyncIterator]: () => input }) {
      bytes += Buffer.byteLength(line) + 1;
      if (line.trim() === '') continue;
      summary.lines += 1;
      const checked = checkScanLine(line, now);
      if (!checked.ok) reject(summary.lines, checked.reason);
      else {
        const busy = pipeline.add(checked.scan, summary.lines);
        if (busy !== undefined) await busy;
      }
      if (options.signal?.aborted) break;
    }
    await pipeline.finish();
  } finally {
    await pipeline.stop();
  }
  summary.rejections = summary.rejections.sort(byLine).slice(0, 20);
  summary.seconds = (performance.now() - started) / 1000;
  summary.scansPerSecond = summary.lines / Math.max(summary.seconds, 1e-9);
  return summary;
}

export type { ScanInput, ScanOutcome, ScanRecord };
