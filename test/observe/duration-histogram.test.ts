// The hand-counted duration histogram must scrape exactly like prom-client's own Histogram.
import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { DurationHistogram } from '../../src/observe/duration-histogram.js';

const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const name = 'switchyard_request_duration_seconds';
const help = 'Time from request to the end of the answer, by pool';

t.test('same text as prom-client for the same observations, edges and overflow included', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new DurationHistogram({ name, help, labelName: 'pool', buckets }, ours);
  const reference = new Histogram({ name, help, labelNames: ['pool'], buckets, registers: [theirs] });
  const samples: Array<[string, number]> = [['blue', 0], ['blue', 0.0005], ['blue', 0.00051], ['green', 0.3], ['blue', 29.9], ['blue', 31], ['green', 1e-9], ['blue', 0.001]];
  for (const [pool, seconds] of samples) {
    histogram.labels(pool).observe(seconds);
    reference.labels(pool).observe(seconds);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  ours.resetMetrics();
  t.match(await ours.metrics(), /switchyard_request_duration_seconds_count\{pool="blue"\} 0\n/, 'reset zeroes the counts');
});
