// The data plane (SPEC §15's worker half): the listeners — plain, preview, edge HTTPS — the
// Router they pick pools with, the request observers they report to, and their lifecycle
// (listen, reload, the listener half of a graceful shutdown). Everything else (pools' state,
// health, ejection, certificates, routing control, admin) is the caller's and comes in through
// DataPlaneOptions. A single-process Switchyard builds one; with workers, each worker builds its own.
import type { AddressInfo } from 'node:net';
import type { Config, TlsConfig } from '../config/schema.js';
import { AccessLog, type Logger } from '../observe/logger.js';
import type { RequestObserver } from '../observe/request-record.js';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { standbyPool } from '../routing/request-router.js';
import { Router } from '../routing/router.js';
import type { RoutingState } from '../routing/state.js';
import type { CertificateStore } from '../tls/certificate-store.js';
import { ProxyServer, type ProxyServerOptions } from './proxy-server.js';

/** How often `close` looks at the in-flight count while it waits. */
const SHUTDOWN_POLL_MS = 10;

/** What the data plane needs from the pools (a TargetSet): the live list, read per request, and a hard stop. */
export interface DataPlanePools {
  readonly pools: readonly UpstreamPool[];
  /** Destroys every upstream connection (the grace is over). */
  destroy(): Promise<void>;
}

/** The request observers: `meter` judges rollouts (main and HTTPS traffic only), all three see the routed listeners. */
export interface DataPlaneObservers {
  meter: RequestObserver;
  metrics: RequestObserver;
  rates: RequestObserver;
}

/** The edge certificates the HTTPS listener starts with: the default pair's options and the SNI lookup. */
export type EdgeCertificates = Pick<CertificateStore, 'defaultOptions' | 'sniCallback'>;

export interface DataPlaneOptions {
  /**
   * The running config: listener settings at construction and `listen`; `tls.redirectHttp` and
   * `tls.port` read per redirected request; replaced by `applyConfig`.
   */
  config: Config;
  pools: DataPlanePools;
  observers: DataPlaneObservers;
  /** Null without `tls`: no HTTPS listener then. */
  certificates: EdgeCertificates | null;
  /** Each upstream attempt's outcome (passive ejection). */
  onTargetOutcome: (target: Target, ok: boolean) => void;
  /** Access log lines (when `log.access`) and shutdown warnings. */
  logger: Logger;
  /**
   * SO_REUSEPORT (SPEC §15 workers, Node ≥ 22.12): each worker binds the port itself and the
   * kernel spreads connections; `exclusive` keeps node:cluster from routing the bind through the primary.
   */
  reusePort?: boolean;
}

export class DataPlane {
  readonly proxy: ProxyServer;
  /** The preview listener (every request to the standby pool), when `preview` is configured. */
  readonly preview: ProxyServer | null;
  /** The edge HTTPS listener (SPEC §13), when `tls` is configured: the main listener's routing over TLS. */
  readonly tls: ProxyServer | null;
  private readonly router = new Router<UpstreamPool>();
  private readonly pools: DataPlanePools;
  private readonly logger: Logger;
  private config: Config;
  private readonly reusePort: boolean;

  constructor(options: DataPlaneOptions) {
    const { config, observers: { meter, metrics, rates }, certificates, onTargetOutcome, logger } = options;
    this.config = config;
    this.pools = options.pools;
    this.logger = logger;
    this.reusePort = options.reusePort === true;
    // The plain and the HTTPS listener route alike: same pools, weights, sticky cookie, override, observers.
    const routed: ProxyServerOptions = {
      choosePool: () => this.router.next(),
      poolNamed: (name) => this.router.pool(name),
      stickyCookie: config.routing.stickyCookie,
      overrideHeader: config.routing.overrideHeader,
      overrideAllow: config.routing.overrideAllow,
      retryAttempts: config.retries.attempts,
      keepAliveMs: config.timeouts.keepAliveMs,
      limits: config.limits,
      poolHeader: config.routing.poolHeader,
      observers: config.log.access ? [meter, metrics, rates, new AccessLog(logger)] : [meter, metrics, rates],
      onTargetOutcome,
      // SPEC §14: h2c with prior knowledge on the plain listener; on the HTTPS one, ALPN h2 when tls.http2.
      http2: true,
    };
    this.proxy = new ProxyServer({ ...routed, redirectHttps: () => (this.config.tls?.redirectHttp === true ? this.tlsPort : null) });
    this.tls = certificates === null || config.tls === undefined ? null : new ProxyServer({
      ...routed,
      http2: config.tls.http2,
      tls: { ...certificates.defaultOptions(), SNICallback: certificates.sniCallback, ALPNProtocols: alpnProtocols(config.tls) },
    });
    this.preview = config.preview === undefined ? null : new ProxyServer({
      choosePool: () => standbyPool(this.pools.pools),
      preview: true,
      overrideHeader: config.routing.overrideHeader, // stripped, never honoured here
      retryAttempts: config.retries.attempts,
      keepAliveMs: config.timeouts.keepAliveMs,
      limits: config.limits,
      poolHeader: config.routing.poolHeader,
      // Not the rollout meter: preview traffic never judges a rollout.
      observers: config.log.access ? [metrics, new AccessLog(logger)] : [metrics],
      onTargetOutcome,
      http2: true,
    });
  }

