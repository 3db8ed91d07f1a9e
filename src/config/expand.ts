// `${VAR}` and `${VAR:-default}` in string values, expanded after YAML parsing so that an
// environment value can never change the document's structure. `$${` is a literal `${`.
import { formatKeyPath, formatProblem, type KeyedProblem, type PathSegment } from './key-path.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface ExpandResult {
  value: unknown;
  problems: string[];
  /** The same problems with their key paths kept apart. */
  issues: KeyedProblem[];
}

export function expandEnv(value: unknown, env: NodeJS.ProcessEnv): ExpandResult {
  const issues: KeyedProblem[] = [];
  const walk = (node: unknown, path: PathSegment[]): unknown => {
    if (typeof node === 'string') return expandString(node, env, (name) => {
      issues.push({
        path: formatKeyPath(path),
        message: `environment variable ${name} is not set (use \${${name}:-default} for an optional value)`,
      });
    });
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      // fromEntries defines own keys, so a `__proto__` key stays a key (and is reported as unknown).
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child, [...path, key])]));
    }
    return node;
  };
  const expanded = walk(value, []);
  return { value: expanded, problems: issues.map(formatProblem), issues };
}

function expandString(text: string, env: NodeJS.ProcessEnv, onMissing: (name: string) => void): string {
  return text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (name === undefined) return '${';
    const found = env[name];
    if (found !== undefined && (found !== '' || fallback === undefined)) return found;
    if (fallback !== undefined) return fallback;
    onMissing(name);
    return '';
  });
}
