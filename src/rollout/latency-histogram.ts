// Request outcomes per pool as cumulative counters with a fixed latency histogram, so
// windows are differences of snapshots and a fleet's windows are sums. Pure arithmetic.

/** Bucket upper bounds in ms: 0.5 ms growing by 25% per bucket, up to about 2 minutes. */
export const BUCKET_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let bound = 0.5; bound < 120_000; bound *= 1.25) bounds.push(Math.round(bound * 1000) / 1000);
  return bounds;
})();

export interface Counts {
  requests: number;
  errors: number;
  /** One count per bucket of BUCKET_BOUNDS_MS, plus one for anything slower. */
  buckets: number[];
}

export const emptyCounts = (): Counts => ({ requests: 0, errors: 0, buckets: new Array(BUCKET_BOUNDS_MS.length + 1).fill(0) });

export function bucketOf(ms: number): number {
  // Binary search: the first bound ≥ ms.
  let low = 0;
  let high = BUCKET_BOUNDS_MS.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (BUCKET_BOUNDS_MS[mid]! >= ms) high = mid;
    else low = mid + 1;
  }
  return low;
}

export function record(counts: Counts, ms: number, error: boolean): void {
  counts.requests++;
  if (error) counts.errors++;
  counts.buckets[bucketOf(ms)]!++;
}

export function subtract(later: Counts, earlier: Counts | undefined): Counts {
  if (earlier === undefined) return { requests: later.requests, errors: later.errors, buckets: [...later.buckets] };
  return {
    requests: later.requests - earlier.requests,
    errors: later.errors - earlier.errors,
    buckets: later.buckets.map((count, index) => count - (earlier.buckets[index] ?? 0)),
  };
}

export function add(a: Counts, b: Counts): Counts {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors, buckets: a.buckets.map((count, index) => count + (b.buckets[index] ?? 0)) };
}

/** The upper bound of the bucket holding the q-quantile (an over-estimate by at most 25%); null with no requests. */
export function quantileMs(counts: Counts, q: number): number | null {
  if (counts.requests === 0) return null;
  const rank = Math.ceil(q * counts.requests);
  let seen = 0;
  for (let index = 0; index < counts.buckets.length; index++) {
    seen += counts.buckets[index]!;
    if (seen >= rank) return BUCKET_BOUNDS_MS[index] ?? Number.POSITIVE_INFINITY;
  }
  return Number.POSITIVE_INFINITY;
}
