// Reads a config file: YAML → ${VAR} expansion → defaults → schema → semantic checks.
// Every problem is collected (never just the first) and reported with its key path, in
// the order the keys appear in the file.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '../errors.js';
import { expandEnv } from './expand.js';
import { inFileOrder, valueKeyOrder, yamlKeyOrder, type KeyOrder } from './file-order.js';
import { formatKeyPath, formatProblem, pathWithin, pointerToSegments, type KeyedProblem } from './key-path.js';
import { schemaAt, unknownKeyMessage } from './known-keys.js';
import { ConfigSchema, DEFAULT_VERSION, DISCOVER_DEFAULTS, type Config, type RawConfig } from './schema.js';
import { semanticIssues } from './validate.js';
import { tlsFileIssues } from '../tls/tls-files.js';

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

const MAX_SYNTAX_ERRORS = 3;

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    // One syntax slip cascades into dozens of parser errors; the first few locate it.
    const shown = doc.errors.slice(0, MAX_SYNTAX_ERRORS);
    const more = doc.errors.length - shown.length;
    throw new ConfigError([...shown.map((error) => {
      // `error.linePos` is only filled in with prettyErrors, which also rewrites the message.
      const line = error.pos === undefined ? undefined : lineCounter.linePos(error.pos[0]);
      const where = line === undefined ? source : `${source}:${line.line}:${line.col}`;
      return `${where}: YAML syntax error: ${error.message.split('\n')[0]}`;
    }), ...(more > 0 ? [`${source}: ${more} more YAML errors, most likely caused by the first`] : [])]);
  }
  return resolveDocument(doc.toJS() ?? {}, env, () => yamlKeyOrder(doc));
}

/**
 * Validates an already-parsed document (a config given as an object, the embedded demo
 * config) exactly like a file: `${VAR}` expansion, defaults, every problem with its key
 * path (in the object's key order). The input is not modified. Throws ConfigError.
 */
export function resolveConfig(document: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  return resolveDocument(document, env, () => valueKeyOrder(document));
}

/** `keyOrder` ranks the document's keys for the problem list; only called when there are problems. */
function resolveDocument(document: unknown, env: NodeJS.ProcessEnv, keyOrder: () => KeyOrder): Config {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(['(root): the config must be a mapping of keys']);
  }
  const expanded = expandEnv(document, env);
  // expandEnv returned a fresh copy, so defaults may be written into it (Value.Clone would
  // also drop a `__proto__` key, which must be reported as unknown).
  const withDefaults = convertScalars(ConfigSchema, Value.Default(ConfigSchema, expanded.value));
  // Every problem at once, but one per mistake: a key already reported by an earlier stage
  // (an unset variable, then the schema) is not reported again, nor any key inside it.
  const problems: KeyedProblem[] = [];
  // Files (certificates, keys, CAs) last; a key already reported (a bad path type) is skipped.
  const stages = [() => expanded.issues, () => schemaProblems(withDefaults), () => semanticIssues(withDefaults as RawConfig),
    () => tlsFileIssues(withDefaults)];
  for (const stage of stages) {
    const reported = problems.map((problem) => problem.path);
    problems.push(...stage().filter((problem) => !reported.some((path) => pathWithin(problem.path, path))));
  }
  if (problems.length > 0) throw new ConfigError(inFileOrder(problems, keyOrder()).map(formatProblem));
  return finish(withDefaults as RawConfig);
}

function schemaProblems(value: unknown): KeyedProblem[] {
  const byPath = new Map<string, string>();
  for (const error of Value.Errors(ConfigSchema, value)) {
    const segments = pointerToSegments(error.path, value);
    const path = formatKeyPath(segments);
    if (byPath.has(path)) continue; // the first reason for a key is the useful one
    byPath.set(path, error.message === 'Unexpected property' ? unknownKeyMessage(ConfigSchema, segments) : choiceMessage(segments) ?? error.message.toLowerCase());
  }
  return [...byPath].map(([path, message]) => ({ path, message }));
}

/** For a key that takes one of fixed strings (`discover.type`), the allowed ones: TypeBox only says "expected union value". */
function choiceMessage(segments: Parameters<typeof schemaAt>[1]): string | undefined {
  const schema = schemaAt(ConfigSchema, segments);
  // A union that is not fixed strings names its own choices (`workers`: a count or "auto").
  if (typeof schema?.hint === 'string') return `must be ${schema.hint}`;
  const choices = schema?.anyOf as TSchema[] | undefined;
  if (choices === undefined || !choices.every((choice) => typeof choice.const === 'string')) return undefined;
  return `must be one of ${choices.map((choice) => choice.const as string).join(', ')}`;
}

const NUMERIC = /^-?\d+(\.\d+)?$/;

/**
 * Turns the strings that environment expansion (or quoting) leaves into the numbers and
 * booleans the schema wants: `port: ${PORT}` → 8080, `access: "false"` → false. Nothing
 * else: unlike TypeBox's Value.Convert it never truncates 99.5 to 99, reads `true` as a
 * port, or wraps a lone string into an array, so those stay schema errors.
 */
function convertScalars(schema: TSchema, value: unknown): unknown {
  if (schema.anyOf !== undefined) {
    // A count-or-keyword union (`workers: ${WORKERS}`): a numeric string is the count.
    const numeric = (schema.anyOf as TSchema[]).some((choice) => choice.type === 'integer');
    return numeric && typeof value === 'string' && NUMERIC.test(value.trim()) ? Number(value) : value;
  }
  switch (schema.type) {
    case 'integer':
    case 'number':
      return typeof value === 'string' && NUMERIC.test(value.trim()) ? Number(value) : value;
    case 'boolean':
      if (typeof value !== 'string') return value;
      return value.toLowerCase() === 'true' ? true : value.toLowerCase() === 'false' ? false : value;
    case 'string':
      return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value; // version: 1.5
    case 'array':
      return Array.isArray(value) ? value.map((item) => convertScalars(schema.items as TSchema, item)) : value;
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      const object = value as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, TSchema>;
      const patterns = Object.values((schema.patternProperties ?? {}) as Record<string, TSchema>);
      for (const key of Object.keys(object)) {
        const child = Object.hasOwn(properties, key) ? properties[key] : patterns[0];
        if (child === undefined) continue;
        const converted = convertScalars(child, object[key]);
        if (converted !== object[key]) Object.defineProperty(object, key, { value: converted, enumerable: true, writable: true, configurable: true });
      }
      return object;
    }
    default:
      return value;
  }
}

function finish(raw: RawConfig): Config {
  const pools = Object.entries(raw.pools).map(([name, pool]) => ({
    name,
    version: pool.version ?? DEFAULT_VERSION,
    targets: (pool.targets ?? []).map((target) => new URL(target).origin),
    ...(pool.discover === undefined ? {} : { discover: { ...DISCOVER_DEFAULTS, ...pool.discover } }),
    ...(pool.tls === undefined ? {} : { tls: { ...pool.tls, verify: pool.tls.verify ?? true } }),
    protocol: pool.protocol ?? 'http1',
    healthCheck: { ...raw.healthCheck, ...pool.healthCheck },
    slowStart: { ...raw.slowStart, ...pool.slowStart },
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
