import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openMongoDocumentStore } from '../../src/store/documents/mongo.js';
import { createPgDocumentStore } from '../../src/store/documents/postgres.js';
import { ShiptrackError } from '../../src/errors.js';
import { defaultMigratorOptions, migrateLatest } from '../../src/services/migrations.service.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { testMongoUrl } from '../support/env.js';
import { describeDocumentStoreContract, type DocumentStoreFixture } from './document-store.contract.js';

// The migrations run from dist/migrations: build them first (`npm run build`).
const migratorOptions = defaultMigratorOptions();

async function migratedStore(db: Database, dispose: () => Promise<void>): Promise<DocumentStoreFixture> {
  try {
    await migrateLatest(db, migratorOptions);
  } catch (error) {
    await dispose();
    throw error;
  }
  return { store: createPgDocumentStore(db.knex), cleanup: dispose };
}

const postgresAvailable = inject('postgresAvailable');
const mongoAvailable = inject('mongoAvailable');

describe.skipIf(!postgresAvailable)('PostgreSQL server', () => {
  describeDocumentStoreContract('JSONB document store', async () => {
    const testDb = await createTestDatabase('st_docs');
    const db = await openDatabase(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }));
    return migratedStore(db, async () => {
      await db.close();
      await testDb.drop();
    });
  });

  describe('without the documents migration', () => {
    let testDb: TestDatabase;
    let db: Database;

    beforeAll(async () => {
      testDb = await createTestDatabase('st_docs');
      db = await openDatabase(loadConfig({ env: { SHIPTRACK_DATABASE_URL: testDb.url }, envFile: null }));
    });

    afterAll(async () => {
      await db?.close();
      await testDb?.drop();
    });

    it('ensureSchema says the tables are missing and how to create them', async () => {
      const error: unknown = await createPgDocumentStore(db.knex)
        .ensureSchema()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(ShiptrackError);
      expect((error as ShiptrackError).code).toBe('schema_missing');
      expect((error as ShiptrackError).hint).toContain('migrate latest');
    });
  });
});

describe('embedded PostgreSQL (PGlite)', () => {
  describeDocumentStoreContract('JSONB document store', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'shiptrack-docs-'));
    const db = await openDatabase(loadConfig({ env: { SHIPTRACK_HOME: home }, envFile: null }));
    return migratedStore(db, async () => {
      try {
        await db.close();
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    });
  });
});

describe.skipIf(testMongoUrl === undefined || !mongoAvailable)('MongoDB', () => {
  describeDocumentStoreContract('MongoDB document store', async () => {
    const url = testMongoUrl ?? '';
    const database = `shiptrack_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const config = loadConfig({ env: { SHIPTRACK_MONGO_URL: url, SHIPTRACK_MONGO_DB: database }, envFile: null });
    const store = await openMongoDocumentStore(config);
    return {
      store,
      cleanup: async () => {
        try {
          const { MongoClient } = await import('mongodb');
          const admin = new MongoClient(url, { serverSelectionTimeoutMS: config.connectTimeoutMs });
          try {
            await admin.db(database).dropDatabase();
          } finally {
            await admin.close();
          }
        } finally {
          await store.close();
        }
      },
    };
  });
});
