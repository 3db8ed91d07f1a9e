// The one place that wires the concrete parts together: config → pools → health → routing
// control → data plane + admin API, plus the lifecycle (start, reload, graceful shutdown).
// Everything else receives what it needs; nothing reaches out.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { loadConfigFile } from './config/load.js';
import { keptConfig, planReload } from './config/reload-plan.js';
import { ConfigError } from './errors.js';
import { buildAdminServer } from './admin/admin-server.js';
import { ActiveHealthChecker, type HealthChange } from './health/active-checker.js';
import type { Probe } from './health/http-probe.js';
import { healthProbe } from './health/probe.js';
import { PassiveEjector, type EjectionEvent } from './health/passive-ejector.js';
import { createLogger, type Logger } from './observe/logger.js';
import { applyWeights, DrainController } from './pool/drain.js';
import { TargetSet, targetClientOptions } from './pool/target-set.js';
import { Discoverer } from './discovery/discoverer.js';
import type { Target } from './pool/target.js';
import { DataPlane } from './proxy/data-plane.js';
import type { ProxyServer } from './proxy/proxy-server.js';
import type { RoutingState } from './routing/state.js';
import { MemoryStore } from './state/memory-store.js';
import { RedisStore } from './state/redis-store.js';
import { Fleet } from './state/fleet.js';
import { PoolMeter } from './rollout/pool-meter.js';
import { Metrics } from './observe/metrics.js';
import { PoolRates } from './observe/pool-rates.js';
import { RolloutController } from './rollout/rollout-controller.js';
import { RoutingControl } from './state/routing-control.js';
import { TargetControl } from './state/target-control.js';
import type { TargetsState } from './pool/target-admin.js';
import type { StateStore } from './state/store.js';
import { CertificateStore, type CertificateEvent } from './tls/certificate-store.js';
import { workerCount } from './cluster/worker-count.js';
import { WorkerCluster } from './cluster/primary.js';
import { sumLoads } from './cluster/load-sum.js';
import { primaryFlags } from './cluster/flag-map.js';
import type { Outcome } from './cluster/messages.js';
import { replay } from './cluster/outcomes.js';
import { AggregatorRegistry, Histogram } from 'prom-client';
import { requestMetricNames } from './observe/metrics.js';

export interface SwitchyardOptions {
  /** Where logs go (tests pass a sink); stdout by default. */
  logDestination?: DestinationStream;
  logger?: Logger;
  store?: StateStore;
  /** The file the config came from: what SIGHUP and POST /reload re-read. */
  configPath?: string;
  /** The active health-check probe (tests may count or slow it). */
  probe?: Probe;
  /** Rollout timing (tests make failover fast). */
  rollout?: { tickMs?: number; leaseMs?: number };
  /** With `workers` > 1: force node:cluster's shared handle instead of SO_REUSEPORT (tests, measurements). */
  reusePort?: boolean;
}

export interface ReloadSummary {
  addedTargets: string[];
  removedTargets: string[];
  addedPools: string[];
  removedPools: string[];
  /** Pools whose `discover` block was added, changed or dropped (their targets follow the next answer). */
  discoveryChanged: string[];
  /** Pools whose upstream `protocol` changed, as `name: old → new` (running requests finish on the old clients). */
  protocolChanged: string[];
  /** Changed keys that need a restart to take effect. */
  ignored: string[];
}

/** A shared store is re-read this often, so a missed pub/sub message heals by itself. */
const RESYNC_MS = 2000;
/** Heartbeat period; a heartbeat lives three periods. */
const HEARTBEAT_MS = 1000;
/** With workers: how often the primary's health flags are compared with what it last pushed (a backstop to the pushes on change). */
const FLAG_SYNC_MS = 100;

