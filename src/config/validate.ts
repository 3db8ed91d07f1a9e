// Checks the schema cannot express: URLs, pool names, duplicate targets, weights, and
// the admin listener's safety rule. Pure: takes the file (defaults applied), returns problems.
import { isIP } from 'node:net';
import { POOL_NAME, type RawConfig } from './schema.js';
import { formatProblem, type KeyedProblem } from './key-path.js';
import { parseStatusRanges } from '../health/status-range.js';
import { weightProblem } from '../routing/weights.js';
import { parseCidr } from '../routing/override.js';

/** RFC 9110 token: what a header name and (RFC 6265) a cookie name must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function semanticProblems(raw: RawConfig): string[] {
  return semanticIssues(raw).map(formatProblem);
}

/**
 * The same checks, each problem with its key path. Safe on a file that failed the schema
 * (so that every problem is listed at once): a check whose input has the wrong shape is
 * skipped, the schema has already reported that key.
 */
export function semanticIssues(raw: RawConfig): KeyedProblem[] {
  const problems: KeyedProblem[] = [];
  const add = (path: string, message: string) => { problems.push({ path, message }); };
  const file = raw as unknown as Record<string, unknown>;
  const pools = record(file.pools);
  const poolNames = pools === undefined ? [] : Object.keys(pools);
  if (pools !== undefined && poolNames.length === 0) add('pools', 'at least one pool is required');

  const seenTargets = new Map<string, string>();
  for (const name of poolNames) {
    if (!POOL_NAME.test(name)) add(`pools.${name}`, `pool name must match ${POOL_NAME.source}`);
    const pool = record(pools![name]);
    if (pool === undefined) continue;
    const targets = Array.isArray(pool.targets) ? (pool.targets as unknown[]) : [];
    const discover = record(pool.discover);
    // An empty list is allowed only beside `discover`: a pool with nothing to route to is a typo.
    if ((pool.targets === undefined || Array.isArray(pool.targets)) && targets.length === 0 && pool.discover === undefined) {
      add(`pools.${name}.targets`, pool.targets === undefined ? 'required (or discover)' : 'at least one target is required (or discover)');
    }
    if (discover !== undefined && discover.type !== 'SRV' && discover.port === undefined && typeof discover.dns === 'string') {
      add(`pools.${name}.discover.port`, `required for type ${String(discover.type ?? 'A')} (only SRV records carry their own ports)`);
    }
    if (typeof discover?.dns === 'string' && discover.dns !== '' && !DNS_NAME.test(discover.dns)) {
      add(`pools.${name}.discover.dns`, `not a DNS name (${JSON.stringify(discover.dns)})`);
    }
    // SPEC §14: h2c is HTTP/2 in clear (http:// targets), h2 is HTTP/2 over TLS (https://).
    const wanted = pool.protocol === 'h2c' ? 'http:' : pool.protocol === 'h2' ? 'https:' : null;
    if (wanted !== null && typeof discover?.scheme === 'string' && `${discover.scheme}:` !== wanted) {
      add(`pools.${name}.discover.scheme`, `protocol ${String(pool.protocol)} needs scheme ${wanted.slice(0, -1)}`);
    }
    targets.forEach((target, index) => {
      if (typeof target !== 'string') return;
      const where = `pools.${name}.targets[${index}]`;
      const url = parseTargetUrl(target);
      if (typeof url === 'string') return add(where, url);
      if (wanted !== null && url.protocol !== wanted) {
        add(where, `protocol ${String(pool.protocol)} needs ${wanted}// targets (${url.origin})`);
      }
      const earlier = seenTargets.get(url.origin);
      if (earlier !== undefined) add(where, `duplicate target ${url.origin} (also ${earlier})`);
      else seenTargets.set(url.origin, where);
    });
    const expect = record(pool.healthCheck)?.expectStatus;
    if (typeof expect === 'string' && parseStatusRanges(expect) === null) {
      add(`pools.${name}.healthCheck.expectStatus`, statusRangeHint(expect));
    }
    // A gRPC check speaks HTTP/2, and so must the pool's traffic (SPEC §14): a check that passes
    // over a protocol the requests do not use would keep a target in rotation that fails them.
    const poolType = record(pool.healthCheck)?.type;
    const type = poolType ?? record(file.healthCheck)?.type;
    if (type === 'grpc' && (pool.protocol === undefined || pool.protocol === 'http1')) {
      add(poolType !== undefined ? `pools.${name}.healthCheck.type` : 'healthCheck.type',
        `grpc checks need pools.${name}.protocol h2c or h2 (gRPC runs over HTTP/2; it is ${String(pool.protocol ?? 'http1')})`);
    }
  }

  const expect = record(file.healthCheck)?.expectStatus;
  if (typeof expect === 'string' && parseStatusRanges(expect) === null) {
    add('healthCheck.expectStatus', statusRangeHint(expect));
  }

  const routing = record(file.routing) ?? {};
  if (typeof routing.stickyCookie === 'string' && routing.stickyCookie !== '' && !TOKEN.test(routing.stickyCookie)) {
    add('routing.stickyCookie', `not a valid cookie name (${JSON.stringify(routing.stickyCookie)})`);
  }
  for (const key of ['overrideHeader', 'poolHeader'] as const) {
    const name = routing[key];
    if (typeof name === 'string' && name !== '' && !TOKEN.test(name)) add(`routing.${key}`, `not a valid header name (${JSON.stringify(name)})`);
  }
  if (Array.isArray(routing.overrideAllow)) {
    (routing.overrideAllow as unknown[]).forEach((entry, index) => {
      if (typeof entry === 'string' && parseCidr(entry) === null) add(`routing.overrideAllow[${index}]`, `not a CIDR (${JSON.stringify(entry)})`);
    });
  }

  const initial = record(routing.initial);
  if (initial !== undefined && pools !== undefined) {
    const problem = weightProblem(initial, poolNames);
    if (problem !== null) add(`routing.initial${problem.key === undefined ? '' : `.${problem.key}`}`, problem.message);
  }

  const admin = record(file.admin) ?? {};
  const listen = record(file.listen) ?? {};
  if (admin.token === '' && typeof admin.host === 'string' && !isLoopback(admin.host)) {
    add('admin.token', `required when admin.host (${admin.host}) is not a loopback address`);
  }
  if (typeof listen.port === 'number' && listen.port !== 0 && listen.port === admin.port) {
    add('admin.port', `${admin.port} is already listen.port`);
  }
  const preview = record(file.preview);
  if (preview !== undefined && typeof preview.port === 'number' && preview.port !== 0
    && [listen.port, admin.port].includes(preview.port)) {
    add('preview.port', `${preview.port} is already used by listen or admin`);
  }
  // The HTTPS listener needs a port of its own (0 = any free one, as in tests).
  const tls = record(file.tls);
  if (tls !== undefined && typeof tls.port === 'number' && tls.port !== 0) {
    const taken = ([['listen.port', listen.port], ['admin.port', admin.port], ['preview.port', preview?.port]] as const)
      .find(([, port]) => port === tls.port);
    if (taken !== undefined) add('tls.port', `${tls.port} is already ${taken[0]}`);
  }
  const servers = record(file.resolver)?.servers;
  if (Array.isArray(servers)) {
    (servers as unknown[]).forEach((server, index) => {
      if (typeof server === 'string' && !isResolverServer(server)) {
        add(`resolver.servers[${index}]`, `not "ip" or "ip:port" (${JSON.stringify(server)})`);
      }
    });
  }
  const state = record(file.state);
  if (state !== undefined && state.store === 'redis' && typeof state.url === 'string' && !/^rediss?:\/\//.test(state.url)) {
    add('state.url', `not a redis:// or rediss:// URL (${state.url})`);
  }
  return problems;
}

/** Labels of letters, digits, `-` and `_` (SRV names: `_http._tcp.app`), an optional final dot. */
const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** What node's `Resolver.setServers` takes: `1.2.3.4`, `1.2.3.4:53`, `::1`, `[::1]:53` (port 1..65535). */
export function isResolverServer(text: string): boolean {
  if (isIP(text) !== 0) return true;
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (match === null) return false;
  const port = Number(match[3]);
  const host = match[1] ?? match[2]!;
  return port >= 1 && port <= 65535 && (match[1] === undefined ? isIP(host) === 4 : isIP(host) === 6);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A target must be an absolute http(s) URL naming only an origin. */
export function parseTargetUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL (${JSON.stringify(text)})`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `not an http or https URL (${text})`;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return `a target is an origin only, without path or query (${text})`;
  }
  if (url.username !== '' || url.password !== '') return `credentials in a target URL are not supported (${text})`;
  return url;
}

function statusRangeHint(text: string): string {
  return `not a status list like "200-399" or "200,204" (${JSON.stringify(text)})`;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}
