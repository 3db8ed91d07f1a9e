// The JSON that `GET /status` (and every successful mutation) answers with. Declared state
// (weights, revision) and observed state (health, in-flight, drain) side by side.
import type { RoutingState } from '../routing/state.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { targetView } from './target-view.js';
import type { StateStore } from '../state/store.js';
import type { DiscoveryInfo } from '../pool/target-set.js';

export interface StatusContext {
  state: RoutingState;
  pools: readonly UpstreamPool[];
  store: Pick<StateStore, 'kind' | 'health'>;
  instance: { id: string; startedAt: string };
  /** A pool's DNS discovery state (TargetSet.discovery); absent or undefined = not discovering. */
  discovery?: (pool: string) => DiscoveryInfo | undefined;
}

/**
 * `store` in `GET /status` (SPEC §10): whether the state store answers, when it last did
 * (ISO 8601 or null) and why it is down (null while up). `lastOkAt` and `error` are optional
 * for clients reading an older server.
 */
export interface StoreView {
  kind: string;
  up: boolean;
  lastOkAt?: string | null;
  error?: string | null;
}

export function statusView({ state, pools, store, instance, discovery }: StatusContext) {
  return {
    revision: state.revision,
    weights: state.weights,
    previous: state.previous,
    updatedAt: state.updatedAt,
    updatedBy: state.updatedBy,
    ...(state.reason === undefined ? {} : { reason: state.reason }),
    pools: Object.fromEntries(pools.map((pool) => [pool.name, poolView(pool, discovery?.(pool.name))])),
    store: storeView(store),
    instance,
  };
}

export function storeView(store: Pick<StateStore, 'kind' | 'health'>): StoreView {
  const { up, lastOkAt, error } = store.health;
  return { kind: store.kind, up, lastOkAt, error };
}

/**
 * A discovering pool's `discovery` in `GET /status` (SPEC §12): the name and record type asked, `stale` while its targets are a
 * held last good set, `lastError` the last query's failure (`NXDOMAIN`, `EMPTY`, `SERVFAIL`,
 * `TIMEOUT`) or null, times ISO 8601 (null before the first), `ttlMs` of the last good answer.
 */
export function discoveryView(info: DiscoveryInfo) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return { dns: info.dns, type: info.type, stale: info.stale, lastError: info.lastError, resolvedAt: iso(info.resolvedAt), lastGoodAt: iso(info.lastGoodAt), ttlMs: info.ttlMs };
}

function poolView(pool: UpstreamPool, discovery: DiscoveryInfo | undefined) {
  return {
    ...(discovery === undefined ? {} : { discovery: discoveryView(discovery) }),
    version: pool.version,
    weight: pool.weight,
    state: pool.state,
    inflight: pool.inflight,
    longLived: pool.longLived,
    drainingSince: pool.drainingSince?.toISOString() ?? null,
    drainedAt: pool.drainedAt?.toISOString() ?? null,
    readyTargets: pool.readyTargets,
    targets: pool.targets.map((target) => targetView(target)),
  };
}

export type StatusView = ReturnType<typeof statusView>;
