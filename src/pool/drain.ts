// Where a drain ends. When a pool's weight drops to 0 it is fenced (the router no longer
// picks it); its in-flight requests finish; once it is drained its upstream connections
// close gracefully. Whatever is still running after `drain.timeoutMs` — long polls, SSE
// streams, WebSocket tunnels — is cut. Fenced targets (admin drain or maint, removed) drain the same way, their
// tunnels included (a tunnel's socket left undici's pool at its 101, so it is cut by name).
import type { Logger } from '../observe/logger.js';
import type { Target } from './target.js';
import { Flag } from './health-flags.js';
import type { UpstreamPool } from './upstream-pool.js';

export interface DrainOptions {
  timeoutMs: number;
  /** Closes the pool's long-lived connections (tunnels); returns how many. */
  closeLongLived: (pool: UpstreamPool) => number;
  logger: Logger;
}

export class DrainController {
  private readonly timers = new Map<UpstreamPool | Target, NodeJS.Timeout>();
  private readonly tracked = new WeakSet<UpstreamPool>();

  constructor(private options: DrainOptions) {}

  configure(timeoutMs: number): void {
    this.options = { ...this.options, timeoutMs };
  }

  track(pool: UpstreamPool): void {
    if (this.tracked.has(pool)) return;
    this.tracked.add(pool);
    pool.on('drained', () => this.drained(pool));
  }

  /** Called after a routing change set the pool's weight. */
  weightChanged(pool: UpstreamPool, before: number): void {
    if (pool.weight > 0) return this.cancel(pool); // back in service: connections reopen on use
    if (before > 0 && pool.phase === 'draining') {
      this.options.logger.info({ kind: 'drain', pool: pool.name, inflight: pool.inflight, longLived: pool.longLived }, 'pool draining');
      this.schedule(pool, () => this.timedOut(pool));
    }
  }

  /**
   * A target fenced with work in flight (admin drain or maint, or removed): its requests and
   * tunnels (both in `target.inflight`) finish, or are cut at the timeout. The target set
   * calls `unfence` when it drained or came back.
   */
  fence(target: Target): void {
    this.schedule(target, () => this.targetTimedOut(target));
  }

  unfence(target: Target): void {
    this.cancel(target);
  }

  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private drained(pool: UpstreamPool): void {
    this.cancel(pool);
    for (const target of pool.targets) void target.closeConnections();
    this.options.logger.info({ kind: 'drain', pool: pool.name, drainedAt: pool.drainedAt }, 'pool drained');
  }

  private timedOut(pool: UpstreamPool): void {
    this.timers.delete(pool);
    if (pool.phase !== 'draining') return;
    const tunnels = this.options.closeLongLived(pool);
    this.options.logger.warn({ kind: 'drain', pool: pool.name, inflight: pool.inflight, tunnels, timeoutMs: this.options.timeoutMs },
      'drain timeout: cutting what is still running');
    for (const target of pool.targets) void target.destroyConnections();
  }

  private targetTimedOut(target: Target): void {
    const why = target.health.has(Flag.REMOVED) ? 'removed' : target.adminState;
    const tunnels = target.closeTunnels(`closed by drain timeout (target ${why})`);
    this.options.logger.warn({ kind: 'drain', pool: target.pool, target: target.url, state: why, inflight: target.inflight, tunnels,
      timeoutMs: this.options.timeoutMs }, `drain timeout of a ${why} target: cutting what is still running`);
    void target.destroyConnections();
  }

  private schedule(key: UpstreamPool | Target, action: () => void): void {
    this.cancel(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      action();
    }, this.options.timeoutMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  private cancel(key: UpstreamPool | Target): void {
    const timer = this.timers.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(key);
  }
}

/**
 * A routing state's weights onto `pools` (absent = 0), each change told to `drain`, which starts
 * a pool's drain timer when its weight drops to 0. The one place weights reach the pools, in the
 * single process and in every worker alike.
 */
export function applyWeights(pools: readonly UpstreamPool[], weights: Readonly<Record<string, number>>, drain: DrainController, now = new Date()): void {
  for (const pool of pools) {
    const before = pool.weight;
    pool.setWeight(weights[pool.name] ?? 0, now);
    drain.weightChanged(pool, before);
  }
}
