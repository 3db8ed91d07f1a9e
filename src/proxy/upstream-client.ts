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
  private readonly pool: Pool;

  constructor(origin: string, options: UpstreamClientOptions) {
    this.origin = origin;
    this.pool = new Pool(origin, {
      connections: options.connections ?? DEFAULT_CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: UPSTREAM_IDLE_MS,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: options.headersMs,
      bodyTimeout: 0, // streaming responses (SSE, long polls) may be quiet for long; client aborts still cancel them
      connect: { timeout: options.connectMs },
      strictContentLength: true,
    });
    // A Pool emits 'connectionError' for failed connects; requests get the error themselves.
    this.pool.on('connectionError', noop);
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.pool.dispatch(options, handler);
  }

  /** Open connections to the target, idle ones included (undici's PoolStats.connected); upgraded sockets are no longer among them. */
  get connected(): number {
    return this.pool.stats.connected;
  }

  get closed(): boolean {
    return this.pool.closed || this.pool.destroyed;
  }

  /** Graceful: finishes what is running, then closes the sockets. */
  close(): Promise<void> {
    return this.closed ? Promise.resolve() : this.pool.close();
  }

  /** Immediate: aborts what is running. */
  destroy(): Promise<void> {
    return this.pool.destroyed ? Promise.resolve() : this.pool.destroy();
  }
}

function noop(): void {}
