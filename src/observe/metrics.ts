// Prometheus metrics (SPEC §8) on a registry of this instance's own. Request counters use
// label children bound once per (pool, code) and cached, so the hot path is a map lookup
// and two increments; gauges (weights, health, in-flight, store) are read at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestObserver, RequestRecord } from './request-record.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';

export interface MetricsSources {
  pools: () => readonly UpstreamPool[];
  storeUp: () => boolean;
}

/** Latency buckets in seconds: sub-millisecond proxying up to slow upstreams. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface BoundRequest {
  requests: Counter.Internal;
}

export class Metrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'pool' | 'version' | 'code'>;
  private readonly duration: Histogram<'pool'>;
  private readonly retries: Counter<'pool'>;
  private readonly switches: Counter;
  private readonly bound = new Map<string, BoundRequest>();
  private readonly durationByPool = new Map<string, Histogram.Internal<'pool'>>();
  private readonly retriesByPool = new Map<string, Counter.Internal>();

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'switchyard_requests_total', help: 'Proxied requests by pool, version and status code', labelNames: ['pool', 'version', 'code'], registers });
    this.duration = new Histogram({ name: 'switchyard_request_duration_seconds', help: 'Time from request to the end of the answer, by pool', labelNames: ['pool'], buckets: DURATION_BUCKETS, registers });
    this.retries = new Counter({ name: 'switchyard_retries_total', help: 'Requests retried on another target, by pool', labelNames: ['pool'], registers });
    this.switches = new Counter({ name: 'switchyard_switches_total', help: 'Routing changes applied by this instance', registers });
    new Gauge({
      name: 'switchyard_pool_weight', help: 'Traffic weight of each pool (0-100)', labelNames: ['pool'], registers,
      collect() {
        this.reset();
        for (const pool of sources.pools()) this.set({ pool: pool.name }, pool.weight);
      },
    });
    new Gauge({
      name: 'switchyard_inflight', help: 'Requests in flight per pool', labelNames: ['pool'], registers,
      collect() {
        this.reset();
        for (const pool of sources.pools()) this.set({ pool: pool.name }, pool.inflight);
      },
    });
    new Gauge({
      name: 'switchyard_target_healthy', help: '1 when a target may take traffic (healthy, not ejected)', labelNames: ['pool', 'target'], registers,
      collect() {
        this.reset();
        for (const pool of sources.pools()) for (const target of pool.targets) this.set({ pool: pool.name, target: target.url }, target.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_state_store_up', help: '1 when the state store answers', registers,
      collect() {
        this.set(sources.storeUp() ? 1 : 0);
      },
    });
  }

  requestFinished(record: RequestRecord): void {
    const pool = record.pool ?? 'none';
    const key = `${pool}\u0000${record.version ?? ''}\u0000${record.status}`;
    let bound = this.bound.get(key);
    if (bound === undefined) {
      bound = { requests: this.requests.labels(pool, record.version ?? 'none', String(record.status)) };
      this.bound.set(key, bound);
    }
    bound.requests.inc();
    let duration = this.durationByPool.get(pool);
    if (duration === undefined) this.durationByPool.set(pool, (duration = this.duration.labels(pool)));
    duration.observe(record.ms / 1000);
    if (record.retries > 0) {
      let retries = this.retriesByPool.get(pool);
      if (retries === undefined) this.retriesByPool.set(pool, (retries = this.retries.labels(pool)));
      retries.inc(record.retries);
    }
  }

  routingChanged(): void {
    this.switches.inc();
  }
}
