// Draining: the pool traffic leaves finishes what it has, closes its upstream connections
// once idle, cuts what outlives drain.timeoutMs, and comes back cleanly when given weight.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { send, waitFor } from '../helpers/http-client.js';

/** Answers `{ name }`; `/slow?ms=N` after N ms; `/stream` sends a chunk every 50 ms until the client leaves. */
function slowApp(name: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    if (url.pathname === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const timer = setInterval(() => res.write(`data: ${name}\n\n`), 50);
      res.on('close', () => clearInterval(timer));
      return;
    }
    const answer = () => res.end(JSON.stringify({ name }));
    const ms = Number(url.searchParams.get('ms')) || 0;
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  };
}

async function setup(t: Test, overrides: Record<string, unknown> = {}) {
  const blue: Upstream = await startUpstream('blue', slowApp('blue'));
  const green: Upstream = await startUpstream('green', slowApp('green'));
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, overrides);
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  return { proxy, blue, green };
}

async function flip(proxy: TestProxy, pool: string): Promise<void> {
  const response = await fetch(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool }) });
  if (response.status !== 200) throw new Error(`flip to ${pool}: ${response.status} ${await response.text()}`);
  await response.text();
}

async function poolStatus(proxy: TestProxy, pool: string) {
  const status = (await (await fetch(`${proxy.admin}/status`)).json()) as { pools: Record<string, { state: string; inflight: number; drainedAt: string | null; drainingSince: string | null }> };
  return status.pools[pool]!;
}

const nameOf = (body: Buffer) => (JSON.parse(body.toString()) as { name: string }).name;

t.test('50 slow requests on blue finish on blue across a flip; blue drains; green takes the rest', async (t) => {
  const { proxy, blue } = await setup(t);
  const slow = Array.from({ length: 50 }, () => send(proxy.url, '/slow?ms=2000'));
  await waitFor('50 requests in flight on blue', () => blue.seen.filter((req) => req.url === '/slow?ms=2000').length === 50, { timeoutMs: 10_000 });
  await flip(proxy, 'green');
  t.match(await poolStatus(proxy, 'blue'), { state: 'draining', inflight: 50 });
  const fresh = await send(proxy.url, '/fresh');
  t.equal(nameOf(fresh.body), 'green', 'new requests go to green at once');
  const answers = await Promise.all(slow);
  t.ok(answers.every((answer) => answer.status === 200 && nameOf(answer.body) === 'blue'), 'all 50 completed 200 from blue');
  const drained = await waitFor('blue drained', async () => {
    const status = await poolStatus(proxy, 'blue');
    return status.state === 'drained' ? status : undefined;
  });
  t.equal(drained.inflight, 0);
  t.ok(Date.parse(drained.drainedAt!) >= Date.parse(drained.drainingSince!), 'drainedAt after drainingSince');
});

t.test('a pool given weight again while draining, or after it drained, serves cleanly', async (t) => {
  const { proxy } = await setup(t);
  const slow = send(proxy.url, '/slow?ms=300');
  await waitFor('in flight on blue', () => proxy.switchyard.pools.get('blue')!.inflight === 1);
  await flip(proxy, 'green');
  await flip(proxy, 'blue'); // back while still draining
  t.equal(nameOf((await send(proxy.url, '/')).body), 'blue');
  t.equal((await slow).status, 200);

  await flip(proxy, 'green');
  await waitFor('blue drained and its connections closed', async () => (await poolStatus(proxy, 'blue')).state === 'drained');
  const client = proxy.switchyard.pools.get('blue')!.targets[0]!;
  await waitFor('the drained pool closed its upstream connections', () => (client as unknown as { current: { closed: boolean } }).current.closed);
  await flip(proxy, 'blue');
  const answers = await Promise.all(Array.from({ length: 20 }, () => send(proxy.url, '/again')));
  t.ok(answers.every((answer) => answer.status === 200 && nameOf(answer.body) === 'blue'), 'a drained pool returns to service: no closed dispatcher is used');
});

t.test('what outlives drain.timeoutMs is cut, then the pool is drained', async (t) => {
  const { proxy } = await setup(t, { drain: { timeoutMs: 300 } });
  const stream = send(proxy.url, '/stream').then(() => 'completed', (err: Error) => `cut: ${err.message}`);
  await waitFor('stream in flight', () => proxy.switchyard.pools.get('blue')!.inflight === 1);
  const flippedAt = Date.now();
  await flip(proxy, 'green');
  t.match(await stream, /^cut/, 'the streaming response was cut');
  t.ok(Date.now() - flippedAt >= 250, 'not before the drain timeout');
  await waitFor('blue drained', async () => (await poolStatus(proxy, 'blue')).state === 'drained');
  t.equal(nameOf((await send(proxy.url, '/')).body), 'green');
});
