// Where the routing state lives. The memory store serves a single instance; a Redis store
// implements the same contract for a fleet.
import type { RoutingState } from '../routing/state.js';

export interface StateStore {
  /** The stored state, or null when nothing has been stored yet. */
  get(): Promise<RoutingState | null>;
  /**
   * Stores `next` only if the stored revision is still `expectedRevision` (null: only if
   * nothing is stored). Returns false when another change got there first.
   */
  compareAndSet(expectedRevision: number | null, next: RoutingState): Promise<boolean>;
  /** Called with every state committed after subscribing (by anyone, this instance included). */
  subscribe(listener: (state: RoutingState) => void): () => void;
  /** Whether the store can take changes right now. */
  readonly up: boolean;
  close(): Promise<void>;
}
