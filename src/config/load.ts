// Reads a config file: YAML → ${VAR} expansion → defaults → schema → semantic checks.
// Every problem is collected (never just the first) and reported with its key path.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '../errors.js';
import { expandEnv } from './expand.js';
import { formatKeyPath, pointerToSegments } from './key-path.js';
import { ConfigSchema, DEFAULT_VERSION, type Config, type RawConfig } from './schema.js';
import { semanticProblems } from './validate.js';

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError([`${path}: ${reason}`]);
  }
  return parseConfigText(text, env, path);
}

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => {
      const line = error.linePos?.[0];
      const where = line === undefined ? source : `${source}:${line.line}:${line.col}`;
      return `${where}: YAML syntax error: ${error.message.split('\n')[0]}`;
    }));
  }
  return resolveConfig(doc.toJS() ?? {}, env);
}

/** Validates an already-parsed document (also used for the embedded demo config). */
export function resolveConfig(document: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(['(root): the config must be a mapping of keys']);
  }
  const expanded = expandEnv(document, env);
  const withDefaults = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, Value.Clone(expanded.value)));
  const problems = [...expanded.problems, ...schemaProblems(withDefaults)];
  if (problems.length === 0) problems.push(...semanticProblems(withDefaults as RawConfig));
  if (problems.length > 0) throw new ConfigError(problems);
  return finish(withDefaults as RawConfig);
}

function schemaProblems(value: unknown): string[] {
  const byPath = new Map<string, string>();
  for (const error of Value.Errors(ConfigSchema, value)) {
    const path = formatKeyPath(pointerToSegments(error.path, value));
    if (byPath.has(path)) continue; // the first reason for a key is the useful one
    byPath.set(path, error.message === 'Unexpected property' ? 'unknown key' : error.message.toLowerCase());
  }
  return [...byPath].map(([path, message]) => `${path}: ${message}`);
}

function finish(raw: RawConfig): Config {
  const pools = Object.entries(raw.pools).map(([name, pool]) => ({
    name,
    version: pool.version ?? DEFAULT_VERSION,
    targets: pool.targets.map((target) => new URL(target).origin),
    healthCheck: { ...raw.healthCheck, ...pool.healthCheck },
  }));
  const initial = raw.routing.initial ?? defaultInitialWeights(pools.map((pool) => pool.name));
  const config: Config = { ...raw, pools, routing: { ...raw.routing, initial } };
  return deepFreeze(config);
}

/** Without `routing.initial`, `blue` (or else the first pool) takes all traffic. */
function defaultInitialWeights(poolNames: string[]): Record<string, number> {
  const first = poolNames.includes('blue') ? 'blue' : poolNames[0]!;
  return Object.fromEntries(poolNames.map((name) => [name, name === first ? 100 : 0]));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
