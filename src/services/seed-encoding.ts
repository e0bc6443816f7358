import { generateCustomer, generateLocation, generatePackage, generateRawScanPayload } from '../domain/seed/generator.js';
import type { CustomerRow, EventRow, LocationRow, PackageRow, SeedParams, ShipmentRow } from '../domain/seed/types.js';
import { copyText } from '../store/copy.js';
import type { DocumentsTarget } from '../store/documents/document-store.js';

/**
 * Generated rows as COPY text. Pure and synchronous: it runs in the seed worker thread, so that
 * generation on one core overlaps PostgreSQL's ingestion on the other.
 */

export const columns = {
  customers: ['customer_id', 'name', 'email', 'address'],
  locations: ['location_id', 'location_name', 'city', 'state', 'location_type', 'time_zone'],
  packages: ['package_id', 'tracking_number', 'sender_id', 'recipient_id', 'current_status', 'weight', 'metadata', 'created_at'],
  shipments: [
    'shipment_id',
    'package_id',
    'origin_location_id',
    'destination_location_id',
    'estimated_delivery',
    'actual_delivery',
  ],
  tracking_events: ['event_id', 'package_id', 'location_id', 'status', 'event_timestamp'],
  doc_raw_scans: ['id', 'tracking_number', 'event_id', 'scanned_at', 'source', 'payload'],
  document_outbox: ['collection', 'document_id', 'document'],
} as const;

const dayPrefixes = new Map<number, string>();

function dayPrefix(day: number): string {
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    prefix = `${new Date(day * 86_400_000).toISOString().slice(0, 10)} `;
    if (dayPrefixes.size > 100_000) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  return prefix;
}

const tab = 9;
const newline = 10;
const utf8 = new TextEncoder();

/**
 * Builds COPY text straight into bytes. Building a string per line made the garbage collector
 * most of the encoding time (1.9 s of 2.6 s for 100,000 packages); the hot rows (events,
 * shipments) are written here as ASCII digits and cached fragments instead.
 */
export class CopyWriter {
  private buffer: Uint8Array;
  private length = 0;

