import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { list, loadParser, node, type Node } from '../domain/sql-parser.js';

/**
 * `migrate lint`: every statement a migration would send (recorded without running it) is parsed
 * with PostgreSQL's own grammar (libpg-query, the server's parser compiled to WebAssembly) and
 * checked against what locks or rewrites a busy table. A finding names the rule, the statement
 * (file and line), the lock it takes, the table's size now, and the safe way.
 */

export type LintLevel = 'error' | 'warn';

export interface LintFinding {
  rule: string;
  level: LintLevel;
  migration: string;
  file: string;
  /** The statement's line in the migration's source, when it can be found there. */
  line: number | null;
  statement: string;
  table: string | null;
  /** What the statement locks, and for how long. */
  lock: string;
  /** The table's size now (pg_total_relation_size), or null when unknown or the table is new. */
  tableBytes: number | null;
  message: string;
  fix: string;
  /** The reason the migration gives for accepting this rule, or null. */
  accepted: string | null;
  /** An unaccepted error on a table of at least `blockingMinBytes`: `latest` stops for it. */
  blocking: boolean;
}

export interface LintInput {
  name: string;
  sourcePath: string;
  transactional: boolean;
  statements: readonly string[];
  accept: Readonly<Record<string, string>>;
}

export interface LintResult {
  migrations: string[];
  findings: LintFinding[];
  /** No blocking finding. */
  ok: boolean;
}

/** Tables smaller than this are locked for milliseconds: an error there is reported, not blocking. */
export const blockingMinBytes = 1024 * 1024;

export const lintRules: Readonly<Record<string, { level: LintLevel; summary: string }>> = {
  'index-not-concurrent': { level: 'error', summary: 'an index built without CONCURRENTLY on an existing table' },
  'concurrently-in-transaction': { level: 'error', summary: 'CONCURRENTLY inside a transactional migration' },
  'constraint-not-valid': { level: 'error', summary: 'a foreign key or check constraint added without NOT VALID' },
  'set-not-null': { level: 'error', summary: 'SET NOT NULL on an existing table' },
  'column-type-change': { level: 'error', summary: 'a column type change (rewrites the table)' },
  'volatile-default': { level: 'error', summary: 'a new column with a volatile default (rewrites the table)' },
  'lock-timeout-off': { level: 'error', summary: 'lock_timeout turned off' },
  'rename-or-drop': { level: 'warn', summary: 'a rename or drop that running code may still use' },
  'int-keys': { level: 'warn', summary: 'an integer primary key' },
};

const volatileFunctions = new Set([
  'random',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v4',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'txid_current',
  'setseed',
]);

const relationOf = (stmt: Node | undefined): string | null => {
  const relation = stmt?.relation as Node | undefined;
  return typeof relation?.relname === 'string' ? relation.relname : null;
};
const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '');
const names = (value: unknown): string[] => list(value).map((n) => text(node(n, 'String')?.sval));

/** The line of `statement` in the source, found by its first words; null when it is built at run time. */
function lineOf(source: string, statement: string): number | null {
  const words = statement.replace(/\s+/g, ' ').trim().slice(0, 40).toLowerCase();
  if (words.length < 8) return null;
  const flat = source.toLowerCase();
  const lines = flat.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const joined = lines
      .slice(i, i + 4)
      .join(' ')
      .replace(/\s+/g, ' ');
    const start = joined.indexOf(words.slice(0, 24));
    if (start !== -1 && start < (lines[i] ?? '').length + 1) return i + 1;
  }
  return null;
}

interface Context {
  input: LintInput;
  source: string;
  statement: string;
  /** Tables that exist before this statement: in the catalog and not created earlier in this run. */
  existing: (table: string | null) => boolean;
  sizeOf: (table: string | null) => number | null;
  add: (rule: string, table: string | null, lock: string, message: string, fix: string) => void;
}

