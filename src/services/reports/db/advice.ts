import type pg from 'pg';
import { list, loadParser, node, type Node } from '../../../domain/sql-parser.js';
import type { Database } from '../../../store/database.js';
import { withSession } from '../../../store/session.js';
import type { Finding, ReportTable } from '../report.js';
import { redactQuery } from './health.js';
import { statementTimeColumns, type StatementsModule } from './snapshot.js';

/**
 * Index advice, proven before it is built (`report db --advise`). For the statements of this
 * database with the most total time in pg_stat_statements, the columns they filter, join and
 * sort on (read from PostgreSQL's own parse tree) give candidate indexes; each is created as a
 * hypothetical index (hypopg: the planner sees it, nothing is built) and the statement's generic
 * plan is costed with it. An index is recommended only where the planner's cost falls by at
 * least `factor` — the statement, the DDL (CONCURRENTLY) and both costs are shown.
 */

export interface AdviceThresholds {
  /** Statements examined, by total time. */
  statements: number;
  /** The planner's cost must fall at least this many times. */
  factor: number;
  /** Candidate indexes tried per statement. */
  candidates: number;
}

export const adviceThresholds: AdviceThresholds = { statements: 10, factor: 2, candidates: 12 };

export type Verdict = 'recommended' | 'no_gain' | 'skipped';

export interface IndexAdvice {
  /** The statement, literals replaced by `?`. */
  query: string;
  calls: number;
  meanMs: number;
  costBefore: number | null;
  /** With the best candidate, or null when none was tried. */
  costAfter: number | null;
  /** The best candidate's DDL (recommended or not), or null. */
  index: string | null;
  verdict: Verdict;
  /** Why it was skipped (the server's reason). */
  reason: string | null;
}

export type AdviceResult =
  | { state: 'unavailable'; reason: 'embedded' | 'no_statements' | 'no_hypopg'; hypopgAvailable: boolean }
  | { state: 'done'; factor: number; advice: IndexAdvice[] };

type ColumnUse = 'equal' | 'range' | 'sort';

interface Relation {
  schema: string | null;
  name: string;
}

/** What a statement reads and how it uses each column: as the parse tree shows it, unresolved. */
interface StatementShape {
  relations: Map<string, Relation>;
  /** [qualifier or null, column, use] */
  columns: [string | null, string, ColumnUse][];
  params: number;
}

const equalOperators = new Set(['=']);
const rangeOperators = new Set(['<', '>', '<=', '>=', '~~', '~~*']);

function columnRef(value: unknown): [string | null, string] | undefined {
  const ref = node(value, 'ColumnRef');
  if (ref === undefined) return undefined;
  const names = list(ref.fields).map((f) => node(f, 'String')?.sval);
  if (names.some((n) => typeof n !== 'string')) return undefined;
  const [a, b, c] = names as string[];
  if (c !== undefined) return [b ?? null, c];
  return b === undefined ? [null, a ?? ''] : [a ?? null, b];
}

