// Routing state for a single instance: a variable with compare-and-set semantics.
import type { RoutingState } from '../routing/state.js';
import type { StateStore } from './store.js';

export class MemoryStore implements StateStore {
  readonly up = true;
  private state: RoutingState | null = null;
  private readonly listeners = new Set<(state: RoutingState) => void>();

  async get(): Promise<RoutingState | null> {
    return this.state;
  }

  async compareAndSet(expectedRevision: number | null, next: RoutingState): Promise<boolean> {
    const current = this.state?.revision ?? null;
    if (current !== expectedRevision) return false;
    this.state = next;
    for (const listener of this.listeners) listener(next);
    return true;
  }

  subscribe(listener: (state: RoutingState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
