import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { isPackageStatus, packageStatuses } from '../../domain/status.js';
import { parseTrackingNumber } from '../../domain/tracking-number.js';
import { ConflictError, ExitCode, NotFoundError, UsageError } from '../../errors.js';
import type { ScanInput, ScanOutcome } from '../../services/scan.service.js';
import type { Resources } from '../../store/resources.js';
import { configFor, withResources, type CommandContext } from '../program.js';
import { parseNumbers } from './track.js';

interface ScanOptions {
  status?: string;
  location?: string;
  at?: string;
  payload?: string;
  key?: string;
  source?: string;
  force?: string;
  file?: string;
  batch: string;
  parallel?: string;
}

function parseDate(value: string, what: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UsageError(`${what}: "${value}" is not a date and time (e.g. 2026-11-20T14:05:00Z)`);
  return date;
}

function readPayload(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--payload: cannot read ${file} as JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError('--payload: the JSON must be an object');
  return parsed as Record<string, unknown>;
}

/** One NDJSON line → a scan, or the reason it is not one. */
export function scanFromLine(line: string): ScanInput | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const o = value as Record<string, unknown>;
  const rawNumber = o.trackingNumber ?? o.tracking_number;
  if (typeof rawNumber !== 'string') return 'trackingNumber is missing';
  const parsed = parseTrackingNumber(rawNumber);
  if (!parsed.ok) return parsed.reason;
  if (typeof o.status !== 'string' || !isPackageStatus(o.status)) return `status must be one of ${packageStatuses.join(', ')}`;
  const location = typeof o.location === 'number' ? String(o.location) : o.location;
  if (typeof location !== 'string' || location.trim() === '') return 'location is missing';
  const at = new Date(typeof o.at === 'string' || typeof o.at === 'number' ? o.at : Number.NaN);
  if (Number.isNaN(at.getTime())) return 'at must be a date and time';
  const key = o.idempotencyKey ?? o.idempotency_key;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 200))
    return 'idempotencyKey must be a string of 1–200 characters';
  if (o.payload !== undefined && (typeof o.payload !== 'object' || o.payload === null || Array.isArray(o.payload)))
    return 'payload must be an object';
  return {
    trackingNumber: parsed.number,
    status: o.status,
    location: location.trim(),
    at,
    idempotencyKey: typeof key === 'string' ? key : undefined,
    payload: o.payload as Record<string, unknown> | undefined,
    source: typeof o.source === 'string' ? o.source : undefined,
  };
}

interface BulkSummary {
  lines: number;
  accepted: number;
  duplicate: number;
  outOfOrder: number;
  afterFinal: number;
  rejected: number;
  rejections: { line: number; reason: string }[];
  seconds: number;
  scansPerSecond: number;
}

/** After a batch commits: stale cache entries go, watchers hear of it, MongoDB gets its documents. */
async function announce(resources: Resources, outcomes: ScanOutcome[], context: CommandContext): Promise<void> {
  const recorded = outcomes.filter(
    (o): o is Extract<ScanOutcome, { outcome: 'accepted' | 'out_of_order' | 'after_terminal' }> =>
      o.outcome === 'accepted' || o.outcome === 'out_of_order' || o.outcome === 'after_terminal',
  );
  if (recorded.length === 0) return;
  const db = await resources.database();
  // Only with Redis configured: asking for it otherwise would announce "cache off" to a scan.
  const redis = resources.config.redisUrl === undefined ? undefined : await resources.redis().catch(() => undefined);
  if (redis !== undefined) {
    const { announceScans } = await import('../../store/track-cache.js');
    try {
      await announceScans(redis, db.target, recorded);
    } catch (error) {
      context.output.warn(
        `could not reach Redis to refresh the cache (${(error as Error).message}); cached answers expire within a minute`,
      );
    }
  }
  if (resources.config.mongoUrl !== undefined) {
    // The scan is committed and its raw scan is safe in the outbox: delivery is best effort here.
    try {
      const { drainOutbox } = await import('../../services/outbox.service.js');
      const result = await drainOutbox(db.knex, await resources.documents());
      if (result.error !== null) throw new Error(result.error);
    } catch (error) {
      context.output.warn(`raw scans wait in the outbox (${(error as Error).message}); \`shiptrack outbox drain\` delivers them`);
    }
  }
}

