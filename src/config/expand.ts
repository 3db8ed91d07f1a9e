// `${VAR}` and `${VAR:-default}` in string values, expanded after YAML parsing so that an
// environment value can never change the document's structure. `$${` is a literal `${`.
import { formatKeyPath, type PathSegment } from './key-path.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface ExpandResult {
  value: unknown;
  problems: string[];
}

export function expandEnv(value: unknown, env: NodeJS.ProcessEnv): ExpandResult {
  const problems: string[] = [];
  const walk = (node: unknown, path: PathSegment[]): unknown => {
    if (typeof node === 'string') return expandString(node, env, (name) => {
      problems.push(`${formatKeyPath(path)}: environment variable ${name} is not set (use \${${name}:-default} for an optional value)`);
    });
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = walk(child, [...path, key]);
      return out;
    }
    return node;
  };
  return { value: walk(value, []), problems };
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
