// Draining: the pool traffic leaves finishes what it has, closes its upstream connections
// once idle, cuts what outlives drain.timeoutMs (WebSocket tunnels included, also those of a
// target a reload removed), and comes back cleanly when given weight.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { send, waitFor } from '../helpers/http-client.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { trustingProbe } from '../helpers/proxy.js';
import { LogSink } from '../helpers/log-sink.js';
import { accessFor } from '../helpers/data-plane.js';
import { closed, echo, openWs, wsUpstreamFor } from '../helpers/tunnel.js';

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

t.test('a WebSocket tunnel on a drained pool stays until drain.timeoutMs, then is cut; the pool is then drained', async (t) => {
  const blueUp = await wsUpstreamFor(t, 'blue');
  const greenUp = await wsUpstreamFor(t, 'green');
  const proxy = await startProxy({ blue: [blueUp.url], green: [greenUp.url] }, { drain: { timeoutMs: 400 }, routing: { initial: { blue: 100, green: 0 } } });
  t.teardown(() => proxy.close());
  const ws = await openWs(t, proxy.url, '/long');
  const cut = closed(ws);
  const flippedAt = Date.now();
  await flip(proxy, 'green');
  t.equal((await echo(ws, 'during')).data.toString(), 'blue:during', 'the tunnel works while its pool drains');
  t.match(await poolStatus(proxy, 'blue'), { state: 'draining' });
  await cut;
  t.ok(Date.now() - flippedAt >= 350, `cut at the drain timeout, not before (${Date.now() - flippedAt} ms)`);
  await waitFor('blue drained', async () => (await poolStatus(proxy, 'blue')).state === 'drained');
  t.equal(proxy.switchyard.pools.get('blue')!.targets[0]!.inflight, 0);
  t.match(await accessFor(proxy, '/long'), { status: 101, error: /drain timeout/ });
});

t.test('reload without a target: its tunnel is cut after drain.timeoutMs, a tunnel on a kept target stays open', async (t) => {
  const kept = await wsUpstreamFor(t, 'kept');
  const removed = await wsUpstreamFor(t, 'removed');
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-drain-'));
  const file = join(dir, 'config.json');
  const config = (targets: string[]) => JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, drain: { timeoutMs: 400 },
    pools: { blue: { version: 'v1', targets } }, log: { level: 'info' },
  });
  writeFileSync(file, config([kept.url, removed.url]));
  const logs = new LogSink();
  const switchyard = await Switchyard.start(loadConfigFile(file, {}), { configPath: file, logDestination: logs, probe: trustingProbe });
  t.teardown(() => switchyard.close());
  const url = switchyard.proxyUrl;
  // Least in-flight puts the two tunnels one on each target.
  const one = await openWs(t, url, '/one');
  const two = await openWs(t, url, '/two');
  t.same([kept.open.size, removed.open.size], [1, 1], 'one tunnel on each target');
  const onRemoved = removed.peer('/one') !== undefined ? one : two;
  const onKept = onRemoved === one ? two : one;
  const removedTarget = switchyard.pools.get('blue')!.targets.find((target) => target.url === removed.url)!;

  writeFileSync(file, config([kept.url]));
  const reloadedAt = Date.now();
  const summary = await switchyard.reload();
  t.match(summary, { removedTargets: [`blue ${removed.url}`] });
  t.equal((await echo(onRemoved, 'still')).data.toString(), 'removed:still', 'the removed target\'s tunnel runs on during the drain');
  await closed(onRemoved);
  t.ok(Date.now() - reloadedAt >= 350, `cut at the drain timeout (${Date.now() - reloadedAt} ms)`);
  await waitFor('the removed upstream sees its WebSocket closed', () => removed.open.size === 0);
  t.equal(removedTarget.inflight, 0, 'the removed target has nothing left');
  t.equal(removedTarget.tunnels.size, 0);
  t.equal((await echo(onKept, 'after')).data.toString(), 'kept:after', 'the kept target\'s tunnel is untouched');
  t.equal(switchyard.pools.get('blue')!.longLived, 1);
  t.ok(logs.find({ kind: 'drain' }).some((line) => /removed target/.test(String(line.msg))), 'the cut is logged');
  onKept.close();
  await closed(onKept);
});
