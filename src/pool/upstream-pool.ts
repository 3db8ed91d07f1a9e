// A named pool of targets (blue, green, ...): its version label, its targets, what it has in
// flight, and where it stands in the drain sequence (serving → draining → drained).
import { EventEmitter } from 'node:events';
import type { HealthCheckConfig, UpstreamProtocol } from '../config/schema.js';
import { poolRole } from '../routing/state.js';
import { TargetPicker } from './picker.js';
import type { LongLived, Target } from './target.js';

export type DrainPhase = 'serving' | 'standby' | 'draining' | 'drained';
export type PoolStateName = 'active' | 'standby' | 'split' | 'draining' | 'drained';

export class UpstreamPool extends EventEmitter<{ drained: [] }> {
  readonly name: string;
  version: string;
  targets: Target[];
  inflight = 0;
  /** Of `inflight`, the preview listener's requests: a drain does not wait for them. */
  previewInflight = 0;
  longLived = 0;
  weight = 0;
  drainingSince: Date | null = null;
  drainedAt: Date | null = null;
  private readonly picker = new TargetPicker();

  /** SPEC §14: what its targets' clients speak upstream (the target set makes them). */
  protocol: UpstreamProtocol = 'http1';

  /** Active health-check settings for this pool's targets (top-level block + pool override). */
  healthCheck: HealthCheckConfig | null;

  constructor(name: string, version: string, targets: Target[], healthCheck: HealthCheckConfig | null = null) {
    super();
    this.name = name;
    this.version = version;
    this.targets = targets;
    this.healthCheck = healthCheck;
  }

  pick(exclude?: readonly Target[]): Target | undefined {
    return this.picker.pick(this.targets, exclude);
  }

  get readyTargets(): number {
    let count = 0;
    for (const target of this.targets) if (target.ready) count++;
    return count;
  }

  begin(target: Target, preview = false): void {
    target.inflight++;
    this.inflight++;
    if (preview) this.previewInflight++;
  }

  end(target: Target, preview = false): void {
    target.inflight--;
    if (target.inflight === 0) target.settle();
    this.inflight--;
    if (preview) this.previewInflight--;
    if (this.idle && this.phase === 'draining') this.markDrained();
  }

  // A request whose body is still being read (exchange.ts) before it takes a target.
  /**
   * A request routed to this pool whose body is still being read: no target and no upstream
   * connection yet. It counts in `inflight` (a drain and shutdown wait for it), in no target's.
   * Once it is dispatched, `begin(target)` comes first, then this ends, so `inflight` never
   * dips to 0 in between (no false `drained`).
   */
  beginUnassigned(preview = false): void {
    this.inflight++;
    if (preview) this.previewInflight++;
  }

  endUnassigned(preview = false): void {
    this.inflight--;
    if (preview) this.previewInflight--;
    if (this.idle && this.phase === 'draining') this.markDrained();
  }

  /** A long-lived connection (WebSocket tunnel) opened on this pool. */
  beginLongLived(): void {
    this.longLived++;
  }

  endLongLived(): void {
    this.longLived--;
    if (this.idle && this.phase === 'draining') this.markDrained();
  }

  /**
   * An Upgrade tunnel starts on `target` (at its handshake): it counts in the target's in-flight
   * (least-in-flight picking sees it) and, but for the preview listener's, as one of this pool's
   * long-lived connections (a drain waits for it, then cuts it). Not in the pool's `inflight`:
   * that counts requests.
   */
  beginTunnel(target: Target, tunnel: LongLived, preview: boolean): void {
    target.inflight++;
    target.tunnels.add(tunnel);
    if (!preview) this.beginLongLived();
  }

  /** A tunnel's handshake moves to another target (connect retry): the pool's count does not blink. */
  moveTunnel(from: Target, to: Target, tunnel: LongLived): void {
    from.inflight--;
    from.tunnels.delete(tunnel);
    if (from.inflight === 0) from.settle();
    to.inflight++;
    to.tunnels.add(tunnel);
  }

  endTunnel(target: Target, tunnel: LongLived, preview: boolean): void {
    target.inflight--;
    target.tunnels.delete(tunnel);
    if (target.inflight === 0) target.settle();
    if (!preview) this.endLongLived();
  }

  /** Called whenever the routing state gives this pool a weight. */
  setWeight(weight: number, now = new Date()): void {
    const before = this.weight;
    this.weight = weight;
    if (weight > 0) {
      this.drainingSince = null;
      this.drainedAt = null;
    } else if (before > 0) {
      this.drainingSince = now;
      this.drainedAt = null;
      if (this.idle) this.markDrained(now);
    }
  }

  /** Nothing a drain waits for is running: no in-flight request (but preview ones), no long-lived connection. */
  get idle(): boolean {
    return this.inflight === this.previewInflight && this.longLived === 0;
  }

  get phase(): DrainPhase {
    if (this.weight > 0) return 'serving';
    if (this.drainingSince === null) return 'standby';
    return this.drainedAt === null ? 'draining' : 'drained';
  }

  /** What status, metrics and heartbeats call the pool: its role by weight, or where its drain stands. */
  get state(): PoolStateName {
    const phase = this.phase;
    if (phase === 'serving') return poolRole(this.weight);
    return phase;
  }

  private markDrained(now = new Date()): void {
    this.drainedAt = now;
    this.emit('drained');
  }
}
