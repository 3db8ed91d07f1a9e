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

/** Something open on a target that outlives a request and that a drain cuts when its time is up: an Upgrade tunnel. */
export interface LongLived {
  close(reason: string): void;
}

export class Target {
  readonly url: string;
  readonly pool: string;
  readonly health = new HealthFlags();
  /** Requests and tunnels (from their handshake to their end) running on this target: least-in-flight picking reads it. */
  inflight = 0;
  /** Open Upgrade tunnels, handshakes included; each also counts in `inflight`. A drain of the target cuts them. */
  readonly tunnels = new Set<LongLived>();
  /**
   * Upstream sockets a 101 took out of the connection pool (undici no longer counts them):
   * with the pool's own connections they make what `limits.maxConnectionsPerTarget` caps.
   */
  detached = 0;
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

  /** Cuts every tunnel of this target (drain timeout of a removed target); returns how many there were. */
  closeTunnels(reason: string): number {
    const count = this.tunnels.size;
    for (const tunnel of [...this.tunnels]) tunnel.close(reason);
    return count;
  }

  get ready(): boolean {
    return this.health.ready;
  }
}
