// Issue #11 fault 10: a Redis frozen with SIGSTOP keeps its TCP connections, so nothing looks
// wrong until a call waits. SPEC §10: every store call gives up within state.opTimeoutMs, a
// refused change is never applied after SIGCONT, /readyz stays 200, status and the metric say
// the store is down, and traffic never notices.
import t from 'tap';
import { Redis } from 'ioredis';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { admin, fleetFor } from '../helpers/fleet.js';
import { startLoad } from '../helpers/load.js';
import { waitFor, withDeadline } from '../helpers/http-client.js';
import type { TestProxy } from '../helpers/proxy.js';

const OP_TIMEOUT_MS = 500;
/** The freeze: long enough for every heartbeat, resync and rollout tick to hit it. */
const FREEZE_MS = 10_000;

/** How long `work` took; a deadline of our own, so a call that hangs (the fault) fails the test instead of the file. */
async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await withDeadline(work, OP_TIMEOUT_MS + 5000, 'an answer while Redis is frozen');
  return { value, ms: Date.now() - started };
}

async function storeUpMetric(proxy: TestProxy): Promise<number> {
  const text = await (await fetch(`${proxy.admin}/metrics`)).text();
  return Number(/^switchyard_state_store_up (\d)/m.exec(text)?.[1]);
}

if (requireRedis(t)) {
  t.test(`Redis frozen ${FREEZE_MS / 1000} s under load through two instances: 0 failed requests, changes 503 in time and never applied after SIGCONT`, async (t) => {
    const redis = await redisFor(t);
    const fleet = await fleetFor(t, redis.url, 2, 'test:', { state: { opTimeoutMs: OP_TIMEOUT_MS } });
    t.teardown(() => redis.thaw()); // teardowns run last-in first: Redis resumes before the instances close, whatever failed
    const [a, b] = fleet.instances as [TestProxy, TestProxy];
    t.equal((await admin(a, 'PUT', '/weights', { weights: { blue: 50, green: 50 } })).status, 200);
    await waitFor('b has the split', () => b.switchyard.control.current.weights.green === 50);
    const revision = a.switchyard.control.current.revision;
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    const eventsBefore = await raw.lrange('test:events', 0, -1);

    const loads = [startLoad(a.url, { seconds: 60, connections: 4 }), startLoad(b.url, { seconds: 60, connections: 4 })];
    t.teardown(() => loads.forEach((load) => load.stop()));
    await waitFor('load running on both', () => loads.every((load) => load.completed() > 200), { timeoutMs: 10_000 });

    redis.freeze();
    const frozenAt = Date.now();
    // The first change meets a store that still looks up (its connection is open).
    const flip = await timed(admin(b, 'POST', '/flip', { pool: 'green' }));
    t.equal(flip.value.status, 503, 'flip refused');
    t.equal(flip.value.body.error.code, 'STATE_UNAVAILABLE');
    t.ok(flip.ms <= OP_TIMEOUT_MS + 1000, `flip answered in ${flip.ms} ms (limit ${OP_TIMEOUT_MS} + 1000)`);
    const weights = await timed(admin(a, 'PUT', '/weights', { weights: { blue: 10, green: 90 } }));
    t.equal(weights.value.status, 503, 'weights refused');
    t.ok(weights.ms <= OP_TIMEOUT_MS + 1000, `weights answered in ${weights.ms} ms`);

    for (const proxy of [a, b]) {
      const status = await waitFor('status shows the store down', async () => {
        const answer = await admin(proxy, 'GET', '/status');
        return answer.body.store?.up === false ? answer.body : undefined;
      }, { timeoutMs: 3 * OP_TIMEOUT_MS + 2000, intervalMs: 50 });
      t.match(status.store, { kind: 'redis', up: false, lastOkAt: String, error: /\w/ }, `status: down, with the reason (${status.store.error})`);
      t.same(status.weights, { blue: 50, green: 50 }, 'routing on the last state');
      t.equal((await fetch(`${proxy.admin}/readyz`)).status, 200, '/readyz stays 200');
      t.equal(await storeUpMetric(proxy), 0, 'switchyard_state_store_up 0');
    }
    // Now that the store is known down, changes are refused at once.
    const rollback = await timed(admin(a, 'POST', '/rollback'));
    t.equal(rollback.value.status, 503);
    t.ok(rollback.ms < OP_TIMEOUT_MS, `refused in ${rollback.ms} ms once the store is known down`);
    const fleetStatus = await timed(admin(a, 'GET', '/status?fleet=1'));
    t.equal(fleetStatus.value.status, 200, 'status?fleet=1 answers (this instance only)');
    t.ok(fleetStatus.ms <= OP_TIMEOUT_MS + 1000);
    t.equal((await admin(a, 'GET', '/events')).status, 503);

    const during = loads.map((load) => load.completed());
    await waitFor('the freeze lasts', () => Date.now() - frozenAt >= FREEZE_MS, { timeoutMs: FREEZE_MS + 1000, intervalMs: 100 });
    loads.forEach((load, i) => t.ok(load.completed() > during[i]! + 500, `instance ${i}: traffic flowed during the freeze (${load.completed() - during[i]!} more answers)`));

    redis.thaw();
    const thawedAt = Date.now();
    await waitFor('store up on both', () => a.switchyard.store.up && b.switchyard.store.up, { timeoutMs: 5000, intervalMs: 5 });
    t.comment(`store up on both ${Date.now() - thawedAt} ms after SIGCONT`);
    await raw.ping(); // Redis has caught up with what it had buffered while frozen
    for (const proxy of [a, b]) {
      const status = (await admin(proxy, 'GET', '/status')).body;
      t.match(status.store, { kind: 'redis', up: true, error: null }, 'status: up again');
      t.ok(Date.parse(status.store.lastOkAt) >= thawedAt, 'lastOkAt after the thaw');
      t.equal(await storeUpMetric(proxy), 1, 'switchyard_state_store_up 1');
      t.equal(proxy.switchyard.control.current.revision, revision, 'revision unchanged');
      t.same(proxy.switchyard.control.current.weights, { blue: 50, green: 50 }, 'weights unchanged');
    }
    t.equal(await raw.hget('test:state', 'revision'), String(revision), 'stored revision unchanged');
    t.same(await raw.lrange('test:events', 0, -1), eventsBefore, 'no event recorded');

    const after = await admin(b, 'POST', '/flip', { pool: 'green' });
    t.equal(after.status, 200, 'a new flip succeeds');
    t.equal(after.body.revision, revision + 1, 'right on top of the last committed state');
    await waitFor('a follows', () => a.switchyard.control.current.weights.green === 100);
    const events = (await admin(a, 'GET', '/events')).body.events as Array<{ kind: string; from: unknown; revision: number }>;
    t.match(events[0], { kind: 'flip', revision: revision + 1, from: { blue: 50, green: 50 } }, 'nothing landed in between');

    loads.forEach((load) => load.stop());
    const results = await Promise.all(loads.map((load) => load.done));
    for (const [i, result] of results.entries()) {
      t.comment(`instance ${i}: ${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors`);
      t.equal(result.non2xx, 0, `instance ${i}: no failed request`);
      t.equal(result.errors, 0, `instance ${i}: no socket error`);
    }
  });
}
