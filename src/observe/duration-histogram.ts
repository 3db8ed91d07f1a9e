// The request duration histogram, counted here and formatted by prom-client at scrape time.
// prom-client's own `observe` validates and hashes the labels of every observation (the largest
// cost the metrics added per request); a pool's series here is a few array increments.
import type { Metric, MetricValueWithName, Registry } from 'prom-client';

/** One label value's counts: per bucket (not cumulative), then their sum and count. */
export class DurationSeries {
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;
  private readonly bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.buckets = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    // Fifteen buckets and most answers in the first few: a forward scan is enough.
    let index = 0;
    while (index < bounds.length && seconds > bounds[index]!) index++;
    if (index < bounds.length) this.buckets[index]! += 1;
    this.sum += seconds;
    this.count++;
  }

  reset(): void {
    this.buckets.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export interface DurationHistogramOptions {
  name: string;
  help: string;
  labelName: string;
  /** Upper bounds in seconds, ascending. */
  buckets: readonly number[];
}

/** A histogram with one label, registered with a prom-client registry as a custom metric. */
export class DurationHistogram {
  private readonly options: DurationHistogramOptions;
  private readonly series = new Map<string, DurationSeries>();

  constructor(options: DurationHistogramOptions, registry: Registry) {
    this.options = options;
    // The registry needs only name/help/type/aggregator, get() and reset(); its typings list its own classes.
    registry.registerMetric(this.metric() as unknown as Metric);
  }

  /** The series of one label value, created on first use: hold on to it. */
  labels(value: string): DurationSeries {
    let series = this.series.get(value);
    if (series === undefined) this.series.set(value, (series = new DurationSeries(this.options.buckets)));
    return series;
  }

  /** What prom-client's Histogram#get answers, from these counts. */
  values(): MetricValueWithName<string>[] {
    const { name, labelName, buckets } = this.options;
    const out: MetricValueWithName<string>[] = [];
    for (const [value, series] of this.series) {
      let cumulative = 0;
      for (let index = 0; index < buckets.length; index++) {
        cumulative += series.buckets[index]!;
        out.push({ metricName: `${name}_bucket`, labels: { le: buckets[index]!, [labelName]: value }, value: cumulative });
      }
      out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', [labelName]: value }, value: series.count });
      out.push({ metricName: `${name}_sum`, labels: { [labelName]: value }, value: series.sum });
      out.push({ metricName: `${name}_count`, labels: { [labelName]: value }, value: series.count });
    }
    return out;
  }

  private metric() {
    const { name, help } = this.options;
    return {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: this.values() }),
      reset: () => {
        for (const series of this.series.values()) series.reset();
      },
    };
  }
}
