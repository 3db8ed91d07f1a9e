// Which pool serves the next request. Rebuilt whole whenever the routing state changes, so
// a change applies to the very next request and picking never sees a half-updated state.
import { WeightedChoice } from './weighted-choice.js';
import type { Weights } from './state.js';

export class Router<P extends { readonly name: string }> {
  private choice: WeightedChoice<P> = new WeightedChoice<P>([]);
  private byName = new Map<string, P>();

  apply(weights: Weights, pools: readonly P[]): void {
    this.byName = new Map(pools.map((pool) => [pool.name, pool]));
    this.choice = new WeightedChoice(pools.map((pool) => [pool, weights[pool.name] ?? 0] as const));
  }

  /** The pool for the next request by weight, or undefined when no pool has weight. */
  next(): P | undefined {
    return this.choice.pick();
  }

  pool(name: string): P | undefined {
    return this.byName.get(name);
  }
}
