import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectSuccess, runCli } from '../support/cli.js';
import { ownPostgresUnavailable, startOwnPostgres, type OwnPostgres } from '../support/own-postgres.js';

/**
 * `report db --since` and `report db --advise` on a server of the test's own, started with
 * pg_stat_statements preloaded (the shared server has it off). The statements are real: run
 * through a client with parameters, as an application runs them, so pg_stat_statements keeps
 * them normalised. The history lives in the document store (PostgreSQL JSONB here).
 */

const unavailable = ownPostgresUnavailable();
if (unavailable !== undefined) process.stderr.write(`⚠ report db statements: tests SKIPPED (${unavailable})\n`);

const password = 'pss-pw-never-printed';

interface TableJson {
  name: string;
  rows: Record<string, unknown>[];
}

interface ReportJson {
  ok: boolean;
  tables: TableJson[];
  findings: { level: string; code: string; subject: string | null; figures: Record<string, unknown>; message: string }[];
}

describe.skipIf(unavailable !== undefined || !inject('postgresAvailable'))(
  'report db: statement history and index advice',
  () => {
    let server: OwnPostgres;
    let client: pg.Client;
    let env: Record<string, string>;

    const report = async (...args: string[]): Promise<ReportJson> => {
      const result = await runCli(['report', 'db', '--json', ...args], { env });
      expect([0, 1], result.stderr).toContain(result.code);
      expect(result.stdout + result.stderr).not.toContain(password);
      return JSON.parse(result.stdout) as ReportJson;
    };
    const table = (json: ReportJson, name: string): Record<string, unknown>[] =>
      json.tables.find((t) => t.name === name)?.rows ?? [];
    const run = async (sql: string, times: number, value: (i: number) => unknown[] = () => []): Promise<void> => {
      for (let i = 0; i < times; i++) await client.query(sql, value(i));
    };

    beforeAll(async () => {
      server = await startOwnPostgres(["shared_preload_libraries = 'pg_stat_statements'", 'pg_stat_statements.track = top']);
      env = { SHIPTRACK_DATABASE_URL: server.url('postgres', password), SHIPTRACK_CONNECT_TIMEOUT: '2s' };
      expectSuccess(await runCli(['migrate', 'latest', '--json'], { env }), password);
      client = new pg.Client({ connectionString: server.url('postgres') });
      await client.connect();
      await client.query('create extension pg_stat_statements');
      await client.query(`create table orders (id bigint primary key, customer_ref int not null, note text not null)`);
      await client.query(
        `insert into orders select g, (g::bigint * 7919) % 20000, md5(g::text) from generate_series(1, 200000) g`,
      );
      await client.query('analyze orders');
    }, 120_000);

    afterAll(async () => {
      await client?.end().catch(() => undefined);
      await server?.stop();
    });

    describe('--since', () => {
      it('says there is nothing to compare with yet, and keeps the first snapshot', async () => {
        await run('select count(*) from orders where customer_ref = $1', 10, (i) => [i]);
        await run('select count(*) from orders where id between $1 and $2', 10, (i) => [i, i + 10]);
        const json = await report('--since', '1h');
        expect(json.findings.map((f) => f.code)).toContain('statement_history_empty');
        expect(json.tables.map((t) => t.name)).not.toContain('statements_slower');
      });

      it('names what got slower, what started and what stopped since the snapshot', async () => {
        // The table grows tenfold: the sequential scan behind the first statement takes longer.
        await client.query(
          `insert into orders select g, (g::bigint * 7919) % 20000, md5(g::text) from generate_series(200001, 2000000) g`,
        );
        await run('select count(*) from orders where customer_ref = $1', 10, (i) => [i]);
        await run('select max(note) from orders where customer_ref < $1', 6, (i) => [i + 1]);
        // Every row: the migrations' statements stopped too.
        const json = await report('--since', '1h', '--limit', '1000');
        const slower = table(json, 'statements_slower');
        const mine = slower.find((r) => String(r.query).includes('from orders where customer_ref = $1'));
        expect(mine, JSON.stringify(slower)).toBeDefined();
        expect(Number(mine?.mean_ms)).toBeGreaterThan(1.5 * Number(mine?.mean_before_ms));
        expect(mine?.calls).toBe(10);
        expect(table(json, 'statements_started').map((r) => r.query)).toContain(
          'select max(note) from orders where customer_ref < $1',
        );
        expect(table(json, 'statements_stopped').map((r) => r.query)).toContain(
          'select count(*) from orders where id between $1 and $2',
        );
        const finding = json.findings.find((f) => f.code === 'statement_slower' && f.subject?.includes('customer_ref = $1'));
        expect(finding?.level).toBe('warn');
        expect(finding?.message).toMatch(/a call, against .* before/);
      });

      it('a literal in a statement never reaches the report or the stored snapshot', async () => {
        await client.query(`alter role postgres password 'a-secret-in-a-utility-statement'`);
        const json = await report('--since', '1h');
        expect(JSON.stringify(json)).not.toContain('a-secret-in-a-utility-statement');
        const { rows } = await client.query<{ doc: string }>(`select statements::text as doc from doc_statement_snapshots`);
        expect(rows.length).toBeGreaterThanOrEqual(3);
        expect(rows.map((r) => r.doc).join('')).not.toContain('a-secret-in-a-utility-statement');
      });

      it('after pg_stat_statements is reset, says the counters cannot be compared', async () => {
        await client.query('select pg_stat_statements_reset()');
        const json = await report('--since', '1h');
        expect(json.findings.map((f) => f.code)).toContain('statement_history_reset');
        expect(json.tables.map((t) => t.name)).not.toContain('statements_slower');
      });

      it('refuses a window it cannot read, before any query', async () => {
        const result = await runCli(['report', 'db', '--since', 'yesterday-ish'], { env });
        expect(result.code).toBe(2);
        expect(result.stderr).toContain('--since');
      });
    });

    describe.skipIf(!inject('hypopgAvailable'))('--advise', () => {
      it('without hypopg in the database, says how to add it', async () => {
        const json = await report('--advise');
        const finding = json.findings.find((f) => f.code === 'index_advice_unavailable');
        expect(finding?.message).toContain('create extension hypopg');
      });

      it('recommends the index a slow statement lacks, with its costs, and none where no index helps', async () => {
        await client.query('create extension hypopg');
        await client.query('select pg_stat_statements_reset()');
        await run('select * from orders where customer_ref = $1', 20, (i) => [i]);
        await run('select count(*) from orders where note like $1', 5, () => ['%abc%']);
        const json = await report('--advise');
        const advice = table(json, 'index_advice');
        const fixed = advice.find((r) => r.query === 'select * from orders where customer_ref = $1');
        expect(fixed, JSON.stringify(advice)).toMatchObject({
          index: 'create index concurrently on public.orders (customer_ref)',
        });
        expect(Number(fixed?.cost_before)).toBeGreaterThan(2 * Number(fixed?.cost_after));
        const unfixed = advice.find((r) => r.query === 'select count(*) from orders where note like $1');
        expect(fixed?.verdict).toMatch(/^build it ×\d+\.\d$/);
        expect(unfixed?.verdict).toMatch(/^no gain ×1\.\d$/);
        expect(unfixed?.index).toBeNull();
        const findings = json.findings.filter((f) => f.code === 'index_advice');
        expect(findings.map((f) => f.subject)).toEqual(['create index concurrently on public.orders (customer_ref)']);
        expect(findings[0]?.message).toMatch(/falls from [\d.]+ to [\d.]+/);
        // Nothing was built, and the session's hypothetical indexes are gone.
        const { rows } = await client.query(`select indexname from pg_indexes where tablename = 'orders'`);
        expect(rows).toEqual([{ indexname: 'orders_pkey' }]);
      });
    });

    // Last: the report keeps a snapshot of the counters, which the tests above start without.
    it('reads the counters it keeps with everything else: the server row, then one message, then the commit', async () => {
      const result = await runCli(['report', 'db', '--json'], { env: { ...env, DEBUG: 'knex:query' } });
      expect([0, 1], result.stderr).toContain(result.code);
      // Each statement message knex sends, as DEBUG prints it, up to the report's commit.
      const messages = result.stderr.split(/^\S+ knex:query /m).slice(1);
      const read = messages.slice(0, messages.findIndex((m) => m.startsWith('commit')) + 1);
      expect(read).toHaveLength(3);
      expect(read[0]).toMatch(/^begin isolation level repeatable read read only;/);
      for (const part of ['queryid::text', 'pg_stat_statements_info', 'from pg_class', 'pg_stat_activity']) {
        expect(read[1]).toContain(part);
      }
    });
  },
);
