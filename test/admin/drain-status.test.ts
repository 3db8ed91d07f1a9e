// Pool state in /status across a flip with a slow request in flight on the pool losing traffic.
import t from 'tap';
import { request } from 'undici';
import { startUpstream } from '../helpers/upstream.js';
import { startProxy } from '../helpers/proxy.js';
import { waitFor } from './fixtures/wait-for.js';

t.test('blue shows draining until its in-flight request finishes, then drained with drainedAt', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  const blue = await startUpstream('blue', (req, res) => {
    req.resume();
    const answer = () => res.end(JSON.stringify({ name: 'blue', url: req.url }));
    if (req.url === '/slow') void released.then(answer);
    else answer();
  });
  const green = await startUpstream('green');
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] });
  t.teardown(async () => {
    release();
    await proxy.close();
    await Promise.all([blue.close(), green.close()]);
  });
  const status = async () => {
    const res = await proxy.switchyard.admin.inject({ method: 'GET', url: '/status' });
    return res.json();
  };

  const slow = request(`${proxy.url}/slow`).then(async (res) => ({ status: res.statusCode, body: await res.body.json() as { name: string } }));
  await waitFor('the slow request to be in flight on blue', status, (s) => s.pools.blue.inflight === 1);
  const inflight = await status();
  t.equal(inflight.pools.blue.state, 'active');
  t.equal(inflight.pools.blue.targets[0].inflight, 1);

  const flip = await proxy.switchyard.admin.inject({ method: 'POST', url: '/flip', payload: { pool: 'green' } });
  t.equal(flip.statusCode, 200);
  const flipped = flip.json();
  t.match(flipped.pools.blue, { weight: 0, state: 'draining', inflight: 1, drainingSince: String, drainedAt: null });
  t.match(flipped.pools.green, { weight: 100, state: 'active' });

  // New requests go to green while blue drains, and blue keeps draining.
  const next = await request(proxy.url);
  t.equal((await next.body.json() as { name: string }).name, 'green');
  const still = await status();
  t.equal(still.pools.blue.state, 'draining');
  t.equal(still.pools.blue.inflight, 1);

  release();
  const answered = await slow;
  t.equal(answered.status, 200);
  t.equal(answered.body.name, 'blue', 'the in-flight request finished on blue');

  const drained = await waitFor('blue to be drained', status, (s) => s.pools.blue.state === 'drained');
  t.match(drained.pools.blue, { inflight: 0, drainingSince: String, drainedAt: String });
  t.equal(drained.pools.blue.targets[0].inflight, 0);
  t.ok(Date.parse(drained.pools.blue.drainedAt) >= Date.parse(drained.pools.blue.drainingSince), 'drained after draining began');
  t.equal(drained.pools.green.state, 'active');

  // Giving blue weight again puts it back in service and clears the drain.
  const back = await proxy.switchyard.admin.inject({ method: 'POST', url: '/rollback' });
  t.match(back.json().pools.blue, { state: 'active', drainingSince: null, drainedAt: null });
  t.match(back.json().pools.green, { state: 'drained' });
});
