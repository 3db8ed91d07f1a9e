// Smooth weighted round robin (nginx's algorithm): deterministic, evenly interleaved, and
// exact over every cycle of `total` picks, so a 90/10 split is 90/10 after 10 requests,
// not just on average. No allocation per pick.

export class WeightedChoice<T> {
  private readonly items: T[];
  private readonly weights: number[];
  private readonly current: number[];
  private readonly total: number;

  /** Entries with weight 0 are never picked. */
  constructor(entries: ReadonlyArray<readonly [T, number]>) {
    const live = entries.filter(([, weight]) => weight > 0);
    this.items = live.map(([item]) => item);
    this.weights = live.map(([, weight]) => weight);
    this.current = live.map(() => 0);
    this.total = this.weights.reduce((sum, weight) => sum + weight, 0);
  }

  get size(): number {
    return this.items.length;
  }

  /** The next item, or undefined when every weight is 0. */
  pick(): T | undefined {
    const count = this.items.length;
    if (count <= 1) return this.items[0];
    let best = 0;
    for (let i = 0; i < count; i++) {
      this.current[i]! += this.weights[i]!;
      if (this.current[i]! > this.current[best]!) best = i;
    }
    this.current[best]! -= this.total;
    return this.items[best];
  }
}