  /** Binds the plain listener, then preview and HTTPS when configured; rejects with the first bind error. */
  async listen(): Promise<void> {
    const { listen, preview, tls } = this.config;
    await listenOn(this.proxy, listen.port, listen.host, this.reusePort);
    if (this.preview !== null && preview !== undefined) await listenOn(this.preview, preview.port, preview.host, this.reusePort);
    if (this.tls !== null && tls !== undefined) await listenOn(this.tls, tls.port, tls.host, this.reusePort);
  }

  /** An adopted routing revision: the routed listeners pick by its weights (the pools already carry them). */
  applyRouting(state: RoutingState): void {
    this.router.apply(state.weights, this.pools.pools);
  }

  /** A reload's running config (restart-only keys already kept): retries follow, and redirects read its `tls`. */
  applyConfig(config: Config): void {
    this.config = config;
    for (const listener of this.listeners()) listener.retryAttempts = config.retries.attempts;
  }

  /** Closes the pool's open Upgrade tunnels on the plain and HTTPS listeners (a drain's deadline); how many. */
  closeLongLived(pool: UpstreamPool): number {
    return this.proxy.tunnels.closePool(pool) + (this.tls?.tunnels.closePool(pool) ?? 0);
  }

  /** In-flight upstream requests, all pools. */
  inflight(): number {
    let count = 0;
    for (const pool of this.pools.pools) count += pool.inflight;
    return count;
  }

  /**
   * The listener half of a graceful shutdown: stop accepting, let in-flight requests finish for
   * up to `graceMs`, close the tunnels, then cut what is left (upstreams first). Resolves once
   * every listener is closed, with the number of tunnels closed.
   */
  async close(graceMs: number): Promise<number> {
    const listeners = this.listeners();
    const stopped = listeners.map((listener) => {
      listener.closing = true;
      const server = listener.server;
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      listener.closeIdle(); // HTTP/2 sessions get GOAWAY: open streams finish, new ones go elsewhere
      return closed;
    });
    const deadline = Date.now() + graceMs;
    const finished = await this.waitForInflight(graceMs);
    let tunnels = 0;
    for (const listener of listeners) tunnels += listener.tunnels.closeAll();
    if (!finished) {
      this.logger.warn({ inflight: this.inflight(), graceMs }, 'shutdown grace over: cutting what is still running');
      // Upstreams first: each exchange then ends its answer as it can (a gRPC call with an
      // UNAVAILABLE status, not a dropped connection), given a turn to be written; then the cut.
      await this.pools.destroy();
      await new Promise((resolve) => setImmediate(resolve));
      for (const listener of listeners) listener.closeAll();
    }
    // Nothing is in flight, but a connection that never sent a request (a balancer's TCP check,
    // a client that connected and half-closed) holds `server.close` until its own timeout — up
    // to a minute. What is left at the end of the grace is cut: shutdown never outlasts graceMs.
    const all = Promise.all(stopped);
    const timer = setTimeout(() => {
      for (const listener of listeners) listener.closeAll();
    }, Math.max(0, deadline - Date.now()));
    await all;
    clearTimeout(timer);
    return tunnels;
  }

  /** Where the bound listeners are: `http://host:port` (`https://` for the TLS one); null when not configured. */
  urls(): { proxy: string; preview: string | null; tls: string | null } {
    const of = (listener: ProxyServer | null, scheme = 'http') => (listener === null ? null : urlOf(listener.server.address() as AddressInfo, scheme));
    return { proxy: of(this.proxy)!, preview: of(this.preview), tls: of(this.tls, 'https') };
  }

  /** Every data-plane listener: plain, preview, HTTPS. */
  listeners(): ProxyServer[] {
    return [this.proxy, this.preview, this.tls].filter((listener): listener is ProxyServer => listener !== null);
  }

  /** Where `redirectHttp` sends clients: the port the HTTPS listener is bound to (the configured one until it listens). */
  private get tlsPort(): number | null {
    const address = this.tls?.server.address() as AddressInfo | null | undefined;
    return address?.port ?? this.config.tls?.port ?? null;
  }

  /** True when nothing was left in flight before the deadline. */
  private async waitForInflight(graceMs: number): Promise<boolean> {
    const deadline = Date.now() + graceMs;
    while (this.inflight() > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_POLL_MS));
    }
    return true;
  }
}

function listenOn(listener: ProxyServer, port: number, host: string, reusePort: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    listener.server.once('error', reject);
    // `reusePort` is in ListenOptions from Node 22.12 (older @types lack it).
    const options = reusePort ? { port, host, exclusive: true, reusePort: true } : { port, host };
    listener.server.listen(options, () => {
      listener.server.off('error', reject);
      resolve();
    });
  });
}

/** ALPN protocols the HTTPS listener offers, in preference order (RFC 7301): `h2` first when `tls.http2` (SPEC §14). */
function alpnProtocols(tls: TlsConfig): string[] {
  return tls.http2 ? ['h2', 'http/1.1'] : ['http/1.1'];
}

/** `scheme://host:port`, IPv6 hosts in brackets. */
export function urlOf(address: AddressInfo, scheme = 'http'): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}
