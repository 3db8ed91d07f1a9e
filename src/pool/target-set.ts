// The one owner of every pool's live targets (DESIGN "the target set, one owner"). Sources —
// the config file, the admin API's overrides (state store), DNS next — are reconciled here into
// the live set; picker, health, drain, status and metrics only read it. Nobody else creates or
// destroys a target's connection pool.
//   add → health-checked → (slow start) → rotation        remove → fenced → drained → closed
// Admin states (SPEC §11) are applied here too: `drain` fences and keeps checking, `maint`
// fences and stops checking, `ready` brings the target back (slow start applies).
import type { Config, HealthCheckConfig, PoolConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { UpstreamClient, upstreamServerName, type TargetClient, type UpstreamClientOptions } from '../proxy/upstream-client.js';
import { H2UpstreamClient } from '../proxy/h2-upstream-client.js';
import type { UpstreamProtocol } from '../config/schema.js';
import { UpstreamTls } from '../tls/upstream-tls.js';
import { Flag } from './health-flags.js';
import { Target } from './target.js';
import { DEFAULT_TARGET_WEIGHT, targetId, type AdminState, type TargetOverride, type TargetsState, type TargetSource } from './target-admin.js';
import { UpstreamPool } from './upstream-pool.js';

/** What the target set needs from the health checker, passive ejection and drain (main.ts wires them). */
export interface TargetLifecycle {
  /** Start (or re-configure) active checks; a new watch holds the target out of rotation until its first check. */
  watch(target: Target, config: HealthCheckConfig): void;
  unwatch(target: Target): void;
  /** Forget passive-health evidence about a target that left. */
  forget(target: Target): void;
  /** A target was fenced with work in flight: cut what is left after `drain.timeoutMs`. */
  fence(target: Target): void;
  /** A fenced target is back in service or gone: cancel its cut. */
  unfence(target: Target): void;
}

export interface Reconciled {
  addedTargets: Target[];
  removedTargets: Target[];
  addedPools: UpstreamPool[];
  removedPools: UpstreamPool[];
}

interface Desired {
  url: string;
  source: TargetSource;
  state: AdminState;
  weight: number;
  /** TLS server name (upstreamServerName): part of the target's identity, like its scheme. */
  servername: string | null;
  /** Set for `source: dns`: copied onto the target for status. */
  dns?: { ttlMs: number | null; resolvedAt: number | null; stale: boolean };
}

/** One discovered address as a target: its URL (`http://10.0.0.1:8000`) and weight (1..1000; SRV gives it, else 100). */
export interface DiscoveredTarget {
  url: string;
  weight: number;
  /** The DNS name the address came from (the queried name or an SRV target): an https target's SNI. */
  name?: string;
}

/**
 * A pool's discovery as status shows it (SPEC §12). Epoch ms; `ttlMs` of the last good answer;
 * `lastError` the last query's failure kind (`NXDOMAIN`, `SERVFAIL`, …), null after a good one;
 * `stale` while the targets are a held last good set.
 */
export interface DiscoveryInfo {
  /** What is asked: `discover.dns` and `discover.type`. */
  dns: string;
  type: string;
  stale: boolean;
  lastError: string | null;
  resolvedAt: number | null;
  lastGoodAt: number | null;
  ttlMs: number | null;
}

interface Discovered {
  targets: readonly DiscoveredTarget[];
  info: DiscoveryInfo;
}

/** Every target's connection settings from the config (timeouts, the per-target connection cap). */
export function targetClientOptions(config: Config): UpstreamClientOptions {
  return { connectMs: config.timeouts.connectMs, headersMs: config.timeouts.headersMs, connections: config.limits.maxConnectionsPerTarget };
}

export interface TargetSetOptions {
  clientOptions: UpstreamClientOptions;
  lifecycle: TargetLifecycle;
  logger: Logger;
  /** How often the pools' upstream TLS files are looked at (file-watch.ts); tests shorten it. */
  tlsWatchMs?: number;
  /**
   * In-flight counts come from elsewhere (SPEC §15: the primary's view of its workers): a fenced
   * target is never drained on the count it has at the fence, only when whoever sums the counts
   * calls `settle()` (cluster/load-sum.ts).
   */
  remoteLoad?: boolean;
}

export class TargetSet {
  pools: UpstreamPool[] = [];
  private byName = new Map<string, UpstreamPool>();
  private configs: readonly PoolConfig[] = [];
  private overrides: TargetsState | null = null;
  /** The third source: pool name → its last discovered set (only pools whose config has `discover`). */
  private discovered = new Map<string, Discovered>();
  /** Targets made before the proxy first served skip slow start on their first `ready`. */
  private serving = false;
  /**
   * Leaving targets still in rotation because none of their pool's new targets is ready yet
   * (make before break): a wholesale change — every DNS address replaced, a new file, a pool
   * switched to discovery — must not leave the pool with no ready target while the new ones
   * are checked (haproxy#3400). They leave as soon as a new one is ready, or nothing is wanted.
   */
  private handover = new Set<Target>();
  /**
   * Each pool's upstream TLS (SPEC §13), shared by its https targets' connections and checks:
   * a reload or a changed file swaps its options, which new connections then use.
   */
  private tls = new Map<string, UpstreamTls>();

  constructor(configs: readonly PoolConfig[], private readonly options: TargetSetOptions) {
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

  /** The live target of `pool` with this id, leaving ones included. */
  find(pool: string, id: string): Target | undefined {
    return this.byName.get(pool)?.targets.find((target) => target.id === id);
  }

  /**
   * Whether a source other than the API names this target in `pool` — the config file or its
   * DNS discovery — so that an API removal must be remembered, not just forgotten (else the
   * next reload or DNS answer would bring it back).
   */
  namedBeyondApi(pool: string, id: string): boolean {
    return this.configs.some((config) => config.name === pool && config.targets.some((url) => targetId(url) === id))
      || (this.discovered.get(pool)?.targets.some((target) => targetId(target.url) === id) ?? false);
  }

  /** From now on, a target entering rotation gets slow start (the first round of checks is over). */
  markServing(): void {
    this.serving = true;
  }

  /** The admin API's overrides changed (this instance or another one committed): apply them. */
  applyOverrides(state: TargetsState): Reconciled {
    this.overrides = state;
    return this.apply(this.configs);
  }

  /**
   * DNS discovery's answer for `pool` (SPEC §12), the whole set each time: new addresses are
   * created (source dns, health-checked before rotation), addresses gone from the set drain and
   * leave like any removal. An address the file also lists stays `source: config`; the API's
   * overrides (state, weight, removed) apply by id. Ignored for a pool that does not (or no
   * longer) discover — a late answer racing a reload must not bring targets back.
   */
  applyDiscovered(pool: string, targets: readonly DiscoveredTarget[], info: DiscoveryInfo): Reconciled & { leftDns: string[] } {
    if (!this.configs.some((config) => config.name === pool && config.discover !== undefined)) {
      return { ...emptyReconciled(), leftDns: [] };
    }
    const before = this.discovered.get(pool)?.targets ?? [];
    const now = new Set(targets.map((target) => targetId(target.url)));
    this.discovered.set(pool, { targets, info });
    // Ids DNS stopped naming (the file may still list them: then they are not DNS's to forget).
    const leftDns = before.map((target) => targetId(target.url)).filter((id) => !now.has(id) && !this.namedBeyondApi(pool, id));
    return { ...this.apply(this.configs), leftDns };
  }

  /**
   * Pools with weight > 0 that have no ready target and discover a name that has not been
   * answered since start (only SERVFAIL or timeouts, or no query yet). NXDOMAIN and an empty
   * answer are answers: that pool is empty for real, not for want of DNS.
   */
  awaitingFirstAnswer(weights: Readonly<Record<string, number>>): string[] {
    return this.configs.filter((config) => {
      if (config.discover === undefined || (weights[config.name] ?? 0) === 0 || this.ready(config.name)) return false;
      const info = this.discovered.get(config.name)?.info;
      return info === undefined || (info.lastGoodAt === null && info.lastError !== 'NXDOMAIN' && info.lastError !== 'EMPTY');
    }).map((config) => config.name);
  }

  /** The pool's discovery state, or undefined when it does not discover or has had no answer yet. */
  discovery(pool: string): DiscoveryInfo | undefined {
    return this.discovered.get(pool)?.info;
  }

  /**
   * A config (at start, on reload): each pool's upstream TLS files are read again (a changed
   * `pools.NAME.tls` or rotated files reach new connections), then the targets are applied.
   */
  reconcile(configs: readonly PoolConfig[]): Reconciled {
    for (const config of configs) {
      const tls = this.tls.get(config.name);
      if (tls === undefined) this.tls.set(config.name, new UpstreamTls(config.name, config.tls, this.options.logger, this.options.tlsWatchMs));
      else tls.configure(config.tls);
    }
    for (const [name, tls] of this.tls) {
      if (configs.some((config) => config.name === name)) continue;
      tls.stop(); // a removed pool's leaving targets keep its last options
      this.tls.delete(name);
    }
    return this.apply(configs);
  }

  /**
   * Makes the live set match the file's pools plus the overrides: kept targets (by id) keep
   * their connections, health and counters; new ones are created and watched; the rest are
   * fenced and leave once drained. Admin states and weights are applied to every target.
   */
  private apply(configs: readonly PoolConfig[]): Reconciled {
    this.configs = configs;
    // A pool that stopped discovering (reload) loses its discovered targets now.
    for (const name of this.discovered.keys()) {
      if (!configs.some((config) => config.name === name && config.discover !== undefined)) this.discovered.delete(name);
    }
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
      const protocol = config.protocol ?? 'http1';
      if (pool.protocol !== protocol) {
        pool.protocol = protocol;
        // A reload changed the upstream protocol: running requests finish on the old client.
        for (const target of pool.targets) target.replaceClient(this.clientFactory(pool, target.url, target.servername));
      }
      this.reconcilePool(pool, config, result);
      next.push(pool);
    }
    const kept = new Set(configs.map((config) => config.name));
    for (const pool of this.pools) {
      if (kept.has(pool.name)) continue;
      result.removedPools.push(pool);
      for (const target of pool.targets) this.leave(pool, target, result);
    }
    this.pools = next;
    this.byName = new Map(next.map((pool) => [pool.name, pool]));
    return result;
  }

  /** A target's health changed or its first check ended (main.ts): a pool handing over may let its old targets go. */
  healthChanged(target: Target): void {
    const pool = this.byName.get(target.pool);
    if (pool !== undefined && pool.targets.some((other) => this.handover.has(other))) this.reconcilePool(pool, this.configs.find((config) => config.name === pool.name)!, emptyReconciled());
  }

  /** Graceful: waits for in-flight upstream requests, then closes every connection. Stops watching TLS files. */
  async close(): Promise<void> {
    this.stopWatching();
    await Promise.all(this.targets().map((target) => target.closeConnections()));
  }

  async destroy(): Promise<void> {
    this.stopWatching();
    await Promise.all(this.targets().map((target) => target.destroyConnections()));
  }

  /** The pools' upstream TLS files are no longer watched (shutdown). Idempotent. */
  stopWatching(): void {
    for (const tls of this.tls.values()) tls.stop();
  }

  private reconcilePool(pool: UpstreamPool, config: PoolConfig, result: Reconciled): void {
    const desired = desiredTargets(config, this.overrides?.pools[config.name] ?? {}, this.discovered.get(config.name));
    const live = new Map(pool.targets.map((target) => [target.id, target]));
    const targets: Target[] = [];
    for (const [id, want] of desired) {
      let target = live.get(id);
      live.delete(id);
      if (target !== undefined && (target.url !== want.url || target.servername !== want.servername)) {
        // Same host:port, another scheme or server name: a different upstream. The old one leaves.
        this.leave(pool, target, result);
        if (target.inflight > 0) targets.push(target);
        target = undefined;
      }
      if (target === undefined) {
        target = this.create(pool, want.url, want.servername);
        result.addedTargets.push(target);
      } else if (this.handover.delete(target)) {
        // Wanted again before it left: it simply stays.
      } else if (target.health.has(Flag.REMOVED)) {
        this.revive(pool, target);
      }
      target.source = want.source;
      target.dns = want.dns ?? null;
      target.slowStart = config.slowStart;
      target.weight = want.weight;
      this.applyState(pool, target, want.state);
      targets.push(target);
    }
    // Make before break: while none of the wanted targets is ready but one may become so (it
    // takes traffic once healthy), or the pool's first DNS answer is still to come, ready
    // leavers keep serving. An empty wanted set (honoured DNS emptiness, an operator's removal)
    // is no hand-over: those leave.
    const awaitingDns = config.discover !== undefined && !this.discovered.has(config.name);
    const waiting = !targets.some((target) => target.ready) && (awaitingDns || targets.some((target) => !target.health.fenced));
    for (const target of live.values()) {
      if (waiting && (target.ready || this.handover.has(target))) {
        if (!this.handover.has(target)) {
          this.handover.add(target);
          result.removedTargets.push(target); // removed from its sources; it leaves once another is ready
          this.options.logger.warn({ kind: 'targets', pool: pool.name, target: target.id },
            'target removed, but no new target is ready yet: it keeps serving until one is');
        }
        targets.push(target);
        continue;
      }
      // Leaving targets stay listed (fenced, `removing`) until drained, then drop out.
      if (target.inflight > 0 || !target.health.has(Flag.REMOVED)) {
        this.leave(pool, target, result);
        if (target.inflight > 0) targets.push(target);
      }
    }
    pool.targets = targets;
  }

  private create(pool: UpstreamPool, url: string, servername: string | null): Target {
    const tls = url.startsWith('https:') ? this.tls.get(pool.name) ?? null : null;
    const target = new Target(url, pool.name, this.clientFactory(pool, url, servername), { initial: !this.serving, servername, tls });
    target.onDrained = (drained) => this.drained(drained);
    this.options.lifecycle.watch(target, pool.healthCheck!);
    return target;
  }

  /** Makes a target's upstream client for its pool's protocol (SPEC §14): HTTP/1.1 (undici) or HTTP/2 (node:http2). */
  private clientFactory(pool: UpstreamPool, url: string, servername: string | null): () => TargetClient {
    const tls = url.startsWith('https:') ? this.tls.get(pool.name) ?? null : null;
    const options = this.options.clientOptions;
    const protocol: UpstreamProtocol = pool.protocol;
    if (protocol === 'http1') return () => new UpstreamClient(url, options, servername, tls);
    return () => new H2UpstreamClient(url, options, servername, tls);
  }

  /** Declared state → flags, checks and drain (SPEC §11). Idempotent. */
  private applyState(pool: UpstreamPool, target: Target, state: AdminState): void {
    const before = target.adminState;
    target.adminState = state;
    const { lifecycle } = this.options;
    // Desired targets are never REMOVED here (revive clears it first): all but maint are checked.
    if (state === 'maint') lifecycle.unwatch(target);
    else lifecycle.watch(target, pool.healthCheck!);
    if (state === 'ready') {
      if (before !== 'ready') {
        target.drainedAt = null;
        lifecycle.unfence(target);
      }
      target.setFlag(Flag.ADMIN_FENCED, false);
      return;
    }
    if (before === 'ready') {
      target.setFlag(Flag.ADMIN_FENCED, true);
      this.fenced(target, `state ${state}`);
    }
  }

  /** The target left its sources: fenced, unchecked, and closed once its work is done. */
  private leave(pool: UpstreamPool, target: Target, result: Reconciled): void {
    if (target.health.has(Flag.REMOVED)) return;
    this.handover.delete(target);
    target.setFlag(Flag.REMOVED, true);
    this.options.lifecycle.unwatch(target);
    this.options.lifecycle.forget(target);
    result.removedTargets.push(target);
    this.options.logger.info({ kind: 'targets', pool: pool.name, target: target.id, inflight: target.inflight }, 'target removed: draining');
    this.fenced(target, 'removed');
  }

  private revive(pool: UpstreamPool, target: Target): void {
    target.setFlag(Flag.REMOVED, false);
    target.drainedAt = null;
    this.options.lifecycle.unfence(target);
    this.options.lifecycle.watch(target, pool.healthCheck!);
  }

  private fenced(target: Target, why: string): void {
    target.drainedAt = null;
    void target.closeConnections(); // idle ones now, busy ones after their request; reopened on use
    if (target.inflight > 0 || this.options.remoteLoad === true) this.options.lifecycle.fence(target);
    else target.settle();
    this.options.logger.debug({ kind: 'targets', pool: target.pool, target: target.id, why }, 'target fenced');
  }

  /** A fenced target's last request or tunnel ended. */
  private drained(target: Target): void {
    this.options.lifecycle.unfence(target);
    void target.closeConnections();
    this.options.logger.info({ kind: 'targets', pool: target.pool, target: target.id, state: target.adminState,
      removed: target.health.has(Flag.REMOVED), drainedAt: target.drainedAt }, 'target drained');
    if (!target.health.has(Flag.REMOVED)) return;
    const pool = this.byName.get(target.pool);
    if (pool !== undefined && pool.targets.includes(target)) pool.targets = pool.targets.filter((other) => other !== target);
  }
}

function emptyReconciled(): Reconciled {
  return { addedTargets: [], removedTargets: [], addedPools: [], removedPools: [] };
}

/** The file's targets plus the API's plus DNS's, minus the API's removals, with declared state and weight. */
function desiredTargets(config: PoolConfig, overrides: Record<string, TargetOverride>, discovered: Discovered | undefined): Map<string, Desired> {
  const desired = new Map<string, Desired>();
  const declare = (url: string, source: TargetSource, override: TargetOverride | undefined) => {
    desired.set(targetId(url), {
      url, source, state: override?.state ?? 'ready', weight: override?.weight ?? DEFAULT_TARGET_WEIGHT,
      servername: upstreamServerName(url, undefined, config.tls?.servername),
    });
  };
  for (const url of config.targets) {
    const override = overrides[targetId(url)];
    if (override?.removed === true) continue;
    declare(url, override?.url === undefined ? 'config' : 'api', override);
  }
  for (const [id, override] of Object.entries(overrides)) {
    if (override.url === undefined || override.removed === true || desired.has(id)) continue;
    declare(override.url, 'api', override);
  }
  // Last: an address the file or the API already names keeps that source (and its URL).
  for (const { url, weight, name } of discovered?.targets ?? []) {
    const id = targetId(url);
    const override = overrides[id];
    if (desired.has(id) || override?.removed === true) continue;
    desired.set(id, {
      url, source: 'dns', state: override?.state ?? 'ready', weight: override?.weight ?? weight, servername: upstreamServerName(url, name, config.tls?.servername),
      dns: { ttlMs: discovered!.info.ttlMs, resolvedAt: discovered!.info.lastGoodAt, stale: discovered!.info.stale },
    });
  }
  return desired;
}
