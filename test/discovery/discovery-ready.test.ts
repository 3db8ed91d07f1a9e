// Readiness and DNS (SPEC §5, §12): a replica started while its DNS server is down has no
// targets for its active pool; `/readyz` must say 503 until DNS answers (an orchestrator then
// keeps the old replica, which holds the last good set), and 200 once the answer's targets pass
// their checks. A standby pool (weight 0) that discovers nothing does not hold readiness back,
// and NXDOMAIN is an answer (that pool is empty for real).
import t from 'tap';
import { request } from 'undici';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { waitFor } from '../helpers/http-client.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

const NAME = 'ready.switchyard.test';

const readyz = async (admin: string) => {
  const res = await request(`${admin}/readyz`);
  await res.body.dump();
  return res.statusCode;
};

if (requireDnsmasq(t)) t.test('/readyz waits for a first DNS answer for a pool with traffic', async (t) => {
  const dns = await dnsmasqFor(t, { ttlSeconds: 1 });
  const upstream = await startUpstream('ready', undefined, 0, '127.0.0.6');
  t.teardown(() => upstream.close());
  await dns.setRecords({ [NAME]: ['127.0.0.6'] });
  await dns.stop();

  const proxy = await startProxy({
    blue: { version: 'v1', discover: { dns: NAME, port: upstream.port, refreshMs: 1000 } },
    // Standby, and its name does not exist: neither holds readiness back once blue answers.
    green: { version: 'v2', discover: { dns: `missing.${NAME}`, port: upstream.port, refreshMs: 1000 } },
  }, {
    resolver: { servers: [dns.server] },
    routing: { initial: { blue: 100, green: 0 } },
    healthCheck: { intervalMs: 200, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
  });
  t.teardown(() => proxy.close());

  t.equal(await readyz(proxy.admin), 503, 'DNS down since start: not ready');
  const res = await request(`${proxy.url}/`);
  await res.body.dump();
  t.equal(res.statusCode, 503, 'requests meanwhile: 503 no ready target');

  await dns.start();
  await waitFor('ready once DNS answers and the target passes its check', async () => (await readyz(proxy.admin)) === 200, { timeoutMs: 8000 });
  const served = await request(`${proxy.url}/`);
  t.equal(served.statusCode, 200);
  t.match(await served.body.json(), { name: 'ready' });

  // Once answered, a later outage (with the last good set held) does not make it unready.
  dns.freeze();
  t.teardown(() => dns.thaw());
  await waitFor('stale', async () => {
    const status = await (await request(`${proxy.admin}/status`)).body.json() as { pools: Record<string, { discovery?: { stale: boolean } }> };
    return status.pools.blue!.discovery!.stale;
  }, { timeoutMs: 8000 });
  t.equal(await readyz(proxy.admin), 200, 'still ready while holding the last good set');
});
