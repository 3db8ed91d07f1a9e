// Routing state for a single instance: a variable with compare-and-set semantics, the
// recent changes, and this instance's own heartbeat.
import type { RoutingState } from '../routing/state.js';
import type { TargetsState } from '../pool/target-admin.js';
import type { Rollout } from '../rollout/rollout-state.js';
import { EVENTS_KEPT, type ChangeEvent, type InstanceReport, type StateStore, type StoreHealth } from './store.js';

export class MemoryStore implements StateStore {
  readonly kind = 'memory';
  readonly up = true;
  private state: RoutingState | null = null;
  private rollout: Rollout | null = null;
  private readonly leases = new Map<string, { owner: string; expires: number }>();
  private readonly events: ChangeEvent[] = [];
  private readonly reports = new Map<string, { report: InstanceReport; expires: number }>();
  private readonly listeners = new Set<(state: RoutingState) => void>();
  private targets: TargetsState | null = null;
  private readonly targetListeners = new Set<(state: TargetsState) => void>();

  async get(): Promise<RoutingState | null> {
    return this.state;
  }

  async compareAndSet(expectedRevision: number | null, next: RoutingState, event?: ChangeEvent): Promise<boolean> {
    const current = this.state?.revision ?? null;
    if (current !== expectedRevision) return false;
    this.state = next;
    if (event !== undefined) await this.recordEvent(event);
    for (const listener of this.listeners) listener(next);
    return true;
  }

  subscribe(listener: (state: RoutingState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async getTargets(): Promise<TargetsState | null> {
    return this.targets;
  }

  async compareAndSetTargets(expectedRevision: number | null, next: TargetsState, event?: ChangeEvent): Promise<boolean> {
    if ((this.targets?.revision ?? 0) !== (expectedRevision ?? 0)) return false;
    this.targets = next;
    if (event !== undefined) await this.recordEvent(event);
    for (const listener of this.targetListeners) listener(next);
    return true;
  }

  subscribeTargets(listener: (state: TargetsState) => void): () => void {
    this.targetListeners.add(listener);
    return () => this.targetListeners.delete(listener);
  }

  /** In-process: it always answers, so it is up and last answered now. */
  get health(): StoreHealth {
    return { up: true, lastOkAt: new Date().toISOString(), error: null };
  }

  onUp(): () => void {
    return () => undefined; // always up
  }

  async recentEvents(limit: number): Promise<ChangeEvent[]> {
    return this.events.slice(0, limit);
  }

  async recordEvent(event: ChangeEvent): Promise<void> {
    this.events.unshift(event);
    this.events.length = Math.min(this.events.length, EVENTS_KEPT);
  }

  async getRollout(): Promise<Rollout | null> {
    return this.rollout;
  }

  async putRollout(expectedVersion: number | null, next: Rollout): Promise<boolean> {
    const stored = this.rollout;
    const fits = expectedVersion === null ? stored === null || stored.phase !== 'running' : stored?.version === expectedVersion;
    if (fits) this.rollout = next;
    return fits;
  }

  async holdLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const lease = this.leases.get(name);
    if (lease !== undefined && lease.owner !== owner && lease.expires > Date.now()) return false;
    this.leases.set(name, { owner, expires: Date.now() + ttlMs });
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    if (this.leases.get(name)?.owner === owner) this.leases.delete(name);
  }

  async leaseHolder(name: string): Promise<string | null> {
    const lease = this.leases.get(name);
    return lease !== undefined && lease.expires > Date.now() ? lease.owner : null;
  }

  async heartbeat(report: InstanceReport, ttlMs: number): Promise<void> {
    this.reports.set(report.id, { report, expires: Date.now() + ttlMs });
  }

  async instances(): Promise<InstanceReport[]> {
    const now = Date.now();
    return [...this.reports.values()].filter((entry) => entry.expires > now).map((entry) => entry.report);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.targetListeners.clear();
  }
}
