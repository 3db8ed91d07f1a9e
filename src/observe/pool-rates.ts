// Requests and errors (status ≥ 500) per pool per second over the last minute, for the
// dashboard's live charts (GET /stats). One ring of 60 one-second slots per pool; a slot
// remembers which second it holds, so a stale slot reads as 0 and is reset on first use.
// O(1) per request: one map lookup, one modulo, two increments.
import type { RequestObserver, RequestRecord } from './request-record.js';

/** Seconds kept (and returned) per pool. */
export const RATE_SLOTS = 60;

export interface PoolRateSeries {
  /** Requests finished in each second, oldest first; the last entry is the current (partial) second. */
  rps: number[];
  /** Of those, answers with status ≥ 500 (proxy errors included), same seconds. */
  errors: number[];
}

class Ring {
  readonly second = new Float64Array(RATE_SLOTS).fill(-1);
  readonly requests = new Uint32Array(RATE_SLOTS);
  readonly errors = new Uint32Array(RATE_SLOTS);

  add(second: number, error: boolean): void {
    const slot = second % RATE_SLOTS;
    if (this.second[slot] !== second) {
      this.second[slot] = second;
      this.requests[slot] = 0;
      this.errors[slot] = 0;
    }
    this.requests[slot]! += 1;
    if (error) this.errors[slot]! += 1;
  }

  series(now: number): PoolRateSeries {
    const rps: number[] = new Array<number>(RATE_SLOTS);
    const errors: number[] = new Array<number>(RATE_SLOTS);
    for (let i = 0; i < RATE_SLOTS; i++) {
      const second = now - (RATE_SLOTS - 1) + i;
      const slot = ((second % RATE_SLOTS) + RATE_SLOTS) % RATE_SLOTS;
      const live = this.second[slot] === second;
      rps[i] = live ? this.requests[slot]! : 0;
      errors[i] = live ? this.errors[slot]! : 0;
    }
    return { rps, errors };
  }
}

export class PoolRates implements RequestObserver {
  private readonly rings = new Map<string, Ring>();
  private readonly clock: () => number;

  /** `clock` answers milliseconds (tests pass a fake one). */
  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  requestFinished(record: RequestRecord): void {
    if (record.pool === null) return;
    let ring = this.rings.get(record.pool);
    if (ring === undefined) this.rings.set(record.pool, (ring = new Ring()));
    ring.add(Math.floor(this.clock() / 1000), record.status >= 500);
  }

  /** The last 60 seconds of `pools` (zeros for a pool without traffic), ending with the current second. */
  snapshot(pools: readonly string[]): Record<string, PoolRateSeries> {
    const now = Math.floor(this.clock() / 1000);
    const out: Record<string, PoolRateSeries> = {};
    for (const pool of pools) {
      const ring = this.rings.get(pool);
      out[pool] = ring === undefined ? { rps: new Array<number>(RATE_SLOTS).fill(0), errors: new Array<number>(RATE_SLOTS).fill(0) } : ring.series(now);
    }
    return out;
  }
}