export class Switchyard {
  config: Config;
  readonly logger: Logger;
  readonly pools: TargetSet;
  readonly control: RoutingControl;
  /** The targets' shared document (SPEC §11): admin states, weights, API-added targets. */
  readonly targets: TargetControl;
  /** The listeners, their Router and observers (src/proxy/data-plane.ts). */
  private readonly dataPlane: DataPlane;
  /** Its certificate pairs: SNI, rotation, GET /certificates. */
  readonly certificates: CertificateStore | null;
  readonly admin: FastifyInstance;
  readonly store: StateStore;
  readonly health: ActiveHealthChecker;
  readonly ejector: PassiveEjector;
  readonly drain: DrainController;
  /** DNS discovery (SPEC §12): one loop per pool with `discover`, feeding the target set. */
  readonly discovery: Discoverer;
  readonly fleet: Fleet;
  readonly meter = new PoolMeter();
  /** SPEC §15: with `workers` > 1, the data-plane processes; null when this process serves itself. */
  readonly cluster: WorkerCluster | null;
  private pushedFlags = '';
  private flagSync: NodeJS.Timeout | null = null;
  /** Requests and errors per pool per second, last minute: the dashboard's GET /stats. */
  readonly rates = new PoolRates();
  readonly metrics: Metrics;
  private appliedRevision: number | null = null;
  readonly rollouts: RolloutController;
  readonly instance = { id: `${hostname()}-${randomUUID().slice(0, 8)}`, startedAt: new Date().toISOString() };
  private readonly configPath: string | undefined;
  private serving = false;
  private closing: Promise<void> | null = null;

  private constructor(config: Config, options: SwitchyardOptions) {
    this.config = config;
    this.configPath = options.configPath;
    const workers = workerCount(config.workers);
    this.logger = options.logger ?? createLogger(config.log.level, options.logDestination, { shared: workers.count > 1 });
    if (workers.warning !== undefined) this.logger.warn({ kind: 'workers', workers: workers.count }, workers.warning);
    this.cluster = workers.count === 1 ? null : new WorkerCluster({
      count: workers.count,
      logger: this.logger,
      ...(options.reusePort === undefined ? {} : { reusePort: options.reusePort }),
      source: {
        state: () => ({ config: this.config, routing: this.control.current, targets: this.targets.current, flags: primaryFlags(this.pools.pools),
          pems: this.certificates?.pems() ?? {} }),
        loadChanged: () => sumLoads(this.pools.pools, this.cluster!.loads()),
        outcomes: (outcomes) => this.workerOutcomes(outcomes),
      },
    });
    // First: a pair that does not load stops the start before anything opens (the config check refuses it earlier).
    this.certificates = config.tls === undefined ? null : new CertificateStore({
      certificates: config.tls.certificates,
      minVersion: config.tls.minVersion,
      logger: this.logger,
      onEvent: (event) => this.certificateEvent(event),
      onDefaultChange: (secure) => this.tls?.setSecureContext(secure),
    });
    this.store = options.store ?? createStore(config, this.logger);
    this.health = new ActiveHealthChecker(options.probe ?? healthProbe, (change) => this.healthChanged(change));
    this.ejector = new PassiveEjector(config.passive, (target) => this.pools.get(target.pool)?.targets ?? [], (event) => this.ejection(event));
    this.drain = new DrainController({
      timeoutMs: config.drain.timeoutMs,
      closeLongLived: (pool) => this.dataPlane.closeLongLived(pool),
      logger: this.logger,
    });
    this.pools = new TargetSet(config.pools, {
      clientOptions: targetClientOptions(config),
      lifecycle: {
        watch: (target, settings) => this.health.watch(target, settings),
        unwatch: (target) => this.health.unwatch(target),
        forget: (target) => this.ejector.forget(target),
        // With workers, each drains its own requests and tunnels; the primary only sums.
        fence: (target) => this.cluster === null && this.drain.fence(target),
        unfence: (target) => this.cluster === null && this.drain.unfence(target),
      },
      logger: this.logger,
      remoteLoad: this.cluster !== null,
    });
    this.discovery = new Discoverer({
      sink: {
        applyDiscovered: (pool, targets, info) => {
          this.forgetLeftDns(pool, this.pools.applyDiscovered(pool, targets, info).leftDns);
          this.cluster?.push({ type: 'discovered', pool, set: { targets, info } });
          this.pushFlags();
        },
      },
      logger: this.logger,
    });
    this.discovery.configure(config.pools, config.resolver.servers);
    this.metrics = new Metrics({
      pools: () => this.pools.pools, storeUp: () => this.store.up, discoveryErrors: () => this.discovery.errors,
      certificates: () => this.certificates?.expiries() ?? [],
    });
    if (this.cluster !== null) {
      const propagation = new Histogram({
        name: 'switchyard_worker_propagation_seconds', registers: [this.metrics.registry],
        help: 'From a state change (flip, weights, targets, health, reload) to its acknowledgement by the last live worker',
        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      });
      this.cluster.onPropagated = (seconds) => propagation.observe(seconds);
    }
    this.dataPlane = new DataPlane({
      config,
      pools: this.pools,
      observers: { meter: this.meter, metrics: this.metrics, rates: this.rates },
      certificates: this.certificates,
      onTargetOutcome: (target, ok) => this.ejector.observe(target, ok),
      logger: this.logger,
    });
    // With workers each drains its own; the primary's pools only carry their sums (load-sum.ts).
    if (this.cluster === null) for (const pool of this.pools.pools) this.drain.track(pool);
    this.control = new RoutingControl({
      store: this.store,
      poolNames: () => this.pools.names,
      initialWeights: config.routing.initial,
      poolReady: (pool) => this.pools.ready(pool),
      onApply: (state) => this.applyRouting(state),
      logger: this.logger,
      ...(this.store.kind === 'memory' ? {} : { resyncMs: RESYNC_MS }),
      gate: (request) => this.rollouts.gate(request),
    });
    this.targets = new TargetControl({
      store: this.store,
      onApply: (state) => this.applyTargets(state),
      logger: this.logger,
      ...(this.store.kind === 'memory' ? {} : { resyncMs: RESYNC_MS }),
    });
    this.fleet = new Fleet({
      store: this.store,
      instance: this.instance,
      pools: () => this.pools.pools,
      revision: () => this.control.current.revision,
      intervalMs: HEARTBEAT_MS,
      meters: () => this.meterSnapshot(),
    });
    this.rollouts = new RolloutController({
      store: this.store,
      control: this.control,
      poolNames: () => this.pools.names,
      instanceId: this.instance.id,
      meter: { snapshot: () => this.meterSnapshot() },
      fleet: this.fleet,
      logger: this.logger,
      ...options.rollout,
    });
    this.admin = buildAdminServer({
      control: this.control,
      targets: this.targets,
      pools: () => this.pools,
      store: this.store,
      fleet: this.fleet,
      rollouts: this.rollouts,
      metrics: this.metrics,
      rates: this.cluster === null ? this.rates : { snapshot: (pools) => this.cluster!.rates(pools) },
      ...(this.cluster === null ? {} : {
        scrape: () => this.scrape(),
        workers: () => this.cluster!.workers(),
        propagated: () => this.cluster!.propagated(),
      }),
      metricsPublic: config.admin.metricsPublic,
      ready: () => this.ready,
      reload: () => this.reload(),
      certificates: () => this.certificates?.list() ?? null,
      instance: this.instance,
      token: config.admin.token,
      logger: this.logger,
    });
  }

