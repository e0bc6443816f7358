import { createRequire } from 'node:module';

/**
 * PostgreSQL's own grammar (libpg-query: the server's parser compiled to WebAssembly), loaded on
 * first use, and small readers of the parse tree it returns (JSON: `{ SelectStmt: {…} }`).
 */

export type Node = Record<string, unknown>;

export interface Parser {
  loadModule?: () => Promise<void>;
  parse: (sql: string) => Promise<{ stmts: { stmt: Node }[] }>;
}

let parser: Promise<Parser> | undefined;
const requireCommonJs = createRequire(import.meta.url);

export function loadParser(): Promise<Parser> {
  parser ??= (async () => {
    const loaded = requireCommonJs('libpg-query') as Parser;
    await loaded.loadModule?.();
    return loaded;
  })();
  return parser;
}

/** The node of kind `kind` that `value` wraps, or undefined. */
export const node = (value: unknown, kind: string): Node | undefined =>
  typeof value === 'object' && value !== null ? ((value as Node)[kind] as Node | undefined) : undefined;

export const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
