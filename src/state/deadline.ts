// Deadlines of state-store calls (SPEC §10): every call gives up after `state.opTimeoutMs`, and
// a mutation's commit carries a deadline that Redis itself checks, so a commit we gave up on
// (held in a socket buffer while Redis was frozen, or delivered by TCP after a partition
// healed) is refused when it finally runs instead of being applied late.
//
// Which clock: never ours. The proxy host's clock and Redis's may be skewed or stepped, so
// each mutation first reads Redis's clock (one round trip; mutations are admin changes,
// rollout steps, lease renewals and heartbeats, never the request path) and derives the
// deadline from that reading and our monotonic clock:
//
//   deadline = redisNow + (startedAt + opTimeoutMs - margin - now)
//
// Redis read its clock at some instant before `now`, so the deadline falls no later than
// `startedAt + opTimeoutMs - margin` in real time, whatever the skew: the commit runs at least
// `margin` before we give up (time for its answer to reach us), or it never runs. Only a step
// of Redis's clock during that one attempt could move it.

/** ms kept between the latest commit and our giving up, for the commit's answer to arrive. */
export function answerMargin(opTimeoutMs: number): number {
  return Math.min(250, Math.floor(opTimeoutMs / 4));
}

/**
 * The commit deadline in ms on Redis's clock, or null when the budget is already spent.
 * `redisNowMs`: Redis's TIME in ms; `startedAt`, `now`: our monotonic clock (performance.now()),
 * `startedAt` being when the call's own timer started.
 */
export function commitDeadline(redisNowMs: number, startedAt: number, now: number, opTimeoutMs: number): number | null {
  const remaining = startedAt + opTimeoutMs - answerMargin(opTimeoutMs) - now;
  return remaining <= 0 ? null : Math.floor(redisNowMs + remaining);
}

/** Thrown when a call has no answer within its time limit. */
export class StoreTimeoutError extends Error {
  constructor(readonly ms: number, what: string) {
    super(`no answer to ${what} within ${ms} ms`);
    this.name = 'StoreTimeoutError';
  }
}

/**
 * `work` or a StoreTimeoutError after `ms`, whichever comes first. The work itself is not
 * cancelled (a Redis command cannot be taken back): that is what the commit deadline is for.
 */
export function timeLimit<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(ms, what)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
