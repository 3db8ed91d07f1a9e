// The one place that wires the concrete parts together: config → pools → routing control →
// data plane + admin API. Everything else receives what it needs; nothing reaches out.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { buildAdminServer } from './admin/admin-server.js';
import { AccessLog, createLogger, type Logger } from './observe/logger.js';
import { PoolSet } from './pool/pool-set.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { Router } from './routing/router.js';
import type { RoutingState } from './routing/state.js';
import type { UpstreamPool } from './pool/upstream-pool.js';
import { MemoryStore } from './state/memory-store.js';
import { RoutingControl } from './state/routing-control.js';
import type { StateStore } from './state/store.js';

export interface SwitchyardOptions {
  /** Where logs go (tests pass a sink); stdout by default. */
  logDestination?: DestinationStream;
  logger?: Logger;
  store?: StateStore;
}

export class Switchyard {
  readonly config: Config;
  readonly logger: Logger;
  readonly pools: PoolSet;
  readonly control: RoutingControl;
  readonly proxy: ProxyServer;
  readonly admin: FastifyInstance;
  readonly store: StateStore;
  readonly instance = { id: `${hostname()}-${randomUUID().slice(0, 8)}`, startedAt: new Date().toISOString() };
  private readonly router = new Router<UpstreamPool>();
  private serving = false;
  private closing: Promise<void> | null = null;

  private constructor(config: Config, options: SwitchyardOptions) {
    this.config = config;
    this.logger = options.logger ?? createLogger(config.log.level, options.logDestination);
    this.store = options.store ?? new MemoryStore();
    this.pools = new PoolSet(config.pools, { connectMs: config.timeouts.connectMs, headersMs: config.timeouts.headersMs });
    this.control = new RoutingControl({
      store: this.store,
      poolNames: () => this.pools.names,
      initialWeights: config.routing.initial,
      poolReady: (pool) => this.pools.ready(pool),
      onApply: (state) => this.applyRouting(state),
      logger: this.logger,
    });
    this.proxy = new ProxyServer({
      choosePool: () => this.router.next(),
      retryAttempts: config.retries.attempts,
      keepAliveMs: config.timeouts.keepAliveMs,
      poolHeader: config.routing.poolHeader,
      observers: config.log.access ? [new AccessLog(this.logger)] : [],
    });
    this.admin = buildAdminServer({
      control: this.control,
      pools: () => this.pools,
      store: this.store,
      storeKind: config.state.store,
      ready: () => this.serving,
      instance: this.instance,
      token: config.admin.token,
      logger: this.logger,
    });
  }

  /** Starts everything; resolves once both listeners accept connections. */
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

  get proxyAddress(): AddressInfo {
    return this.proxy.server.address() as AddressInfo;
  }

  get adminAddress(): AddressInfo {
    return this.admin.server.address() as AddressInfo;
  }

  get proxyUrl(): string {
    return urlOf(this.proxyAddress);
  }

  get adminUrl(): string {
    return urlOf(this.adminAddress);
  }

  /** Stops accepting, lets in-flight requests finish, then closes upstream connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async listen(): Promise<void> {
    const state = await this.control.start();
    this.logger.info({ revision: state.revision, weights: state.weights, store: this.config.state.store }, 'routing state loaded');
    const { listen, admin } = this.config;
    await new Promise<void>((resolve, reject) => {
      this.proxy.server.once('error', reject);
      this.proxy.server.listen(listen.port, listen.host, () => {
        this.proxy.server.off('error', reject);
        resolve();
      });
    });
    await this.admin.listen({ host: admin.host, port: admin.port });
    this.serving = true;
    this.logger.info({ proxy: this.proxyUrl, admin: this.adminUrl, instance: this.instance.id }, 'switchyard listening');
  }

  private applyRouting(state: RoutingState): void {
    const now = new Date();
    for (const pool of this.pools.pools) pool.setWeight(state.weights[pool.name] ?? 0, now);
    this.router.apply(state.weights, this.pools.pools);
  }

  private async shutdown(): Promise<void> {
    this.serving = false;
    const server = this.proxy.server;
    const stopped = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server.closeIdleConnections();
    await stopped;
    await this.admin.close();
    this.control.stop();
    await this.pools.close();
    await this.store.close();
    this.logger.info('switchyard stopped');
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
  }
}

function urlOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
