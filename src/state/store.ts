// Where the routing state lives. The memory store serves a single instance; the Redis store
// implements the same contract for a fleet. Both also keep the audit trail of changes and
// the instances' heartbeats.
import type { RoutingState, Weights } from '../routing/state.js';
import type { Rollout } from '../rollout/rollout-state.js';
import type { Counts } from '../rollout/latency-histogram.js';
import type { StoreHealth } from './store-health.js';
import type { TargetsState } from '../pool/target-admin.js';

export type { StoreHealth } from './store-health.js';

/** One committed change, for `GET /events`. */
export interface ChangeEvent {
  revision: number;
  at: string;
  who: string;
  kind: string;
  from: Weights | null;
  to: Weights | null;
  reason?: string;
  /** A target change (SPEC §11): which target, and its declared state before and after. */
  target?: { pool: string; id: string; from: TargetEventState | null; to: TargetEventState | null };
}

/** A target's declared state as events show it; null `from` = added, null `to` = removed. */
export interface TargetEventState {
  state: string;
  weight: number;
  url?: string;
}

/** What an instance says about itself in its heartbeat. */
export interface InstanceReport {
  id: string;
  host: string;
  startedAt: string;
  revision: number;
  storeUp: boolean;
  pools: Record<string, {
    weight: number; state: string; inflight: number; longLived: number; drainedAt: string | null;
    /** Per target id: its admin state here, what it has in flight here, and when it drained here (SPEC §11, fleet-wide drain waits). */
    targets?: Record<string, { state: string; inflight: number; drainedAt: string | null }>;
  }>;
  /** Cumulative request counts per pool, for fleet-wide rollout verdicts. */
  meters?: Record<string, Counts>;
  seenAt: string;
}

/**
 * The targets' shared document (SPEC §11): the same compare-and-set and publish contract as the
 * routing state, on its own revision sequence.
 */
export interface TargetStateStore {
  /** The stored document, or null when nothing has been stored yet. Rejects when the store is down. */
  getTargets(): Promise<TargetsState | null>;
  /**
   * Stores `next` (and its event) only if the stored revision is still `expectedRevision` (null or
   * 0: only if nothing is stored), then announces it to every subscriber. False when another change
   * got there first; rejects (STATE_UNAVAILABLE) when the store is down or the deadline passed.
   */
  compareAndSetTargets(expectedRevision: number | null, next: TargetsState, event?: ChangeEvent): Promise<boolean>;
  /** Called with every document committed after subscribing (by anyone, this instance included). */
  subscribeTargets(listener: (state: TargetsState) => void): () => void;
}

/**
 * Every call answers or rejects within the store's `state.opTimeoutMs` (SPEC §10); a mutation
 * that rejects for want of time is never applied later. Rejections are SwitchyardErrors with
 * code STATE_UNAVAILABLE (an HTTP 503).
 */
export interface StateStore extends TargetStateStore {
  readonly kind: 'memory' | 'redis';
  /** Whether the store answers right now (`health.up`). */
  readonly up: boolean;
  /** Up, when it last answered, and why it is down (`GET /status`'s `store`). */
  readonly health: StoreHealth;
  /** The stored state, or null when nothing has been stored yet. Rejects when the store is down. */
  get(): Promise<RoutingState | null>;
  /**
   * Stores `next` (and its event) only if the stored revision is still `expectedRevision`
   * (null: only if nothing is stored), and announces it to every subscriber. Returns false
   * when another change got there first; rejects when the store is down.
   */
  compareAndSet(expectedRevision: number | null, next: RoutingState, event?: ChangeEvent): Promise<boolean>;
  /** Called with every state committed after subscribing (by anyone, this instance included). */
  subscribe(listener: (state: RoutingState) => void): () => void;
  /** Called whenever the store comes (back) up, so its readers can resync. */
  onUp(listener: () => void): () => void;
  /** Newest first. */
  recentEvents(limit: number): Promise<ChangeEvent[]>;
  /** Records an event that is not a routing change (rollout verdicts, reloads). */
  recordEvent(event: ChangeEvent): Promise<void>;
  /** The current (or last) rollout. */
  getRollout(): Promise<Rollout | null>;
  /** Stores `next` only if the stored rollout's version is still `expectedVersion` (null: none stored or replacing a finished one). */
  putRollout(expectedVersion: number | null, next: Rollout): Promise<boolean>;
  /** Takes or renews the named lease for `owner`; false while somebody else holds it. */
  holdLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
  /** Who holds the named lease now, if anyone. */
  leaseHolder(name: string): Promise<string | null>;
  heartbeat(report: InstanceReport, ttlMs: number): Promise<void>;
  instances(): Promise<InstanceReport[]>;
  close(): Promise<void>;
}

/**
 * How many change events a store keeps: a rolling update writes three per target (drain,
 * maint or ready), so a roll of a large pool must not push the last flips out of the trail.
 */
export const EVENTS_KEPT = 1000;

/** Resolves true once the store is up, or false after `timeoutMs` without it. */
export function waitUntilUp(store: Pick<StateStore, 'up' | 'onUp'>, timeoutMs: number): Promise<boolean> {
  if (store.up) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (up: boolean) => {
      clearTimeout(timer);
      off();
      resolve(up);
    };
    const timer = setTimeout(() => done(store.up), timeoutMs);
    const off = store.onUp(() => done(true));
  });
}