  /** Starts everything; resolves once one round of health checks is done and both listeners accept connections. */
  static async start(config: Config, options: SwitchyardOptions = {}): Promise<Switchyard> {
    const switchyard = new Switchyard(config, options);
    try {
      await switchyard.listen();
    } catch (err) {
      await switchyard.close();
      throw err;
    }
    return switchyard;
  }

  /** The plain listener. */
  get proxy(): ProxyServer {
    return this.dataPlane.proxy;
  }

  /** The preview listener (every request to the standby pool), when `preview` is configured. */
  get preview(): ProxyServer | null {
    return this.dataPlane.preview;
  }

  /** The edge HTTPS listener (SPEC §13), when `tls` is configured: the main listener's routing over TLS. */
  get tls(): ProxyServer | null {
    return this.dataPlane.tls;
  }

  get proxyAddress(): AddressInfo {
    return this.proxy.server.address() as AddressInfo;
  }

  get adminAddress(): AddressInfo {
    return this.admin.server.address() as AddressInfo;
  }

  get proxyUrl(): string {
    return this.cluster?.urls?.proxy ?? urlOf(this.proxyAddress);
  }

  get adminUrl(): string {
    return urlOf(this.adminAddress);
  }

  get previewUrl(): string | null {
    if (this.cluster?.urls) return this.cluster.urls.preview;
    return this.preview === null ? null : urlOf(this.preview.server.address() as AddressInfo);
  }

  /** `https://host:port` of the edge TLS listener, null without `tls`. */
  get tlsUrl(): string | null {
    if (this.cluster?.urls) return this.cluster.urls.tls;
    return this.tls === null ? null : urlOf(this.tls.server.address() as AddressInfo, 'https');
  }