/** Walks a parse tree for the relations, the column uses and the highest parameter number. */
function shapeOf(root: Node): StatementShape {
  const shape: StatementShape = { relations: new Map(), columns: [], params: 0 };
  const addRelation = (rv: Node): void => {
    const relation = { schema: typeof rv.schemaname === 'string' ? rv.schemaname : null, name: String(rv.relname) };
    const alias = node(rv, 'alias')?.aliasname ?? (rv.alias as Node | undefined)?.aliasname;
    shape.relations.set(typeof alias === 'string' ? alias : relation.name, relation);
  };
  const use = (value: unknown, how: ColumnUse): void => {
    const ref = columnRef(value);
    if (ref !== undefined) shape.columns.push([ref[0], ref[1], how]);
  };
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(walk);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const v = value as Node;
    const rv = node(v, 'RangeVar');
    if (rv !== undefined) addRelation(rv);
    const param = node(v, 'ParamRef');
    if (param !== undefined) shape.params = Math.max(shape.params, Number(param.number ?? 0));
    const expr = node(v, 'A_Expr');
    if (expr !== undefined) {
      const name = node(list(expr.name)[0], 'String')?.sval;
      const op = typeof name === 'string' ? name : '';
      const kind = String(expr.kind);
      if (kind === 'AEXPR_IN' || (kind === 'AEXPR_OP' && equalOperators.has(op))) {
        use(expr.lexpr, 'equal');
        use(expr.rexpr, 'equal');
      } else if (kind.startsWith('AEXPR_BETWEEN') || kind === 'AEXPR_LIKE' || rangeOperators.has(op)) {
        use(expr.lexpr, 'range');
        use(expr.rexpr, 'range');
      }
    }
    const nullTest = node(v, 'NullTest');
    if (nullTest !== undefined) use(nullTest.arg, 'equal');
    const sortBy = node(v, 'SortBy');
    if (sortBy !== undefined) use(sortBy.node, 'sort');
    // UPDATE and DELETE name their table as a bare RangeVar.
    for (const kind of ['UpdateStmt', 'DeleteStmt']) {
      const relation = node(v, kind)?.relation;
      if (typeof relation === 'object' && relation !== null) addRelation(relation as Node);
    }
    for (const child of Object.values(v)) walk(child);
  };
  walk(root);
  return shape;
}

const kindOf = (stmt: Node): string | undefined => Object.keys(stmt)[0];

function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

interface TableColumns {
  /** schema.table, quoted. */
  qualified: string;
  columns: Set<string>;
}

/** The candidate indexes of a statement: per table, single columns then pairs (equality first). */
function candidatesOf(
  shape: StatementShape,
  tables: ReadonlyMap<string, TableColumns>,
  limit: number,
): { table: string; columns: string[] }[] {
  const byTable = new Map<string, { equal: string[]; other: string[] }>();
  const resolve = (qualifier: string | null, column: string): TableColumns | undefined => {
    if (qualifier !== null) {
      const relation = shape.relations.get(qualifier);
      return relation === undefined ? undefined : tables.get(relation.name);
    }
    const owners = [...new Set([...shape.relations.values()].map((r) => tables.get(r.name)))].filter(
      (t): t is TableColumns => t !== undefined && t.columns.has(column),
    );
    return owners.length === 1 ? owners[0] : undefined;
  };
  for (const [qualifier, column, how] of shape.columns) {
    const table = resolve(qualifier, column);
    if (table === undefined || !table.columns.has(column)) continue;
    const uses = byTable.get(table.qualified) ?? { equal: [], other: [] };
    const into = how === 'equal' ? uses.equal : uses.other;
    if (!into.includes(column) && !(how !== 'equal' && uses.equal.includes(column))) into.push(column);
    byTable.set(table.qualified, uses);
  }
  const candidates: { table: string; columns: string[] }[] = [];
  const add = (table: string, columns: string[]): void => {
    const key = `${table}(${columns.join(',')})`;
    if (new Set(columns).size === columns.length && !candidates.some((c) => `${c.table}(${c.columns.join(',')})` === key)) {
      candidates.push({ table, columns });
    }
  };
  for (const [table, { equal, other }] of byTable) {
    for (const c of [...equal, ...other]) add(table, [c]);
    for (const a of equal) {
      for (const b of [...equal, ...other]) add(table, [a, b]);
    }
  }
  return candidates.slice(0, limit);
}

async function planCost(client: pg.Client, name: string, query: string, params: number): Promise<number> {
  // A generic plan (parameters unknown), planned afresh: a cached plan would not see a new hypothetical index.
  await client.query(`deallocate ${name}`).catch(() => undefined);
  await client.query(`prepare ${name} as ${query}`);
  const args = params === 0 ? '' : `(${Array.from({ length: params }, () => 'null').join(', ')})`;
  const result = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Total Cost': number } }] }>(
    `explain (format json) execute ${name}${args}`,
  );
  return result.rows[0]?.['QUERY PLAN'][0].Plan['Total Cost'] ?? Number.NaN;
}

