import type { DocumentStore, RawScanDocument } from '../../store/documents/document-store.js';
import type { Database } from '../../store/database.js';
import { sampleRows } from '../../store/sampling.js';
import { collectConsistencyChecks, proveConsistency, recordProof, type Proof } from '../check.service.js';
import { readOutboxStatus } from '../outbox.service.js';
import {
  readReport,
  reportResult,
  toIso,
  type Finding,
  type ReportOptions,
  type ReportReader,
  type ReportResult,
  type ReportRow,
} from './report.js';

/**
 * `report consistency`: what the write path promises, proven over the data (the `check`
 * queries), plus the state of the outbox and a sample of documents compared with the events
 * they claim to record. Meant for cron: not ok means exit non-zero.
 */

interface EventRow {
  event_id: number;
  tracking_number: string;
  status: string;
  event_timestamp: Date;
}

export interface DocumentMismatch {
  document: string;
  eventId: number | null;
  problem: string;
}

/** Compares raw scan documents with the events they name. Pure. */
export function compareDocuments(docs: readonly RawScanDocument[], events: ReadonlyMap<number, EventRow>): DocumentMismatch[] {
  const problems: DocumentMismatch[] = [];
  for (const doc of docs) {
    if (doc.eventId === null) continue;
    const event = events.get(doc.eventId);
    const mismatch = (problem: string): void => {
      problems.push({ document: doc.id, eventId: doc.eventId, problem });
    };
    if (event === undefined) {
      mismatch(`event ${doc.eventId} does not exist in PostgreSQL`);
      continue;
    }
    if (event.tracking_number !== doc.trackingNumber) {
      mismatch(`tracking number ${doc.trackingNumber}, but event ${doc.eventId} belongs to ${event.tracking_number}`);
    }
    if (event.event_timestamp.getTime() !== doc.scannedAt.getTime()) {
      mismatch(`scanned at ${doc.scannedAt.toISOString()}, but the event is at ${event.event_timestamp.toISOString()}`);
    }
    const status = doc.payload.status;
    if (typeof status === 'string' && status !== event.status) {
      mismatch(`status ${status}, but the event is ${event.status}`);
    }
  }
  return problems;
}

/**
 * `count` packages drawn at random for a spot check (see `sampleRows`). `ofAbout` is the
 * planner's estimate of the table's size.
 */
async function samplePackages(reader: ReportReader, count: number): Promise<{ ids: number[]; ofAbout: number | undefined }> {
  const { rows, estimatedRows } = await sampleRows<{ package_id: number }>(reader.rows, {
    table: 'packages',
    columns: 'package_id::float8 as package_id',
    count,
    noun: 'package',
  });
  return { ids: rows.map((r) => r.package_id), ofAbout: estimatedRows >= 1 ? Math.round(estimatedRows) : undefined };
}

/** What the PostgreSQL checks read, and why. */
function proofNote(proof: Proof | undefined, connections: number): string {
  if (proof === undefined) return '';
  const { kind, state } = proof;
  const count = (n: number): string => Math.round(n).toLocaleString('en-US');
  if (kind === 'changes') {
    return (
      `the PostgreSQL checks read the ${count(state.changed)} package(s) changed since the full proof of ` +
      `${toIso(state.provenAt) ?? '?'} (listed by triggers; the others are as that proof found them); --full proves every package`
    );
  }
  const why = {
    'full: asked': '--full',
    'full: first': 'no earlier proof to build on',
    'full: bulk load': 'a bulk load or TRUNCATE since the last full proof',
    'full: new checks': 'the checks changed since the last full proof (a new release)',
    'full: many changes': `${count(state.changed)} packages changed since the last full proof`,
  }[kind];
  return (
    `the PostgreSQL checks read every package and event (${why})` +
    `${connections > 1 ? ` on ${connections} connections sharing one snapshot` : ''}: expect seconds on large databases; ` +
    'a clean proof is recorded, and the next run reads only the packages changed since'
  );
}

