// A change on any instance reaches every instance at once (pub/sub), in order, with
// duplicates and stale messages ignored; rollback uses the state stored in Redis.
import t from 'tap';
import { Redis } from 'ioredis';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { admin, fleetFor, servedBy } from '../helpers/fleet.js';
import { waitFor } from '../helpers/http-client.js';

if (requireRedis(t)) {
  t.test('a flip on one of 3 instances reaches all of them within 50 ms (p99)', async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 3);
    const [a, b, c] = fleet.instances;
    const lags: number[] = [];
    for (let i = 0; i < 60; i++) {
      const pool = i % 2 === 0 ? 'green' : 'blue';
      const changer = fleet.instances[i % 3]!;
      const answer = await admin(changer, 'POST', '/flip', { pool });
      t.equal(answer.status, 200);
      const answeredAt = performance.now();
      const revision = answer.body.revision as number;
      await waitFor('every instance on the new revision', () =>
        fleet.instances.every((instance) => instance.switchyard.control.current.revision === revision), { timeoutMs: 2000, intervalMs: 1 });
      lags.push(performance.now() - answeredAt);
    }
    lags.sort((x, y) => x - y);
    const p50 = lags[Math.floor(lags.length * 0.5)]!;
    const p99 = lags[Math.ceil(lags.length * 0.99) - 1]!;
    t.comment(`propagation over ${lags.length} flips: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${lags.at(-1)!.toFixed(2)} ms`);
    t.ok(p99 <= 50, `p99 ${p99.toFixed(2)} ms ≤ 50 ms`);
    // Routing follows the state on every instance.
    await admin(a!, 'POST', '/flip', { pool: 'green' });
    await waitFor('all green', () => fleet.instances.every((instance) => instance.switchyard.control.current.weights.green === 100));
    t.same(await Promise.all([servedBy(a!), servedBy(b!), servedBy(c!)]), ['green', 'green', 'green']);
  });

  t.test('rollback on another instance restores the state stored in Redis', async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 2);
    const [a, b] = fleet.instances;
    t.equal((await admin(a!, 'PUT', '/weights', { weights: { blue: 70, green: 30 } })).status, 200);
    t.equal((await admin(a!, 'POST', '/flip', { pool: 'green' })).status, 200);
    await waitFor('b caught up', () => b!.switchyard.control.current.weights.green === 100);
    const back = await admin(b!, 'POST', '/rollback');
    t.equal(back.status, 200);
    t.same(back.body.weights, { blue: 70, green: 30 });
    await waitFor('a rolled back too', () => a!.switchyard.control.current.weights.blue === 70);

    const events = await admin(a!, 'GET', '/events');
    t.equal(events.status, 200);
    t.match(events.body.events, [
      { kind: 'rollback', from: { blue: 0, green: 100 }, to: { blue: 70, green: 30 } },
      { kind: 'flip', to: { blue: 0, green: 100 } },
      { kind: 'weights', to: { blue: 70, green: 30 } },
      { kind: 'initial', to: { blue: 100, green: 0 } },
    ], 'the audit trail, newest first, from Redis');
    t.match(events.body.events[0].who, /@127\.0\.0\.1$/);
  });

  t.test('stale and duplicate messages are ignored; a missed message heals by re-reading', async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 1);
    const [a] = fleet.instances;
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    await admin(a!, 'POST', '/flip', { pool: 'green' });
    const current = a!.switchyard.control.current;
    const stale = { ...current, revision: current.revision - 1, weights: { blue: 100, green: 0 } };
    await raw.publish('test:changes', JSON.stringify(stale));
    await raw.publish('test:changes', JSON.stringify(current));
    await raw.publish('test:changes', 'not json');
    await raw.publish('test:changes', JSON.stringify({ hello: 'world' }));
    await raw.ping(); // messages are delivered in order: a later round trip means they arrived
    await waitFor('a heartbeat after the messages', async () => (await raw.exists('test:instance:' + a!.switchyard.instance.id)) === 1);
    t.equal(a!.switchyard.control.current.revision, current.revision, 'still the same revision');
    t.same(a!.switchyard.control.current.weights, { blue: 0, green: 100 }, 'the stale weights were not applied');
    t.equal(await servedBy(a!), 'green');

    // A state written behind pub/sub's back (as if the message were lost) is picked up by the periodic re-read.
    const newer = { ...current, revision: current.revision + 1, weights: { blue: 100, green: 0 }, updatedBy: 'behind-the-back' };
    await raw.hset('test:state', 'revision', String(newer.revision), 'state', JSON.stringify(newer));
    await waitFor('resync adopted the newer state', () => a!.switchyard.control.current.revision === newer.revision, { timeoutMs: 5000 });
    t.equal(await servedBy(a!), 'blue');
  });

  t.test('fleets with different prefixes on one Redis do not see each other', async (t) => {
    const redis = await redisFor(t);
    const one = await fleetFor(t, redis.url, 1, 'one:');
    const two = await fleetFor(t, redis.url, 1, 'two:');
    t.equal((await admin(one.instances[0]!, 'POST', '/flip', { pool: 'green' })).status, 200);
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    await raw.ping();
    t.same(two.instances[0]!.switchyard.control.current.weights, { blue: 100, green: 0 }, 'the other fleet is untouched');
    const keys = await raw.keys('*');
    t.ok(keys.length > 0 && keys.every((key) => key.startsWith('one:') || key.startsWith('two:')), `every key is prefixed: ${keys.join(', ')}`);
    const instances = await waitFor('a heartbeat', async () => {
      const answer = await admin(one.instances[0]!, 'GET', '/instances');
      return answer.body.instances.length > 0 ? answer.body.instances : undefined;
    });
    t.equal(instances.length, 1, 'each fleet lists only its own instances');
    t.equal(instances[0].id, one.instances[0]!.switchyard.instance.id);
  });
}