interface TopStatement {
  query: string;
  calls: string;
  mean_ms: number;
}

/** Index advice for the statements with the most total time (see the module comment). */
export async function adviseIndexes(
  db: Database,
  /** pg_stat_statements as `report db`'s snapshot found it: where the slow statements are read. */
  statements: StatementsModule,
  options: { signal?: AbortSignal | undefined; applicationName?: string | undefined },
  t: AdviceThresholds = adviceThresholds,
): Promise<AdviceResult> {
  if (db.mode === 'embedded') return { state: 'unavailable', reason: 'embedded', hypopgAvailable: false };
  const pgParser = await loadParser();
  return withSession(db, { signal: options.signal, applicationName: options.applicationName }, async (session) => {
    const client = session.connection as pg.Client;
    const { rows: extensions } = await client.query<{ hypopg: string | null; hypopg_available: boolean }>(
      `select (select quote_ident(n.nspname) from pg_extension e join pg_namespace n on n.oid = e.extnamespace
                where e.extname = 'hypopg') as hypopg,
              exists (select 1 from pg_available_extensions where name = 'hypopg') as hypopg_available`,
    );
    const ext = extensions[0];
    const hypopgAvailable = ext?.hypopg_available === true;
    if (!statements.loaded || statements.schema === null || !statements.readable) {
      return { state: 'unavailable', reason: 'no_statements', hypopgAvailable };
    }
    if (ext?.hypopg == null) return { state: 'unavailable', reason: 'no_hypopg', hypopgAvailable };
    const hypopg = ext.hypopg;
    const { total } = statementTimeColumns(statements.version);
    const { rows: top } = await client.query<TopStatement>(
      `select query, calls, ${total} / calls as mean_ms
         from ${statements.schema}.pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database()) and calls > 0
          and query ~* '^\\s*(with|select|update|delete)\\M'
        order by ${total} desc
        limit 50`,
    );
    // The columns of every ordinary table outside the system schemas, by name.
    const { rows: tableRows } = await client.query<{ name: string; qualified: string; columns: string[] }>(
      `select c.relname as name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as qualified,
              array_agg(a.attname::text order by a.attnum) as columns
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg_toast%' and pg_table_is_visible(c.oid)
        group by c.relname, n.nspname`,
    );
    const tables = new Map(tableRows.map((r) => [r.name, { qualified: r.qualified, columns: new Set(r.columns) }]));
    const advice: IndexAdvice[] = [];
    const statement = 'shiptrack_advice';
    try {
      await client.query(`set plan_cache_mode = force_generic_plan`);
      for (const row of top) {
        if (advice.length >= t.statements) break;
        let stmts: { stmt: Node }[];
        try {
          stmts = (await pgParser.parse(row.query)).stmts;
        } catch {
          continue;
        }
        const stmt = stmts.length === 1 ? stmts[0]?.stmt : undefined;
        if (stmt === undefined || !['SelectStmt', 'UpdateStmt', 'DeleteStmt'].includes(kindOf(stmt) ?? '')) continue;
        const shape = shapeOf(stmt);
        // Statements on catalogs only (monitoring, this report) have nothing to index.
        if (![...shape.relations.values()].some((r) => tables.has(r.name))) continue;
        const candidates = candidatesOf(shape, tables, t.candidates);
        // Nothing filtered, joined or sorted on (a setval, a count of everything): nothing to try.
        if (candidates.length === 0) continue;
        const entry: IndexAdvice = {
          query: redactQuery(row.query),
          calls: Number(row.calls),
          meanMs: Number(row.mean_ms),
          costBefore: null,
          costAfter: null,
          index: null,
          verdict: 'no_gain',
          reason: null,
        };
        advice.push(entry);
        try {
          entry.costBefore = await planCost(client, statement, row.query, shape.params);
        } catch (error) {
          // e.g. extract(epoch from …) normalised to extract($3 from …), which does not parse.
          entry.verdict = 'skipped';
          entry.reason = `its normalised text cannot be prepared (${error instanceof Error ? error.message : String(error)})`;
          continue;
        }
        for (const candidate of candidates) {
          const ddl = `create index on ${candidate.table} (${candidate.columns.map(quoteIdent).join(', ')})`;
          const { rows: created } = await client.query<{ indexrelid: number }>(
            `select indexrelid from ${hypopg}.hypopg_create_index($1)`,
            [ddl],
          );
          try {
            const cost = await planCost(client, statement, row.query, shape.params);
            if (entry.costAfter === null || cost < entry.costAfter) {
              entry.costAfter = cost;
              entry.index = ddl.replace(/^create index on/, 'create index concurrently on');
            }
          } finally {
            await client.query(`select ${hypopg}.hypopg_drop_index($1)`, [created[0]?.indexrelid]);
          }
        }
        if (entry.costAfter !== null) {
          entry.verdict = entry.costBefore / entry.costAfter >= t.factor ? 'recommended' : 'no_gain';
        }
      }
    } finally {
      await session.settled();
      await client.query(`deallocate ${statement}`).catch(() => undefined);
      await client.query(`select ${hypopg}.hypopg_reset()`).catch(() => undefined);
      await client.query(`reset plan_cache_mode`).catch(() => undefined);
    }
    return { state: 'done', factor: t.factor, advice };
  });
}

