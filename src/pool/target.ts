// One upstream server: its address, its connection pool, what it has in flight, and
// its health flags. The picker reads `ready`; it never needs to know why.
import { HealthFlags, type FlagBit } from './health-flags.js';
import type { TargetClient } from '../proxy/upstream-client.js';
import type { UpstreamTlsSource } from '../tls/upstream-tls.js';
import type { SlowStartConfig } from '../config/schema.js';
import { DEFAULT_TARGET_WEIGHT, targetId, type AdminState, type TargetSource } from './target-admin.js';
import { SLOW_START_OFF, slowStartFactor } from './slow-start.js';

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
  /** SPEC §11: the origin's `host:port`, unique in its pool. */
  readonly id: string;
  readonly pool: string;
  /** TLS server name (SNI) for connections and health checks; null for http or an IP-only target (upstreamServerName). */
  readonly servername: string | null;
  /** Its pool's upstream TLS (SPEC §13), for connections and health checks; null for http targets. */
  readonly tls: UpstreamTlsSource | null;
  readonly health = new HealthFlags();
  source: TargetSource = 'config';
  /**
   * For `source: dns` (SPEC §12): the TTL (ms) of the answer that last listed it, when that was
   * (epoch ms), and whether its pool's discovery is stale (held through DNS failures); null otherwise.
   */
  dns: { ttlMs: number | null; resolvedAt: number | null; stale: boolean } | null = null;
  /** Declared by operators (SPEC §11); the target set applies it, with the ADMIN_FENCED flag. */
  adminState: AdminState = 'ready';
  /** Share of its pool's traffic relative to its siblings (1..1000, default 100). */
  weight = DEFAULT_TARGET_WEIGHT;
  /** When a fenced target (drain, maint, removed) had nothing left in flight; null while serving or still busy. */
  drainedAt: Date | null = null;
  /** Called once when a fenced target's last request or tunnel ends (the target set ends its drain). */
  onDrained: ((target: Target) => void) | null = null;
  slowStart: SlowStartConfig = SLOW_START_OFF;
  /** When it last entered rotation (Date.now() ms), 0 when not slow-starting. */
  enteredAt = 0;
  /** Targets of the first config skip slow start on their first `ready` (nothing was serving yet). */
  private warmed: boolean;
  /** Smooth weighted round robin's running credit (picker.ts); meaningless outside it. */
  credit = 0;
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
  private current: TargetClient;
  private open: () => TargetClient;

  /** `open` makes a fresh connection pool; it is called again when a closed one is needed. */
  constructor(url: string, pool: string, open: () => TargetClient, options: { initial?: boolean; servername?: string | null; tls?: UpstreamTlsSource | null } = {}) {
    this.url = url;
    this.id = targetId(url);
    this.pool = pool;
    this.servername = options.servername ?? null;
    this.tls = options.tls ?? null;
    this.warmed = options.initial !== true;
    this.open = open;
    this.current = open();
  }

  /** The connection pool, reopened if a drain closed it: a closed dispatcher is never used. */
  get client(): TargetClient {
    if (this.current.closed) this.current = this.open();
    return this.current;
  }

  /**
   * A new kind of client from now on (a reload changed the pool's `protocol`, SPEC §14): the
   * current one closes gracefully (what runs on it finishes), the next request opens the new kind.
   */
  replaceClient(open: () => TargetClient): void {
    this.open = open;
    void this.current.close();
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

  /**
   * Sets one health flag (each owned by one part: checker, ejector, target set). Entering
   * rotation — any change that makes the target ready — starts its slow start. Returns true
   * when `ready` changed.
   */
  setFlag(flag: FlagBit, on: boolean, now = Date.now()): boolean {
    const changed = this.health.set(flag, on);
    if (changed && this.health.ready) {
      this.enteredAt = this.warmed && this.slowStart.windowMs > 0 ? now : 0;
      this.warmed = true;
    }
    return changed;
  }

  /**
   * The share it takes now (SPEC §11 `effectiveWeight`): 0 out of rotation, `weight` scaled by
   * slow start inside its window, `weight` itself after it.
   */
  effectiveWeight(now = Date.now()): number {
    if (!this.health.ready) return 0;
    if (this.enteredAt === 0) return this.weight;
    const factor = slowStartFactor(this.slowStart, now - this.enteredAt);
    if (factor === 1) this.enteredAt = 0; // window over: no more clock reads for this target
    return this.weight * factor;
  }

  /**
   * Called by whoever ends a request or tunnel on this target, after decrementing `inflight`:
   * a fenced target with nothing left is drained (SPEC §11 `drainedAt`).
   */
  settle(): void {
    if (this.inflight === 0 && this.drainedAt === null && this.health.fenced) {
      this.drainedAt = new Date();
      this.onDrained?.(this);
    }
  }
}
