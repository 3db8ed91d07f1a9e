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
