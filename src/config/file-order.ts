// Problems listed in the order their keys appear in the file, whatever check found them
// (schema or semantic): a user fixes a file top to bottom.
import { isMap, isScalar, isSeq, type Document } from 'yaml';
import { formatKeyPath, pathWithin, type KeyedProblem, type PathSegment } from './key-path.js';

/** Key path (as formatKeyPath prints it) → its rank in the document; `(root)` ranks first. */
export type KeyOrder = ReadonlyMap<string, number>;

/**
 * Ranks from a parsed YAML document: the character offset where each key (or sequence
 * item) starts. Taken from the syntax tree, not from `toJS()`, whose objects put
 * integer-like keys first whatever the file says.
 */
export function yamlKeyOrder(doc: Document): KeyOrder {
  const order = new Map<string, number>([['(root)', -1]]);
  const visit = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = pair.key;
        const name = isScalar(key) ? String(key.value) : String(key);
        const offset = isScalar(key) || isMap(key) || isSeq(key) ? key.range?.[0] : undefined;
        enter([...path, name], offset, pair.value);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        enter([...path, index], isScalar(item) || isMap(item) || isSeq(item) ? item.range?.[0] : undefined, item);
      });
    }
  };
  const enter = (path: PathSegment[], offset: number | undefined, value: unknown): void => {
    const key = formatKeyPath(path);
    // A duplicate key never gets here (the parser refuses it); the first place wins anyway.
    if (offset !== undefined && !order.has(key)) order.set(key, offset);
    visit(value, path);
  };
  visit(doc.contents, []);
  return order;
}

/** Ranks from a plain object (a config given as an object): its keys' own order, depth first. */
export function valueKeyOrder(value: unknown): KeyOrder {
  const order = new Map<string, number>([['(root)', -1]]);
  const visit = (node: unknown, path: PathSegment[]): void => {
    if (node === null || typeof node !== 'object') return;
    const entries: Array<[PathSegment, unknown]> = Array.isArray(node)
      ? node.map((item, index) => [index, item])
      : Object.entries(node);
    for (const [segment, child] of entries) {
      const childPath = [...path, segment];
      order.set(formatKeyPath(childPath), order.size);
      visit(child, childPath);
    }
  };
  visit(value, []);
  return order;
}

/**
 * The problems sorted by where their key is. A key the file lacks (a required key, or one
 * a rule needs, like `admin.token`) ranks at the end of its nearest ancestor that is there
 * (the end of the file for a top-level key): where it would be added. Sorting is stable:
 * problems of one key keep the order they were found in.
 */
export function inFileOrder(problems: readonly KeyedProblem[], order: KeyOrder): KeyedProblem[] {
  const rank = (path: string): number => {
    const exact = order.get(path);
    if (exact !== undefined) return exact;
    let nearest = '(root)';
    for (const known of order.keys()) {
      if (known.length > (nearest === '(root)' ? 0 : nearest.length) && pathWithin(path, known)) nearest = known;
    }
    // After the last key inside that ancestor (ranks are whole numbers).
    let last = order.get(nearest)!;
    for (const [known, at] of order) if (at > last && (nearest === '(root)' || pathWithin(known, nearest))) last = at;
    return last + 0.5;
  };
  return problems
    .map((problem, index) => ({ problem, index, rank: rank(problem.path) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map(({ problem }) => problem);
}
