// Reading a pool's targets (`target drain --wait`, `switchyard roll` poll them with poll.ts's
// waitUntil): the admin API has no push for targets, and a poll a few times a second is cheap
// next to a drain's seconds.
import type { AdminClient } from './admin-client.js';
import type { TargetView } from './format-targets.js';

export const targetsPath = (pool: string) => `/pools/${encodeURIComponent(pool)}/targets`;
export const targetPath = (pool: string, id: string) => `${targetsPath(pool)}/${encodeURIComponent(id)}`;

/**
 * The pool's targets across the fleet (`?fleet=1`: each with `fleet.drainedEverywhere` from every
 * instance's heartbeat); 404 UNKNOWN_POOL as a RefusedError.
 */
export function readTargets(client: AdminClient, pool: string): Promise<TargetView[]> {
  return client.get<TargetView[]>(`${targetsPath(pool)}?fleet=1`);
}

/**
 * Drained on every instance of the fleet (a request still running on another instance would
 * fail when CMD stops the target); `drainedAt` alone where the server gives no fleet view.
 */
export function drainedEverywhere(view: TargetView | null): boolean {
  if (view === null) return false;
  return view.fleet === undefined ? view.drainedAt !== null : view.fleet.drainedEverywhere && view.drainedAt !== null;
}

/** One target of the pool, or null when the pool has no target with that id (any more). */
export async function readTarget(client: AdminClient, pool: string, id: string): Promise<TargetView | null> {
  return (await readTargets(client, pool)).find((target) => target.id === id) ?? null;
}