export function scanCommand(context: CommandContext): Command {
  return new Command('scan')
    .description('record a scan (or a file of them): idempotent, checked against the state machine')
    .argument('[number...]', 'tracking number of the scanned package')
    .addOption(new Option('--status <status>', 'what the scan says').choices(packageStatuses))
    .option('--location <name|id>', 'where it happened: a location name or id')
    .option('--at <time>', 'when it happened (default: now)')
    .option('--payload <file.json>', 'the raw scanner message, kept as a raw scan document')
    .option(
      '--key <idempotency-key>',
      'the scanner’s own id for the scan (default: derived from package, status, location, time)',
    )
    .option('--source <name>', 'who sent it, e.g. scanner or partner:ups', 'scanner')
    .option('--force <reason>', 'record a transition the state machine forbids, with the reason')
    .option(
      '--file <scans.ndjson>',
      'bulk: one JSON object per line {trackingNumber, status, location, at, idempotencyKey?, payload?}',
    )
    .option('--batch <n>', 'bulk: scans per transaction', '1000')
    .option(
      '--parallel <n>',
      'bulk: transactions at a time, each over its own share of the packages (default 2 with a server; 1 keeps batches of consecutive lines)',
    )
    .addHelpText(
      'after',
      `
A scan older than the package's latest is stored but does not change its status; a scan after a
final status is kept as history. The same scan twice is one event; the same key with different
content is refused (exit 4), as is a transition the state machine forbids (unless --force).

Examples:
  $ shiptrack scan RB123456785US --status out_for_delivery --location "Denver Delivery Station 12"
  $ shiptrack scan --file scans.ndjson`,
    )
    .action(async (numbers: string[], options: ScanOptions, command: Command) => {
      const config = configFor(command, context);
      if (options.file !== undefined) {
        if (numbers.length > 0 || options.status !== undefined)
          throw new UsageError('--file takes the scans from the file; give no number or --status');
        const batchSize = Number(options.batch);
        if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 50_000)
          throw new UsageError(`--batch: expected 1 to 50000, got "${options.batch}"`);
        const parallel = options.parallel === undefined ? undefined : Number(options.parallel);
        if (parallel !== undefined && (!Number.isInteger(parallel) || parallel < 1 || parallel > 8))
          throw new UsageError(`--parallel: expected 1 to 8, got "${options.parallel}"`);
        let size: number;
        try {
          size = statSync(options.file).size;
        } catch {
          throw new UsageError(`--file: cannot read ${options.file}`);
        }
        await withResources(context, config, async (resources) => {
          const [{ createScanPipeline }, { createProgress }] = await Promise.all([
            import('../../services/scan.service.js'),
            import('../progress.js'),
          ]);
          const db = await resources.database();
          const progress = await createProgress(context.output);
          const started = performance.now();
          const summary: BulkSummary = {
            lines: 0,
            accepted: 0,
            duplicate: 0,
            outOfOrder: 0,
            afterFinal: 0,
            rejected: 0,
            rejections: [],
            seconds: 0,
            scansPerSecond: 0,
          };
          // The first 20 rejected lines; a batch's rejections may be known only after later lines'.
          const byLine = (a: { line: number }, b: { line: number }): number => a.line - b.line;
          const reject = (line: number, reason: string): void => {
            summary.rejected += 1;
            summary.rejections.push({ line, reason });
            if (summary.rejections.length >= 40) summary.rejections = summary.rejections.sort(byLine).slice(0, 20);
          };
          let bytes = 0;
          const pipeline = createScanPipeline<number>(
            { db, documentsTarget: config.mongoUrl === undefined ? 'postgres' : 'outbox' },
            {
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
                await announce(resources, outcomes, context);
                progress.update('scans', Math.min(bytes, size), size, summary.lines);
              },
            },
          );
          const lines = createInterface({ input: createReadStream(options.file as string), crlfDelay: Number.POSITIVE_INFINITY });
          try {
            for await (const line of lines) {
              bytes += Buffer.byteLength(line) + 1;
              if (line.trim() === '') continue;
              summary.lines += 1;
              const scan = scanFromLine(line);
              if (typeof scan === 'string') reject(summary.lines, scan);
              else {
                const busy = pipeline.add(scan, summary.lines);
                if (busy !== undefined) await busy;
              }
              // Ctrl-C: the scans in hand are recorded (never half a batch), then we stop.
              if (context.signal.aborted) break;
            }
            await pipeline.finish();
          } finally {
            await pipeline.stop();
            progress.stop();
          }
          summary.rejections = summary.rejections.sort(byLine).slice(0, 20);
          summary.seconds = (performance.now() - started) / 1000;
          summary.scansPerSecond = summary.lines / summary.seconds;
          context.output.result(summary, (style) =>
            [
              `${summary.lines.toLocaleString('en-US')} scans in ${summary.seconds.toFixed(1)} s (${Math.round(summary.scansPerSecond).toLocaleString('en-US')}/s): ` +
                `${style.ok(`${summary.accepted} accepted`)}, ${summary.duplicate} duplicate, ${summary.outOfOrder} out of order, ` +
                `${summary.afterFinal} after a final status, ${summary.rejected > 0 ? style.bad(`${summary.rejected} rejected`) : '0 rejected'}`,
              ...summary.rejections.map((r) => `  line ${r.line}: ${r.reason}`),
            ].join('\n'),
          );
          if (summary.rejected > 0) context.exitCode = ExitCode.conflict;
        });
        return;
      }

      if (numbers.length === 0) throw new UsageError('give the tracking number of the scanned package (or --file)');
      if (options.status === undefined) throw new UsageError('--status is required');
      if (options.location === undefined || options.location.trim() === '') throw new UsageError('--location is required');
      const [trackingNumber, ...extra] = parseNumbers(numbers);
      if (trackingNumber === undefined || extra.length > 0)
        throw new UsageError('scan takes one tracking number (use --file for many)');
      if (options.force !== undefined && options.force.trim() === '') throw new UsageError('--force needs a reason');
      const scan: ScanInput = {
        trackingNumber,
        status: options.status as ScanInput['status'],
        location: options.location.trim(),
        at: options.at === undefined ? new Date() : parseDate(options.at, '--at'),
        idempotencyKey: options.key,
        payload: options.payload === undefined ? undefined : readPayload(options.payload),
        source: options.source,
        forceReason: options.force,
      };
      await withResources(context, config, async (resources) => {
        const { recordScans } = await import('../../services/scan.service.js');
        const db = await resources.database();
        const [outcome] = await recordScans({ db, documentsTarget: config.mongoUrl === undefined ? 'postgres' : 'outbox' }, [
          scan,
        ]);
        if (outcome === undefined) return;
        if (outcome.outcome === 'rejected') {
          if (outcome.code === 'unknown_package' || outcome.code === 'unknown_location') throw new NotFoundError(outcome.reason);
          throw new ConflictError(outcome.code, outcome.reason);
        }
        await announce(resources, [outcome], context);
        context.output.result(outcome, (style) => {
          switch (outcome.outcome) {
            case 'accepted':
              return `${style.ok('recorded')} event ${outcome.eventId}: ${trackingNumber} ${outcome.previousStatus} → ${outcome.status}`;
            case 'out_of_order':
              return `${style.warn('recorded out of order')} as event ${outcome.eventId}: older than the latest scan, the status stays`;
            case 'after_terminal':
              return `${style.warn('recorded as history')} (event ${outcome.eventId}): the package already has a final status`;
            case 'duplicate':
              return `already recorded as event ${outcome.eventId}: nothing changed`;
          }
        });
      });
    });
}