export function adviceFindings(result: AdviceResult | null): Finding[] {
  if (result === null) return [];
  if (result.state === 'unavailable') {
    return [
      {
        level: 'info',
        code: 'index_advice_unavailable',
        subject: null,
        figures: { reason: result.reason, hypopg_available: result.hypopgAvailable },
      },
    ];
  }
  return result.advice
    .filter((a) => a.verdict === 'recommended')
    .map((a) => ({
      level: 'warn' as const,
      code: 'index_advice',
      subject: a.index,
      figures: {
        query: a.query,
        cost_before: a.costBefore,
        cost_after: a.costAfter,
        factor: result.factor,
        calls: a.calls,
        mean_ms: a.meanMs,
      },
    }));
}

function verdictText(a: IndexAdvice): string {
  const gain =
    a.costBefore !== null && a.costAfter !== null ? ` ×${(a.costBefore / Math.max(a.costAfter, 1e-9)).toFixed(1)}` : '';
  switch (a.verdict) {
    case 'recommended':
      return `build it${gain}`;
    case 'no_gain':
      return `no gain${gain}`;
    default:
      return `skipped: ${a.reason ?? ''}`;
  }
}

export function adviceTable(result: AdviceResult | null): ReportTable[] {
  if (result?.state !== 'done') return [];
  return [
    {
      name: 'index_advice',
      title: 'Index advice (hypothetical indexes, hypopg)',
      columns: [
        { key: 'query', header: 'statement', kind: 'text' },
        { key: 'mean_ms', header: 'mean', kind: 'ms', priority: 3 },
        { key: 'cost_before', header: 'cost', kind: 'decimal', priority: 2 },
        { key: 'cost_after', header: 'with index', kind: 'decimal', priority: 2 },
        { key: 'verdict', header: 'verdict', kind: 'text' },
        { key: 'index', header: 'index', kind: 'text' },
      ],
      rows: result.advice.map((a) => ({
        query: a.query,
        mean_ms: a.meanMs,
        cost_before: a.costBefore,
        cost_after: a.costAfter,
        verdict: verdictText(a),
        // Only an index that earned its place is shown as one to build.
        index: a.verdict === 'recommended' ? a.index : null,
      })),
      caption:
        `the statements with the most total time that filter, join or sort on a column; ` +
        `recommended where the planner's cost falls ${result.factor}× or more`,
    },
  ];
}
