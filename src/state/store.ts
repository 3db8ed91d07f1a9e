// Where the routing state lives. The memory store serves a single instance; the Redis store
// implements the same contract for a fleet. Both also keep the audit trail of changes and
// the instances' heartbeats.
import type { RoutingState, Weights } from '../routing/state.js';
import type { Rollout } from '../rollout/rollout-state.js';
import type { Counts } from '../rollout/latency-histogram.js';

/** One committed change, for `GET /events`. */
export interface ChangeEvent {
  revision: number;
  at: string;
  who: string;
  kind: string;
  from: Weights | null;
  to: Weights | null;
  reason?: string;
}

/** What an instance says about itself in its heartbeat. */
export interface InstanceReport {
  id: string;
  host: string;
  startedAt: string;
  revision: number;
  storeUp: boolean;
  pools: Record<string, { weight: number; state: string; inflight: number; longLived: number; drainedAt: string | null }>;
  /** Cumulative request counts per pool, for fleet-wide rollout verdicts. */
  meters?: Record<string, Counts>;
  seenAt: string;
}

export interface StateStore {
  readonly kind: 'memory' | 'redis';
  /** Whether the store can take changes right now. */
  readonly up: boolean;
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
  /** Resolves true once the store is up, or false after `timeoutMs` without it. */
  waitUntilUp(timeoutMs: number): Promise<boolean>;
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

/** How many change events a store keeps. */
export const EVENTS_KEPT = 200;
