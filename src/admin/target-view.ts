// A live target as the admin API shows it (SPEC §11 `GET /pools/:pool/targets`, and each entry
// of `GET /status`'s pools): declared state (state, weight, source) beside what is observed
// (health, ejection, in-flight, drain).
import { Flag } from '../pool/health-flags.js';
import type { Target } from '../pool/target.js';

export function targetView(target: Target, now = Date.now()) {
  return {
    id: target.id,
    url: target.url,
    source: target.source,
    state: target.adminState,
    weight: target.weight,
    /** The weight after slow start, rounded to 0.1 (the picker uses the exact one). */
    effectiveWeight: Math.round(target.effectiveWeight(now) * 10) / 10,
    /** Takes new requests now: state ready, healthy, not ejected, not leaving. */
    ready: target.ready,
    healthy: target.health.healthy,
    ejected: target.health.has(Flag.EJECTED),
    inflight: target.inflight,
    drainedAt: target.drainedAt?.toISOString() ?? null,
    /** Deleted (API) or gone from the file: draining, then it leaves the list. */
    removing: target.health.has(Flag.REMOVED),
    lastCheck: target.lastCheck,
    // `source: dns` only (SPEC §12): the TTL (ms) of the answer that last listed it, when (ISO
    // 8601), and `stale` while its pool holds the last good set through DNS failures.
    ...(target.dns === null ? {} : {
      ttlMs: target.dns.ttlMs,
      stale: target.dns.stale,
      resolvedAt: target.dns.resolvedAt === null ? null : new Date(target.dns.resolvedAt).toISOString(),
    }),
  };
}

export type TargetView = ReturnType<typeof targetView>;
