// The rules of `switchyard roll` (SPEC §11), pure: which targets it replaces and in what
// batches, whether a batch may go out now, and when a replaced target counts as back.
import type { TargetView } from './format-targets.js';

export interface RollPlan {
  /** Target ids, batch by batch; no batch larger than `batchSize`. */
  batches: string[][];
  /** Targets the roll leaves as they are, and why. */
  skipped: Array<{ id: string; why: string }>;
  batchSize: number;
  /** Things the operator should know about the plan (a lowered --max-unavailable). */
  notes: string[];
}

/**
 * Plans a roll of `pool` (its routing weight `poolWeight`, 0..100) over `targets` (as
 * GET /pools/:pool/targets answered), at most `maxUnavailable` out at once.
 *
 * - Only targets in admin state `ready` are rolled. One in `drain` or `maint` was taken out by
 *   someone for a reason the roll cannot know, and one being removed is leaving: all are skipped.
 * - A pool that has weight must keep a ready target: a batch never holds every rollable target
 *   (the batch size is lowered, with a note), and a plan that cannot keep one is refused.
 * - Targets not in rotation now (unhealthy, ejected) go first: replacing them costs no capacity,
 *   and leaves the ready ones in place while they are out.
 *
 * Returns the plan, or `{ refused }` with a message saying why and what to do instead.
 */
export function planRoll(pool: string, poolWeight: number, targets: readonly TargetView[], maxUnavailable: number): RollPlan | { refused: string } {
  const skipped: RollPlan['skipped'] = [];
  const rollable: TargetView[] = [];
  for (const target of targets) {
    if (target.removing === true) skipped.push({ id: target.id, why: 'being removed' });
    else if (target.state !== 'ready') skipped.push({ id: target.id, why: `in ${target.state}: left as it is (\`switchyard target ready ${pool} ${target.id}\` brings it back)` });
    else rollable.push(target);
  }
  if (rollable.length === 0) return { refused: `${pool} has no target in state ready: nothing to roll` };
  const notes: string[] = [];
  let batchSize = Math.max(1, Math.floor(maxUnavailable));
  if (poolWeight > 0) {
    if (rollable.length === 1) {
      return {
        refused: `${pool} has weight ${poolWeight}% and one target in rotation (${rollable[0]!.id}): taking it out would leave the pool `
          + `without a ready target. Add a target first (switchyard target add ${pool} URL), or move the traffic off ${pool} `
          + '(switchyard flip / weights), then roll',
      };
    }
    if (!rollable.some((target) => target.ready)) {
      return { refused: `${pool} has weight ${poolWeight}% and no target is ready now (healthy, not ejected): a roll would take out what serves; fix its health first (switchyard targets ${pool})` };
    }
    if (batchSize > rollable.length - 1) {
      batchSize = rollable.length - 1;
      notes.push(`--max-unavailable ${maxUnavailable} lowered to ${batchSize}: ${pool} has weight and keeps one ready target while the others are out`);
    }
  }
  const ordered = [...rollable.filter((target) => !target.ready), ...rollable.filter((target) => target.ready)];
  const batches: string[][] = [];
  for (let start = 0; start < ordered.length; start += batchSize) batches.push(ordered.slice(start, start + batchSize).map((target) => target.id));
  return { batches, skipped, batchSize, notes };
}

/**
 * Whether `batch` may go out now, given the pool's weight and its targets as read just before:
 * null if so, else why not. A pool with weight needs a ready target outside the batch (the
 * server would answer 409 LAST_TARGET to the drain that takes its last one).
 */
export function batchRefusal(pool: string, poolWeight: number, targets: readonly TargetView[], batch: readonly string[]): string | null {
  if (poolWeight <= 0) return null;
  const others = targets.filter((target) => !batch.includes(target.id));
  if (others.some((target) => target.ready)) return null;
  return `${pool} has weight ${poolWeight}% and no ready target outside ${batch.join(', ')} now: taking ${batch.length === 1 ? 'it' : 'them'} out would leave the pool without one`;
}

/**
 * When a replaced target counts as back (SPEC §11: "healthy, and still healthy after
 * --min-ready"), from successive reads of its view after CMD finished.
 *
 * A health check that completed after CMD may have started before CMD finished (and probed
 * the old process), so the first check newer than `baselineAt` (the last one read after CMD
 * finished) is not believed; a check newer than that one started after it, hence after CMD.
 * Health checks of a target run one after another (src/health/active-checker.ts), and this
 * needs no clock shared with the server: only the server's own `lastCheck.at` are compared.
 * From the first such check that finds the target healthy (and not ejected), it must stay so
 * on every read for `minReadyMs`, and a check newer than that first one must confirm it.
 */
export class ReadyGate {
  private readonly minReadyMs: number;
  private readonly baselineAt: number;
  private suspectAt: number | null = null;
  /** Client time (ms) of the read that first found it healthy on a believed check; null until then or after a relapse. */
  healthySince: number | null = null;
  private healthyCheckAt = 0;

  constructor(minReadyMs: number, baselineAt: string | null) {
    this.minReadyMs = minReadyMs;
    this.baselineAt = baselineAt === null ? -Infinity : Date.parse(baselineAt);
  }

  /** Takes one read (`nowMs`: client clock); true once the target has been healthy long enough. */
  observe(view: TargetView, nowMs: number): boolean {
    const checkAt = view.lastCheck === null ? -Infinity : Date.parse(view.lastCheck.at);
    if (this.suspectAt === null) {
      if (checkAt > this.baselineAt) this.suspectAt = checkAt;
      return false;
    }
    const believed = checkAt > this.suspectAt;
    const healthy = view.healthy && !view.ejected && view.lastCheck?.ok === true;
    if (!believed) return false;
    if (!healthy) {
      this.healthySince = null;
      return false;
    }
    if (this.healthySince === null) {
      this.healthySince = nowMs;
      this.healthyCheckAt = checkAt;
    }
    if (nowMs - this.healthySince < this.minReadyMs) return false;
    return this.minReadyMs === 0 || checkAt > this.healthyCheckAt;
  }
}
