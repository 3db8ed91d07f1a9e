// Prometheus metrics (SPEC §8, §11) on a registry of this instance's own. Request counts are
// kept per (pool, version, code) and per (pool, target, code), and durations per pool, here,
// and handed to prom-client at scrape time, so the hot path is a few map lookups and
// increments; gauges (weights, health, admin states, in-flight, store) are read at scrape time.
// A target's label is its URL, the same in every target series.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestObserver, RequestRecord } from './request-record.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import type { Target } from '../pool/target.js';
import { ADMIN_STATES } from '../pool/target-admin.js';
import { DurationHistogram, type DurationSeries } from './duration-histogram.js';

export interface MetricsSources {
  pools: () => readonly UpstreamPool[];
  storeUp: () => boolean;
  /** DNS discovery failures so far, pool → count (a running total that only grows); absent = no discovery. */
  discoveryErrors?: () => ReadonlyMap<string, number>;
  /** The edge listener's certificate pairs (SPEC §13): SAN names and expiry; absent = no TLS listener. */
  certificates?: () => ReadonlyArray<{ names: readonly string[]; notAfter: Date }>;
}

/**
 * The series the request path counts (RequestObserver): with workers (SPEC §15) each worker
 * counts its own and a scrape sums them; every other series is the primary's own.
 */
export const requestMetricNames: ReadonlySet<string> = new Set([
  'switchyard_requests_total', 'switchyard_target_requests_total', 'switchyard_request_duration_seconds',
  'switchyard_requests_by_proto_total', 'switchyard_grpc_responses_total', 'switchyard_retries_total',
]);

/** Latency buckets in seconds: sub-millisecond proxying up to slow upstreams. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One pool's series: its duration child, its retries child, and request counts by version (and by target) and status. */
interface PoolSeries {
  duration: DurationSeries;
  retries: Counter.Internal | null;
  /** The last version seen and its counts by status (the common case: one map lookup). */
  version: string | null;
  byStatus: Map<number, RequestCount>;
  versions: Map<string | null, Map<number, RequestCount>>;
  /** Target URL → counts by status (requests answered without a target are not counted here). */
  targets: Map<string, Map<number, RequestCount>>;
  /** SPEC §14 counters, made on first use. */
  h1?: RequestCount;
  h2?: RequestCount;
  grpc?: Map<number, RequestCount>;
}

/**
 * A request count kept here and handed to prom-client at scrape time (`collect`): the
 * request path does an integer increment, not a label hash and validation.
 */
interface RequestCount {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
  reported: number;
}

/** Hands what `counts` gained since the last scrape to `counter` (from its `collect`). */
function report(counter: Counter, counts: readonly RequestCount[]): void {
  for (const entry of counts) {
    if (entry.count === entry.reported) continue;
    counter.inc(entry.labels, entry.count - entry.reported);
    entry.reported = entry.count;
  }
}

/**
 * The count of `status` in `byStatus`, made on first use (labels `{pool, [label]: value, code}`)
 * and listed in `all` for the scrape. Plain arguments, no closure: it runs once a request.
 */
function countOf(byStatus: Map<number, RequestCount>, status: number, all: RequestCount[], pool: string, label: string, value: string): RequestCount {
  let count = byStatus.get(status);
  if (count === undefined) {
    count = { labels: { pool, [label]: value, code: String(status) }, count: 0, reported: 0 };
    byStatus.set(status, count);
    all.push(count);
  }
  return count;
}

