// The one place that talks to undici: a keep-alive connection pool per target.
// `close()` waits for in-flight requests (drain); `destroy()` cuts them (kill).
import { Pool, type Dispatcher } from 'undici';

export interface UpstreamClientOptions {
  connectMs: number;
  headersMs: number;
  /** Cap on open connections to one target. */
  connections?: number;
}

/** Idle upstream sockets close before a typical upstream's own 5 s idle timeout, so we never reuse one it is closing. */
const UPSTREAM_IDLE_MS = 4000;
const DEFAULT_CONNECTIONS = 256;

export class UpstreamClient {
  readonly origin: string;
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

  constructor(origin: string, options: UpstreamClientOptions) {
    this.origin = origin;
    this.options = options;
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
      connect: { timeout: this.options.connectMs },
      strictContentLength: true,
    });
    // A Pool emits 'connectionError' for failed connects; requests get the error themselves.
    pool.on('connectionError', noop);
    return pool;
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
    return this.pool.dispatch(options, handler);
  }

  /**
   * Dispatches on a connection opened for this request and closed after it (`reset`): the
   * stale-connection retry, which must not land on another idle socket the upstream may be
   * closing too. A separate, lazily made pool outside `connections` (at most one connection
   * per such retry in flight, which are rare).
   */
  dispatchFresh(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.fresh ??= this.openPool(DEFAULT_CONNECTIONS);
    return this.fresh.dispatch({ ...options, reset: true }, handler);
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
