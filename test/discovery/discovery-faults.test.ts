// DNS faults under load (SPEC §12, issue 13): a real dnsmasq answers `app.switchyard.test` with
// 127.0.0.2 and 127.0.0.3 (real upstreams, same port) for a real Switchyard under keep-alive
// load. NXDOMAIN (the name removed from the hosts file) and a stopped server never empty the
// pool inside `holdMs`: every request succeeds, the targets stay, `stale: true` shows. After
// `holdMs`, an answer that there is nothing (EMPTY, NXDOMAIN) is honoured — no targets, `503`
// with `Retry-After` as documented — while a server that does not answer is not.
import t, { type Test } from 'tap';
import { request } from 'undici';
import { dnsmasqFor, requireDnsmasq, type Dnsmasq } from '../helpers/dnsmasq.js';
import { send, waitFor } from '../helpers/http-client.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startStampedLoad, type StampedLoadResult } from '../helpers/stamped-load.js';
import { startUpstream } from '../helpers/upstream.js';

const TTL_S = 1;
const NAME = 'app.switchyard.test';
const HOSTS = ['127.0.0.2', '127.0.0.3'];
/** How long each fault of the long-hold case lasts (the "for 10 s"). */
const FAULT_MS = 10_000;

interface Discovery {
  stale: boolean;
  lastError: string | null;
  lastGoodAt: string | null;
}

interface Listed {
  id: string;
  ready: boolean;
  stale?: boolean;
}

interface Setup {
  dns: Dnsmasq;
  proxy: TestProxy;
  ids: string[];
  targets(): Promise<Listed[]>;
  discovery(): Promise<Discovery>;
}

const json = async <T>(url: string): Promise<T> => (await request(url)).body.json() as Promise<T>;