export class Metrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'pool' | 'version' | 'code'>;
  private readonly duration: DurationHistogram;
  private readonly retries: Counter<'pool'>;
  private readonly protoCounts: RequestCount[] = [];
  private readonly grpcCounts: RequestCount[] = [];
  private readonly switches: Counter;
  private readonly ejections: Counter<'pool' | 'target'>;
  private readonly series = new Map<string, PoolSeries>();
  private readonly counts: RequestCount[] = [];
  private readonly targetCounts: RequestCount[] = [];

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const { counts, targetCounts } = this;
    this.requests = new Counter({
      name: 'switchyard_requests_total', help: 'Proxied requests by pool, version and status code', labelNames: ['pool', 'version', 'code'], registers,
      collect() {
        report(this, counts);
      },
    });
    new Counter({
      name: 'switchyard_target_requests_total', help: 'Proxied requests by pool, target and status code (requests that reached no target are not counted)',
      labelNames: ['pool', 'target', 'code'], registers,
      collect() {
        report(this, targetCounts);
      },
    });
    this.ejections = new Counter({
      name: 'switchyard_ejections_total', help: 'Passive ejections of a target (consecutive failures), by pool and target', labelNames: ['pool', 'target'], registers,
      collect() {
        // Every live target has a series from its first scrape, so rate() sees the first ejection.
        for (const pool of sources.pools()) for (const target of pool.targets) this.inc({ pool: pool.name, target: target.url }, 0);
      },
    });
    this.duration = new DurationHistogram({ name: 'switchyard_request_duration_seconds', help: 'Time from request to the end of the answer, by pool', labelName: 'pool', buckets: DURATION_BUCKETS }, this.registry);
    const { protoCounts, grpcCounts } = this;
    new Counter({
      name: 'switchyard_requests_by_proto_total', help: 'Proxied requests by pool and the client\'s HTTP version (1.1, 2)', labelNames: ['pool', 'proto'], registers,
      collect() {
        report(this, protoCounts);
      },
    });
    new Counter({
      name: 'switchyard_grpc_responses_total', help: 'gRPC calls by pool and grpc-status (the upstream\'s, or the proxy\'s own 14/4)', labelNames: ['pool', 'grpc_status'], registers,
      collect() {
        report(this, grpcCounts);
      },
    });
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
      name: 'switchyard_target_state', help: 'Admin state of each target: 1 on its current state (ready, drain, maint), 0 on the others',
      labelNames: ['pool', 'target', 'state'], registers,
      collect() {
        this.reset();
        for (const pool of sources.pools()) {
          for (const target of pool.targets) {
            for (const state of ADMIN_STATES) this.set({ pool: pool.name, target: target.url, state }, target.adminState === state ? 1 : 0);
          }
        }
      },
    });
    new Gauge({
      name: 'switchyard_target_weight', help: 'Weight each target has in its pool now: its weight, scaled down while slow start lasts, 0 out of rotation',
      labelNames: ['pool', 'target'], registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const pool of sources.pools()) {
          for (const target of pool.targets) this.set({ pool: pool.name, target: target.url }, target.effectiveWeight(now));
        }
      },
    });
    const reportedDiscovery = new Map<string, number>();
    new Counter({
      name: 'switchyard_discovery_errors_total', help: 'DNS discovery queries that gave no usable answer (NXDOMAIN, SERVFAIL, timeout, empty), by pool',
      labelNames: ['pool'], registers,
      collect() {
        // The discoverer keeps running totals; hand over what they gained since the last scrape.
        for (const [pool, total] of sources.discoveryErrors?.() ?? []) {
          this.inc({ pool }, Math.max(0, total - (reportedDiscovery.get(pool) ?? 0)));
          reportedDiscovery.set(pool, total);
        }
      },
    });
    new Gauge({
      name: 'switchyard_certificate_expiry_seconds', help: 'Seconds until the certificate serving each SNI name expires (negative once expired)',
      labelNames: ['name'], registers,
      collect() {
        this.reset();
        const now = Date.now();
        const seen = new Set<string>();
        // A name on two pairs is served by the first (SNI order), so that one's expiry counts.
        for (const { names, notAfter } of sources.certificates?.() ?? []) {
          for (const name of names) {
            if (seen.has(name)) continue;
            seen.add(name);
            this.set({ name }, Math.round((notAfter.getTime() - now) / 1000));
          }
        }
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
      series = { duration: this.duration.labels(pool), retries: null, version: record.version, byStatus, versions: new Map([[record.version, byStatus]]), targets: new Map() };
      this.series.set(pool, series);
    } else if (series.version !== record.version) {
      let byStatus = series.versions.get(record.version);
      if (byStatus === undefined) series.versions.set(record.version, (byStatus = new Map()));
      series.version = record.version;
      series.byStatus = byStatus;
    }
    countOf(series.byStatus, record.status, this.counts, pool, 'version', record.version ?? 'none').count++;
    const target = record.target;
    if (target !== null) {
      let byStatus = series.targets.get(target);
      if (byStatus === undefined) series.targets.set(target, (byStatus = new Map()));
      countOf(byStatus, record.status, this.targetCounts, pool, 'target', target).count++;
    }
    series.duration.observe(record.ms / 1000);
    if (record.proto === '2') (series.h2 ??= this.listed(this.protoCounts, { pool, proto: '2' })).count++;
    else (series.h1 ??= this.listed(this.protoCounts, { pool, proto: '1.1' })).count++;
    if (record.grpcStatus !== undefined) {
      const byCode = (series.grpc ??= new Map());
      let count = byCode.get(record.grpcStatus);
      if (count === undefined) byCode.set(record.grpcStatus, (count = this.listed(this.grpcCounts, { pool, grpc_status: String(record.grpcStatus) })));
      count.count++;
    }
    if (record.retries > 0) (series.retries ??= this.retries.labels(pool)).inc(record.retries);
  }

  /** A new count with these labels, listed for the scrape. */
  private listed(all: RequestCount[], labels: Record<string, string>): RequestCount {
    const count: RequestCount = { labels, count: 0, reported: 0 };
    all.push(count);
    return count;
  }

  /** A passive ejection took `target` out of rotation (main.ts's ejection hook; not called for panic-mode keeps or returns). */
  ejected(target: Target): void {
    this.ejections.inc({ pool: target.pool, target: target.url });
  }

  routingChanged(): void {
    this.switches.inc();
  }
}