  /**
   * `/readyz`: serving (first health round over, not shutting down), and no pool with traffic
   * is empty only because its DNS has not answered since start — a replica started during a
   * DNS outage must not take traffic from one that holds the last good set. With workers, at
   * least one of them listening.
   */
  get ready(): boolean {
    return this.serving && (this.cluster === null || this.cluster.readyCount > 0)
      && this.pools.awaitingFirstAnswer(this.control.current.weights).length === 0;
  }

  /**
   * Re-reads the config file and applies pool, target and health changes without dropping
   * a connection. An invalid file (or a change that would strand traffic) is refused with
   * a ConfigError and the running config stays.
   */
  async reload(): Promise<ReloadSummary> {
    try {
      if (this.configPath === undefined) throw new ConfigError(['(reload): this instance was not started from a config file']);
      const next = loadConfigFile(this.configPath);
      const plan = planReload(this.config, next, this.control.current.weights);
      if (plan.problems.length > 0) throw new ConfigError(plan.problems);
      const summary = this.applyConfig(next, plan.ignored);
      this.logger.info({ kind: 'reload', ...summary }, 'config reloaded');
      const changed = [...summary.addedTargets.map((t) => `+${t}`), ...summary.removedTargets.map((t) => `-${t}`),
        ...summary.discoveryChanged.map((pool) => `${pool} discover`), ...summary.protocolChanged.map((pool) => `${pool} protocol`)].join(', ');
      await this.store.recordEvent({ revision: this.control.current.revision, at: new Date().toISOString(), who: 'reload', kind: 'reload',
        from: null, to: null, reason: changed === '' ? 'settings only' : changed }).catch(() => undefined);
      if (plan.ignored.length > 0) this.logger.warn({ kind: 'reload', ignored: plan.ignored }, 'changed keys need a restart to take effect');
      return summary;
    } catch (err) {
      if (err instanceof ConfigError) this.logger.error({ kind: 'reload', problems: err.problems }, 'config reload refused; running config kept');
      throw err;
    }
  }

  /** Stops accepting, lets in-flight requests finish (up to shutdown.graceMs), then closes everything. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async listen(): Promise<void> {
    const state = await this.control.start();
    this.logger.info({ revision: state.revision, weights: state.weights, store: this.config.state.store }, 'routing state loaded');
    // (packaging, #11) A restart forgets every flip: say so once, where operators look first.
    if (this.store.kind === 'memory') {
      this.logger.warn({ kind: 'state', store: 'memory', initial: this.config.routing.initial },
        'state.store is memory: flips, weights and rollouts live in this process only; a restart goes back to routing.initial (state.store: redis keeps them)');
    }
    await this.targets.start(); // API-added targets and admin states (Redis: kept across restarts) join before the first checks
    const { admin } = this.config;
    await this.admin.listen({ host: admin.host, port: admin.port });
    // One query per discovering pool first, so discovered targets get the first round of checks too.
    await this.discovery.runOnce();
    this.discovery.start();
    await this.health.start(); // one round before serving: no request meets an unchecked target
    this.pools.markServing(); // from now on, a target entering rotation gets slow start
    if (this.cluster === null) await this.dataPlane.listen();
    else {
      await this.cluster.start();
      this.pushedFlags = JSON.stringify(primaryFlags(this.pools.pools));
      this.flagSync = setInterval(() => this.pushFlags(), FLAG_SYNC_MS);
      this.flagSync.unref();
    }
    if (this.tls !== null) this.certificates?.start();
    const preview = this.preview;
    this.serving = true;
    this.fleet.start();
    this.rollouts.start();
    this.logger.info({ proxy: this.proxyUrl, ...(preview === null ? {} : { preview: this.previewUrl }),
      ...(this.tls === null ? {} : { tls: this.tlsUrl }), admin: this.adminUrl, instance: this.instance.id,
      ...(this.cluster === null ? {} : { workers: this.cluster.count, sharing: this.cluster.reusePort ? 'reusePort' : 'cluster' }) }, 'switchyard listening');
  }

  private applyRouting(state: RoutingState): void {
    if (this.appliedRevision !== null && state.revision !== this.appliedRevision) this.metrics.routingChanged();
    this.appliedRevision = state.revision;
    if (this.cluster !== null) {
      for (const pool of this.pools.pools) pool.setWeight(state.weights[pool.name] ?? 0);
      this.cluster.push({ type: 'routing', state });
      return sumLoads(this.pools.pools, this.cluster.loads()); // a drain now waits for the workers' reports
    }
    applyWeights(this.pools.pools, state.weights, this.drain);
    this.dataPlane.applyRouting(state);
  }

  /** The targets' shared document changed (an operator here or on another instance): the live set follows. */
  private applyTargets(state: TargetsState): void {
    const diff = this.pools.applyOverrides(state);
    this.cluster?.push({ type: 'targets', state });
    this.pushFlags();
    if (diff.addedTargets.length > 0 || diff.removedTargets.length > 0) {
      this.logger.info({ kind: 'targets', revision: state.revision, added: diff.addedTargets.map(describe), removed: diff.removedTargets.map(describe) },
        'targets changed');
    }
  }

