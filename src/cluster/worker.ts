// A data-plane worker (SPEC §15): the listeners and the proxy path, nothing else. Its target set
// is fed the primary's inputs in the primary's order (config pools, the targets document, DNS
// answers), so it reconciles to the same targets; the health flags the primary owns (checks,
// ejection) arrive as a map. It answers with acks, its load, rollout meter counts and
// passive-health evidence, and with its request metrics when the primary is scraped.
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { Metrics } from '../observe/metrics.js';
import { PoolRates } from '../observe/pool-rates.js';
import { applyWeights, DrainController } from '../pool/drain.js';
import { Flag } from '../pool/health-flags.js';
import type { Target } from '../pool/target.js';
import { TargetSet, targetClientOptions } from '../pool/target-set.js';
import { DataPlane } from '../proxy/data-plane.js';
import { PoolMeter } from '../rollout/pool-meter.js';
import type { RoutingState } from '../routing/state.js';
import { CertificateStore } from '../tls/certificate-store.js';
import { PRIMARY_FLAGS } from './flag-map.js';
import { OutcomeLog } from './outcomes.js';
import { parsePair, type PemBytes } from '../tls/pem.js';
import type { FlagMap, Pems, PoolLoad, Snapshot, StateMessage, StatsRequest, WorkerMessage } from './messages.js';

/** How often load, meter counts and passive evidence go to the primary. */
const REPORT_MS = 50;

export class Worker {
  readonly logger: Logger;
  private config: Config;
  private routing: RoutingState;
  private flags: FlagMap;
  /** The primary's certificate pairs: the only source this worker's certificate store reads. */
  private pems: Pems;
  private seq: number;
  private readonly pools: TargetSet;
  private readonly drain: DrainController;
  private readonly dataPlane: DataPlane;
  private readonly certificates: CertificateStore | null;
  private readonly meter = new PoolMeter();
  private readonly rates = new PoolRates();
  private readonly metrics: Metrics;
  private readonly outcomes = new OutcomeLog<Target>();
  private readonly timer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(snapshot: Snapshot, private readonly send: (message: WorkerMessage) => void) {
    const { config } = snapshot;
    this.config = config;
    this.routing = snapshot.routing;
    this.flags = snapshot.flags;
    this.pems = snapshot.pems;
    this.seq = snapshot.seq;
    this.logger = createLogger(config.log.level, undefined, { shared: true }).child({ worker: snapshot.slot });
    this.certificates = config.tls === undefined ? null : new CertificateStore({
      certificates: config.tls.certificates,
      minVersion: config.tls.minVersion,
      logger: this.logger,
      read: (certFile, keyFile, now) => parsePair(this.pem(certFile), this.pem(keyFile), certFile, keyFile, now),
      onDefaultChange: (secure) => this.dataPlane.tls?.setSecureContext(secure),
    });
    this.drain = new DrainController({ timeoutMs: config.drain.timeoutMs, closeLongLived: (pool) => this.dataPlane.closeLongLived(pool), logger: this.logger });
    this.pools = new TargetSet(config.pools, {
      clientOptions: targetClientOptions(config),
      lifecycle: {
        // The primary checks; a target it has not reported on yet waits for its first check, as there.
        watch: (target) => void this.applyFlags(target),
        unwatch: () => undefined,
        forget: () => undefined,
        fence: (target) => this.drain.fence(target),
        unfence: (target) => this.drain.unfence(target),
      },
      logger: this.logger,
    });
    this.metrics = new Metrics({ pools: () => this.pools.pools, storeUp: () => true });
    this.dataPlane = new DataPlane({
      config,
      pools: this.pools,
      observers: { meter: this.meter, metrics: this.metrics, rates: this.rates },
      certificates: this.certificates,
      onTargetOutcome: (target, ok) => this.outcomes.record(target, ok),
      logger: this.logger,
      reusePort: snapshot.reusePort,
    });
    if (snapshot.targets !== null) this.pools.applyOverrides(snapshot.targets);
    for (const [pool, set] of Object.entries(snapshot.discovered)) this.pools.applyDiscovered(pool, set.targets, set.info);
    for (const pool of this.pools.pools) this.drain.track(pool);
    this.pools.markServing(); // the primary's first round of checks is over: later entries slow-start
    this.applyRouting(snapshot.routing);
    this.timer = setInterval(() => this.report(), REPORT_MS);
    this.timer.unref();
  }

