// Request counts are kept by the observer and handed to prom-client at scrape time; target
// gauges are read from the pools at scrape time.
import t from 'tap';
import { Metrics } from '../../src/observe/metrics.js';
import type { RequestRecord } from '../../src/observe/request-record.js';
import type { UpstreamPool } from '../../src/pool/upstream-pool.js';
import type { Target } from '../../src/pool/target.js';

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

t.test('per-target counts: by pool, target URL and code; records without a target are not counted', async (t) => {
  const metrics = new Metrics({ pools: () => [], storeUp: () => true });
  const a = 'http://127.0.0.1:3001';
  const b = 'http://127.0.0.1:3002';
  metrics.requestFinished({ ...record('blue', 'v1', 200), target: a });
  metrics.requestFinished({ ...record('blue', 'v1', 200), target: b });
  metrics.requestFinished({ ...record('blue', 'v2', 200), target: a });
  metrics.requestFinished({ ...record('blue', 'v1', 502), target: a });
  metrics.requestFinished({ ...record('green', 'v1', 200), target: a });
  metrics.requestFinished(record('blue', 'v1', 503));
  let text = await metrics.registry.metrics();
  t.match(text, new RegExp(`switchyard_target_requests_total\\{pool="blue",target="${a}",code="200"\\} 2\\n`), 'versions of one target add up');
  t.match(text, new RegExp(`switchyard_target_requests_total\\{pool="blue",target="${b}",code="200"\\} 1\\n`));
  t.match(text, new RegExp(`switchyard_target_requests_total\\{pool="blue",target="${a}",code="502"\\} 1\\n`));
  t.match(text, new RegExp(`switchyard_target_requests_total\\{pool="green",target="${a}",code="200"\\} 1\\n`), 'the same URL in another pool is its own series');
  t.notMatch(text, /switchyard_target_requests_total\{[^}]*code="503"/, 'the 503 without a target is in no target series');
  t.match(text, /switchyard_requests_total\{pool="blue",version="v1",code="503"\} 1\n/, 'but it is in the pool series');
  metrics.requestFinished({ ...record('blue', 'v1', 200), target: b });
  text = await metrics.registry.metrics();
  t.match(text, new RegExp(`switchyard_target_requests_total\\{pool="blue",target="${b}",code="200"\\} 2\\n`), 'a second scrape adds only what is new');
  t.match(text, new RegExp(`switchyard_target_requests_total\\{pool="blue",target="${a}",code="200"\\} 2\\n`));
});

t.test('target state, weight and ejections are read from the pools at scrape time', async (t) => {
  // Just the fields the scrape reads; the proxy test scrapes real targets.
  const target = (url: string, adminState: string, weight: number) =>
    // Target.effectiveWeight is 0 out of rotation.
    ({ url, pool: 'blue', adminState, ready: adminState === 'ready', effectiveWeight: () => (adminState === 'ready' ? weight : 0) });
  const a = target('http://127.0.0.1:3001', 'ready', 100);
  const b = target('http://127.0.0.1:3002', 'drain', 100);
  const c = target('http://127.0.0.1:3003', 'ready', 35.5);
  const pools = [{ name: 'blue', weight: 100, inflight: 0, targets: [a, b, c] }] as unknown as UpstreamPool[];
  const metrics = new Metrics({ pools: () => pools, storeUp: () => true });
  let text = await metrics.registry.metrics();
  for (const [url, state] of [[a.url, 'ready'], [b.url, 'drain']] as const) {
    for (const each of ['ready', 'drain', 'maint']) {
      t.match(text, new RegExp(`switchyard_target_state\\{pool="blue",target="${url}",state="${each}"\\} ${each === state ? 1 : 0}\\n`), `${url} ${each}`);
    }
  }
  t.match(text, new RegExp(`switchyard_target_weight\\{pool="blue",target="${a.url}"\\} 100\\n`));
  t.match(text, new RegExp(`switchyard_target_weight\\{pool="blue",target="${b.url}"\\} 0\\n`), 'out of rotation: no weight');
  t.match(text, new RegExp(`switchyard_target_weight\\{pool="blue",target="${c.url}"\\} 35.5\\n`), 'slow start: the effective weight, fractions kept');
  t.match(text, new RegExp(`switchyard_ejections_total\\{pool="blue",target="${a.url}"\\} 0\\n`), 'a live target has an ejection series from the start');

  metrics.ejected(a as unknown as Target);
  metrics.ejected(a as unknown as Target);
  b.adminState = 'maint';
  text = await metrics.registry.metrics();
  t.match(text, new RegExp(`switchyard_ejections_total\\{pool="blue",target="${a.url}"\\} 2\\n`));
  t.match(text, new RegExp(`switchyard_ejections_total\\{pool="blue",target="${b.url}"\\} 0\\n`));
  t.match(text, new RegExp(`switchyard_target_state\\{pool="blue",target="${b.url}",state="maint"\\} 1\\n`), 'a state change shows on the next scrape');
  t.match(text, new RegExp(`switchyard_target_state\\{pool="blue",target="${b.url}",state="drain"\\} 0\\n`));

  pools[0]!.targets = [a, c] as unknown as Target[];
  text = await metrics.registry.metrics();
  t.notMatch(text, new RegExp(`switchyard_target_state\\{[^}]*target="${b.url}"`), 'a target that left has no state series');
  t.notMatch(text, new RegExp(`switchyard_target_weight\\{[^}]*target="${b.url}"`));
});
