// Picks a target inside a pool. Envoy's rule for its least-request balancer: when every ready
// target has the same effective weight, the one with the fewest requests in flight (ties
// round robin, so equal targets share load evenly); when weights differ (operator weights,
// slow start), smooth weighted round robin (nginx's algorithm) over `weight / (inflight + 1)`,
// Envoy's active-request bias of 1. Why this pair: least-in-flight alone ignores weights,
// and plain weighted random drifts from the asked split at the low request counts a slow
// start ramp measures; smooth WRR hits the split exactly every Σweight picks and spreads
// each target's turns evenly, while the in-flight divisor still steers away from a slow
// target. O(targets), no allocation; the clock is read only when a target is slow-starting.
import type { Target } from './target.js';

export class TargetPicker {
  private next = 0;

  /** `exclude` holds targets already tried for this request (retries go elsewhere). */
  pick(targets: readonly Target[], exclude?: readonly Target[]): Target | undefined {
    const count = targets.length;
    let best: Target | undefined;
    let bestIndex = 0;
    let weighted = false;
    let firstWeight = -1;
    for (let step = 0; step < count; step++) {
      const index = (this.next + step) % count;
      const target = targets[index]!;
      if (!target.ready || (exclude !== undefined && exclude.includes(target))) continue;
      if (target.enteredAt !== 0 || (firstWeight !== -1 && target.weight !== firstWeight)) weighted = true;
      firstWeight = target.weight;
      if (best === undefined || target.inflight < best.inflight) {
        best = target;
        bestIndex = index;
      }
    }
    if (best === undefined) return undefined;
    if (weighted) return this.smooth(targets, exclude);
    this.next = (bestIndex + 1) % count;
    return best;
  }

  /**
   * Smooth weighted round robin: every candidate gains its weight in credit, the richest wins
   * and pays the total back. Candidates are ready and not excluded.
   */
  private smooth(targets: readonly Target[], exclude?: readonly Target[]): Target | undefined {
    const now = Date.now();
    let total = 0;
    let best: Target | undefined;
    for (const target of targets) {
      if (!target.ready || (exclude !== undefined && exclude.includes(target))) continue;
      const weight = target.effectiveWeight(now) / (target.inflight + 1);
      target.credit += weight;
      total += weight;
      if (best === undefined || target.credit > best.credit) best = target;
    }
    if (best !== undefined) best.credit -= total;
    return best;
  }
}