  /** Binds the listeners (the snapshot's ports), then tells the primary. */
  async listen(): Promise<void> {
    await this.dataPlane.listen();
    const urls = this.dataPlane.urls();
    this.logger.info({ ...urls, revision: this.routing.revision }, 'worker ready');
    this.logger.flush(); // written before the primary's "listening" line
    this.send({ type: 'ready', seq: this.seq, proxy: urls.proxy, preview: urls.preview, tls: urls.tls });
  }

  /** One message from the primary after its snapshot (the snapshot made this worker; worker-main.ts runs `shutdown`). */
  handle(message: StateMessage | StatsRequest): void {
    switch (message.type) {
      case 'stats?': return void this.stats(message.id);
      default:
        this.apply(message);
        this.seq = message.seq;
        this.send({ type: 'ack', seq: message.seq, load: this.load() });
    }
  }

  /** The listener half of a graceful shutdown (as a single process does it), then the upstreams close. Idempotent. */
  close(graceMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.logger.info({ graceMs, inflight: this.dataPlane.inflight() }, 'worker shutting down');
      const tunnels = await this.dataPlane.close(graceMs);
      clearInterval(this.timer);
      this.report();
      this.drain.stop();
      await this.pools.close();
      this.logger.info({ tunnels }, 'worker stopped');
      await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
    })();
    return this.closing;
  }

  private apply(message: StateMessage): void {
    switch (message.type) {
      case 'routing': return this.applyRouting(message.state);
      case 'targets': return void this.pools.applyOverrides(message.state);
      case 'discovered': return void this.pools.applyDiscovered(message.pool, message.set.targets, message.set.info);
      case 'flags': {
        this.flags = message.flags;
        for (const pool of this.pools.pools) {
          for (const target of pool.targets) if (this.applyFlags(target)) this.pools.healthChanged(target);
        }
        return;
      }
      case 'config':
        this.pems = message.pems;
        return this.applyConfig(message.config);
      case 'certificates': {
        this.pems = message.pems;
        const tls = this.config.tls;
        if (this.certificates !== null && tls !== undefined) this.certificates.configure(tls.certificates, tls.minVersion);
      }
    }
  }

  private applyRouting(state: RoutingState): void {
    this.routing = state;
    applyWeights(this.pools.pools, state.weights, this.drain);
    this.dataPlane.applyRouting(state);
  }

  /** What the primary's reload applied there (main.ts applyConfig's data-plane half). */
  private applyConfig(config: Config): void {
    const diff = this.pools.reconcile(config.pools);
    for (const pool of diff.addedPools) this.drain.track(pool);
    this.drain.configure(config.drain.timeoutMs);
    this.config = config;
    this.dataPlane.applyConfig(config);
    const tls = config.tls;
    if (this.certificates !== null && tls !== undefined) this.certificates.configure(tls.certificates, tls.minVersion);
    this.applyRouting(this.routing);
  }

  /** A file's bytes as the primary loaded them. */
  private pem(path: string): PemBytes {
    const bytes = this.pems[path];
    return bytes === undefined ? { ok: false, message: `not loaded by the primary (${path})` } : { ok: true, bytes: Buffer.from(bytes) };
  }

  /** The primary's flags for `target`; one it has not seen is pending its first check. True when `ready` changed. */
  private applyFlags(target: Target): boolean {
    const bits = this.flags[target.pool]?.[target.id] ?? Flag.PENDING_FIRST_CHECK;
    let changed = false;
    for (const flag of PRIMARY_FLAGS) changed = target.setFlag(flag, (bits & flag) !== 0) || changed;
    return changed;
  }

  private report(): void {
    const outcomes = this.outcomes.take();
    this.send({ type: 'report', seq: this.seq, load: this.load(), meter: this.meter.snapshot(), outcomes, rates: this.rates.snapshot(this.pools.names) });
  }

  private load(): Record<string, PoolLoad> {
    const out: Record<string, PoolLoad> = {};
    for (const pool of this.pools.pools) {
      const targets: PoolLoad['targets'] = {};
      for (const target of pool.targets) targets[target.id] = { inflight: target.inflight, drainedAt: target.drainedAt?.getTime() ?? null };
      out[pool.name] = { inflight: pool.inflight, previewInflight: pool.previewInflight, longLived: pool.longLived, drainedAt: pool.drainedAt?.getTime() ?? null, targets };
    }
    return out;
  }

  private async stats(id: number): Promise<void> {
    this.send({ type: 'stats', id, metrics: await this.metrics.registry.getMetricsAsJSON() });
  }
}
