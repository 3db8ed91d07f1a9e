// Inside a pool, SPEC §4: the ready target with the fewest requests in flight, ties broken
// round robin. Checked end to end through the proxy on real upstreams.
import t from 'tap';
import type { ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { Flag } from '../../src/pool/health-flags.js';
import { send, waitFor } from '../helpers/http-client.js';
import { proxyFor, upstreamFor } from '../helpers/data-plane.js';
import type { Handler } from '../helpers/upstream.js';

/** Answers its name; holds `/slow` requests until the test releases them. */
function holding(name: string, held: ServerResponse[]): Handler {
  return (req, res) => {
    req.resume();
    if (req.url === '/slow') return void held.push(res);
    res.end(name);
  };
}

async function servedBy(base: string, path = '/which'): Promise<string> {
  return (await send(base, path)).body.toString();
}

t.test('sequential requests alternate between equal targets', async (t) => {
  const a = await upstreamFor(t, 'a', holding('a', []));
  const b = await upstreamFor(t, 'b', holding('b', []));
  const c = await upstreamFor(t, 'c', holding('c', []));
  const two = await proxyFor(t, { blue: [a.url, b.url] });
  const order: string[] = [];
  for (let i = 0; i < 6; i++) order.push(await servedBy(two.url));
  t.same(order, ['a', 'b', 'a', 'b', 'a', 'b']);

  const three = await proxyFor(t, { blue: [a.url, b.url, c.url] });
  const order3: string[] = [];
  for (let i = 0; i < 6; i++) order3.push(await servedBy(three.url));
  t.same(order3, ['a', 'b', 'c', 'a', 'b', 'c']);
});

t.test('a target busy with a slow request is passed over until the others are as busy', async (t) => {
  const held: ServerResponse[] = [];
  const a = await upstreamFor(t, 'a', holding('a', held));
  const b = await upstreamFor(t, 'b', holding('b', held));
  const proxy = await proxyFor(t, { blue: [a.url, b.url] });
  t.teardown(() => held.forEach((res) => res.end('released')));
  const [targetA, targetB] = proxy.switchyard.pools.get('blue')!.targets;

  const slowAnswers: Array<Promise<string>> = [];
  const slow = (): void => {
    slowAnswers.push(new Promise((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/slow`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    }));
  };

  slow();
  await waitFor('the slow request to reach a target', () => held.length === 1);
  t.equal(a.seen.length, 1, 'the first request went to a');
  t.equal(targetA!.inflight, 1);

  const whileBusy: string[] = [];
  for (let i = 0; i < 4; i++) whileBusy.push(await servedBy(proxy.url));
  t.same(whileBusy, ['b', 'b', 'b', 'b'], 'every new request goes to the idle target');

  slow();
  await waitFor('the second slow request to reach a target', () => held.length === 2);
  t.equal(b.seen.filter((req) => req.url === '/slow').length, 1, 'the second slow request went to b, the less busy one');
  t.equal(targetA!.inflight, 1);
  t.equal(targetB!.inflight, 1);

  const tied: string[] = [];
  for (let i = 0; i < 4; i++) tied.push(await servedBy(proxy.url));
  t.same([...tied].sort(), ['a', 'a', 'b', 'b'], 'equally busy again: shared evenly');
  t.not(tied[0], tied[1], 'and alternating');

  held.splice(0).forEach((res) => res.end('released'));
  t.same(await Promise.all(slowAnswers), ['released', 'released']);
  await waitFor('in-flight back to zero', () => targetA!.inflight === 0 && targetB!.inflight === 0);
});

t.test('an unready target is skipped; the pool serves from the rest', async (t) => {
  const a = await upstreamFor(t, 'a', holding('a', []));
  const b = await upstreamFor(t, 'b', holding('b', []));
  const proxy = await proxyFor(t, { blue: [a.url, b.url] });
  const [targetA] = proxy.switchyard.pools.get('blue')!.targets;
  targetA!.health.set(Flag.EJECTED, true);
  const order: string[] = [];
  for (let i = 0; i < 3; i++) order.push(await servedBy(proxy.url));
  t.same(order, ['b', 'b', 'b']);
  targetA!.health.set(Flag.EJECTED, false);
  const after = [await servedBy(proxy.url), await servedBy(proxy.url)];
  t.same([...after].sort(), ['a', 'b'], 'back in rotation once ready');
});
