// The configured pools and their targets, built from config. The only place that turns
// target URLs into Targets with connection pools.
import type { PoolConfig } from '../config/schema.js';
import { UpstreamClient, type UpstreamClientOptions } from '../proxy/upstream-client.js';
import { Target } from './target.js';
import { UpstreamPool } from './upstream-pool.js';

export class PoolSet {
  readonly pools: UpstreamPool[];
  private readonly byName: Map<string, UpstreamPool>;

  constructor(configs: readonly PoolConfig[], clientOptions: UpstreamClientOptions) {
    this.pools = configs.map((pool) => new UpstreamPool(
      pool.name,
      pool.version,
      pool.targets.map((url) => new Target(url, pool.name, new UpstreamClient(url, clientOptions))),
    ));
    this.byName = new Map(this.pools.map((pool) => [pool.name, pool]));
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

  /** Waits for in-flight upstream requests, then closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.targets().map((target) => target.client.close()));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.targets().map((target) => target.client.destroy()));
  }
}
