import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownReplicationUnavailable, startOwnReplication, type OwnReplication } from '../support/own-replication.js';

/**
 * The replication fixture itself: a primary of the test's own and two streaming standbys, with
 * replay paused, resumed and waited for, and a standby promoted. Never the shared server.
 */

async function query<Row extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 10_000 });
  await client.connect();
  try {
    return (await client.query<Row>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const ids = async (url: string): Promise<number[]> =>
  (await query<{ id: number }>(url, 'select id from replicated order by id')).map((row) => row.id);

const unavailable = ownReplicationUnavailable();
// A skipped file's suite title is not printed by the default reporter: say it, as global-setup does for servers.
if (unavailable !== undefined) process.stderr.write(`\n  ⚠ own primary and standbys: tests SKIPPED (${unavailable})\n`);

describe.skipIf(unavailable !== undefined)(
  `a primary and streaming standbys of the test's own${unavailable === undefined ? '' : ` — SKIPPED: ${unavailable}`}`,
  () => {
    let replication: OwnReplication | undefined;
    let primary: string;
    let standby: string;
    let second: string;

    beforeAll(async () => {
      replication = await startOwnReplication({ standbys: 2 });
      primary = replication.primary.url();
      standby = replication.standbys[0]!.url();
      second = replication.standbys[1]!.url();
    }, 60_000);
    afterAll(async () => {
      await replication?.stop();
    });

    it('runs the standbys in recovery, streaming from the primary on loopback ports of their own', async () => {
      const r = replication!;
      expect(new Set([r.primary.port, ...r.standbys.map((s) => s.port)]).size).toBe(3);
      expect(r.primary.port).not.toBe(5432);
      expect((await query<{ recovery: boolean }>(primary, 'select pg_is_in_recovery() as recovery'))[0]!.recovery).toBe(false);
      for (const url of [standby, second]) {
        expect((await query<{ recovery: boolean }>(url, 'select pg_is_in_recovery() as recovery'))[0]!.recovery).toBe(true);
        expect((await query<{ s: string }>(url, `select status as s from pg_stat_wal_receiver`))[0]?.s).toBe('streaming');
      }
      const senders = await query<{ slot: string; state: string }>(
        primary,
        `select s.slot_name as slot, r.state from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid order by 1`,
      );
      expect(senders).toEqual([
        { slot: 'standby_0', state: 'streaming' },
        { slot: 'standby_1', state: 'streaming' },
      ]);
    });

    it('a table and a row written on the primary appear on the standbys once replayed', async () => {
      await query(primary, 'create table replicated (id int primary key, note text)');
      await query(primary, `insert into replicated values (1, 'first')`);
      await replication!.waitForReplay(0);
      await replication!.waitForReplay(1);
      expect(await query(standby, 'select id, note from replicated')).toEqual([{ id: 1, note: 'first' }]);
      expect(await ids(second)).toEqual([1]);
    });

    it('with replay paused, a new row is received but not visible on that standby until replay resumes', async () => {
      const r = replication!;
      await r.pauseReplay(0);
      try {
        await query(primary, `insert into replicated values (2, 'second')`);
        const { lsn } = (await query<{ lsn: string }>(primary, 'select pg_current_wal_lsn()::text as lsn'))[0]!;
        // Received (the WAL is on the standby), not replayed.
        const deadline = Date.now() + 5000;
        while (
          !(await query<{ received: boolean }>(standby, 'select pg_last_wal_receive_lsn() >= $1::pg_lsn as received', [lsn]))[0]!
            .received
        ) {
          if (Date.now() > deadline) throw new Error('standby 0 did not receive the WAL within 5 s');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await expect(r.waitForReplay(0, 300)).rejects.toThrow(
          /did not replay .* within 300 ms .*replay (paused|pause requested)/,
        );
        expect(await ids(standby)).toEqual([1]);
        // The other standby is not paused.
        await r.waitForReplay(1);
        expect(await ids(second)).toEqual([1, 2]);
      } finally {
        await r.resumeReplay(0);
      }
      await r.waitForReplay(0);
      expect(await ids(standby)).toEqual([1, 2]);
    });

    it('waitForReplay on a frozen standby gives up within its bound; thawed, the standby catches up', async () => {
      const r = replication!;
      r.standbys[1]!.freeze();
      try {
        await query(primary, `insert into replicated values (10, 'while frozen')`);
        const started = performance.now();
        await expect(r.waitForReplay(1, 500)).rejects.toThrow(/standby 1 did not replay .* within 500 ms/);
        expect(performance.now() - started).toBeLessThan(2000);
      } finally {
        r.standbys[1]!.thaw();
      }
      await r.waitForReplay(1);
      expect(await ids(second)).toEqual([1, 2, 10]);
      await query(primary, 'delete from replicated where id = 10');
      await r.waitForReplay(0);
      await r.waitForReplay(1);
    });

    it('a standby refuses writes until promoted, then accepts them', async () => {
      await expect(query(standby, `insert into replicated values (3, 'on the standby')`)).rejects.toMatchObject({
        code: '25006',
        message: expect.stringMatching(/read-only transaction/) as unknown,
      });
      await replication!.promote(0);
      await query(standby, `insert into replicated values (3, 'on the promoted standby')`);
      expect(await ids(standby)).toEqual([1, 2, 3]);
      // The other standby still follows the old primary, which never saw row 3.
      expect(await ids(primary)).toEqual([1, 2]);
      await expect(query(second, `insert into replicated values (4, 'x')`)).rejects.toMatchObject({ code: '25006' });
    });

    it('stop() ends every node and removes their directories', async () => {
      const r = replication!;
      const dirs = [r.primary.dataDir, ...r.standbys.map((s) => s.dataDir)];
      expect(dirs.every((dir) => existsSync(dir))).toBe(true);
      await r.stop();
      expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
      for (const node of [r.primary, ...r.standbys]) {
        await expect(query(node.url(), 'select 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
      await r.stop(); // idempotent, as afterAll calls it again
    });
  },
);
