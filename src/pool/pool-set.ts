// The configured pools and their targets, built from config and reconciled on reload.
// The only place that turns target URLs into Targets with connection pools.
import type { PoolConfig } from '../config/schema.js';
import { UpstreamClient, type UpstreamClientOptions } from '../proxy/upstream-client.js';
import { Target } from './target.js';
import { UpstreamPool } from './upstream-pool.js';

export interface Reconciled {
  addedTargets: Target[];
  removedTargets: Target[];
  addedPools: UpstreamPool[];
  removedPools: UpstreamPool[];
}

export class PoolSet {
  pools: UpstreamPool[] = [];
  private byName = new Map<string, UpstreamPool>();

  constructor(configs: readonly PoolConfig[], private readonly clientOptions: UpstreamClientOptions) {
    this.reconcile(configs);
  }

  get names(): string[] {
    return this.pools.map((pool) => pool.name);
  }

  get(name: string): UpstreamPool | undefined {
    return this.byName.get(name);
  }

  /** True when the pool exists and has a target that may take traffic now. */
  ready(name: string): boolean {
    return (this.byName.get(name)?.readyTargets ?? 0) > 0;
  }

  targets(): Target[] {
    return this.pools.flatMap((pool) => pool.targets);
  }

  /**
   * Makes the pools match `configs`: existing targets (by URL) are kept with their
   * connections, health and counters; new ones are created; the rest are returned so the
   * caller can drain them.
   */
  reconcile(configs: readonly PoolConfig[]): Reconciled {
    const result: Reconciled = { addedTargets: [], removedTargets: [], addedPools: [], removedPools: [] };
    const next: UpstreamPool[] = [];
    for (const config of configs) {
      let pool = this.byName.get(config.name);
      if (pool === undefined) {
        pool = new UpstreamPool(config.name, config.version, [], config.healthCheck);
        result.addedPools.push(pool);
      }
      pool.version = config.version;
      pool.healthCheck = config.healthCheck;
      const existing = new Map(pool.targets.map((target) => [target.url, target]));
      pool.targets = config.targets.map((url) => {
        const kept = existing.get(url);
        existing.delete(url);
        if (kept !== undefined) return kept;
        const target = new Target(url, config.name, () => new UpstreamClient(url, this.clientOptions));
        result.addedTargets.push(target);
        return target;
      });
      result.removedTargets.push(...existing.values());
      next.push(pool);
    }
    const kept = new Set(configs.map((config) => config.name));
    for (const pool of this.pools) {
      if (kept.has(pool.name)) continue;
      result.removedPools.push(pool);
      result.removedTargets.push(...pool.targets);
    }
    this.pools = next;
    this.byName = new Map(next.map((pool) => [pool.name, pool]));
    return result;
  }

  /** Graceful: waits for in-flight upstream requests, then closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.targets().map((target) => target.closeConnections()));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.targets().map((target) => target.destroyConnections()));
  }
}
