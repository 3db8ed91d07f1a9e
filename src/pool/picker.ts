// Picks a target inside a pool: the ready one with the fewest requests in flight, ties
// broken round robin so equal targets share load evenly. O(targets), no allocation.
import type { Target } from './target.js';

export class TargetPicker {
  private next = 0;

  /** `exclude` holds targets already tried for this request (retries go elsewhere). */
  pick(targets: readonly Target[], exclude?: readonly Target[]): Target | undefined {
    const count = targets.length;
    let best: Target | undefined;
    let bestIndex = 0;
    for (let step = 0; step < count; step++) {
      const index = (this.next + step) % count;
      const target = targets[index]!;
      if (!target.ready || (exclude !== undefined && exclude.includes(target))) continue;
      if (best === undefined || target.inflight < best.inflight) {
        best = target;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.next = (bestIndex + 1) % count;
    return best;
  }
}
