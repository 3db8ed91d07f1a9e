// Redis going away never stops traffic: instances route on their last state, mutations
// answer 503 STATE_UNAVAILABLE, and everything resyncs when Redis is back.
import t from 'tap';
import { Redis } from 'ioredis';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { admin, fleetFor, servedBy } from '../helpers/fleet.js';
import { startLoad } from '../helpers/load.js';
import { waitFor } from '../helpers/http-client.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

if (requireRedis(t)) {
  t.test('redis killed under load: 0 failed requests, mutations 503; back: resync within 1 s', async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 2);
    const [a, b] = fleet.instances;
    t.equal((await admin(a!, 'PUT', '/weights', { weights: { blue: 50, green: 50 } })).status, 200);
    await waitFor('b has the split', () => b!.switchyard.control.current.weights.green === 50);

    const load = startLoad(a!.url, { seconds: 60, connections: 8 });
    await waitFor('load running', () => load.completed() > 500, { timeoutMs: 10_000 });
    await redis.stop();
    await waitFor('both instances see the store down', () => !a!.switchyard.store.up && !b!.switchyard.store.up);

    const refused = await admin(b!, 'POST', '/flip', { pool: 'green' });
    t.equal(refused.status, 503);
    t.equal(refused.body.error.code, 'STATE_UNAVAILABLE');
    t.equal((await admin(a!, 'POST', '/rollback')).status, 503);
    const status = await admin(a!, 'GET', '/status');
    t.match(status.body, { store: { kind: 'redis', up: false }, weights: { blue: 50, green: 50 } }, 'status says the store is down');
    t.equal((await admin(a!, 'GET', '/events')).status, 503);
    const before = load.completed();
    await waitFor('traffic keeps flowing during the outage', () => load.completed() > before + 1000, { timeoutMs: 10_000 });

    const restartedAt = Date.now();
    await redis.start(); // same port, empty (no persistence): the instances re-seed it
    await waitFor('store back on both', () => a!.switchyard.store.up && b!.switchyard.store.up, { timeoutMs: 1000, intervalMs: 5 });
    const resyncMs = Date.now() - restartedAt;
    const flip = await waitFor('a mutation succeeds again', async () => {
      const answer = await admin(b!, 'POST', '/flip', { pool: 'green' });
      return answer.status === 200 ? answer : undefined;
    }, { timeoutMs: 1000, intervalMs: 20 });
    t.ok(Date.now() - restartedAt <= 1500, `resynced and accepting changes ${Date.now() - restartedAt} ms after Redis came back (store up after ${resyncMs} ms)`);
    t.same(flip.body.weights, { blue: 0, green: 100 });
    await waitFor('a follows', () => a!.switchyard.control.current.weights.green === 100);
    load.stop();
    const result = await load.done;
    t.comment(`redis outage under load: ${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors; store up ${resyncMs} ms after restart`);
    t.equal(result.non2xx, 0, 'no failed request');
    t.equal(result.errors, 0, 'no socket error');
  });

  t.test('concurrent changes through two instances: exactly one wins with If-Match; none is lost without', async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 2);
    const [a, b] = fleet.instances;
    const revision = a!.switchyard.control.current.revision;
    const ifMatch = { 'if-match': `"${revision}"` };
    const answers = await Promise.all([
      admin(a!, 'PUT', '/weights', { weights: { blue: 60, green: 40 } }, ifMatch),
      admin(b!, 'PUT', '/weights', { weights: { blue: 20, green: 80 } }, ifMatch),
    ]);
    t.same(answers.map((answer) => answer.status).sort(), [200, 412], 'one 200, one 412');
    t.equal(answers.find((answer) => answer.status === 412)!.body.error.code, 'REVISION_MISMATCH');

    const base = a!.switchyard.control.current.revision;
    const both = await Promise.all([
      admin(a!, 'PUT', '/weights', { weights: { blue: 30, green: 70 } }),
      admin(b!, 'PUT', '/weights', { weights: { blue: 10, green: 90 } }),
    ]);
    t.same(both.map((answer) => answer.status), [200, 200]);
    t.same(both.map((answer) => answer.body.revision).sort(), [base + 1, base + 2], 'applied one on top of the other');
    const events = (await admin(a!, 'GET', '/events')).body.events as Array<{ revision: number; from: object; to: object }>;
    const [last, first] = events;
    t.same(last!.from, first!.to, 'the later change started from the earlier one: no lost update');
  });

  t.test('Redis unreachable at start: starts on routing.initial, adopts the stored state when Redis arrives', async (t) => {
    const redis = await redisFor(t, { persist: true });
    const fleet = await fleetFor(t, redis.url, 1);
    t.equal((await admin(fleet.instances[0]!, 'POST', '/flip', { pool: 'green' })).status, 200);
    await redis.stop();

    const late = await fleet.add();
    t.equal(late.switchyard.control.current.revision, 0, 'provisional state');
    t.same(late.switchyard.control.current.weights, { blue: 100, green: 0 }, 'routing.initial');
    t.ok(late.logs.lines.some((line) => /STATE STORE UNREACHABLE AT START/.test(String(line.msg))), 'says so loudly');
    t.equal(await servedBy(late), 'blue', 'serves meanwhile');
    t.equal((await admin(late, 'POST', '/flip', { pool: 'green' })).status, 503);

    await redis.start(); // the append-only file brings the stored state back
    await waitFor('adopted the stored state', () => late.switchyard.control.current.weights.green === 100, { timeoutMs: 3000 });
    t.equal(await servedBy(late), 'green');
  });

  t.test('a password-protected Redis works by URL; a wrong password is an unreachable store', async (t) => {
    const redis = await redisFor(t, { password: 's3cret' });
    const fleet = await fleetFor(t, redis.url, 1);
    t.ok(fleet.instances[0]!.switchyard.store.up);
    t.equal((await admin(fleet.instances[0]!, 'POST', '/flip', { pool: 'green' })).status, 200);
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    t.match(await raw.hget('test:state', 'state'), /"green":100/);

    const blue = await startUpstream('blue');
    t.teardown(() => blue.close());
    const wrong = await startProxy({ blue: [blue.url] }, { state: { store: 'redis', url: `redis://:nope@127.0.0.1:${redis.port}` }, log: { access: false } });
    t.teardown(() => wrong.close());
    t.notOk(wrong.switchyard.store.up);
    t.match(wrong.switchyard.store.health, { up: false, lastOkAt: null, error: /WRONGPASS|NOAUTH|invalid|closed/i }, `says why (${wrong.switchyard.store.health.error})`);
    t.equal(wrong.switchyard.control.current.revision, 0);
    t.equal(await servedBy(wrong), 'blue', 'still serves on routing.initial');
  });

  t.test('status?fleet=1 says when a pool is drained on every instance', async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 2);
    const [a] = fleet.instances;
    await admin(a!, 'POST', '/flip', { pool: 'green' });
    const view = await waitFor('both instances report blue drained', async () => {
      const status = await admin(a!, 'GET', '/status?fleet=1');
      const blue = status.body.fleet?.pools?.blue;
      return status.body.fleet?.instances === 2 && blue?.drainedEverywhere ? status.body.fleet : undefined;
    }, { timeoutMs: 5000 });
    t.match(view.pools, { blue: { drainedEverywhere: true, inflight: 0, instances: 2 }, green: { drainedEverywhere: false } });
    t.equal((await admin(a!, 'GET', '/status?fleet=2')).status, 400, 'a bad query is refused');
  });
}

