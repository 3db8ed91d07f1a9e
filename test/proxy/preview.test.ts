// The preview listener on real sockets: every request goes to the standby pool (weight 0, or
// the lowest weight in a split, ties in config order), re-chosen on every request; same
// targets, retries and access log (lines marked `listener: 'preview'`); its requests do not
// hold up a drain; shutdown stops it like the main listener.
import t, { type Test } from 'tap';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { send, waitFor, type Answer } from '../helpers/http-client.js';
import { accessFor, accessLines, proxyFor, upstreamFor } from '../helpers/data-plane.js';
import { closedPort } from '../helpers/upstream.js';
import type { TestProxy } from '../helpers/proxy.js';

const nameOf = (answer: Answer) => (JSON.parse(answer.body.toString()) as { name: string }).name;
const seenHeaders = (answer: Answer) => (JSON.parse(answer.body.toString()) as { headers: Record<string, string> }).headers;

function previewUrl(proxy: TestProxy): string {
  const url = proxy.switchyard.previewUrl;
  if (url === null) throw new Error('no preview listener');
  return url;
}

async function setWeights(proxy: TestProxy, weights: Record<string, number>): Promise<void> {
  const response = await fetch(`${proxy.admin}/weights`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ weights }) });
  if (response.status !== 200) throw new Error(`weights: ${response.status} ${await response.text()}`);
  await response.text();
}

async function poolStatus(proxy: TestProxy, pool: string) {
  const status = (await (await fetch(`${proxy.admin}/status`)).json()) as { pools: Record<string, { state: string; inflight: number }> };
  return status.pools[pool]!;
}

/** An upstream answering `{ name, headers }`; `/hold/...` requests wait until `release()`. */
async function holdingUpstream(t: Test, name: string) {
  const held: ServerResponse[] = [];
  const upstream = await upstreamFor(t, name, (req, res) => {
    req.resume();
    const answer = () => res.end(JSON.stringify({ name, headers: req.headers }));
    if (req.url?.startsWith('/hold') === true) held.push(Object.assign(res, { answer }));
    else answer();
  });
  return {
    upstream,
    held,
    release: () => { for (const res of held.splice(0)) (res as ServerResponse & { answer(): void }).answer(); },
  };
}

const PREVIEW = { host: '127.0.0.1', port: 0 };

t.test('the preview serves the standby pool and follows every routing change', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, { preview: PREVIEW });
  const preview = previewUrl(proxy);
  t.not(preview, proxy.url, 'a listener of its own');

  const serves = async (base: string, path: string) => nameOf(await send(base, path));
  t.equal(await serves(proxy.url, '/main-1'), 'blue', 'main: blue (100)');
  t.equal(await serves(preview, '/preview-1'), 'green', 'preview: green (0)');

  await setWeights(proxy, { blue: 0, green: 100 });
  t.equal(await serves(proxy.url, '/main-2'), 'green', 'after the flip main serves green');
  t.equal(await serves(preview, '/preview-2'), 'blue', 'and the preview follows: blue');

  await setWeights(proxy, { blue: 90, green: 10 });
  for (let i = 0; i < 10; i++) t.equal(await serves(preview, `/preview-90-10-${i}`), 'green', 'at 90/10 the preview serves the 10 pool');
  await setWeights(proxy, { blue: 10, green: 90 });
  t.equal(await serves(preview, '/preview-10-90'), 'blue');
  await setWeights(proxy, { blue: 50, green: 50 });
  t.equal(await serves(preview, '/preview-50-50'), 'blue', 'a tie goes to the first pool in config order');

  const line = await accessFor(proxy, '/preview-1');
  t.match(line, { listener: 'preview', pool: 'green', status: 200, version: 'green-v1' }, 'preview lines are marked');
  const main = await accessFor(proxy, '/main-1');
  t.notOk('listener' in main, 'main lines are not');
  t.equal(accessLines(proxy).filter((l) => l.listener === 'preview').length, 14, 'one line per preview request');
});

t.test('several standby pools: the first in config order', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const red = await upstreamFor(t, 'red');
  const proxy = await proxyFor(t, { blue: [blue.url], red: [red.url], green: [green.url] }, { preview: PREVIEW, routing: { initial: { blue: 100 } } });
  t.equal(nameOf(await send(previewUrl(proxy), '/')), 'red');
});

