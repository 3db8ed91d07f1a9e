// The promise Switchyard exists for: flipping blue↔green at full keep-alive load fails no
// request. autocannon runs at full speed while the test flips 24+ times over 5+ s.
import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { startLoad } from '../helpers/load.js';
import { waitFor } from '../helpers/http-client.js';

t.test('no failed request across 20+ flips under full load', async (t) => {
  const upstreams = await Promise.all([startUpstream('blue'), startUpstream('blue'), startUpstream('green')]);
  const [blue1, blue2, green] = upstreams;
  const proxy = await startProxy({ blue: [blue1!.url, blue2!.url], green: [green!.url] });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });

  // Load runs until the test has flipped at least 24 times over at least 5 s, then stops:
  // the pace adapts to the machine instead of a fixed time budget.
  const load = startLoad(proxy.url, { seconds: 60, connections: 32, path: '/load' });
  const started = Date.now();
  let flips = 0;
  while (flips < 24 || Date.now() - started < 5000) {
    const pool = flips % 2 === 0 ? 'green' : 'blue';
    const before = load.completed();
    const response = await fetch(`${proxy.admin}/flip`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool }),
    });
    t.equal(response.status, 200, `flip ${flips + 1} to ${pool}`);
    await response.text();
    flips++;
    // Some traffic on each side of every flip: a poll, not a fixed sleep.
    await waitFor('traffic after the flip', () => load.completed() > before + 200, { timeoutMs: 20_000, intervalMs: 5 });
  }
  load.stop();
  const result = await load.done;
  const served = (upstream: { seen: unknown[] }) => upstream.seen.filter((req) => (req as { url: string }).url === '/load').length;
  t.comment(`flip under load: ${result.requests} requests, ${result.rps} req/s, ${flips} flips, ${result.non2xx} non-2xx, ${result.errors} errors`);
  t.ok(flips >= 20, `flipped ${flips} times`);
  t.equal(result.non2xx, 0, 'no non-2xx answer');
  t.equal(result.errors, 0, 'no socket error');
  t.equal(result.timeouts, 0, 'no timeout');
  t.ok(served(blue1!) + served(blue2!) > 0 && served(green!) > 0, 'both pools served');
  // autocannon abandons its last requests when time is up; the proxy sees those clients go.
  const inflight = () => proxy.switchyard.pools.get('blue')!.inflight + proxy.switchyard.pools.get('green')!.inflight;
  await waitFor('nothing left in flight', () => inflight() === 0);
  t.equal(inflight(), 0, 'nothing left in flight');
});
