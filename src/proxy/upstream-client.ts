// The one place that talks to undici: a keep-alive connection pool per target.
// `close()` waits for in-flight requests (drain); `destroy()` cuts them (kill).
import { isIP } from 'node:net';
import { buildConnector, Pool, type Dispatcher } from 'undici';
import { DEFAULT_UPSTREAM_TLS, type UpstreamTlsOptions, type UpstreamTlsSource } from '../tls/upstream-tls.js';

export interface UpstreamClientOptions {
  connectMs: number;
  headersMs: number;
  /** Cap on open connections to one target. */
  connections?: number;
}

/** Idle upstream sockets close before a typical upstream's own 5 s idle timeout, so we never reuse one it is closing. */
const UPSTREAM_IDLE_MS = 4000;
const DEFAULT_CONNECTIONS = 256;

/**
 * The TLS server name (SNI, RFC 6066 §3) for a target, also the name its certificate is checked
 * against: the pool's `tls.servername` when set (SPEC §13), else the target's own DNS name — the
 * name discovery resolved (`name`) or the URL's host — never the client's `Host`, which goes
 * upstream unchanged. Null for `http:` and for a target named only by an IP address with no
 * override (RFC 6066 sends no IP literals; the certificate is then checked against the IP).
 * nginx (`proxy_ssl_name`) and HAProxy (`sni`) name the upstream the same way.
 */
export function upstreamServerName(url: string, name?: string, override?: string): string | null {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:') return null;
  if (override !== undefined) return override;
  const host = name ?? parsed.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) === 0 ? host : null;
}

/**
 * What the request path needs of a target's upstream client, whatever protocol it speaks
 * (SPEC §14 `pools.NAME.protocol`): `UpstreamClient` (HTTP/1.1 over undici) or
 * `H2UpstreamClient` (HTTP/2 over node:http2 sessions). Requests are dispatched with undici's
 * legacy handler callbacks (onConnect, onHeaders with raw Buffer pairs, onData, onComplete,
 * onError), so the Exchange is the same object for both.
 */
export interface TargetClient {
  readonly origin: string;
  /** Dispatched requests not yet given a connection or stream; the Exchange keeps the count (++ on dispatch, -- on onConnect or onError). */
  waiting: number;
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  /** The stale-connection retry: on a connection opened for this request. */
  dispatchFresh(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  /** From a handler's onConnect: true when its connection was opened for it. */
  takeFreshConnection(): boolean;
  /** Open connections (HTTP/2: sessions). */
  readonly connected: number;
  readonly closed: boolean;
  /** Graceful: what runs finishes, then the connections close (drain). */
  close(): Promise<void>;
  /** Immediate: what runs is cut. */
  destroy(): Promise<void>;
}

export class UpstreamClient implements TargetClient {
  readonly origin: string;
  /**
   * What every request on an `https:` target says its server name is; undefined for `http:`.
   * It must be the same on each request: undici takes a request's SNI from its `Host` header
   * when none is given and closes the connection when it changes (client.js "servername
   * changed"). The connector below decides what is actually sent.
   */
  private readonly requestServerName: string | undefined;
  /**
   * Requests dispatched here that have not been given a connection yet (queued in the pool or
   * waiting for a connect). The exchange keeps the count (++ on dispatch, -- on its onConnect
   * or error): cheaper than undici's `stats.pending`, which walks every connection.
   */
  waiting = 0;
  private readonly pool: Pool;
  private readonly options: UpstreamClientOptions;
  /** Connections made only for stale-connection retries, each closed after its one request. */
  private fresh: Pool | null = null;
  /** Set by the pool's `connect` event, read by the next onConnect (see `takeFreshConnection`). */
  private connectedJustNow = false;

  /**
   * `servername`: see upstreamServerName (null: no SNI). `tls`: the pool's upstream TLS, read
   * at each new connection (SPEC §13); absent: Node's defaults.
   */
  constructor(origin: string, options: UpstreamClientOptions, private readonly servername: string | null = null,
    private readonly tls: UpstreamTlsSource | null = null) {
    this.origin = origin;
    this.options = options;
    this.requestServerName = origin.startsWith('https:') ? servername ?? new URL(origin).hostname : undefined;
    this.pool = this.openPool(options.connections ?? DEFAULT_CONNECTIONS);
    this.pool.on('connect', this.onPoolConnect);
  }