export async function runConsistencyReport(
  db: Database,
  documents: DocumentStore,
  options: ReportOptions & {
    sample: number;
    /** Check only this many packages, drawn at random (with their whole histories): a spot check. */
    packages?: number | undefined;
    /** Connections to prove the packages on at once (a server only; default 1). */
    connections?: number | undefined;
    /** Prove every package, even when the changes since the last full proof would do. */
    full?: boolean | undefined;
  },
): Promise<ReportResult> {
  const docs = await documents.sampleRawScans(options.sample);
  const ids = docs.flatMap((d) => (d.eventId === null ? [] : [d.eventId]));
  const read = await readReport(
    db,
    options,
    async (reader) => {
      const spot = options.packages === undefined ? undefined : await samplePackages(reader, options.packages);
      const proof: Proof | undefined = spot === undefined ? await proveConsistency(reader, { full: options.full }) : undefined;
      const report = proof?.report ?? (await collectConsistencyChecks(reader, spot?.ids ?? 'all'));
      const checks: ReportRow[] = report.checks.map((c) => ({ ...c, samples: c.samples.join(' ') }));
      const outbox = await readOutboxStatus(reader.rows);
      const events = await reader.rows<EventRow>(
        'events of the sampled documents',
        `select e.event_id, p.tracking_number, e.status, e.event_timestamp
         from tracking_events e join packages p on p.package_id = e.package_id
        where e.event_id = any(?::bigint[])`,
        [ids],
      );
      return { checks, outbox, events, spot, proof, connections: 1 + reader.siblings.length };
    },
    // Like `check`, it reads every event by design: no statement timeout.
    { connections: options.connections, statementTimeoutMs: 0 },
  );
  const { checks, outbox, events, spot, proof, connections } = read.value;
  // Not under --explain: its plans come from a proof that is not to be trusted as one.
  const unrecorded = proof === undefined || options.explain === true ? null : await recordProof(db, proof);
  const mismatches = compareDocuments(docs, new Map(events.map((e) => [e.event_id, e])));
  const findings: Finding[] = [];
  for (const c of checks) {
    if (c.violations !== 0) {
      findings.push({
        level: 'problem',
        code: String(c.check),
        message: `${Number(c.violations).toLocaleString('en-US')} violate "${String(c.description)}", e.g. ${String(c.samples)}`,
      });
    }
  }
  const waiting = outbox.waiting;
  const ageHours = outbox.oldest === null ? 0 : (options.now.getTime() - outbox.oldest.getTime()) / 3_600_000;
  if (waiting > 0) {
    findings.push({
      level: ageHours > 1 || outbox.failing > 0 ? 'problem' : 'info',
      code: 'outbox_backlog',
      message:
        `${waiting.toLocaleString('en-US')} document(s) wait in the outbox, the oldest since ${toIso(outbox.oldest)}` +
        `${outbox.lastError === null ? '' : ` (last error: ${outbox.lastError})`}; deliver with \`shiptrack outbox drain\``,
    });
  }
  for (const m of mismatches.slice(0, 20)) {
    findings.push({ level: 'problem', code: 'document_mismatch', message: `raw scan ${m.document}: ${m.problem}` });
  }
  if (mismatches.length > 20) {
    findings.push({ level: 'problem', code: 'document_mismatch', message: `… and ${mismatches.length - 20} more mismatches` });
  }
  if (findings.length === 0) findings.push({ level: 'ok', code: 'consistent', message: 'no inconsistency found' });
  return reportResult(
    {
      report: 'consistency',
      title: 'Consistency across PostgreSQL and the document store',
      parameters: {
        sample: options.sample,
        ...(options.packages === undefined ? {} : { packages: options.packages }),
        ...(proof === undefined ? {} : { proof: proof.kind === 'changes' ? 'changes' : 'full' }),
      },
      tables: [
        {
          name: 'checks',
          title: 'PostgreSQL',
          columns: [
            { key: 'check', header: 'check', kind: 'text' },
            { key: 'description', header: 'rule', kind: 'text' },
            { key: 'violations', header: 'violations', kind: 'integer' },
            { key: 'samples', header: 'e.g.', kind: 'text' },
          ],
          rows: checks,
        },
        {
          name: 'documents',
          title: `Documents (${documents.kind})`,
          columns: [
            { key: 'item', header: 'what', kind: 'text' },
            { key: 'value', header: 'value', kind: 'text' },
          ],
          rows: [
            { item: 'outbox: waiting', value: waiting.toLocaleString('en-US') },
            { item: 'outbox: oldest waiting since', value: toIso(outbox.oldest) ?? '—' },
            { item: 'sampled raw scans', value: docs.length.toLocaleString('en-US') },
            { item: 'of them linked to an event', value: ids.length.toLocaleString('en-US') },
            { item: 'mismatching their event', value: mismatches.length.toLocaleString('en-US') },
          ],
        },
      ],
      findings,
      notes: [
        spot !== undefined
          ? `spot check: the PostgreSQL checks read ${spot.ids.length.toLocaleString('en-US')} packages drawn at random${spot.ofAbout === undefined ? '' : ` (of about ${spot.ofAbout.toLocaleString('en-US')})`} with their whole histories; without --packages every package is proven`
          : proofNote(proof, connections),
        ...(unrecorded === null ? [] : [`the proof was not recorded (${unrecorded}): the next run proves the same again`]),
      ],
    },
    options,
    read,
  );
}
