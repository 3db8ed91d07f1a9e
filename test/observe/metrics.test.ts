import t from 'tap';
import { startProxy, trustingProbe } from '../helpers/proxy.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import { send } from '../helpers/http-client.js';

t.test('GET /metrics: the SPEC §8 series with live values', async (t) => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green', (req, res) => void res.writeHead(req.url === '/healthz' ? 200 : 503).end());
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy({ blue: [blue.url, dead], green: [green.url] }, { log: { access: false }, passive: { consecutiveFailures: 100, ejectMs: 1000 } }, { probe: trustingProbe });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  for (let i = 0; i < 4; i++) t.equal((await send(proxy.url, '/')).status, 200);
  await fetch(`${proxy.admin}/weights`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"weights":{"blue":0,"green":100}}' }).then((r) => r.text());
  t.equal((await send(proxy.url, '/')).status, 503);

  const response = await fetch(`${proxy.admin}/metrics`);
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /text\/plain/);
  const text = await response.text();
  t.match(text, /switchyard_requests_total\{pool="blue",version="blue-v1",code="200"\} 4/);
  t.match(text, /switchyard_requests_total\{pool="green",version="green-v1",code="503"\} 1/);
  t.match(text, /switchyard_request_duration_seconds_count\{pool="blue"\} 4/);
  t.match(text, /switchyard_retries_total\{pool="blue"\} [1-4]\n/, 'requests that met the dead target first were retried');
  t.match(text, /switchyard_pool_weight\{pool="green"\} 100/);
  t.match(text, /switchyard_pool_weight\{pool="blue"\} 0/);
  t.match(text, /switchyard_inflight\{pool="blue"\} 0/);
  t.match(text, new RegExp(`switchyard_target_healthy\\{pool="blue",target="${blue.url}"\\} 1`));
  t.match(text, /switchyard_switches_total 1/);
  t.match(text, /switchyard_state_store_up 1/);
  t.match(text, /process_cpu_user_seconds_total/, 'default process metrics too');
});

t.test('per-target series after real requests: counts by target and code, ejections, admin state and weight', async (t) => {
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  const bad = await startUpstream('bad', (req, res) => void req.resume().on('end', () => res.writeHead(502).end()));
  const proxy = await startProxy({ blue: [a.url, b.url, bad.url] }, { log: { access: false }, passive: { consecutiveFailures: 2, ejectMs: 60_000 } },
    { probe: trustingProbe });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all([a.close(), b.close(), bad.close()]);
  });
  const statuses = new Map<number, number>();
  for (let i = 0; i < 12; i++) {
    const { status } = await send(proxy.url, '/');
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  t.equal(bad.seen.length, 2, 'the failing target was ejected after its second 502 (a 502 answer is not retried)');
  t.same(Object.fromEntries(statuses), { 200: 10, 502: 2 });

  const scrape = async () => (await fetch(`${proxy.admin}/metrics`)).text();
  /** The value of one series in the exposition text, undefined when it is absent. */
  const series = (text: string, name: string, labels: string) => {
    const head = `${name}{${labels}} `;
    const line = text.split('\n').find((candidate) => candidate.startsWith(head));
    return line === undefined ? undefined : Number(line.slice(head.length));
  };
  let text = await scrape();
  t.equal(series(text, 'switchyard_target_requests_total', `pool="blue",target="${a.url}",code="200"`), a.seen.length, 'each target counts what it served');
  t.equal(series(text, 'switchyard_target_requests_total', `pool="blue",target="${b.url}",code="200"`), b.seen.length);
  t.equal(series(text, 'switchyard_target_requests_total', `pool="blue",target="${bad.url}",code="502"`), 2);
  t.notMatch(text, new RegExp(`switchyard_target_requests_total\{pool="blue",target="${bad.url}",code="200"`));
  t.equal(series(text, 'switchyard_ejections_total', `pool="blue",target="${bad.url}"`), 1, 'one ejection of the failing target');
  t.equal(series(text, 'switchyard_ejections_total', `pool="blue",target="${a.url}"`), 0, 'healthy targets have a zero series');
  t.equal(series(text, 'switchyard_target_healthy', `pool="blue",target="${bad.url}"`), 0, 'same target label as target_healthy');
  for (const url of [a.url, b.url, bad.url]) {
    t.equal(series(text, 'switchyard_target_state', `pool="blue",target="${url}",state="ready"`), 1, `${url} ready`);
    t.equal(series(text, 'switchyard_target_state', `pool="blue",target="${url}",state="drain"`), 0);
    t.equal(series(text, 'switchyard_target_weight', `pool="blue",target="${url}"`), url === bad.url ? 0 : 100, 'an ejected target weighs 0');
  }

  // Through the admin API: b drained, a at weight 40.
  const put = (target: string, body: unknown) => fetch(`${proxy.admin}/pools/blue/targets/${encodeURIComponent(new URL(target).host)}`,
    { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.text() }));
  t.equal((await put(b.url, { state: 'drain' })).status, 200);
  t.equal((await put(a.url, { weight: 40 })).status, 200);
  text = await scrape();
  t.equal(series(text, 'switchyard_target_state', `pool="blue",target="${b.url}",state="drain"`), 1, 'b drains');
  t.equal(series(text, 'switchyard_target_state', `pool="blue",target="${b.url}",state="ready"`), 0);
  t.equal(series(text, 'switchyard_target_state', `pool="blue",target="${b.url}",state="maint"`), 0);
  t.equal(series(text, 'switchyard_target_weight', `pool="blue",target="${a.url}"`), 40, 'a weighs 40');
  const before = a.seen.length;
  for (let i = 0; i < 3; i++) t.equal((await send(proxy.url, '/')).status, 200);
  t.equal(a.seen.length, before + 3, 'a is the one target left in rotation');
  text = await scrape();
  t.equal(series(text, 'switchyard_target_requests_total', `pool="blue",target="${a.url}",code="200"`), a.seen.length, 'and its count follows');
});

t.test('/metrics needs the token unless admin.metricsPublic', async (t) => {
  const blue = await startUpstream('blue');
  t.teardown(() => blue.close());
  const locked = await startProxy({ blue: [blue.url] }, { admin: { host: '127.0.0.1', port: 0, token: 's3cret' } });
  t.teardown(() => locked.close());
  t.equal((await fetch(`${locked.admin}/metrics`).then(async (r) => { await r.text(); return r.status; })), 401);
  t.equal((await fetch(`${locked.admin}/metrics`, { headers: { authorization: 'Bearer s3cret' } }).then(async (r) => { await r.text(); return r.status; })), 200);
  const open = await startProxy({ blue: [blue.url] }, { admin: { host: '127.0.0.1', port: 0, token: 's3cret', metricsPublic: true } });
  t.teardown(() => open.close());
  t.equal((await fetch(`${open.admin}/metrics`).then(async (r) => { await r.text(); return r.status; })), 200);
  t.equal((await fetch(`${open.admin}/status`).then(async (r) => { await r.text(); return r.status; })), 401, 'only /metrics opens');
});