  private openPool(connections: number): Pool {
    const pool = new Pool(this.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: UPSTREAM_IDLE_MS,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: this.options.headersMs,
      bodyTimeout: 0, // streaming responses (SSE, long polls) may be quiet for long; client aborts still cancel them
      connect: this.requestServerName === undefined ? { timeout: this.options.connectMs } : this.tlsConnector(),
      strictContentLength: true,
    });
    // A Pool emits 'connectionError' for failed connects; requests get the error themselves.
    pool.on('connectionError', noop);
    return pool;
  }

  /**
   * undici's own TLS connector, with the target's server name in place of the request's (an
   * IP-only target: none) and the pool's TLS options as they are when each connection is made:
   * a rotated CA or client certificate reaches new connections only, kept-alive ones finish on
   * the old. buildConnector takes TLS options when built, so one is built per options snapshot
   * (its session cache goes with it: no TLS session of the old client certificate is resumed).
   */
  private tlsConnector(): buildConnector.connector {
    const timeout = this.options.connectMs;
    const servername = this.servername ?? undefined;
    const source = this.tls;
    let builtFor: UpstreamTlsOptions | null = null;
    let connect: buildConnector.connector | null = null;
    return (options, callback) => {
      const tls = source?.current ?? DEFAULT_UPSTREAM_TLS;
      if (connect === null || tls !== builtFor) {
        connect = buildConnector({ timeout, ...connectOptions(tls) });
        builtFor = tls;
      }
      connect({ ...options, servername }, callback);
    };
  }

  /**
   * undici writes the first request on a new connection synchronously inside the `connect`
   * event's turn (client.js: emit('connect') then resume → writeH1 → onConnect); a request on a
   * kept-alive connection is written from a later turn (after its idle-socket check). So the
   * flag set here and cleared at the end of the microtask tells the one onConnect that follows
   * that its connection is new. undici 7's h1 onConnect passes no socket context to say so.
   */
  private readonly onPoolConnect = (): void => {
    this.connectedJustNow = true;
    queueMicrotask(this.clearConnected);
  };

  private readonly clearConnected = (): void => {
    this.connectedJustNow = false;
  };

  /** Called from a handler's onConnect: true when that request's connection was opened for it. */
  takeFreshConnection(): boolean {
    const fresh = this.connectedJustNow;
    this.connectedJustNow = false;
    return fresh;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.pool.dispatch(this.requestServerName === undefined ? options : withServerName(options, this.requestServerName), handler);
  }

  /**
   * Dispatches on a connection opened for this request and closed after it (`reset`): the
   * stale-connection retry, which must not land on another idle socket the upstream may be
   * closing too. A separate, lazily made pool outside `connections` (at most one connection
   * per such retry in flight, which are rare).
   */
  dispatchFresh(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.fresh ??= this.openPool(DEFAULT_CONNECTIONS);
    const fresh = { ...options, reset: true };
    return this.fresh.dispatch(this.requestServerName === undefined ? fresh : withServerName(fresh, this.requestServerName), handler);
  }

  /** Open connections to the target, idle ones included (undici's PoolStats.connected); upgraded sockets are no longer among them. */
  get connected(): number {
    return this.pool.stats.connected;
  }

  get closed(): boolean {
    return this.pool.closed || this.pool.destroyed;
  }

  /** Graceful: finishes what is running, then closes the sockets. */
  async close(): Promise<void> {
    const fresh = this.fresh;
    await Promise.all([
      this.closed ? undefined : this.pool.close(),
      fresh === null || fresh.closed || fresh.destroyed ? undefined : fresh.close(),
    ]);
  }

  /** Immediate: aborts what is running. */
  async destroy(): Promise<void> {
    const fresh = this.fresh;
    await Promise.all([
      this.pool.destroyed ? undefined : this.pool.destroy(),
      fresh === null || fresh.destroyed ? undefined : fresh.destroy(),
    ]);
  }
}

function noop(): void {}

/** What tls.connect needs from a snapshot (the SecureContext carries ca, cert and key). */
export function connectOptions(tls: UpstreamTlsOptions): buildConnector.BuildOptions {
  return tls.secureContext === undefined
    ? { rejectUnauthorized: tls.rejectUnauthorized }
    : { rejectUnauthorized: tls.rejectUnauthorized, secureContext: tls.secureContext };
}

/** undici's Request reads `servername` from dispatch options (lib/core/request.js); its types leave it out. */
function withServerName(options: Dispatcher.DispatchOptions, servername: string): Dispatcher.DispatchOptions {
  return { ...options, servername } as Dispatcher.DispatchOptions;
}
