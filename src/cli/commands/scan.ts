import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { scanLimits } from '../../domain/scan-input.js';
import { packageStatuses } from '../../domain/status.js';
import { ExitCode, UsageError } from '../../errors.js';
import { countOption } from '../../options.js';
import type { FieldLabels } from '../../services/scan.service.js';
import { printWarnings, withShiptrack, type CommandContext } from '../program.js';
import { formatNumber } from '../../domain/units.js';

interface ScanOptions {
  status?: string;
  location?: string;
  at?: string;
  payload?: string;
  key?: string;
  source?: string;
  force?: string;
  file?: string;
  batch?: string;
  parallel?: string;
}

/** The flag behind each field of a scan, for messages about a scan given on the command line. */
const flagOf: FieldLabels = {
  trackingNumber: 'number',
  status: '--status',
  location: '--location',
  at: '--at',
  idempotencyKey: '--key',
  payload: '--payload',
  source: '--source',
  forceReason: '--force',
};

function readPayload(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--payload: cannot read ${file} as JSON (${(error as Error).message})`);
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
    .option(
      '--batch <n>',
      `bulk: scans per transaction (1–${formatNumber(scanLimits.batchScans)}; ` +
        `default ${formatNumber(scanLimits.defaultBatchScans)})`,
    )
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
  $ shiptrack scan RB123456785US --status out_for_delivery \\
      --location "Denver Delivery Station 12"
  $ shiptrack scan --file scans.ndjson`,
    )
    .action(async (numbers: string[], options: ScanOptions) => {
      if (options.file !== undefined) {
        if (numbers.length > 0 || options.status !== undefined)
          throw new UsageError('--file takes the scans from the file; give no number or --status');
        await scanFile(context, options.file, options);
        return;
      }
      if (numbers.length === 0) throw new UsageError('give the tracking number of the scanned package (or --file)');
      if (options.status === undefined) throw new UsageError('--status is required');
      if (options.location === undefined || options.location.trim() === '') throw new UsageError('--location is required');
      if (options.force !== undefined && options.force.trim() === '') throw new UsageError('--force needs a reason');
      const { parseTrackingNumbers } = await import('../../domain/tracking-number.js');
      const [trackingNumber, ...extra] = parseTrackingNumbers(numbers);
      if (trackingNumber === undefined || extra.length > 0) {
        throw new UsageError('scan takes one tracking number (use --file for many)');
      }
      const scan = {
        trackingNumber,
        status: options.status,
        location: options.location,
        at: options.at,
        idempotencyKey: options.key,
        payload: options.payload === undefined ? undefined : (readPayload(options.payload) as Record<string, unknown>),
        source: options.source,
        forceReason: options.force,
      };
      await withShiptrack(context, async (shiptrack) => {
        const { outcome, warnings } = await shiptrack.recordScan(scan, { labels: flagOf });
        await printWarnings(context, warnings);
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

/** `scan --file`: the file's lines through the library's stream of scans, with progress by line. */
async function scanFile(context: CommandContext, file: string, options: ScanOptions): Promise<void> {
  const batchSize = options.batch === undefined ? undefined : countOption(options.batch, '--batch', 1, scanLimits.batchScans);
  const parallel =
    options.parallel === undefined ? undefined : countOption(options.parallel, '--parallel', 1, scanLimits.parallelBatches);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new UsageError(`--file: cannot read ${file}`);
  }
  await withShiptrack(context, async (shiptrack) => {
    const { createProgress } = await import('../progress.js');
    const progress = await createProgress(context.output);
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
    let summary;
    try {
      summary = await shiptrack.recordScanLines(lines, {
        batchSize,
        parallel,
        // Ctrl-C: the scans in hand are recorded (never half a batch), then it stops.
        signal: context.signal,
        // The bar measures the file read; the count is scans.
        onProgress: ({ lines: done, bytes }) => progress.update('scans', Math.min(bytes, size), size, done, 'scans'),
      });
    } finally {
      lines.close();
      progress.stop();
    }
    await printWarnings(context, summary.warnings);
    const s = summary;
    context.output.result(s, (style) =>
      [
        `${formatNumber(s.lines)} scans in ${s.seconds.toFixed(1)} s (${formatNumber(Math.round(s.scansPerSecond))}/s): ` +
          `${style.ok(`${s.accepted} accepted`)}, ${s.duplicate} duplicate, ${s.outOfOrder} out of order, ` +
          `${s.afterFinal} after a final status, ${s.rejected > 0 ? style.bad(`${s.rejected} rejected`) : '0 rejected'}`,
        ...s.rejections.map((r) => `  line ${r.line}: ${r.reason}`),
      ].join('\n'),
    );
    if (s.rejected > 0) context.exitCode = ExitCode.conflict;
  });
}
