/** Which indexes make others redundant: pure functions over the columns pg_index stores. */

/** The columns of one index, as pg_index stores them: what decides whether one index covers another. */
export interface IndexShape {
  oid: number;
  tableOid: number;
  method: string;
  /** Key column numbers (0 for an expression). */
  keys: number[];
  /** INCLUDE column numbers. */
  include: number[];
  opclasses: string[];
  collations: string[];
  options: string[];
  expressions: string | null;
  predicate: string | null;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  /** Backs a primary key, unique or exclusion constraint. */
  constraint: boolean;
}

export type Coverage = 'same' | 'prefix';

/**
 * Whether `b` makes `a` redundant: same method, predicate and expressions, and `a`'s key columns
 * (with their operator classes, collations and ordering) are `b`'s or a leading prefix of them
 * (prefixes for btree only). A unique index is covered only by a unique index on the same keys.
 */
export function coverage(a: IndexShape, b: IndexShape): Coverage | null {
  if (a.oid === b.oid || a.tableOid !== b.tableOid || !b.valid) return null;
  if (a.method !== b.method || a.predicate !== b.predicate || a.expressions !== b.expressions) return null;
  const n = a.keys.length;
  if (n === 0 || n > b.keys.length) return null;
  if (a.method !== 'btree' && n !== b.keys.length) return null;
  for (let i = 0; i < n; i += 1) {
    if (a.keys[i] !== b.keys[i] || a.opclasses[i] !== b.opclasses[i]) return null;
    if (a.collations[i] !== b.collations[i] || a.options[i] !== b.options[i]) return null;
  }
  const bColumns = new Set([...b.keys, ...b.include]);
  if (!a.include.every((c) => bColumns.has(c))) return null;
  const sameKeys = n === b.keys.length;
  if (a.unique && !(b.unique && sameKeys)) return null;
  return sameKeys && a.include.length === b.include.length ? 'same' : 'prefix';
}

/** Which index to keep of two identical ones: the one backing a constraint, then primary, unique, older. */
function keepRank(i: IndexShape): number[] {
  return [i.constraint ? 1 : 0, i.primary ? 1 : 0, i.unique ? 1 : 0, -i.oid];
}

function ranksAbove(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}

/** For each redundant index, the index that covers it (of identical ones, one is kept). Pure. */
export function findDuplicateIndexes(indexes: readonly IndexShape[]): Map<number, { of: number; kind: Coverage }> {
  const duplicates = new Map<number, { of: number; kind: Coverage }>();
  for (const a of indexes) {
    if (!a.valid) continue;
    let best: { index: IndexShape; kind: Coverage } | undefined;
    for (const b of indexes) {
      const kind = coverage(a, b);
      if (kind === null) continue;
      if (kind === 'same' && !ranksAbove(keepRank(b), keepRank(a))) continue;
      const better =
        best === undefined ||
        (kind === 'same' && best.kind === 'prefix') ||
        (kind === best.kind &&
          (kind === 'same' ? ranksAbove(keepRank(b), keepRank(best.index)) : b.keys.length < best.index.keys.length));
      if (better) best = { index: b, kind };
    }
    if (best !== undefined) duplicates.set(a.oid, { of: best.index.oid, kind: best.kind });
  }
  return duplicates;
}
