import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openMongoDocumentStore, type MongoDocumentStore } from '../../src/store/documents/mongo.js';
import type { DocumentStore } from '../../src/store/documents/document-store.js';
import { createPgDocumentStore } from '../../src/store/documents/postgres.js';
import { countOutbox, drainOutbox, outboxStatus } from '../../src/services/outbox.service.js';
import type { Database } from '../../src/store/database.js';
import type { TestDatabase } from '../support/databases.js';
import { testMongoUrl } from '../support/env.js';
import { openSeededDatabase } from '../support/seeded.js';

/**
 * Drains the outbox into `store` and expects every queued document there once; then replays a
 * few already delivered documents (a crash after delivery, before the delete) and expects no copy.
 */
async function expectExactlyOnceDrain(db: Database, store: DocumentStore, queued: number): Promise<void> {
  const sample = await db.knex.raw<{ rows: { document: Record<string, unknown> }[] }>(
    `select document from document_outbox order by outbox_id limit 3`,
  );
  const result = await drainOutbox(db.knex, store, { batchSize: 100 });
  expect(result).toEqual({ delivered: queued, remaining: 0, error: null });
  expect(await store.countRawScans()).toBe(queued);

  for (const row of sample.rows) {
    await db
      .knex('document_outbox')
      .insert({ collection: 'raw_scans', document_id: String(row.document.id), document: row.document });
  }
  const again = await drainOutbox(db.knex, store);
  expect(again.remaining).toBe(0);
  expect(await store.countRawScans()).toBe(queued);
  const event = await store.findRawScanByEventId(Number(sample.rows[0]?.document.eventId));
  expect(event?.id).toBe(sample.rows[0]?.document.id);
}

/** A seeded database whose raw scans (a tenth of the events) wait in the outbox; `queued` of them. */
async function openOutboxWorld(name: string, seed: number): Promise<{ testDb: TestDatabase; db: Database; queued: number }> {
  const { testDb, db, summary } = await openSeededDatabase(name, {
    sizes: { customers: 100, locations: 30, packages: 1000 },
    seed,
    documentsShare: 0.1,
    documentsTarget: 'outbox',
  });
  return { testDb, db, queued: summary.documents.count };
}

// The outbox is exercised against a real document store: the PostgreSQL one (MongoDB's run
// needs a server, see the contract suite).
describe.skipIf(!inject('postgresAvailable'))('the transactional outbox', () => {
  let testDb: TestDatabase;
  let db: Database;
  let queued = 0;

  beforeAll(async () => {
    ({ testDb, db, queued } = await openOutboxWorld('st_outbox', 5));
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('a seed bound for MongoDB queues its raw scans in the outbox, in the same transaction', async () => {
    expect(queued).toBeGreaterThan(100);
    expect(await countOutbox(db.knex)).toBe(queued);
    expect(await createPgDocumentStore(db.knex).countRawScans()).toBe(0);
  });

  it('a failed delivery keeps every document, counts the attempt and says why', async () => {
    await db.knex.raw('alter table doc_raw_scans rename to doc_raw_scans_away');
    try {
      const result = await drainOutbox(db.knex, createPgDocumentStore(db.knex), { batchSize: 50 });
      expect(result.delivered).toBe(0);
      expect(result.remaining).toBe(queued);
      expect(result.error).toMatch(/doc_raw_scans/);
      const status = await outboxStatus(db.knex);
      expect(status.waiting).toBe(queued);
      expect(status.lastError).toMatch(/doc_raw_scans/);
    } finally {
      await db.knex.raw('alter table doc_raw_scans_away rename to doc_raw_scans');
      await db.knex.raw('update document_outbox set next_attempt_at = now(), attempts = 0, last_error = null');
    }
  });

  it('drains everything to the store, exactly once even when a batch is delivered twice', async () => {
    await expectExactlyOnceDrain(db, createPgDocumentStore(db.knex), queued);
  });
});

// The same promise with MongoDB as the store: runs when SHIPTRACK_TEST_MONGO_URL names a server
// (listed as skipped otherwise, like the contract suite).
describe.skipIf(!inject('postgresAvailable') || testMongoUrl === undefined || !inject('mongoAvailable'))(
  'the transactional outbox delivering to MongoDB',
  () => {
    const url = testMongoUrl ?? '';
    const database = `shiptrack_test_outbox_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    let testDb: TestDatabase;
    let db: Database;
    let store: MongoDocumentStore;
    let queued = 0;

    beforeAll(async () => {
      ({ testDb, db, queued } = await openOutboxWorld('st_outbox_mongo', 6));
      const config = loadConfig({ env: { SHIPTRACK_MONGO_URL: url, SHIPTRACK_MONGO_DB: database }, envFile: null });
      store = await openMongoDocumentStore(config);
    });
    afterAll(async () => {
      try {
        const { MongoClient } = await import('mongodb');
        const admin = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
        try {
          await admin.db(database).dropDatabase();
        } finally {
          await admin.close();
        }
      } finally {
        await store?.close();
        await db?.close();
        await testDb?.drop();
      }
    });

    it('delivers every queued raw scan once, and a batch delivered twice still leaves one copy', async () => {
      expect(queued).toBeGreaterThan(100);
      await expectExactlyOnceDrain(db, store, queued);
    });
  },
);
