// The primary's "every worker has it" barrier (SPEC §15, issue 16): a flip's 200 is sent only
// after every live worker acknowledged the revision that carries it, so "the next request
// after the 200 goes to green" holds on every worker. Pure bookkeeping: no IPC, no processes.
// The primary calls `workerJoined` once a worker acked its full snapshot, `workerLeft` when it
// exits (a dead worker never holds a flip up), `acked` on each ack message; the admin route
// awaits `waitFor(revision, timeoutMs)`. A worker that joins after a wait began is not waited
// for: it got the whole state (that revision included) in its snapshot before it listened.
import { performance } from 'node:perf_hooks';

/** What the barrier needs of time: a monotonic clock in ms and a one-shot timer it can cancel. */
export interface BarrierClock {
  now(): number;
  /** Calls `fire` once after `ms`; the returned function cancels it (idempotent). */
  schedule(fire: () => void, ms: number): () => void;
}

/** `ms`: milliseconds from `waitFor` to the last needed ack (0 when nothing was missing). */
export type BarrierResult = { ok: true; ms: number } | { ok: false; missing: string[] };

interface Wait {
  readonly revision: number;
  readonly startedAt: number;
  /** Workers present at the call that have not acked `revision` yet (those that left are dropped). */
  readonly pending: Set<string>;
  readonly resolve: (result: BarrierResult) => void;
  cancel: () => void;
}

/** Real time: `performance.now()`, and an unref'd timer (a pending wait never keeps a process alive). */
export const REAL_CLOCK: BarrierClock = {
  now: () => performance.now(),
  schedule(fire, ms) {
    const timer = setTimeout(fire, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export class AckBarrier {
  /** Worker id → the newest revision it acked (null: none yet). */
  private readonly workers = new Map<string, number | null>();
  private readonly waits = new Set<Wait>();

  constructor(private readonly clock: BarrierClock = REAL_CLOCK) {}

  /** Ids of the workers the barrier counts now, in join order. */
  get members(): string[] {
    return [...this.workers.keys()];
  }

  /** How many `waitFor` calls are still open (each holds one timer). */
  get waiting(): number {
    return this.waits.size;
  }

  /** The newest revision `id` acked; null when it has acked none, undefined when it is not a member. */
  ackedBy(id: string): number | null | undefined {
    return this.workers.get(id);
  }

  /**
   * A worker starts counting (after it applied and acked its full snapshot; an `acked` before
   * this is ignored). Joining again while a member changes nothing. Open waits do not wait for
   * it: whatever they wait for was in its snapshot.
   */
  workerJoined(id: string): void {
    if (!this.workers.has(id)) this.workers.set(id, null);
  }

  /** A worker exited or was dropped: open waits stop waiting for it, and may resolve now. */
  workerLeft(id: string): void {
    if (!this.workers.delete(id)) return;
    for (const wait of [...this.waits]) {
      if (wait.pending.delete(id)) this.settleIfDone(wait);
    }
  }

  /**
   * `id` applied everything up to `revision` (acks are cumulative: an ack of R counts for every
   * revision ≤ R, and an older ack arriving late never lowers what it acked). Acks from ids that
   * are not members are ignored.
   */
  acked(id: string, revision: number): void {
    const before = this.workers.get(id);
    if (before === undefined) return;
    if (before !== null && revision <= before) return;
    this.workers.set(id, revision);
    for (const wait of [...this.waits]) {
      if (revision >= wait.revision && wait.pending.delete(id)) this.settleIfDone(wait);
    }
  }

  /**
   * Resolves `{ ok: true, ms }` once every worker that is a member now (minus any that leave
   * meanwhile) has acked `revision` or newer — at once when none is missing (no workers at all
   * included) — or `{ ok: false, missing }` after `timeoutMs` with the ids still missing, in join
   * order. Never rejects; its timer is cleared when it resolves.
   */
  waitFor(revision: number, timeoutMs: number): Promise<BarrierResult> {
    const pending = new Set<string>();
    for (const [id, acked] of this.workers) if (acked === null || acked < revision) pending.add(id);
    if (pending.size === 0) return Promise.resolve({ ok: true, ms: 0 });
    return new Promise<BarrierResult>((resolve) => {
      const wait: Wait = { revision, startedAt: this.clock.now(), pending, resolve, cancel: () => undefined };
      this.waits.add(wait);
      wait.cancel = this.clock.schedule(() => this.finish(wait, { ok: false, missing: [...wait.pending] }), Math.max(0, timeoutMs));
    });
  }

  /** Shutdown: every open wait resolves now with who is missing; no timer is left. */
  close(): void {
    for (const wait of [...this.waits]) this.finish(wait, { ok: false, missing: [...wait.pending] });
  }

  private settleIfDone(wait: Wait): void {
    if (wait.pending.size === 0) this.finish(wait, { ok: true, ms: this.clock.now() - wait.startedAt });
  }

  private finish(wait: Wait, result: BarrierResult): void {
    if (!this.waits.delete(wait)) return;
    wait.cancel();
    wait.resolve(result);
  }
}
