import type { DocumentStore, RawScanDocument } from '../../store/documents/document-store.js';
import type { Database } from '../../store/database.js';
import { sampleRows } from '../../store/sampling.js';
import { collectConsistencyChecks, proveConsistency, recordProof, type CheckResult, type Proof } from '../check.service.js';
import { readOutboxStatus, type OutboxStatus } from '../outbox.service.js';
import {
  note,
  readReport,
  reportResult,
  toIso,
  type Finding,
  type Note,
  type ReportOptions,
  type ReportReader,
  type ReportResult,
  type ReportRow,
  type ReportTable,
} from './report.js';
import { formatNumber } from '../../domain/units.js';

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
  eventId: number;
  /** What disagrees: `event` when the event does not exist, else the field that differs. */
  field: 'event' | 'tracking_number' | 'scanned_at' | 'status';
  /** The document's value and the event's (times as ISO), or null when there is no event. */
  documentValue: string | null;
  eventValue: string | null;
}

/** Compares raw scan documents with the events they name. Pure. */
export function compareDocuments(docs: readonly RawScanDocument[], events: ReadonlyMap<number, EventRow>): DocumentMismatch[] {
  const problems: DocumentMismatch[] = [];
  for (const doc of docs) {
    const eventId = doc.eventId;
    if (eventId === null) continue;
    const event = events.get(eventId);
    const mismatch = (field: DocumentMismatch['field'], documentValue: string | null, eventValue: string | null): void => {
      problems.push({ document: doc.id, eventId, field, documentValue, eventValue });
    };
    if (event === undefined) {
      mismatch('event', null, null);
      continue;
    }
    if (event.tracking_number !== doc.trackingNumber) mismatch('tracking_number', doc.trackingNumber, event.tracking_number);
    if (event.event_timestamp.getTime() !== doc.scannedAt.getTime()) {
      mismatch('scanned_at', doc.scannedAt.toISOString(), event.event_timestamp.toISOString());
    }
    const status = doc.payload.status;
    if (typeof status === 'string' && status !== event.status) mismatch('status', status, event.status);
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

/** What the PostgreSQL checks read (a random sample, the changed packages, or all), and why. */
function proofNotes(
  spot: { ids: number[]; ofAbout: number | undefined } | undefined,
  proof: Proof | undefined,
  connections: number,
): Note[] {
  if (spot !== undefined) return [note('spot_check', { packages: spot.ids.length, of_about: spot.ofAbout ?? null })];
  if (proof === undefined) return [];
  const { kind, state } = proof;
  if (kind === 'changes') return [note('proof_changes', { changed: state.changed, proven_at: toIso(state.provenAt) })];
  // 'full: bulk load' → 'bulk_load'
  const reason = kind.slice('full: '.length).replace(/ /g, '_');
  return [note('proof_full', { reason, changed: state.changed, connections })];
}

const shownMismatches = 20;

function consistencyFindings(
  checks: readonly CheckResult[],
  outbox: OutboxStatus,
  mismatches: readonly DocumentMismatch[],
  now: Date,
): Finding[] {
  const findings: Finding[] = checks
    .filter((c) => c.violations !== 0)
    .map((c): Finding => ({
      level: 'problem',
      code: c.check,
      subject: c.check,
      figures: { violations: c.violations, description: c.description, samples: c.samples.join(' ') },
    }));
  if (outbox.waiting > 0) {
    const ageHours = outbox.oldest === null ? 0 : (now.getTime() - outbox.oldest.getTime()) / 3_600_000;
    findings.push({
      level: ageHours > 1 || outbox.failing > 0 ? 'problem' : 'info',
      code: 'outbox_backlog',
      subject: 'document_outbox',
      figures: {
        waiting: outbox.waiting,
        failing: outbox.failing,
        oldest: toIso(outbox.oldest),
        age_hours: ageHours,
        last_error: outbox.lastError,
      },
    });
  }
  for (const m of mismatches.slice(0, shownMismatches)) {
    findings.push({
      level: 'problem',
      code: 'document_mismatch',
      subject: m.document,
      figures: { event_id: m.eventId, field: m.field, document_value: m.documentValue, event_value: m.eventValue },
    });
  }
  if (mismatches.length > shownMismatches) {
    findings.push({
      level: 'problem',
      code: 'document_mismatch',
      subject: null,
      figures: { more: mismatches.length - shownMismatches },
    });
  }
  if (findings.length === 0) findings.push({ level: 'ok', code: 'consistent', subject: null, figures: {} });
  return findings;
}

function checksTable(checks: readonly CheckResult[]): ReportTable {
  return {
    name: 'checks',
    title: 'PostgreSQL',
    columns: [
      { key: 'check', header: 'check', kind: 'text' },
      { key: 'description', header: 'rule', kind: 'text', priority: 2 },
      { key: 'violations', header: 'violations', kind: 'integer' },
      { key: 'samples', header: 'e.g.', kind: 'text', priority: 3 },
    ],
    rows: checks.map((c): ReportRow => ({ ...c, samples: c.samples.join(' ') })),
  };
}

function documentsTable(
  kind: DocumentStore['kind'],
  outbox: OutboxStatus,
  documents: { sampled: number; linked: number; mismatching: number },
): ReportTable {
  const count = formatNumber;
  return {
    name: 'documents',
    title: `Documents (${kind})`,
    columns: [
      { key: 'item', header: 'what', kind: 'text' },
      { key: 'value', header: 'value', kind: 'text' },
    ],
    rows: [
      { item: 'outbox: waiting', value: count(outbox.waiting) },
      { item: 'outbox: oldest waiting since', value: toIso(outbox.oldest) ?? '—' },
      { item: 'sampled raw scans', value: count(documents.sampled) },
      { item: 'of them linked to an event', value: count(documents.linked) },
      { item: 'mismatching their event', value: count(documents.mismatching) },
    ],
  };
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
      const outbox = await readOutboxStatus(reader.rows);
      const events = await reader.rows<EventRow>(
        'events of the sampled documents',
        `select e.event_id, p.tracking_number, e.status, e.event_timestamp
         from tracking_events e join packages p on p.package_id = e.package_id
        where e.event_id = any(?::bigint[])`,
        [ids],
      );
      return { checks: report.checks, outbox, events, spot, proof, connections: 1 + reader.siblings.length };
    },
    // Like `check`, it reads every event by design: no statement timeout.
    { connections: options.connections, statementTimeoutMs: 0 },
  );
  const { checks, outbox, events, spot, proof, connections } = read.value;
  // Not under --explain: its plans come from a proof that is not to be trusted as one.
  const unrecorded = proof === undefined || options.explain === true ? null : await recordProof(db, proof);
  const mismatches = compareDocuments(docs, new Map(events.map((e) => [e.event_id, e])));
  const findings = consistencyFindings(checks, outbox, mismatches, options.now);
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
        checksTable(checks),
        documentsTable(documents.kind, outbox, { sampled: docs.length, linked: ids.length, mismatching: mismatches.length }),
      ],
      findings,
      notes: [
        ...proofNotes(spot, proof, connections),
        ...(unrecorded === null ? [] : [note('proof_not_recorded', { reason: unrecorded })]),
      ],
    },
    options,
    read,
  );
}
