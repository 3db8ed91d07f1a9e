// Request counts are kept by the observer and handed to prom-client at scrape time.
import t from 'tap';
import { Metrics } from '../../src/observe/metrics.js';
import type { RequestRecord } from '../../src/observe/request-record.js';

const record = (pool: string | null, version: string | null, status: number, retries = 0): RequestRecord =>
  ({ reqId: 'r', method: 'GET', url: '/', status, ms: 2, pool, version, target: null, retries, bytes: 0 });

t.test('counts by pool, version and code survive version changes and repeated scrapes', async (t) => {
  const metrics = new Metrics({ pools: () => [], storeUp: () => true });
  metrics.requestFinished(record('blue', 'v1', 200));
  metrics.requestFinished(record('blue', 'v1', 200, 2));
  metrics.requestFinished(record('blue', 'v2', 200));
  metrics.requestFinished(record('blue', 'v1', 502));
  metrics.requestFinished(record(null, null, 503));
  let text = await metrics.registry.metrics();
  t.match(text, /switchyard_requests_total\{pool="blue",version="v1",code="200"\} 2\n/);
  t.match(text, /switchyard_requests_total\{pool="blue",version="v2",code="200"\} 1\n/);
  t.match(text, /switchyard_requests_total\{pool="blue",version="v1",code="502"\} 1\n/);
  t.match(text, /switchyard_requests_total\{pool="none",version="none",code="503"\} 1\n/);
  t.match(text, /switchyard_request_duration_seconds_count\{pool="blue"\} 4\n/);
  t.match(text, /switchyard_retries_total\{pool="blue"\} 2\n/);
  metrics.requestFinished(record('blue', 'v2', 200));
  text = await metrics.registry.metrics();
  t.match(text, /switchyard_requests_total\{pool="blue",version="v2",code="200"\} 2\n/, 'a second scrape adds only what is new');
  t.match(text, /switchyard_requests_total\{pool="blue",version="v1",code="200"\} 2\n/);
});
