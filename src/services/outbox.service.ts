import type { Knex } from 'knex';
import type { DocumentStore, RawScanDocument } from '../store/documents/document-store.js';
import { mapPostgresError } from '../errors.js';
import type { Resources } from '../store/resources.js';
import type { NamedQuery } from './reports/report.js';

/**
 * The transactional outbox: documents bound for MongoDB are written to `document_outbox` in the
 * transaction that produced them and delivered after it commits. Delivery is idempotent (the
 * store skips ids it has), so a crash between delivery and delete only repeats a no-op.
 */

export interface DrainResult {
  delivered: number;
  remaining: number;
  error: string | null;
}

interface OutboxRow {
  outbox_id: number;
  collection: string;
  document: {
    id: string;
    trackingNumber: string;
    eventId: number | null;
    scannedAt: string;
    source: string;
    payload: Record<string, unknown>;
  };
}

export async function countOutbox(knex: Knex): Promise<number> {
  const result = await knex.raw<{ rows: { n: number }[] }>(`select count(*)::bigint as n from document_outbox`);
  return result.rows[0]?.n ?? 0;
}

export interface OutboxStatus {
  waiting: number;
  /** Of those, how many have failed at least one delivery. */
  failing: number;
  oldest: Date | null;
  lastError: string | null;
}

/** How many documents wait, since when, and the last delivery error, read through `query`. */
export async function readOutboxStatus(query: NamedQuery): Promise<OutboxStatus> {
  const [row] = await query<{ waiting: number; failing: number; oldest: Date | null; last_error: string | null }>(
    'outbox',
    `select count(*)::bigint as waiting, count(*) filter (where attempts > 0)::bigint as failing, min(created_at) as oldest,
            (select last_error from document_outbox where last_error is not null order by outbox_id desc limit 1) as last_error
       from document_outbox`,
  );
  return {
    waiting: row?.waiting ?? 0,
    failing: row?.failing ?? 0,
    oldest: row?.oldest ?? null,
    lastError: row?.last_error ?? null,
  };
}

export async function outboxStatus(knex: Knex): Promise<Omit<OutboxStatus, 'failing'>> {
  try {
    const { waiting, oldest, lastError } = await readOutboxStatus(async <Row>(_name: string, sql: string) => {
      const result = await knex.raw<{ rows: Row[] }>(sql);
      return result.rows;
    });
    return { waiting, oldest, lastError };
  } catch (error) {
    throw mapPostgresError(error);
  }
}

/** Delivers pending raw scans to the document store, in batches, until none is due or one fails. */
export async function drainOutbox(
  knex: Knex,
  store: DocumentStore,
  options: { batchSize?: number; signal?: AbortSignal; onProgress?: (delivered: number) => void } = {},
): Promise<DrainResult> {
  const batchSize = options.batchSize ?? 5000;
  let delivered = 0;
  let error: string | null = null;
  try {
    for (;;) {
      if (options.signal?.aborted) break;
      const done = await knex.transaction(async (trx) => {
        const batch = await trx.raw<{ rows: OutboxRow[] }>(
          `select outbox_id, collection, document from document_outbox
            where collection = 'raw_scans' and next_attempt_at <= now()
            order by outbox_id limit ? for update skip locked`,
          [batchSize],
        );
        if (batch.rows.length === 0) return true;
        const docs: RawScanDocument[] = batch.rows.map((row) => ({
          ...row.document,
          scannedAt: new Date(row.document.scannedAt),
        }));
        const ids = batch.rows.map((row) => row.outbox_id);
        try {
          await store.insertRawScans(docs);
        } catch (failure) {
          error = failure instanceof Error ? failure.message : 'delivery failed';
          await trx.raw(
            `update document_outbox set attempts = attempts + 1, last_error = ?,
                    next_attempt_at = now() + least(interval '1 minute' * power(2, attempts), interval '1 hour')
              where outbox_id = any (?::bigint[])`,
            [error, ids],
          );
          return true;
        }
        await trx.raw(`delete from document_outbox where outbox_id = any (?::bigint[])`, [ids]);
        delivered += docs.length;
        options.onProgress?.(delivered);
        return false;
      });
      if (done) break;
    }
    return { delivered, remaining: await countOutbox(knex), error };
  } catch (failure) {
    throw mapPostgresError(failure);
  }
}

/**
 * Counts a failed delivery against every due document, with the reason, and backs off: what
 * `outbox status` shows, and when the next attempt is due.
 */
export async function recordDeliveryFailure(knex: Knex, reason: string): Promise<void> {
  try {
    await knex.raw(
      `update document_outbox set attempts = attempts + 1, last_error = ?,
              next_attempt_at = now() + least(interval '1 minute' * power(2, attempts), interval '1 hour')
        where next_attempt_at <= now()`,
      [reason],
    );
  } catch (error) {
    throw mapPostgresError(error);
  }
}

/**
 * Delivers every due document now, to the configured document store (`outbox drain`, and after
 * a scan or a seed). A store that cannot be reached is a failed attempt like any other: counted
 * and explained on the waiting documents, and returned as the error. `prepare` runs on the store
 * first (a seed sets up the collections and clears them after a truncate).
 */
export async function drainDocuments(
  resources: Resources,
  options: { signal?: AbortSignal | undefined; prepare?: (store: DocumentStore) => Promise<void> } = {},
): Promise<DrainResult> {
  const db = await resources.database();
  let store: DocumentStore;
  try {
    store = await resources.documents();
    await options.prepare?.(store);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await recordDeliveryFailure(db.knex, reason);
    return { delivered: 0, remaining: await countOutbox(db.knex), error: reason };
  }
  return drainOutbox(db.knex, store, { signal: options.signal });
}

/** `outbox status`: how many documents wait, since when, and the last delivery error. */
export async function readOutbox(resources: Resources): Promise<Omit<OutboxStatus, 'failing'>> {
  return outboxStatus((await resources.database()).knex);
}
