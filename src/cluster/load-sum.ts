// With workers (SPEC §15) the primary's pools and targets serve nothing themselves: their
// in-flight counts and drain times are the workers' summed, so status, metrics, fleet
// heartbeats and drain waits read them exactly as they read a single process's. Pure.
import type { UpstreamPool } from '../pool/upstream-pool.js';
import type { PoolLoad } from './messages.js';

/**
 * Writes the sum of `loads` (one per live worker) onto `pools`: in-flight, preview and long-lived
 * counts per pool and per target. A draining pool is drained when it is on every worker, at the
 * latest worker's time; a worker that has not reported it yet holds it. A fenced target is
 * drained when every worker that has it says so: then it is settled here (the target set was
 * told its counts are remote, so it waits for this), and a removed one leaves the pool.
 */
export function sumLoads(pools: readonly UpstreamPool[], loads: ReadonlyArray<Readonly<Record<string, PoolLoad>>>): void {
  for (const pool of pools) {
    let inflight = 0;
    let previewInflight = 0;
    let longLived = 0;
    let drainedAt: number | null = 0;
    for (const load of loads) {
      const entry = load[pool.name];
      if (entry === undefined) {
        drainedAt = null;
        continue;
      }
      inflight += entry.inflight;
      previewInflight += entry.previewInflight;
      longLived += entry.longLived;
      drainedAt = drainedAt === null || entry.drainedAt === null ? null : Math.max(drainedAt, entry.drainedAt);
    }
    pool.inflight = inflight;
    pool.previewInflight = previewInflight;
    pool.longLived = longLived;
    const draining = pool.phase === 'draining' || pool.phase === 'drained';
    pool.drainedAt = draining && drainedAt !== null && loads.length > 0 ? new Date(drainedAt) : draining && loads.length === 0 ? pool.drainedAt : null;
    for (const target of pool.targets) {
      let count = 0;
      let drained = true;
      for (const load of loads) {
        // A worker without the target never had it, or drained it and let it go (a removal).
        const entry = load[pool.name]?.targets[target.id];
        if (entry === undefined) continue;
        count += entry.inflight;
        if (entry.drainedAt === null) drained = false;
      }
      target.inflight = count;
      if (!target.health.fenced || !drained) target.drainedAt = null;
      else if (target.drainedAt === null) target.settle(); // drained on every worker: the target set ends its drain (a removed one leaves)
    }
  }
}
