// The data plane listener: a plain node:http server whose request handler picks a pool and
// a target and hands the request to an Exchange. Never Fastify; nothing here but the path
// a request takes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { DEFAULT_LIMITS, type LimitsConfig } from '../config/schema.js';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import type { RequestObserver, RequestRecord } from '../observe/request-record.js';
import { BatchedObservers } from '../observe/batched-observers.js';
import { RequestRouter } from '../routing/request-router.js';
import { Exchange, hasBody, type ExchangeOwner } from './exchange.js';
import { requestIds } from './request-id.js';
import { clientAddress, incomingRequestId, upstreamRequestHeaders, type ForwardContext } from './headers.js';
import { UpgradeTunnels } from './upgrade-tunnel.js';

export interface ProxyServerOptions {
  /**
   * Chooses the pool for a request: the weighted choice on the main listener (the last step
   * after the override header and the sticky cookie), the standby pool on the preview listener.
   */
  choosePool(req: IncomingMessage): UpstreamPool | undefined;
  /** A configured pool by name, for the override header and the sticky cookie; without it neither applies. */
  poolNamed?(name: string): UpstreamPool | undefined;
  /** routing.stickyCookie */
  stickyCookie?: string | undefined;
  /** routing.overrideHeader: never forwarded upstream, whether it was honoured or not. */
  overrideHeader?: string | undefined;
  /** routing.overrideAllow: client CIDRs that may use the override header; undefined = anyone. */
  overrideAllow?: readonly string[] | undefined;
  /**
   * The preview listener: every request goes to `choosePool` (no override, no sticky cookie),
   * its access records carry `listener: 'preview'`, and a drain does not wait for its requests.
   */
  preview?: boolean;
  retryAttempts: number;
  keepAliveMs: number;
  /** SPEC §10 limits (head size, body idle time and size, per-target pending and connection caps). */
  limits?: LimitsConfig;
  /** Response header naming the pool that served, when configured. */
  poolHeader?: string | undefined;
  observers: readonly RequestObserver[];
  /** Passive health evidence: each attempt's outcome per target. */
  onTargetOutcome?: (target: Target, ok: boolean) => void;
  /** Upstream connect timeout for Upgrade (WebSocket) tunnels; 2000 ms by default. */
  connectMs?: number;
  /** `false` answers Upgrade requests with 501 instead of tunnelling them (default true). */
  upgrades?: boolean;
}

const RETRY_AFTER_SECONDS = '1';

export class ProxyServer implements ExchangeOwner {
  readonly server: Server;
  retryAttempts: number;
  /** Set when shutdown starts: every response from then on carries `Connection: close`. */
  closing = false;
  readonly preview: boolean;
  private readonly options: ProxyServerOptions;
  /** Override header and sticky cookie routing, when configured (null: `choosePool` alone). */
  private readonly router: RequestRouter<UpstreamPool, IncomingMessage> | null;
  /** The override header's lower-case name: stripped from every forwarded request. */
  private readonly dropHeader: string | undefined;
  /** True when responses may carry extra headers (pool header, sticky cookie). */
  private readonly decorated: boolean;
  private readonly extrasByPool = new WeakMap<UpstreamPool, PoolExtras>();
  /** The forwarding context, reused: upstreamRequestHeaders reads it synchronously and keeps nothing. */
  private readonly forward: ForwardContext;
  /** Open Upgrade (WebSocket) tunnels: drain calls `closePool`, shutdown `closeAll`. */
  readonly tunnels: UpgradeTunnels;
  /** The observers, handed each loop turn's finished requests together. */
  private readonly observers: BatchedObservers;

