// One upstream server: its address, its connection pool, what it has in flight, and
// its health flags. The picker reads `ready`; it never needs to know why.
import { HealthFlags } from './health-flags.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';

export interface LastCheck {
  at: string;
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

export class Target {
  readonly url: string;
  readonly pool: string;
  readonly health = new HealthFlags();
  inflight = 0;
  lastCheck: LastCheck | null = null;
  private current: UpstreamClient;
  private readonly open: () => UpstreamClient;

  /** `open` makes a fresh connection pool; it is called again when a closed one is needed. */
  constructor(url: string, pool: string, open: () => UpstreamClient) {
    this.url = url;
    this.pool = pool;
    this.open = open;
    this.current = open();
  }

  /** The connection pool, reopened if a drain closed it: a closed dispatcher is never used. */
  get client(): UpstreamClient {
    if (this.current.closed) this.current = this.open();
    return this.current;
  }

  /** Graceful: idle connections close now, busy ones after their request (drain). */
  closeConnections(): Promise<void> {
    return this.current.close();
  }

  /** Immediate: cuts whatever is still running (drain timeout, shutdown grace over). */
  destroyConnections(): Promise<void> {
    return this.current.destroy();
  }

  get ready(): boolean {
    return this.health.ready;
  }
}