  private applyConfig(next: Config, ignored: string[]): ReloadSummary {
    const discoveryChanged = next.pools.filter((pool) => !isDeepStrictEqual(pool.discover, this.config.pools.find((old) => old.name === pool.name)?.discover))
      .map((pool) => pool.name);
    const protocolChanged: string[] = [];
    for (const pool of next.pools) {
      const before = this.config.pools.find((old) => old.name === pool.name);
      const was = before?.protocol ?? 'http1';
      const now = pool.protocol ?? 'http1';
      if (before !== undefined && was !== now) protocolChanged.push(`${pool.name}: ${was} → ${now}`);
    }
    // The target set re-watches kept targets with the new settings and drains the ones that left.
    const diff = this.pools.reconcile(next.pools);
    if (this.cluster === null) for (const pool of diff.addedPools) this.drain.track(pool);
    this.discovery.configure(next.pools, next.resolver.servers);
    this.ejector.configure(next.passive);
    this.drain.configure(next.drain.timeoutMs);
    // Keys that need a restart keep their running values, so status and config agree.
    const tlsKept = !ignored.includes('tls');
    this.config = keptConfig(this.config, next, ignored);
    this.dataPlane.applyConfig(this.config); // retries follow (a reloadable key: next's value)
    // Every certificate file is re-read (SIGHUP and POST /reload come here), new pairs loaded.
    const tls = this.config.tls;
    if (this.certificates !== null && tls !== undefined && tlsKept) this.certificates.configure(tls.certificates, tls.minVersion);
    if (this.cluster !== null) {
      this.cluster.push({ type: 'config', config: this.cluster.withPorts(this.config), pems: this.certificates?.pems() ?? {} });
      this.pushFlags();
    }
    this.applyRouting(this.control.current);
    return {
      addedTargets: diff.addedTargets.map(describe),
      removedTargets: diff.removedTargets.map(describe),
      addedPools: diff.addedPools.map((pool) => pool.name),
      removedPools: diff.removedPools.map((pool) => pool.name),
      discoveryChanged,
      protocolChanged,
      ignored,
    };
  }

  /**
   * Addresses DNS stopped naming: an operator's state, weight or removal of one (kept by
   * address) is forgotten, so whatever next answers at that address — on Kubernetes, a new pod
   * reusing the IP — starts clean instead of inheriting `maint` or a removal. Targets the API
   * added (with a URL) are the operator's own and stay. Best effort: with the store down the
   * override stays, and the next instance to see the address leave tries again.
   */
  private forgetLeftDns(pool: string, ids: readonly string[]): void {
    for (const id of ids) {
      const override = this.targets.current.pools[pool]?.[id];
      if (override === undefined || override.url !== undefined) continue;
      this.targets.change({
        pool, id, actor: 'dns', reason: 'address left the DNS answer',
        edit: (current) => (current === undefined || current.url !== undefined ? current : undefined),
        describe: (before) => ({ from: before === undefined ? null : { state: before.state ?? 'ready', weight: before.weight ?? 100 }, to: null }),
      }).catch((error: unknown) => this.logger.warn({ kind: 'discovery', pool, target: id, error: (error as Error).message },
        'could not forget the admin state of an address that left DNS; it stays until the next try'));
    }
  }

  private healthChanged({ target, healthy, result }: HealthChange): void {
    if (healthy) this.ejector.release(target);
    this.pools.healthChanged(target);
    this.pushFlags();
    const fields = { kind: 'health', pool: target.pool, target: target.url, healthy, check: result };
    if (healthy) this.logger.info(fields, 'target healthy');
    else this.logger.warn(fields, 'target unhealthy');
  }

