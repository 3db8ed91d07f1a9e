// Counts every proxied request per pool (status ≥ 500 is an error) for the rollout's
// verdicts. O(1) per request: one map lookup and a binary search over ~45 bucket bounds.
import type { RequestObserver, RequestRecord } from '../observe/request-record.js';
import { emptyCounts, record, type Counts } from './latency-histogram.js';

export class PoolMeter implements RequestObserver {
  private readonly counts = new Map<string, Counts>();

  requestFinished(entry: RequestRecord): void {
    if (entry.pool === null || entry.status === 499) return; // a client leaving says nothing about the pool
    let counts = this.counts.get(entry.pool);
    if (counts === undefined) this.counts.set(entry.pool, (counts = emptyCounts()));
    record(counts, entry.ms, entry.status >= 500);
  }

  /** Cumulative counts per pool since start (copies). */
  snapshot(): Record<string, Counts> {
    const out: Record<string, Counts> = {};
    for (const [pool, counts] of this.counts) out[pool] = { requests: counts.requests, errors: counts.errors, buckets: [...counts.buckets] };
    return out;
  }
}
