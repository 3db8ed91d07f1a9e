// Runs DNS discovery (SPEC §12): one loop per discovering pool — resolve, decide with the pure
// state machine, hand the set to the target set (the one owner of live targets), sleep
// `delayMs`, again. Failures are logged (on `warn` only: a long outage is one line, not one a
// second) and counted for `switchyard_discovery_errors_total{pool}`.
import { isDeepStrictEqual } from 'node:util';
import type { DiscoverConfig, PoolConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { DiscoveredTarget, DiscoveryInfo } from '../pool/target-set.js';
import { addressUrl, DnsResolver, isFailure, type DnsQuery, type DnsResult } from './dns.js';
import { INITIAL_DISCOVERY_STATE, nextDiscoveryState, type DiscoveryState } from './discovery-state.js';

/** What a loop needs from the target set. */
export interface DiscoverySink {
  applyDiscovered(pool: string, targets: readonly DiscoveredTarget[], info: DiscoveryInfo): unknown;
}

/** One query; DnsResolver in production, a fake in unit tests. Never throws. */
export type Resolve = (query: DnsQuery) => Promise<DnsResult>;

export interface DiscovererOptions {
  sink: DiscoverySink;
  logger: Logger;
  /** Makes the query function for a `resolver.servers` list (default: a DnsResolver over them). */
  resolverFor?: (servers: readonly string[]) => Resolve;
  /** Epoch ms and jitter source, for tests. */
  now?: () => number;
  random?: () => number;
  /** Passed to the state machine (tests shorten them). */
  minDelayMs?: number;
  retryMs?: number;
}

interface Loop {
  pool: string;
  config: DiscoverConfig;
  state: DiscoveryState;
  timer: NodeJS.Timeout | null;
  /** False once replaced or stopped: an answer still in flight is then dropped. */
  live: boolean;
}

export class Discoverer {
  private loops = new Map<string, Loop>();
  private servers: readonly string[] = [];
  private resolve: Resolve;
  private running = false;
  /** The delay the loop's last query asked for (ms), so `start` after `runOnce` keeps its schedule. */
  private readonly lastDelay = new WeakMap<Loop, number>();
  /** Failed queries per pool since start: a running total (the metric hands over increments). */
  readonly errors = new Map<string, number>();

  constructor(private readonly options: DiscovererOptions) {
    this.resolve = this.makeResolver([]);
  }

  /**
   * Takes the pools and `resolver.servers` of a (re)loaded config: new discovering pools get a
   * loop, pools that stopped discovering lose theirs, a pool whose query changed (name, type,
   * port, scheme) starts over; timing changes keep the pool's state. Once started, new or
   * changed loops query at once. Throws TypeError for a server node rejects (validated before).
   */
  configure(pools: readonly PoolConfig[], servers: readonly string[]): void {
    const serversChanged = !isDeepStrictEqual(servers, this.servers);
    if (serversChanged) {
      this.resolve = this.makeResolver(servers);
      this.servers = [...servers];
    }
    const wanted = new Map(pools.flatMap((pool) => (pool.discover === undefined ? [] : [[pool.name, pool.discover] as const])));
    for (const [name, loop] of this.loops) {
      if (!wanted.has(name)) this.end(loop);
    }
    for (const [name, config] of wanted) {
      const old = this.loops.get(name);
      if (old !== undefined && isDeepStrictEqual(old.config, config) && !serversChanged) continue;
      const sameQuery = old !== undefined && sameTargets(old.config, config);
      if (old !== undefined) this.end(old);
      const loop: Loop = { pool: name, config, state: sameQuery ? old.state : INITIAL_DISCOVERY_STATE, timer: null, live: true };
      this.loops.set(name, loop);
      if (this.running) void this.round(loop);
    }
  }

  /** One query for every discovering pool, applied before it resolves (startup: before the first health round). */
  async runOnce(): Promise<void> {
    await Promise.all([...this.loops.values()].map((loop) => this.query(loop)));
  }

  /** Schedules every loop (after `runOnce`, their next query comes after the delay it gave). */
  start(): void {
    this.running = true;
    for (const loop of this.loops.values()) {
      if (loop.timer === null) this.schedule(loop, loop.state.resolvedAt === null ? 0 : this.lastDelay.get(loop) ?? 0);
    }
  }

  /** Clears every timer; answers still in flight are dropped. */
  stop(): void {
    this.running = false;
    for (const loop of this.loops.values()) this.end(loop);
    this.loops.clear();
  }

  /** The pool's discovery state (for tests and status). */
  state(pool: string): DiscoveryState | undefined {
    return this.loops.get(pool)?.state;
  }

  private makeResolver(servers: readonly string[]): Resolve {
    if (this.options.resolverFor !== undefined) return this.options.resolverFor(servers);
    const resolver = new DnsResolver({ servers });
    return (query) => resolver.resolve(query);
  }

  private end(loop: Loop): void {
    loop.live = false;
    if (loop.timer !== null) clearTimeout(loop.timer);
    loop.timer = null;
    if (this.loops.get(loop.pool) === loop) this.loops.delete(loop.pool);
  }

  private schedule(loop: Loop, delayMs: number): void {
    if (!loop.live || !this.running) return;
    // unref: a pending query never keeps the process alive on its own.
    loop.timer = setTimeout(() => { loop.timer = null; void this.round(loop); }, delayMs);
    loop.timer.unref();
  }

  private async round(loop: Loop): Promise<void> {
    const delay = await this.query(loop);
    if (delay !== null) this.schedule(loop, delay);
  }

  /** One query for `loop`, applied; the delay before the next, or null when the loop ended meanwhile. */
  private async query(loop: Loop): Promise<number | null> {
    const { config } = loop;
    const result = await this.resolve({ name: config.dns, type: config.type, port: config.port ?? 0 });
    if (!loop.live) return null;
    const now = this.options.now?.() ?? Date.now();
    const step = nextDiscoveryState(loop.state, result, {
      now, refreshMs: config.refreshMs, holdMs: config.holdMs, random: this.options.random ?? Math.random,
      ...(this.options.minDelayMs === undefined ? {} : { minDelayMs: this.options.minDelayMs }),
      ...(this.options.retryMs === undefined ? {} : { retryMs: this.options.retryMs }),
    });
    const before = loop.state;
    loop.state = step.state;
    const fields = { kind: 'discovery', pool: loop.pool, dns: config.dns, type: config.type };
    if (isFailure(result)) {
      this.errors.set(loop.pool, (this.errors.get(loop.pool) ?? 0) + 1);
      if (step.warn) {
        this.options.logger.warn({ ...fields, error: result.error, code: result.code, message: result.message, stale: step.state.stale,
          targets: step.state.addresses.length, holdMs: config.holdMs },
          step.state.stale ? 'DNS discovery failed: keeping the last good targets' : 'DNS discovery failed: no targets from DNS');
      }
    } else if (before.lastError !== null) {
      this.options.logger.info({ ...fields, after: before.lastError }, 'DNS discovery answering again');
    }
    const { state } = step;
    this.options.sink.applyDiscovered(loop.pool,
      state.addresses.map((address) => ({ url: addressUrl(config.scheme, address), weight: address.weight, name: address.name })),
      { dns: config.dns, type: config.type, stale: state.stale, lastError: state.lastError, resolvedAt: state.resolvedAt, lastGoodAt: state.lastGoodAt, ttlMs: state.ttlMs });
    if (step.added.length > 0 || step.removed.length > 0) {
      this.options.logger.info({ ...fields, added: step.added, removed: step.removed, ttlMs: state.ttlMs }, 'DNS discovery: targets changed');
    }
    this.lastDelay.set(loop, step.delayMs);
    return step.delayMs;
  }
}

/** Whether two configs query the same thing and make the same URLs (then the held state still holds). */
function sameTargets(a: DiscoverConfig, b: DiscoverConfig): boolean {
  return a.dns === b.dns && a.type === b.type && a.port === b.port && a.scheme === b.scheme;
}