function checkStatement(kind: string, stmt: Node, c: Context): void {
  if (kind === 'IndexStmt') {
    const table = relationOf(stmt);
    if (stmt.concurrent === true && c.input.transactional) {
      c.add(
        'concurrently-in-transaction',
        table,
        'none: PostgreSQL refuses CREATE INDEX CONCURRENTLY inside a transaction block',
        `CREATE INDEX CONCURRENTLY on ${table ?? '?'} in a migration that runs in a transaction`,
        'export const config = { transaction: false } from the migration (and use createIndexConcurrently())',
      );
    } else if (stmt.concurrent !== true && c.existing(table)) {
      c.add(
        'index-not-concurrent',
        table,
        'SHARE on the table for the whole build: every write waits',
        `CREATE INDEX on existing table ${table ?? '?'} without CONCURRENTLY`,
        'CREATE INDEX CONCURRENTLY in a migration with config = { transaction: false } (createIndexConcurrently() drops an invalid leftover first)',
      );
    }
    return;
  }
  if (kind === 'DropStmt') {
    if (stmt.concurrent === true && c.input.transactional) {
      c.add(
        'concurrently-in-transaction',
        null,
        'none: PostgreSQL refuses DROP INDEX CONCURRENTLY inside a transaction block',
        'DROP INDEX CONCURRENTLY in a migration that runs in a transaction',
        'export const config = { transaction: false } from the migration',
      );
    }
    if (stmt.removeType === 'OBJECT_TABLE') {
      const tables = list(stmt.objects).map((o) => names(node(o, 'List')?.items).at(-1) ?? null);
      for (const table of tables.filter((t) => c.existing(t))) {
        c.add(
          'rename-or-drop',
          table,
          'ACCESS EXCLUSIVE, briefly',
          `DROP TABLE ${table ?? '?'}: running code that still reads it fails`,
          'expand and contract: stop using it in a deploy first, drop it in a later migration',
        );
      }
    }
    return;
  }
  if (kind === 'RenameStmt') {
    const table = relationOf(stmt);
    if (c.existing(table) && (stmt.renameType === 'OBJECT_TABLE' || stmt.renameType === 'OBJECT_COLUMN')) {
      c.add(
        'rename-or-drop',
        table,
        'ACCESS EXCLUSIVE, briefly',
        `a rename on ${table ?? '?'}: running code that uses the old name fails`,
        'expand and contract: add the new name (a column, or a view for a table), move the code, drop the old later',
      );
    }
    return;
  }
  if (kind === 'VariableSetStmt') {
    // A_Const holds { ival: { ival } } or { sval: { sval } }; an integer 0 is { ival: {} }.
    const value = list(stmt.args)
      .map((a) => node(a, 'A_Const'))
      .map((constant) => {
        if (constant === undefined) return '';
        if (constant.ival !== undefined) return text((constant.ival as Node).ival) || '0';
        return text((constant.sval as Node | undefined)?.sval);
      });
    if (stmt.name === 'lock_timeout' && value.some((v) => v === '0' || v === '')) {
      c.add(
        'lock-timeout-off',
        null,
        'whatever the next statements lock, for as long as they wait',
        'SET lock_timeout = 0: a statement waiting for its lock queues every query on that table behind it',
        'keep lock_timeout (shiptrack sets SHIPTRACK_LOCK_TIMEOUT on every migration, and retries lock waits)',
      );
    }
    return;
  }
  if (kind === 'CreateStmt') {
    const table = relationOf(stmt);
    for (const element of list(stmt.tableElts)) {
      const column = node(element, 'ColumnDef');
      if (column === undefined) continue;
      const type = names((column.typeName as Node | undefined)?.names).at(-1) ?? '';
      const primary = list(column.constraints).some((k) => node(k, 'Constraint')?.contype === 'CONSTR_PRIMARY');
      if (primary && ['int4', 'int2', 'serial', 'smallserial'].includes(type)) {
        c.add(
          'int-keys',
          table,
          'none now; the table stops taking rows at 2,147,483,647 ids',
          `${table ?? '?'}.${String(column.colname)} is ${type === 'int2' ? 'a smallint' : 'an integer'} primary key`,
          'bigint (bigint generated by default as identity)',
        );
      }
    }
    return;
  }
  if (kind !== 'AlterTableStmt') return;
  const table = relationOf(stmt);
  if (!c.existing(table)) return;
  for (const command of list(stmt.cmds)) {
    const cmd = node(command, 'AlterTableCmd');
    if (cmd === undefined) continue;
    const subtype = String(cmd.subtype);
    const constraint = node(cmd.def, 'Constraint');
    if (subtype === 'AT_AddConstraint' && constraint !== undefined) {
      const foreign = constraint.contype === 'CONSTR_FOREIGN';
      if ((foreign || constraint.contype === 'CONSTR_CHECK') && constraint.skip_validation !== true) {
        c.add(
          'constraint-not-valid',
          table,
          foreign
            ? 'SHARE ROW EXCLUSIVE on both tables while every row is checked: writes wait'
            : 'ACCESS EXCLUSIVE while every row is checked: reads and writes wait',
          `${foreign ? 'a foreign key' : 'a check constraint'} added to ${table ?? '?'} and validated at once`,
          'ADD CONSTRAINT … NOT VALID, then ALTER TABLE … VALIDATE CONSTRAINT in a later migration (SHARE UPDATE EXCLUSIVE: reads and writes go on)',
        );
      }
    } else if (subtype === 'AT_SetNotNull') {
      c.add(
        'set-not-null',
        table,
        'ACCESS EXCLUSIVE while every row is scanned',
        `SET NOT NULL on ${table ?? '?'}.${String(cmd.name)}`,
        'add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (no scan since PostgreSQL 12), then drop the check',
      );
    } else if (subtype === 'AT_AlterColumnType') {
      c.add(
        'column-type-change',
        table,
        'ACCESS EXCLUSIVE while the table and its indexes are rewritten',
        `the type of ${table ?? '?'}.${String(cmd.name)} changed`,
        'add a column of the new type, backfill it in batches, move the code to it, drop the old one later',
      );
    } else if (subtype === 'AT_AddColumn') {
      const column = node(cmd.def, 'ColumnDef');
      for (const k of list(column?.constraints)) {
        const defaulted = node(k, 'Constraint');
        if (defaulted?.contype !== 'CONSTR_DEFAULT') continue;
        const call = node(defaulted.raw_expr, 'FuncCall');
        const fn = names(call?.funcname).at(-1);
        if (fn !== undefined && volatileFunctions.has(fn)) {
          c.add(
            'volatile-default',
            table,
            'ACCESS EXCLUSIVE while the table is rewritten (a volatile default is computed for every row)',
            `${table ?? '?'}.${String(column?.colname)} added with the volatile default ${fn}()`,
            'add the column without a default, ALTER … SET DEFAULT after, and backfill existing rows in batches',
          );
        }
      }
    } else if (subtype === 'AT_DropColumn') {
      c.add(
        'rename-or-drop',
        table,
        'ACCESS EXCLUSIVE, briefly',
        `DROP COLUMN ${table ?? '?'}.${String(cmd.name)}: running code that still reads it fails`,
        'expand and contract: stop using it in a deploy first, drop it in a later migration',
      );
    }
  }
}

