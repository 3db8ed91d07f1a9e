// The IPC messages between the primary and its workers (SPEC §15; src/cluster/DESIGN.md).
// Sent with node:cluster's `advanced` serialization (structured clone: Dates survive).
// Every state message carries `seq`, the primary's push counter; a worker acks the highest
// `seq` it applied, and a flip's 200 waits until every live worker acked (ack-barrier.ts).
import type { Config } from '../config/schema.js';
import type { DiscoveredTarget, DiscoveryInfo } from '../pool/target-set.js';
import type { TargetsState } from '../pool/target-admin.js';
import type { RoutingState } from '../routing/state.js';
import type { Counts } from '../rollout/latency-histogram.js';
import type { PoolRateSeries } from '../observe/pool-rates.js';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** PEM bytes by file path (structured clone delivers them as Uint8Array). */
export type Pems = Record<string, Uint8Array>;

/** The health flags the primary owns (checker, ejector), per pool, per target id: Flag bits. */
export type FlagMap = Record<string, Record<string, number>>;

export interface DiscoveredSet {
  targets: readonly DiscoveredTarget[];
  info: DiscoveryInfo;
}

/** Everything a new worker needs before it listens: the primary's state as of `seq`. */
export interface Snapshot {
  type: 'snapshot';
  seq: number;
  /** 1..N; a replacement keeps the slot of the worker it replaces. */
  slot: number;
  /** Listener ports resolved (no 0: every worker binds the same port). */
  config: Config;
  routing: RoutingState;
  targets: TargetsState | null;
  discovered: Record<string, DiscoveredSet>;
  flags: FlagMap;
  /** The edge certificate pairs the primary loaded, by file path (the worker never reads those files). */
  pems: Pems;
  /** SO_REUSEPORT per worker (Node ≥ 22.12), else node:cluster's shared handle. */
  reusePort: boolean;
}

export type StateMessage =
  | { type: 'routing'; seq: number; state: RoutingState }
  | { type: 'targets'; seq: number; state: TargetsState }
  | { type: 'discovered'; seq: number; pool: string; set: DiscoveredSet }
  | { type: 'flags'; seq: number; flags: FlagMap }
  /** A reload applied in the primary (restart-only keys already kept). */
  | { type: 'config'; seq: number; config: Config; pems: Pems }
  /** The edge certificate files changed and loaded well in the primary: these are the pairs now. */
  | { type: 'certificates'; seq: number; pems: Pems };

/** A scrape: the worker answers with its request metrics (`stats`). */
export interface StatsRequest {
  type: 'stats?';
  id: number;
}

export type PrimaryMessage =
  | Snapshot
  | StateMessage
  | StatsRequest
  | { type: 'shutdown'; graceMs: number };

/** One pool's load on one worker: what status, drains and heartbeats sum. */
export interface PoolLoad {
  inflight: number;
  previewInflight: number;
  longLived: number;
  /** Set when this worker's pool is drained (weight 0 and idle): epoch ms. */
  drainedAt: number | null;
  /** Target id → its in-flight requests and tunnels, and when it drained if fenced (epoch ms). */
  targets: Record<string, { inflight: number; drainedAt: number | null }>;
}

/**
 * Passive-health evidence for one target since the last report, order kept where it matters:
 * failures before the first success, whether any succeeded, failures after the last success.
 */
export interface Outcome {
  pool: string;
  id: string;
  leading: number;
  ok: boolean;
  trailing: number;
}

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

export type WorkerMessage =
  /** Its message handler is installed: the snapshot can come. */
  | { type: 'hello' }
  | { type: 'ready'; seq: number; proxy: string; preview: string | null; tls: string | null }
  | { type: 'ack'; seq: number; load: Record<string, PoolLoad> }
  | { type: 'report'; seq: number; load: Record<string, PoolLoad>; meter: Record<string, Counts>; outcomes: Outcome[]; rates: Record<string, PoolRateSeries> }
  | { type: 'stats'; id: number; metrics: MetricsJson };
