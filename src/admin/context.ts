// What the admin routes need from the running proxy; main.ts provides it.
import type { RoutingControl } from '../state/routing-control.js';
import type { TargetControl } from '../state/target-control.js';
import type { TargetSet } from '../pool/target-set.js';
import type { StateStore } from '../state/store.js';
import type { Fleet } from '../state/fleet.js';
import type { RolloutController } from '../rollout/rollout-controller.js';
import type { Metrics } from '../observe/metrics.js';
import type { Logger } from '../observe/logger.js';
import type { PoolRates } from '../observe/pool-rates.js';
import type { CertificateView } from '../tls/certificate-store.js';
import type { WorkerView } from '../cluster/primary.js';

export interface AdminContext {
  control: RoutingControl;
  /** The targets' shared document (SPEC §11): admin states, weights, API-added targets. */
  targets: TargetControl;
  pools: () => TargetSet;
  store: StateStore;
  fleet: Fleet;
  rollouts: RolloutController;
  metrics: Metrics;
  /** Per-pool requests and errors per second for GET /stats; without it, /stats answers zeros. */
  rates?: Pick<PoolRates, 'snapshot'>;
  /** Serve /metrics without the token. */
  metricsPublic: boolean;
  /** True once the proxy serves (first health round done) and until shutdown starts. */
  ready: () => boolean;
  /** Re-reads the config file and applies it; throws ConfigError when refused. */
  reload: () => Promise<unknown>;
  /** The edge listener's certificate pairs for GET /certificates (SPEC §13); null or absent without a TLS listener. */
  certificates?: () => CertificateView[] | null;
  instance: { id: string; startedAt: string };
  /** GET /metrics' text when it is not just `metrics.registry` (workers: summed over them). */
  scrape?: () => Promise<string>;
  /** With workers (SPEC §15): each worker's slot, pid and the newest push it applied, for GET /status. */
  workers?: () => WorkerView[];
  /**
   * With workers: resolves once every live worker applied every change so far; rejects with a
   * NotPropagatedError after its deadline. A mutation's 2xx waits for it.
   */
  propagated?: () => Promise<unknown>;
  token: string;
  logger: Logger;
}
