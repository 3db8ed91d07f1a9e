// The JSON that `GET /status` (and every successful mutation) answers with. Declared state
// (weights, revision) and observed state (health, in-flight, drain) side by side.
import type { RoutingState } from '../routing/state.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { targetView } from './target-view.js';
import type { StateStore } from '../state/store.js';

export interface StatusContext {
  state: RoutingState;
  pools: readonly UpstreamPool[];
  store: Pick<StateStore, 'kind' | 'health'>;
  instance: { id: string; startedAt: string };
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

export function statusView({ state, pools, store, instance }: StatusContext) {
  return {
    revision: state.revision,
    weights: state.weights,
    previous: state.previous,
    updatedAt: state.updatedAt,
    updatedBy: state.updatedBy,
    ...(state.reason === undefined ? {} : { reason: state.reason }),
    pools: Object.fromEntries(pools.map((pool) => [pool.name, poolView(pool)])),
    store: storeView(store),
    instance,
  };
}

export function storeView(store: Pick<StateStore, 'kind' | 'health'>): StoreView {
  const { up, lastOkAt, error } = store.health;
  return { kind: store.kind, up, lastOkAt, error };
}

function poolView(pool: UpstreamPool) {
  return {
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
