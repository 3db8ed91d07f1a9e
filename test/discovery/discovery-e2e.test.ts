// DNS discovery end to end (SPEC §12): a real dnsmasq answers `app.switchyard.test` with
// loopback addresses 127.0.0.2–127.0.0.4, each a real upstream on the same port, and a real
// Switchyard discovers them. An added address gets traffic within TTL + 1 s, a removed one
// none after TTL + 1 s, and a frozen DNS server leaves the pool its targets, `stale: true`.
import t from 'tap';
import { request } from 'undici';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/http-client.js';

const TTL_S = 1;
const NAME = 'app.switchyard.test';
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (requireDnsmasq(t)) t.test('discovery against a real dnsmasq', async (t) => {
  const dns = await dnsmasqFor(t, { ttlSeconds: TTL_S });
  // Same port on every address: the record set, not the port, tells them apart.
  const first = await startUpstream(HOSTS[0]!, undefined, 0, HOSTS[0]);
  const upstreams: Upstream[] = [first, ...await Promise.all(HOSTS.slice(1).map((host) => startUpstream(host, undefined, first.port, host)))];
  t.teardown(() => Promise.all(upstreams.map((upstream) => upstream.close())));
  const byHost = (host: string) => upstreams[HOSTS.indexOf(host)]!;
  const count = (host: string) => byHost(host).seen.filter((req) => req.url !== '/healthz').length;

  await dns.setRecords({ [NAME]: HOSTS.slice(0, 2) });
  const proxy = await startProxy({ blue: { version: 'v1', discover: { dns: NAME, port: first.port } } }, {
    resolver: { servers: [dns.server] },
    healthCheck: { intervalMs: 200, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
  });
  t.teardown(() => proxy.close());
  /** Failed requests (not 200) so far: asserted 0 at the end of each subtest instead of one assertion per request. */
  let failed = 0;
  const get = async () => {
    const res = await request(`${proxy.url}/`);
    const body = await res.body.text();
    if (res.statusCode !== 200) failed++;
    return { status: res.statusCode, body };
  };
  t.afterEach(() => { t.equal(failed, 0, 'no failed requests'); });
  const targets = async () => (await request(`${proxy.admin}/pools/blue/targets`)).body.json() as Promise<Array<Record<string, unknown>>>;
  const status = async () => (await request(`${proxy.admin}/status`)).body.json() as Promise<{ pools: Record<string, Record<string, unknown>> }>;

  t.test('the first answer is checked and served before the proxy listens', async (t) => {
    const list = await targets();
    t.same(list.map((target) => [target.id, target.source, target.ready]).sort(),
      [[`127.0.0.2:${first.port}`, 'dns', true], [`127.0.0.3:${first.port}`, 'dns', true]]);
    t.equal(list[0]!.ttlMs, TTL_S * 1000);
    t.type(list[0]!.resolvedAt, 'string');
    t.equal(list[0]!.stale, false);
    const discovery = (await status()).pools.blue!.discovery as Record<string, unknown>;
    t.match(discovery, { dns: NAME, type: 'A', stale: false, lastError: null, ttlMs: TTL_S * 1000 });
    for (let i = 0; i < 20; i++) await get();
    t.ok(count('127.0.0.2') > 0 && count('127.0.0.3') > 0, 'both take traffic');
  });

  t.test('an added address gets traffic within TTL + 1 s', async (t) => {
    await dns.setRecords({ [NAME]: HOSTS });
    const changed = Date.now();
    const before = count('127.0.0.4');
    while (count('127.0.0.4') === before && Date.now() - changed < 5000) {
      await get();
      await sleep(20);
    }
    const ms = Date.now() - changed;
    t.comment(`added → first request: ${ms} ms`);
    t.ok(ms <= TTL_S * 1000 + 1000, `within TTL + 1 s (${ms} ms)`);
  });

  t.test('a removed address gets no requests after TTL + 1 s', async (t) => {
    await dns.setRecords({ [NAME]: [HOSTS[0]!, HOSTS[2]!] });
    const changed = Date.now();
    while (Date.now() - changed < TTL_S * 1000 + 1000) {
      await get();
      await sleep(20);
    }
    const after = count('127.0.0.3');
    for (let i = 0; i < 30; i++) await get();
    t.equal(count('127.0.0.3'), after, 'no new requests');
    t.notOk((await targets()).some((target) => target.id === `127.0.0.3:${first.port}`), 'drained and gone');
  });

  t.test('DNS frozen: the pool keeps its targets, stale: true; back when it answers', async (t) => {
    dns.freeze();
    let discovery: Record<string, unknown> = {};
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline) {
      await get();
      discovery = (await status()).pools.blue!.discovery as Record<string, unknown>;
      if (discovery.stale === true) break;
      await sleep(100);
    }
    t.match(discovery, { stale: true, lastError: 'TIMEOUT' });
    const list = await targets();
    t.equal(list.length, 2, 'targets kept');
    t.ok(list.every((target) => target.stale === true && target.ready === true));
    for (let i = 0; i < 20; i++) await get();
    const metrics = await (await request(`${proxy.admin}/metrics`)).body.text();
    t.match(metrics, /switchyard_discovery_errors_total\{pool="blue"\} [1-9]/);
    dns.thaw();
    const back = Date.now() + 8000;
    while (Date.now() < back && ((await status()).pools.blue!.discovery as Record<string, unknown>).stale !== false) await sleep(100);
    t.match((await status()).pools.blue!.discovery, { stale: false, lastError: null });
  });

  t.test('an operator removes a discovered address: it stays out while DNS still names it, until added back', async (t) => {
    const id = `127.0.0.4:${first.port}`;
    const removed = await request(`${proxy.admin}/pools/blue/targets/${id}`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{}' });
    t.equal(removed.statusCode, 202);
    await removed.body.dump();
    const gone = Date.now();
    while ((await targets()).some((target) => target.id === id) && Date.now() - gone < 5000) await sleep(50);
    const before = count('127.0.0.4');
    // Several DNS rounds (TTL 1 s) that still list the address.
    const until = Date.now() + TTL_S * 1000 * 2 + 500;
    while (Date.now() < until) {
      await get();
      await sleep(20);
    }
    t.notOk((await targets()).some((target) => target.id === id), 'not back after DNS answers naming it');
    t.equal(count('127.0.0.4'), before, 'no requests to it');
    const added = await request(`${proxy.admin}/pools/blue/targets`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://${id}` }) });
    t.equal(added.statusCode, 201);
    t.match(await added.body.json(), { id, source: 'api' });
    await waitFor('the re-added address serves', async () => {
      await get();
      return count('127.0.0.4') > before;
    }, { timeoutMs: 5000 });
  });

  t.test('an address that leaves DNS loses its admin state: one that comes back later (a reused pod IP) starts clean', async (t) => {
    const id = `127.0.0.2:${first.port}`;
    const maint = await request(`${proxy.admin}/pools/blue/targets/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'maint' }) });
    t.equal(maint.statusCode, 200);
    await maint.body.dump();
    await dns.setRecords({ [NAME]: [HOSTS[1]!] });
    await waitFor('it left the pool', async () => !(await targets()).some((target) => target.id === id), { timeoutMs: 5000 });
    await waitFor('its override is forgotten', () => proxy.switchyard.targets.current.pools.blue?.[id] === undefined, { timeoutMs: 5000 });
    await dns.setRecords({ [NAME]: [HOSTS[0]!, HOSTS[1]!] });
    const back = await waitFor('it is back', async () => (await targets()).find((target) => target.id === id && target.ready === true), { timeoutMs: 5000 });
    t.match(back, { source: 'dns', state: 'ready' });
    const api = (await targets()).find((target) => target.id === `127.0.0.4:${first.port}`);
    t.match(api, { source: 'api' }, 'a target the API added is the operator\'s own: untouched');
  });
});
