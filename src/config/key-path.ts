// Key paths as users read them in error messages: `pools.green.targets[0]`.

export type PathSegment = string | number;

export function formatKeyPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out === '' ? '(root)' : out;
}

/** Turns a JSON pointer (`/pools/green/targets/0`) into segments; array indexes become numbers. */
export function pointerToSegments(pointer: string, root: unknown): PathSegment[] {
  const segments: PathSegment[] = [];
  let node: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const index = Number(key);
      segments.push(index);
      node = node[index];
    } else {
      segments.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return segments;
}

/** One problem with the key path it is about; printed as `path: message`. */
export interface KeyedProblem {
  path: string;
  message: string;
}

export function formatProblem(problem: KeyedProblem): string {
  return `${problem.path}: ${problem.message}`;
}

/** True when `inner` is `outer` or a key inside it (`a.b` and `a.b[0]` are inside `a.b`). */
export function pathWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
}
