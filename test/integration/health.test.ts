// Health in the running proxy: unready targets get no traffic, switches to an unhealthy
// pool are refused, and targets that die under load cost (almost) nothing.
import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import { startChildUpstream } from '../helpers/child-upstream.js';
import { startLoad } from '../helpers/load.js';
import { send, waitFor } from '../helpers/http-client.js';

const fastChecks = { intervalMs: 100, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 2 };

t.test('a switch to a pool whose targets all fail health checks is refused; force overrides', async (t) => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green', (req, res) => void res.writeHead(req.url === '/healthz' ? 503 : 200).end('{"name":"green"}'));
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, { healthCheck: fastChecks });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  const status = (await (await fetch(`${proxy.admin}/status`)).json()) as { pools: { green: { targets: Array<Record<string, unknown>> } } };
  t.match(status.pools.green.targets[0], { healthy: false, ejected: false, ready: false, lastCheck: { ok: false, status: 503 } });

  const refused = await fetch(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pool":"green"}' });
  t.equal(refused.status, 409);
  t.match(await refused.json(), { error: { code: 'POOL_UNHEALTHY' } });
  t.same(proxy.switchyard.control.current.weights, { blue: 100, green: 0 }, 'state unchanged');
  const weights = await fetch(`${proxy.admin}/weights`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"weights":{"blue":90,"green":10}}' });
  t.equal(weights.status, 409);
  await weights.text();

  const forced = await fetch(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pool":"green","force":true}' });
  t.equal(forced.status, 200);
  await forced.text();
  const answer = await send(proxy.url, '/');
  t.equal(answer.status, 503, 'forced onto a pool with no ready target: 503');
  t.equal(answer.headers['retry-after'], '1');
});

t.test('readyz waits for the first round; an unready target gets no traffic', async (t) => {
  const blue = await startUpstream('blue');
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy({ blue: [blue.url, dead] }, { healthCheck: fastChecks });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
  });
  t.equal((await fetch(`${proxy.admin}/readyz`)).status, 200, 'ready once started (the first round is done)');
  const answers = await Promise.all(Array.from({ length: 20 }, () => send(proxy.url, '/x')));
  t.ok(answers.every((answer) => answer.status === 200), 'all 20 served by the live target');
  t.equal(proxy.logs.find({ kind: 'access' }).filter((line) => line.target === dead).length, 0, 'none sent to the dead one');
});

t.test('a target stopped gracefully during load: no failed request', async (t) => {
  const keep = await startUpstream('blue');
  const leaving = await startUpstream('blue');
  const proxy = await startProxy({ blue: [keep.url, leaving.url] }, { healthCheck: fastChecks, log: { access: false } });
  t.teardown(async () => {
    await proxy.close();
    await keep.close();
  });
  const load = startLoad(proxy.url, { seconds: 3, connections: 16 });
  await waitFor('load on both targets', () => leaving.seen.length > 200 && keep.seen.length > 200, { timeoutMs: 10_000 });
  // A graceful stop: no new connections, idle keep-alive sockets closed, running requests finished.
  await new Promise<void>((resolve) => leaving.server.close(() => resolve()));
  const result = await load.done;
  t.comment(`graceful stop under load: ${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors`);
  t.equal(result.non2xx, 0);
  t.equal(result.errors, 0);
  t.ok(result.requests > 1000);
});

t.test('a target SIGKILLed during load: failures ≤ 0.1%, ejected quickly', async (t) => {
  const keep = await startChildUpstream('keep');
  const victim = await startChildUpstream('victim');
  const passive = { consecutiveFailures: 3, ejectMs: 30_000 };
  const proxy = await startProxy({ blue: [keep.url, victim.url] }, { healthCheck: fastChecks, passive, log: { access: false } });
  t.teardown(async () => {
    await proxy.close();
    await keep.kill();
    await victim.kill();
  });
  const load = startLoad(proxy.url, { seconds: 3, connections: 16 });
  await waitFor('load running', () => load.completed() > 2000, { timeoutMs: 10_000 });
  const target = proxy.switchyard.pools.get('blue')!.targets.find((candidate) => candidate.url === victim.url)!;
  const killedAt = Date.now();
  await victim.kill('SIGKILL');
  await waitFor('victim out of service', () => !target.ready, { timeoutMs: 5000, intervalMs: 5 });
  const outAfter = Date.now() - killedAt;
  const result = await load.done;
  const failed = result.non2xx + result.errors + result.timeouts;
  t.comment(`SIGKILL under load: ${result.requests} requests, ${failed} failed (${((failed / result.requests) * 100).toFixed(3)}%), out of service after ${outAfter} ms`);
  t.ok(failed <= result.requests * 0.001, `failures ${failed} ≤ 0.1% of ${result.requests}`);
  t.ok(outAfter <= fastChecks.unhealthyThreshold * fastChecks.intervalMs + 500, `out of service within ${outAfter} ms`);
});
