// Checks the schema cannot express: URLs, pool names, duplicate targets, weights, and
// the admin listener's safety rule. Pure: takes the schema-valid file, returns problems.
import { isIP } from 'node:net';
import { POOL_NAME, type RawConfig } from './schema.js';
import { parseStatusRanges } from '../health/status-range.js';
import { weightProblem } from '../routing/weights.js';

export function semanticProblems(raw: RawConfig): string[] {
  const problems: string[] = [];
  const poolNames = Object.keys(raw.pools);
  if (poolNames.length === 0) problems.push('pools: at least one pool is required');

  const seenTargets = new Map<string, string>();
  for (const name of poolNames) {
    const pool = raw.pools[name]!;
    if (!POOL_NAME.test(name)) problems.push(`pools.${name}: pool name must match ${POOL_NAME.source}`);
    pool.targets.forEach((target, index) => {
      const where = `pools.${name}.targets[${index}]`;
      const url = parseTargetUrl(target);
      if (typeof url === 'string') return problems.push(`${where}: ${url}`);
      const earlier = seenTargets.get(url.origin);
      if (earlier !== undefined) problems.push(`${where}: duplicate target ${url.origin} (also ${earlier})`);
      else seenTargets.set(url.origin, where);
    });
    const expect = pool.healthCheck?.expectStatus;
    if (expect !== undefined && parseStatusRanges(expect) === null) {
      problems.push(`pools.${name}.healthCheck.expectStatus: ${statusRangeHint(expect)}`);
    }
  }

  if (parseStatusRanges(raw.healthCheck.expectStatus) === null) {
    problems.push(`healthCheck.expectStatus: ${statusRangeHint(raw.healthCheck.expectStatus)}`);
  }

  if (raw.routing.initial !== undefined) {
    const problem = weightProblem(raw.routing.initial, poolNames);
    if (problem !== null) problems.push(`routing.initial${problem.key === undefined ? '' : `.${problem.key}`}: ${problem.message}`);
  }

  if (raw.admin.token === '' && !isLoopback(raw.admin.host)) {
    problems.push(`admin.token: required when admin.host (${raw.admin.host}) is not a loopback address`);
  }
  if (raw.listen.port !== 0 && raw.listen.port === raw.admin.port) {
    problems.push(`admin.port: ${raw.admin.port} is already listen.port`);
  }
  if (raw.preview !== undefined && raw.preview.port !== 0 && [raw.listen.port, raw.admin.port].includes(raw.preview.port)) {
    problems.push(`preview.port: ${raw.preview.port} is already used by listen or admin`);
  }
  if (raw.state.store === 'redis' && !/^rediss?:\/\//.test(raw.state.url)) {
    problems.push(`state.url: not a redis:// or rediss:// URL (${raw.state.url})`);
  }
  return problems;
}

/** A target must be an absolute http(s) URL naming only an origin. */
function parseTargetUrl(text: string): URL | string {
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