/** The tables of the current schema with their sizes, for "existing" and the size in a finding. */
export async function catalogTables(knex: Knex): Promise<Map<string, number>> {
  const { rows } = await knex.raw<{ rows: { name: string; bytes: string | number }[] }>(
    `select c.relname as name, pg_total_relation_size(c.oid) as bytes
       from pg_class c where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p')`,
  );
  return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
}

/**
 * Lints migrations in order: a table created by an earlier statement of the run is new, not
 * existing; `catalog` (the tables there now, with their sizes) is empty for a fresh database.
 */
export async function lintMigrations(inputs: readonly LintInput[], catalog: ReadonlyMap<string, number>): Promise<LintResult> {
  const pg = await loadParser();
  const created = new Set<string>();
  const findings: LintFinding[] = [];
  for (const input of inputs) {
    let source = '';
    try {
      source = readFileSync(input.sourcePath, 'utf8');
    } catch {
      // a finding then has no line
    }
    for (const statement of input.statements) {
      let parsed: { stmts: { stmt: Node }[] };
      try {
        parsed = await pg.parse(statement.replace(/ -- bindings: .*$/s, ''));
      } catch {
        continue; // the server's own grammar refuses it: the migration fails on its own
      }
      for (const { stmt } of parsed.stmts) {
        const [kind, body] = Object.entries(stmt)[0] ?? [];
        if (kind === undefined || typeof body !== 'object' || body === null) continue;
        const context: Context = {
          input,
          source,
          statement,
          existing: (table) => table !== null && catalog.has(table) && !created.has(table),
          sizeOf: (table) => (table === null || created.has(table) ? null : (catalog.get(table) ?? null)),
          add: (rule, table, lock, message, fix) => {
            const level = lintRules[rule]?.level ?? 'warn';
            const accepted = input.accept[rule] ?? null;
            const tableBytes = context.sizeOf(table);
            findings.push({
              rule,
              level,
              migration: input.name,
              file: input.sourcePath.split('/').at(-1) ?? input.sourcePath,
              line: lineOf(source, statement),
              statement: statement.replace(/\s+/g, ' ').trim().slice(0, 200),
              table,
              lock,
              tableBytes,
              message,
              fix,
              accepted,
              blocking: level === 'error' && accepted === null && (tableBytes ?? 0) >= blockingMinBytes,
            });
          },
        };
        checkStatement(kind, body as Node, context);
        if (kind === 'CreateStmt') {
          const table = relationOf(body as Node);
          if (table !== null) created.add(table);
        }
      }
    }
  }
  return { migrations: inputs.map((i) => i.name), findings, ok: !findings.some((f) => f.blocking) };
}
