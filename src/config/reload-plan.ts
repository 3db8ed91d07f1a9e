// What a reload may and may not change, decided before anything is applied. Pure.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.js';

/** Keys whose change needs a restart: listeners, the state store, upstream connection settings. */
const RESTART_ONLY = ['listen', 'preview', 'admin', 'state', 'timeouts', 'log'] as const;
const RESTART_ONLY_ROUTING = ['stickyCookie', 'overrideHeader', 'overrideAllow', 'poolHeader'] as const;

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
  return { problems, ignored };
}
