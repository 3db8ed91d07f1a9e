// Passive-health evidence crossing from a worker to the primary's one ejector (SPEC §15), in
// O(targets) per report however many requests ran: per target, the failures before its first
// success, whether it succeeded, the failures after its last success. Replayed in that order,
// the ejector's consecutive-failure count comes out as if it had seen every outcome. Pure.
import type { Outcome } from './messages.js';

/** What the ejector needs to know of a target: its pool and id. */
export interface OutcomeTarget {
  readonly pool: string;
  readonly id: string;
}

export class OutcomeLog<T extends OutcomeTarget = OutcomeTarget> {
  private readonly byTarget = new Map<T, Outcome>();

  record(target: T, ok: boolean): void {
    let outcome = this.byTarget.get(target);
    if (outcome === undefined) this.byTarget.set(target, (outcome = { pool: target.pool, id: target.id, leading: 0, ok: false, trailing: 0 }));
    if (ok) {
      outcome.ok = true;
      outcome.trailing = 0;
    } else if (outcome.ok) outcome.trailing++;
    else outcome.leading++;
  }

  /** Everything recorded since the last call; the log starts over. */
  take(): Outcome[] {
    const out = [...this.byTarget.values()];
    this.byTarget.clear();
    return out;
  }
}

/** Feeds `outcome` to `observe` in an order the ejector counts alike: failures, a success, failures. */
export function replay(outcome: Outcome, observe: (ok: boolean) => void): void {
  for (let i = 0; i < outcome.leading; i++) observe(false);
  if (outcome.ok) observe(true);
  for (let i = 0; i < outcome.trailing; i++) observe(false);
}