async function setup(t: Test, holdMs: number): Promise<Setup> {
  const dns = await dnsmasqFor(t, { ttlSeconds: TTL_S });
  const first = await startUpstream(HOSTS[0]!, undefined, 0, HOSTS[0]);
  const upstreams = [first, ...await Promise.all(HOSTS.slice(1).map((host) => startUpstream(host, undefined, first.port, host)))];
  t.teardown(() => Promise.all(upstreams.map((upstream) => upstream.close())));
  await dns.setRecords({ [NAME]: HOSTS });
  const proxy = await startProxy({ blue: { version: 'v1', discover: { dns: NAME, port: first.port, refreshMs: 1000, holdMs } } }, {
    resolver: { servers: [dns.server] },
    healthCheck: { intervalMs: 500, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
  });
  t.teardown(() => proxy.close());
  return {
    dns, proxy, ids: HOSTS.map((host) => `${host}:${first.port}`),
    targets: () => json<Listed[]>(`${proxy.admin}/pools/blue/targets`),
    discovery: async () => (await json<{ pools: Record<string, { discovery: Discovery }> }>(`${proxy.admin}/status`)).pools.blue!.discovery,
  };
}

/** Runs `check` every 200 ms until `until` (epoch ms): what it reported, so one assertion covers a whole fault. */
async function throughout(until: number, check: () => Promise<string | null>): Promise<string[]> {
  const problems: string[] = [];
  do {
    const problem = await check();
    if (problem !== null) problems.push(problem);
    await new Promise((resolve) => setTimeout(resolve, 200));
  } while (Date.now() < until);
  return problems;
}

/** Null while the pool holds both targets, ready and stale, and status says stale. */
const heldCheck = (env: Setup) => async (): Promise<string | null> => {
  const [list, discovery] = await Promise.all([env.targets(), env.discovery()]);
  const ok = list.length === env.ids.length && list.every((target) => target.ready && target.stale === true) && discovery.stale;
  return ok ? null : `targets ${JSON.stringify(list.map(({ id, ready, stale }) => ({ id, ready, stale })))}, discovery ${JSON.stringify(discovery)}`;
};

const describe = (result: StampedLoadResult) => `${result.ok + result.failed.length} requests, ${result.failed.length} failed`;

if (requireDnsmasq(t)) {
  t.test('NXDOMAIN for 10 s, then DNS stopped for 10 s, under load (holdMs 30 s): 0 failed, targets kept, stale: true', async (t) => {
    const env = await setup(t, 30_000);
    const held = heldCheck(env);

    let load = startStampedLoad(env.proxy.url, { connections: 4 });
    await env.dns.setRecords({}); // the local zone now answers NXDOMAIN
    const nxdomainAt = Date.now();
    await waitFor('stale after NXDOMAIN', async () => {
      const discovery = await env.discovery();
      return discovery.stale && discovery.lastError === 'NXDOMAIN';
    }, { timeoutMs: 4000, intervalMs: 50 });
    t.same(await throughout(nxdomainAt + FAULT_MS, held), [], 'NXDOMAIN: both targets kept, ready, stale: true throughout');
    const nxdomain = await load.stop();

    load = startStampedLoad(env.proxy.url, { connections: 4 });
    await env.dns.stop();
    const stoppedAt = Date.now();
    // A stopped server refuses (ECONNREFUSED → SERVFAIL) or, if the refusal is lost, times out: either is a non-answer.
    const kind = await waitFor('a failure other than NXDOMAIN', async () => {
      const { lastError } = await env.discovery();
      return lastError === 'SERVFAIL' || lastError === 'TIMEOUT' ? lastError : null;
    }, { timeoutMs: 5000, intervalMs: 50 });
    t.same(await throughout(stoppedAt + FAULT_MS, held), [], `DNS stopped (${kind}): both targets kept, ready, stale: true throughout`);
    const stopped = await load.stop();

    t.same(nxdomain.failed.slice(0, 5), [], `NXDOMAIN for 10 s: ${describe(nxdomain)}`);
    t.same(stopped.failed.slice(0, 5), [], `DNS stopped for 10 s (${kind}): ${describe(stopped)}`);
    t.ok(nxdomain.ok > 100 && stopped.ok > 100, 'the load ran through both faults');
    t.comment(`failed requests — NXDOMAIN 10 s: ${describe(nxdomain)}; DNS stopped 10 s (node reports ${kind}): ${describe(stopped)}`);
    const metrics = await (await request(`${env.proxy.admin}/metrics`)).body.text();
    const errors = Number(/switchyard_discovery_errors_total\{pool="blue"\} (\d+)/.exec(metrics)?.[1]);
    t.ok(errors >= 10, `every failed query counted (${errors} over 20 s, refreshMs 1 s)`);

    await env.dns.setRecords({ [NAME]: HOSTS }); // read when it starts
    await env.dns.start();
    await waitFor('fresh again', async () => !(await env.discovery()).stale, { timeoutMs: 4000, intervalMs: 50 });
    t.match(await env.discovery(), { stale: false, lastError: null });
    const list = await env.targets();
    t.same(list.map((target) => [target.id, target.ready, target.stale]).sort(), env.ids.map((id) => [id, true, false]), 'same targets, stale: false');
  });

  t.test('short holdMs: DNS stopped past it keeps the pool; EMPTY and NXDOMAIN past it empty the pool (503), and traffic resumes', async (t) => {
    const HOLD_MS = 3000;
    const env = await setup(t, HOLD_MS);
    const held = heldCheck(env);
    /** Read once stale: then it is the answer the hold counts from. */
    const lastGoodAt = async () => Date.parse((await env.discovery()).lastGoodAt!);

    t.test('a stopped server is no answer: kept past holdMs', async (t) => {
      const load = startStampedLoad(env.proxy.url, { connections: 2 });
      await env.dns.stop();
      await waitFor('stale', async () => (await env.discovery()).stale, { timeoutMs: 4000, intervalMs: 50 });
      const goodAt = await lastGoodAt();
      // Two more failed queries after the hold ran out (refreshMs 1 s).
      t.same(await throughout(goodAt + HOLD_MS + 2200, held), [], 'both targets kept, stale: true, past holdMs');
      const result = await load.stop();
      t.same(result.failed.slice(0, 5), [], `DNS stopped past holdMs: ${describe(result)}`);
      t.comment(`DNS stopped past holdMs ${HOLD_MS} ms: ${describe(result)}`);
      await env.dns.start();
      await waitFor('fresh again', async () => !(await env.discovery()).stale, { timeoutMs: 4000, intervalMs: 50 });
    });

    // An AAAA-only name answers an A query with no records (NODATA): EMPTY.
    for (const [kind, records] of [['EMPTY', { [NAME]: ['::2'] }], ['NXDOMAIN', {}]] as const) {
      t.test(`${kind}: held for holdMs, then no targets and 503; back when the name is`, async (t) => {
        let load = startStampedLoad(env.proxy.url, { connections: 2 });
        await env.dns.setRecords(records);
        await waitFor(`stale on ${kind}`, async () => {
          const discovery = await env.discovery();
          return discovery.stale && discovery.lastError === kind;
        }, { timeoutMs: 4000, intervalMs: 50 });
        const goodAt = await lastGoodAt(); // the hold counts from the last good answer
        t.equal(await held(), null, 'inside holdMs: targets kept, stale: true');
        // Up to just before the hold ends every request is served.
        await waitFor('the end of the hold nears', () => Date.now() >= goodAt + HOLD_MS - 300, { timeoutMs: HOLD_MS + 1000, intervalMs: 50 });
        const during = await load.stop();
        t.same(during.failed.slice(0, 5), [], `${kind} inside holdMs: ${describe(during)}`);

        load = startStampedLoad(env.proxy.url, { connections: 2 });
        await waitFor('no targets', async () => (await env.targets()).length === 0, { timeoutMs: HOLD_MS + 3000, intervalMs: 50 });
        const emptiedAt = Date.now();
        const after = await load.stop();
        t.ok(emptiedAt >= goodAt + HOLD_MS, `emptied ${emptiedAt - goodAt} ms after the last good answer (holdMs ${HOLD_MS})`);
        t.ok(after.failed.every((failure) => failure.status === 503), `around the expiry only 503s: ${JSON.stringify(after.failed.slice(0, 3))}`);
        t.comment(`${kind} past holdMs ${HOLD_MS} ms: inside the hold ${describe(during)}; at the expiry ${describe(after)} (503 once empty, as documented)`);
        t.match(await env.discovery(), { stale: false, lastError: kind });

        const answer = await send(env.proxy.url, '/');
        t.equal(answer.status, 503, 'no ready target → 503');
        t.ok(answer.headers['retry-after'], 'with Retry-After');
        t.match(answer.body.toString(), /no ready target in pool blue/);

        await env.dns.setRecords({ [NAME]: HOSTS });
        await waitFor('traffic resumes', async () => (await send(env.proxy.url, '/')).status === 200, { timeoutMs: 4000, intervalMs: 50 });
        const statuses = new Set<number>();
        for (let i = 0; i < 100; i++) statuses.add((await send(env.proxy.url, '/')).status);
        t.same([...statuses], [200], 'served again');
        t.match(await env.discovery(), { stale: false, lastError: null });
      });
    }
  });
}
