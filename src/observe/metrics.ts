// Prometheus metrics (SPEC §8) on a registry of this instance's own. Request counts are kept
// per (pool, version, code) and durations per pool here, and handed to prom-client at scrape
// time, so the hot path is two map lookups and a few increments; gauges (weights, health,
// in-flight, store) are read at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestObserver, RequestRecord } from './request-record.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { DurationHistogram, type DurationSeries } from './duration-histogram.js';

export interface MetricsSources {
  pools: () => readonly UpstreamPool[];
  storeUp: () => boolean;
}

/** Latency buckets in seconds: sub-millisecond proxying up to slow upstreams. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One pool's series: its duration child, its retries child, and request counts by version and status. */
interface PoolSeries {
  duration: DurationSeries;
  retries: Counter.Internal | null;
  /** The last version seen and its counts by status (the common case: one map lookup). */
  version: string | null;
  byStatus: Map<number, RequestCount>;
  versions: Map<string | null, Map<number, RequestCount>>;
}

/**
 * A request count kept here and handed to prom-client at scrape time (`collect`): the
 * request path does an integer increment, not a label hash and validation.
 */
interface RequestCount {
  readonly labels: { pool: string; version: string; code: string };
  count: number;
  reported: number;
}

export class Metrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'pool' | 'version' | 'code'>;
  private readonly duration: DurationHistogram;
  private readonly retries: Counter<'pool'>;
  private readonly switches: Counter;
  private readonly series = new Map<string, PoolSeries>();
  private readonly counts: RequestCount[] = [];

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const counts = this.counts;
    this.requests = new Counter({
      name: 'switchyard_requests_total', help: 'Proxied requests by pool, version and status code', labelNames: ['pool', 'version', 'code'], registers,
      collect() {
        for (const entry of counts) {
          if (entry.count === entry.reported) continue;
          this.inc(entry.labels, entry.count - entry.reported);
          entry.reported = entry.count;
        }
      },
    });
    this.duration = new DurationHistogram({ name: 'switchyard_request_duration_seconds', help: 'Time from request to the end of the answer, by pool', labelName: 'pool', buckets: DURATION_BUCKETS }, this.registry);
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
    let series = this.series.get(pool);
    if (series === undefined) {
      const byStatus = new Map<number, RequestCount>();
      series = { duration: this.duration.labels(pool), retries: null, version: record.version, byStatus, versions: new Map([[record.version, byStatus]]) };
      this.series.set(pool, series);
    } else if (series.version !== record.version) {
      let byStatus = series.versions.get(record.version);
      if (byStatus === undefined) series.versions.set(record.version, (byStatus = new Map()));
      series.version = record.version;
      series.byStatus = byStatus;
    }
    let count = series.byStatus.get(record.status);
    if (count === undefined) {
      count = { labels: { pool, version: record.version ?? 'none', code: String(record.status) }, count: 0, reported: 0 };
      series.byStatus.set(record.status, count);
      this.counts.push(count);
    }
    count.count++;
    series.duration.observe(record.ms / 1000);
    if (record.retries > 0) (series.retries ??= this.retries.labels(pool)).inc(record.retries);
  }

  routingChanged(): void {
    this.switches.inc();
  }
}
