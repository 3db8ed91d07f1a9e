// This instance's place in the fleet: it heartbeats what it serves (revision, per-pool
// weight, drain state and in-flight) with a TTL, and reads everybody's heartbeats back to
// answer "is blue drained on every instance?" — the signal to wait for before tearing it down.
import { hostname } from 'node:os';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { Flag } from '../pool/health-flags.js';
import type { InstanceReport, StateStore } from './store.js';
import type { Counts } from '../rollout/latency-histogram.js';

export interface FleetOptions {
  store: StateStore;
  instance: { id: string; startedAt: string };
  pools: () => readonly UpstreamPool[];
  revision: () => number;
  intervalMs: number;
  /** This instance's cumulative request counts per pool. */
  meters?: () => Record<string, Counts>;
}

export class Fleet {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: FleetOptions) {}

  /** A heartbeat lives this long without renewal. */
  get ttlMs(): number {
    return this.options.intervalMs * 3;
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  report(): InstanceReport {
    const { instance, store } = this.options;
    return {
      id: instance.id,
      host: hostname(),
      startedAt: instance.startedAt,
      revision: this.options.revision(),
      storeUp: store.up,
      pools: Object.fromEntries(this.options.pools().map((pool) => [pool.name, {
        weight: pool.weight,
        state: pool.state,
        inflight: pool.inflight - pool.previewInflight, // preview traffic never holds a drain
        longLived: pool.longLived,
        drainedAt: pool.drainedAt?.toISOString() ?? null,
        targets: Object.fromEntries(pool.targets.map((target) => [target.id, {
          state: target.health.has(Flag.REMOVED) ? 'removed' : target.adminState,
          inflight: target.inflight,
          drainedAt: target.drainedAt?.toISOString() ?? null,
        }])),
      }])),
      ...(this.options.meters === undefined ? {} : { meters: this.options.meters() }),
      seenAt: new Date().toISOString(),
    };
  }

  /** Live instances, this one's report fresh (not its last heartbeat's), so a wait on this instance alone is never a beat late. */
  async instancesFresh(): Promise<InstanceReport[]> {
    const own = this.report();
    return [own, ...(await this.instances()).filter((report) => report.id !== own.id)];
  }

  /** Live instances; while the store is down (or stops answering now), only this one (and it says so). */
  async instances(): Promise<InstanceReport[]> {
    if (!this.options.store.up) return [this.report()];
    return this.options.store.instances().catch(() => [this.report()]);
  }

  /** Bounded by the store's time limit; while the store is down there is nobody to tell. */
  private async beat(): Promise<void> {
    if (!this.options.store.up) return;
    await this.options.store.heartbeat(this.report(), this.ttlMs).catch(() => undefined);
  }
}

/** Per pool across instances: drained (or never used) everywhere, and total in flight. */
export function fleetPools(instances: readonly InstanceReport[]): Record<string, { drainedEverywhere: boolean; inflight: number; longLived: number; instances: number }> {
  const out: Record<string, { drainedEverywhere: boolean; inflight: number; longLived: number; instances: number }> = {};
  for (const instance of instances) {
    for (const [name, pool] of Object.entries(instance.pools)) {
      const entry = (out[name] ??= { drainedEverywhere: true, inflight: 0, longLived: 0, instances: 0 });
      entry.instances++;
      entry.inflight += pool.inflight;
      entry.longLived += pool.longLived;
      if (!(pool.state === 'drained' || pool.state === 'standby') || pool.inflight > 0 || pool.longLived > 0) entry.drainedEverywhere = false;
    }
  }
  return out;
}

/** One target across the fleet: instances that report it, its in-flight on all of them, drained on every one of them. */
export interface FleetTarget {
  instances: number;
  inflight: number;
  drainedEverywhere: boolean;
}

/**
 * Per target of `pool` across instances (SPEC §11 `--wait`): drained everywhere once every
 * instance's latest report has it fenced (not `ready`) with nothing in flight. A report from
 * before the change still says `ready`, so a wait never ends on stale heartbeats.
 */
export function fleetTargets(instances: readonly InstanceReport[], pool: string): Record<string, FleetTarget> {
  const out: Record<string, FleetTarget> = {};
  for (const instance of instances) {
    for (const [id, target] of Object.entries(instance.pools[pool]?.targets ?? {})) {
      const entry = (out[id] ??= { instances: 0, inflight: 0, drainedEverywhere: true });
      entry.instances++;
      entry.inflight += target.inflight;
      if (target.state === 'ready' || target.drainedAt === null || target.inflight > 0) entry.drainedEverywhere = false;
    }
  }
  return out;
}
