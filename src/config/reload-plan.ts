// What a reload may and may not change, decided before anything is applied. Pure.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.js';

/** Keys whose change needs a restart: listeners, the state store, upstream connection settings. */
const RESTART_ONLY = ['listen', 'preview', 'admin', 'state', 'timeouts', 'log', 'workers'] as const;
const RESTART_ONLY_ROUTING = ['stickyCookie', 'overrideHeader', 'overrideAllow', 'poolHeader'] as const;
/** The HTTPS listener's address and its ALPN list are fixed when it is made; certificates, minVersion and redirectHttp reload. */
const RESTART_ONLY_TLS = ['host', 'port', 'http2'] as const;

export interface ReloadPlan {
  /** Reasons to refuse the whole reload (`key.path: why`). */
  problems: string[];
  /** Changed keys that are kept at their running values until a restart. */
  ignored: string[];
}

export function planReload(running: Config, next: Config, weights: Record<string, number>): ReloadPlan {
  const problems: string[] = [];
  const nextNames = new Set(next.pools.map((pool) => pool.name));
  for (const pool of running.pools) {
    const weight = weights[pool.name] ?? 0;
    if (!nextNames.has(pool.name) && weight > 0) {
      problems.push(`pools.${pool.name}: cannot remove a pool that has traffic weight (${weight}); move its traffic first`);
    }
  }
  const ignored: string[] = RESTART_ONLY.filter((key) => !isDeepStrictEqual(running[key], next[key]));
  for (const key of RESTART_ONLY_ROUTING) {
    if (!isDeepStrictEqual(running.routing[key], next.routing[key])) ignored.push(`routing.${key}`);
  }
  // A TLS listener added or removed needs a restart as a whole; otherwise only its fixed keys do.
  if ((running.tls === undefined) !== (next.tls === undefined)) ignored.push('tls');
  else if (running.tls !== undefined && next.tls !== undefined) {
    for (const key of RESTART_ONLY_TLS) if (running.tls[key] !== next.tls[key]) ignored.push(`tls.${key}`);
  }
  return { problems, ignored };
}

/**
 * The config a reload runs on: `next`, with every key the plan ignored at its running value, so
 * status and config agree with what runs. `ignored` holds top-level keys (`listen`, `tls`) and
 * `routing.*` / `tls.*` ones.
 */
export function keptConfig(running: Config, next: Config, ignored: readonly string[]): Config {
  const merged: Record<string, unknown> = { ...next, routing: { ...next.routing } };
  for (const key of ignored) {
    const [top, inner] = key.split('.', 2) as [keyof Config, string | undefined];
    if (inner === undefined) merged[top] = running[top];
    else if (top === 'routing') (merged.routing as Record<string, unknown>)[inner] = running.routing[inner as keyof Config['routing']];
    else if (top === 'tls' && running.tls !== undefined && next.tls !== undefined) {
      merged.tls = { ...(merged.tls as Config['tls']), [inner]: running.tls[inner as keyof NonNullable<Config['tls']>] };
    }
  }
  return merged as unknown as Config;
}