  private ejection({ target, ejected, panic }: EjectionEvent): void {
    this.pushFlags();
    const fields = { kind: 'health', pool: target.pool, target: target.url, ejected };
    if (panic) this.logger.warn(fields, 'passive failures on the last ready target of its pool: kept in service (panic mode)');
    else if (ejected) {
      this.metrics.ejected(target);
      this.logger.warn({ ...fields, ejectMs: this.config.passive.ejectMs }, 'target ejected after consecutive failures');
    }
    else this.logger.info(fields, 'target back from ejection');
  }

  private async shutdown(): Promise<void> {
    const { graceMs } = this.config.shutdown;
    this.serving = false; // /readyz answers 503 from now on
    this.discovery.stop(); // no target joins a proxy that is going away
    this.certificates?.stop();
    this.logger.info({ graceMs, inflight: this.dataPlane.inflight() }, 'shutting down'); // with workers, their sums (load-sum.ts)
    if (this.flagSync !== null) clearInterval(this.flagSync);
    let tunnels = 0;
    if (this.cluster === null) tunnels = await this.dataPlane.close(graceMs);
    else await this.cluster.close(graceMs);
    this.fleet.stop();
    await this.rollouts.stop();
    this.health.stop();
    this.ejector.stop();
    this.drain.stop();
    await this.admin.close();
    this.control.stop();
    this.targets.stop();
    await this.pools.close();
    await this.store.close();
    this.logger.info({ tunnels }, 'switchyard stopped');
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
  }

  /** The rollout meter's counts since start: this process's, or with workers the sum of theirs. */
  private meterSnapshot(): ReturnType<PoolMeter['snapshot']> {
    return this.cluster === null ? this.meter.snapshot() : this.cluster.meterSnapshot();
  }

  /**
   * GET /metrics with workers: the request series summed over every worker (the dead ones'
   * last counts kept, so counters never go back), everything else from this process.
   */
  private async scrape(): Promise<string> {
    const own = (await this.metrics.registry.getMetricsAsJSON()).filter((metric) => !requestMetricNames.has(metric.name));
    const workers = (await this.cluster!.scrape()).map((metrics) => metrics.filter((metric) => requestMetricNames.has(metric.name)));
    return AggregatorRegistry.aggregate([own, ...workers]).metrics();
  }

  /** With workers: the health flags this process owns went to every worker, if they changed since the last push. */
  private pushFlags(): void {
    if (this.cluster === null || this.flagSync === null) return;
    const flags = primaryFlags(this.pools.pools);
    const serialized = JSON.stringify(flags);
    if (serialized === this.pushedFlags) return;
    this.pushedFlags = serialized;
    this.cluster.push({ type: 'flags', flags });
  }

  /** Passive evidence from a worker, in its order, to the one ejector (messages.ts Outcome). */
  private workerOutcomes(outcomes: readonly Outcome[]): void {
    for (const outcome of outcomes) {
      const target = this.pools.find(outcome.pool, outcome.id);
      if (target !== undefined) replay(outcome, (ok) => this.ejector.observe(target, ok));
    }
  }

  /** A certificate pair rotated or refused: into the event list beside routing changes (best effort, like reload's). */
  private certificateEvent({ kind, reason }: CertificateEvent): void {
    if (kind === 'rotated') this.cluster?.push({ type: 'certificates', pems: this.certificates!.pems() });
    this.store.recordEvent({ revision: this.control.current.revision, at: new Date().toISOString(), who: 'tls', kind: 'certificate',
      from: null, to: null, reason: `${kind}: ${reason}` }).catch(() => undefined);
  }
}

function createStore(config: Config, logger: Logger): StateStore {
  if (config.state.store === 'memory') return new MemoryStore();
  return new RedisStore({
    url: config.state.url,
    prefix: config.state.prefix,
    cluster: config.state.cluster,
    opTimeoutMs: config.state.opTimeoutMs,
    ...(config.state.options === undefined ? {} : { options: config.state.options }),
    logger,
  });
}

function describe(target: Target): string {
  return `${target.pool} ${target.url}`;
}

function urlOf(address: AddressInfo, scheme = 'http'): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}