  constructor(initialBytes = 1 << 20) {
    this.buffer = new Uint8Array(initialBytes);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  /** A non-negative integer in decimal. */
  int(value: number): this {
    this.reserve(16);
    if (value === 0) {
      this.buffer[this.length++] = 48;
      return this;
    }
    let digits = 0;
    for (let v = value; v > 0; v = Math.floor(v / 10)) digits += 1;
    let position = this.length + digits - 1;
    for (let v = value; v > 0; v = Math.floor(v / 10)) this.buffer[position--] = 48 + (v % 10);
    this.length += digits;
    return this;
  }

  /** Text known to need no COPY escaping (codes, ids, numbers as text); ASCII fast path. */
  raw(text: string): this {
    this.reserve(text.length * 3);
    for (let i = 0; i < text.length; i += 1) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.length += utf8.encodeInto(text.slice(i), this.buffer.subarray(this.length)).written;
        return this;
      }
      this.buffer[this.length++] = code;
    }
    return this;
  }

  /** Any text, escaped for COPY. */
  text(value: string | null): this {
    return this.raw(copyText(value));
  }

  timestamp(date: Date): this {
    const ms = date.getTime();
    const day = Math.floor(ms / 86_400_000);
    let rest = ms - day * 86_400_000;
    const milliseconds = rest % 1000;
    rest = (rest - milliseconds) / 1000;
    const seconds = rest % 60;
    rest = (rest - seconds) / 60;
    const minutes = rest % 60;
    const hours = (rest - minutes) / 60;
    this.raw(dayPrefix(day));
    this.reserve(16);
    const b = this.buffer;
    let n = this.length;
    b[n++] = 48 + Math.floor(hours / 10);
    b[n++] = 48 + (hours % 10);
    b[n++] = 58;
    b[n++] = 48 + Math.floor(minutes / 10);
    b[n++] = 48 + (minutes % 10);
    b[n++] = 58;
    b[n++] = 48 + Math.floor(seconds / 10);
    b[n++] = 48 + (seconds % 10);
    b[n++] = 46;
    b[n++] = 48 + Math.floor(milliseconds / 100);
    b[n++] = 48 + (Math.floor(milliseconds / 10) % 10);
    b[n++] = 48 + (milliseconds % 10);
    b[n++] = 43;
    b[n++] = 48;
    b[n++] = 48;
    this.length = n;
    return this;
  }

  tab(): this {
    this.reserve(1);
    this.buffer[this.length++] = tab;
    return this;
  }

  end(): this {
    this.reserve(1);
    this.buffer[this.length++] = newline;
    return this;
  }

  get size(): number {
    return this.length;
  }

  /** The bytes written, in a buffer of their own (transferable to another thread). */
  take(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

export function customerLine(r: CustomerRow): string {
  return `${r.customer_id}\t${copyText(r.name)}\t${copyText(r.email)}\t${copyText(r.address)}\n`;
}

export function locationLine(r: LocationRow): string {
  return `${r.location_id}\t${copyText(r.location_name)}\t${copyText(r.city)}\t${r.state}\t${r.location_type}\t${r.time_zone}\n`;
}

function writePackage(w: CopyWriter, r: PackageRow): void {
  w.int(r.package_id).tab().raw(r.tracking_number).tab().int(r.sender_id).tab().int(r.recipient_id).tab();
  w.raw(r.current_status).tab().raw(r.weight).tab().text(JSON.stringify(r.metadata)).tab().timestamp(r.created_at).end();
}

function writeShipment(w: CopyWriter, r: ShipmentRow): void {
  w.int(r.shipment_id).tab().int(r.package_id).tab().int(r.origin_location_id).tab().int(r.destination_location_id).tab();
  w.timestamp(r.estimated_delivery).tab();
  if (r.actual_delivery === null) w.raw('\\N');
  else w.timestamp(r.actual_delivery);
  w.end();
}

function writeEvent(w: CopyWriter, r: EventRow): void {
  w.int(r.event_id).tab().int(r.package_id).tab().int(r.location_id).tab().raw(r.status).tab().timestamp(r.event_timestamp).end();
}

function writeDocument(w: CopyWriter, target: DocumentsTarget, params: SeedParams, event: EventRow, pkg: PackageRow): void {
  const payload = generateRawScanPayload(params, event, pkg);
  const id = `seed-${event.event_id}`;
  const source = typeof payload.source === 'string' ? payload.source : 'scanner';
  if (target === 'postgres') {
    w.raw(id).tab().raw(pkg.tracking_number).tab().int(event.event_id).tab().timestamp(event.event_timestamp).tab();
    w.text(source).tab().text(JSON.stringify(payload)).end();
    return;
  }
  // The outbox keeps the document as the MongoDB store will receive it (RawScanDocument).
  const scannedAt = event.event_timestamp.toISOString();
  const document = { id, trackingNumber: pkg.tracking_number, eventId: event.event_id, scannedAt, source, payload };
  w.raw('raw_scans').tab().raw(id).tab().text(JSON.stringify(document)).end();
}

/** Whether event `eventId` gets a raw scan document: a hash, so the choice is deterministic. */
function sampled(eventId: number, share: number, seed: number): boolean {
  if (share <= 0) return false;
  if (share >= 1) return true;
  let h = Math.imul(eventId ^ seed, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return ((h ^ (h >>> 13)) >>> 0) / 0x1_0000_0000 < share;
}

export interface PackageChunk {
  packages: Uint8Array;
  shipments: Uint8Array;
  events: Uint8Array;
  documents: Uint8Array;
  packageCount: number;
  eventCount: number;
  documentCount: number;
}

export interface ChunkOptions {
  documentsShare: number;
  documentsTarget: DocumentsTarget;
}

/** Packages [start, start + count) with their shipments, events and sampled raw scans, as COPY text. */
export function encodePackageChunk(params: SeedParams, start: number, count: number, options: ChunkOptions): PackageChunk {
  const packages = new CopyWriter(count * 200);
  const shipments = new CopyWriter(count * 100);
  const events = new CopyWriter(count * 8 * 60);
  const documents = new CopyWriter(1 << 12);
  let eventCount = 0;
  let documentCount = 0;
  for (let i = start; i < start + count; i += 1) {
    const generated = generatePackage(params, i);
    writePackage(packages, generated.pkg);
    writeShipment(shipments, generated.shipment);
    for (const event of generated.events) {
      writeEvent(events, event);
      if (sampled(event.event_id, options.documentsShare, params.seed)) {
        writeDocument(documents, options.documentsTarget, params, event, generated.pkg);
        documentCount += 1;
      }
    }
    eventCount += generated.events.length;
  }
  return {
    packages: packages.take(),
    shipments: shipments.take(),
    events: events.take(),
    documents: documents.take(),
    packageCount: count,
    eventCount,
    documentCount,
  };
}

export function customerText(params: SeedParams, start: number, end: number): string {
  const parts: string[] = [];
  for (let i = start; i < end; i += 1) parts.push(customerLine(generateCustomer(params, i)));
  return parts.join('');
}

export function locationText(params: SeedParams, start: number, end: number): string {
  const parts: string[] = [];
  for (let i = start; i < end; i += 1) parts.push(locationLine(generateLocation(params, i)));
  return parts.join('');
}
