// Where the routing state lives. The memory store serves a single instance; the Redis store
// implements the same contract for a fleet. Both also keep the audit trail of changes and
// the instances' heartbeats.
import type { RoutingState, Weights } from '../routing/state.js';

/** One committed change, for `GET /events`. */
export interface ChangeEvent {
  revision: number;
  at: string;
  who: string;
  kind: string;
  from: Weights | null;
  to: Weights;
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
  heartbeat(report: InstanceReport, ttlMs: number): Promise<void>;
  instances(): Promise<InstanceReport[]>;
  close(): Promise<void>;
}

/** How many change events a store keeps. */
export const EVENTS_KEPT = 200;