t.test('the preview ignores the override header (but strips it) and never sets the sticky cookie', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, {
    preview: PREVIEW,
    routing: { stickyCookie: 'sp', overrideHeader: 'x-switchyard-pool', poolHeader: 'x-served-by' },
  });
  const answer = await send(previewUrl(proxy), '/p', { headers: { 'x-switchyard-pool': 'blue', cookie: 'sp=blue; a=1' } });
  t.equal(nameOf(answer), 'green', 'standby pool, whatever the header and cookie say');
  t.notOk('x-switchyard-pool' in seenHeaders(answer), 'the override header is stripped');
  t.equal(seenHeaders(answer).cookie, 'sp=blue; a=1', 'cookies pass through');
  t.equal(answer.headers['set-cookie'], undefined, 'no Set-Cookie from the preview');
  t.equal(answer.headers['x-served-by'], 'green', 'the pool header is there');
  const main = await send(proxy.url, '/m');
  t.strictSame(main.headers['set-cookie'], ['sp=blue; Path=/; HttpOnly; SameSite=Lax'], 'the main listener still sets it');
});

t.test('the preview retries on another target of the standby pool', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await proxyFor(t, { blue: [blue.url], green: [dead, green.url] }, { preview: PREVIEW, retries: { attempts: 1 } });
  for (let i = 0; i < 4; i++) {
    const answer = await send(previewUrl(proxy), `/retry-${i}`);
    t.equal(answer.status, 200);
    t.equal(nameOf(answer), 'green');
  }
  const retried = accessLines(proxy).filter((line) => line.listener === 'preview' && line.retries === 1);
  t.ok(retried.length >= 1, 'at least one request met the dead target first and was retried');
});

t.test('preview requests count in flight but do not hold up a drain', async (t) => {
  const blue = await holdingUpstream(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.upstream.url], green: [green.url] }, { preview: PREVIEW });
  const pool = proxy.switchyard.pools.get('blue')!;

  const mainHeld = send(proxy.url, '/hold/main');
  await waitFor('main request held on blue', () => blue.held.length === 1);
  await setWeights(proxy, { blue: 0, green: 100 });
  t.match(await poolStatus(proxy, 'blue'), { state: 'draining', inflight: 1 });

  const previewHeld = send(previewUrl(proxy), '/hold/preview');
  await waitFor('preview request held on blue', () => blue.held.length === 2);
  t.match(await poolStatus(proxy, 'blue'), { state: 'draining', inflight: 2 }, 'the preview request counts in flight');
  t.equal(pool.previewInflight, 1);

  blue.held.shift()!.end(JSON.stringify({ name: 'blue' })); // the main request ends
  t.equal(nameOf(await mainHeld), 'blue');
  await waitFor('blue drained', async () => (await poolStatus(proxy, 'blue')).state === 'drained');
  t.match(await poolStatus(proxy, 'blue'), { state: 'drained', inflight: 1 }, 'drained while the preview request still runs');

  blue.release();
  const answer = await previewHeld;
  t.equal(answer.status, 200, 'the preview request finished normally');
  t.equal(nameOf(answer), 'blue');
  const again = await send(previewUrl(proxy), '/after-drain');
  t.equal(nameOf(again), 'blue', 'the drained pool serves the preview on fresh connections');
  await waitFor('nothing in flight', () => pool.inflight === 0 && pool.previewInflight === 0);
  t.equal((await poolStatus(proxy, 'blue')).state, 'drained', 'still drained: the preview never reopened the drain');
});

t.test('shutdown: the preview stops accepting, its in-flight request finishes with Connection: close', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const green = await holdingUpstream(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.upstream.url] }, { preview: PREVIEW, shutdown: { graceMs: 10_000 } });
  const preview = previewUrl(proxy);
  const port = Number(new URL(preview).port);

  const held = send(preview, '/hold/shutdown');
  await waitFor('preview request held on green', () => green.held.length === 1);
  const closing = proxy.switchyard.close();
  await waitFor('the preview listener closed', () => !proxy.switchyard.preview!.server.listening);
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', 'no new connections on the preview port');

  green.release();
  const answer = await held;
  t.equal(answer.status, 200, 'the in-flight preview request finished');
  t.equal(answer.headers.connection, 'close', 'with Connection: close');
  await closing;
});

t.test('no preview block, no preview listener', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [blue.url] });
  t.equal(proxy.switchyard.preview, null);
  t.equal(proxy.switchyard.previewUrl, null);
});