  constructor(options: ProxyServerOptions) {
    this.options = options;
    this.retryAttempts = options.retryAttempts;
    this.observers = new BatchedObservers(options.observers);
    this.preview = options.preview === true;
    this.dropHeader = options.overrideHeader?.toLowerCase();
    this.forward = { requestId: '', clientIp: '', proto: 'http', host: undefined, drop: this.dropHeader };
    const routed = !this.preview && options.poolNamed !== undefined
      && (options.stickyCookie !== undefined || options.overrideHeader !== undefined);
    this.router = routed ? new RequestRouter<UpstreamPool, IncomingMessage>({
      weighted: (req) => options.choosePool(req),
      named: (name) => options.poolNamed!(name),
      stickyCookie: options.stickyCookie,
      overrideHeader: options.overrideHeader,
      overrideAllow: options.overrideAllow,
    }) : null;
    this.decorated = options.poolHeader !== undefined || this.router?.sticky === true;
    this.server = createServer({ keepAliveTimeout: options.keepAliveMs, requestTimeout: 0 }, (req, res) => this.handle(req, res));
    // Clients that send garbage get a 400 from Node; their socket errors must never crash us.
    this.server.on('clientError', onClientError);
    // Upgrade requests go through the target's undici Pool like plain ones (UPGRADE: tunnel.ts).
    this.tunnels = new UpgradeTunnels({
      choosePool: (req) => this.router === null ? this.options.choosePool(req) : this.router.route(req)?.pool,
      limits: options.limits ?? DEFAULT_LIMITS,
      dropHeader: this.dropHeader,
      preview: this.preview,
      retryAttempts: () => this.retryAttempts,
      observed: (target, ok) => this.observed(target, ok),
      onFinished: (record) => this.notify(record),
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (options.upgrades === false) return refuseUpgrade(socket, '501 Not Implemented', '');
      // Shutdown closes the open tunnels once; a new one now would keep the listener from closing.
      if (this.closing) return refuseUpgrade(socket, '503 Service Unavailable', `Retry-After: ${RETRY_AFTER_SECONDS}\r\n`);
      this.tunnels.handleUpgrade(req, socket, head);
    });
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    if (this.closing) res.shouldKeepAlive = false;
    const rawHeaders = req.rawHeaders;
    const requestId = incomingRequestId(rawHeaders) ?? requestIds.next();
    const body = hasBody(req);
    // A client reset mid-upload surfaces through the exchange, not as a crash. (Node emits a
    // request's 'error' only to listeners, so a request without a body needs none.)
    if (body) req.on('error', ignore);
    let pool: UpstreamPool | undefined;
    let setCookie: string | null = null;
    if (this.router === null) {
      pool = this.options.choosePool(req);
    } else {
      const route = this.router.route(req);
      pool = route?.pool;
      setCookie = route?.setCookie ?? null;
    }
    const target = pool?.pick();
    if (pool === undefined || target === undefined) return this.unavailable(req, res, pool, requestId, startedAt);
    const context = this.forward;
    context.requestId = requestId;
    context.clientIp = clientAddress(req.socket.remoteAddress);
    context.host = req.headers.host;
    const headers = upstreamRequestHeaders(rawHeaders, context);
    const extras = this.decorated ? this.responseExtras(pool, setCookie) : null;
    new Exchange(this, req, res, pool, target, requestId, headers, startedAt, extras, body).start();
  }

  /** Extra response header pairs for a pool, built once per pool: the pool header, and the sticky cookie when it must be set. */
  private responseExtras(pool: UpstreamPool, setCookie: string | null): readonly string[] | null {
    let extras = this.extrasByPool.get(pool);
    if (extras === undefined) {
      const plain = this.options.poolHeader === undefined ? null : [this.options.poolHeader, pool.name];
      extras = { plain, withCookie: null };
      this.extrasByPool.set(pool, extras);
    }
    if (setCookie === null) return extras.plain;
    // The Set-Cookie line of a pool never changes, so this runs once per pool.
    return (extras.withCookie ??= [...(extras.plain ?? []), 'set-cookie', setCookie]);
  }

  observed(target: Target, ok: boolean): void {
    this.options.onTargetOutcome?.(target, ok);
  }

  finished(exchange: Exchange): void {
    const record: RequestRecord = {
      reqId: exchange.requestId,
      method: exchange.req.method ?? '',
      url: exchange.req.url ?? '',
      status: exchange.status,
      ms: roundMs(performance.now() - exchange.startedAt),
      pool: exchange.pool.name,
      version: exchange.pool.version,
      target: exchange.target.url,
      retries: exchange.retries,
      bytes: exchange.bytes,
    };
    if (exchange.error !== undefined) record.error = exchange.error;
    this.notify(record);
  }

  /** No pool has weight, or the chosen pool has no ready target: 503 with Retry-After. */
  private unavailable(req: IncomingMessage, res: ServerResponse, pool: UpstreamPool | undefined, requestId: string, startedAt: number): void {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': RETRY_AFTER_SECONDS, 'x-request-id': requestId });
    res.end(pool === undefined ? 'no pool has traffic weight\n' : `no ready target in pool ${pool.name}\n`);
    req.resume(); // discard any body so the connection can be reused
    this.notify({
      reqId: requestId, method: req.method ?? '', url: req.url ?? '', status: 503, ms: roundMs(performance.now() - startedAt),
      pool: pool?.name ?? null, version: pool?.version ?? null, target: null, retries: 0, bytes: 0, error: 'no ready target',
    });
  }

  private notify(record: RequestRecord): void {
    if (this.preview) record.listener = 'preview';
    this.observers.requestFinished(record);
  }
}

interface PoolExtras {
  plain: readonly string[] | null;
  withCookie: readonly string[] | null;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function onClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

function refuseUpgrade(socket: Duplex, status: string, extra: string): void {
  socket.on('error', ignore);
  socket.end(`HTTP/1.1 ${status}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

function ignore(): void {}
