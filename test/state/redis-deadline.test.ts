// SPEC §10 on a real redis-server: every mutating script refuses to run past the deadline it
// carries, and changes nothing; a commit held in the socket while Redis is frozen is refused
// when Redis resumes; the store's calls give up within state.opTimeoutMs and say why.
import t from 'tap';
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/http-client.js';
import { LogSink } from '../helpers/log-sink.js';
import { createLogger } from '../../src/observe/logger.js';
import {
  COMPARE_AND_SET_LUA, COMPARE_AND_SET_TARGETS_LUA, HEARTBEAT_LUA, HOLD_LEASE_LUA, NOW_LUA, PAST_DEADLINE, PUT_ROLLOUT_LUA, RECORD_EVENT_LUA, RELEASE_LEASE_LUA,
} from '../../src/state/redis-keys.js';
import { commitDeadline } from '../../src/state/deadline.js';
import { RedisStore } from '../../src/state/redis-store.js';
import { SwitchyardError } from '../../src/errors.js';
import { initialState, setWeights } from '../../src/routing/state.js';

const pools = ['blue', 'green'];
const s1 = initialState({ blue: 100 }, pools, { actor: 'a' });
const s2 = setWeights(s1, { blue: 50, green: 50 }, pools, { actor: 'b' });

/** Everything a script could have touched, to compare before and after. */
async function snapshot(redis: Redis): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys('*')).sort()) {
    const type = await redis.type(key);
    out[key] = type === 'hash' ? await redis.hgetall(key) : type === 'list' ? await redis.lrange(key, 0, -1) : await redis.get(key);
    out[`${key} ttl`] = (await redis.pttl(key)) > 0;
  }
  return out;
}

async function redisNow(redis: Redis): Promise<number> {
  return Number(await redis.eval(NOW_LUA, 1, 'k:state'));
}

if (requireRedis(t)) {
  t.test('NOW_LUA reads Redis\'s clock in ms', async (t) => {
    const redis = await redisFor(t);
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    const [seconds, micros] = await raw.time();
    const now = await redisNow(raw);
    const time = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    t.ok(now >= time && now - time < 1000, `NOW ${now} just after TIME ${time}`);
  });

  t.test('every mutating script refuses a past deadline and changes nothing; a future one commits', async (t) => {
    const redis = await redisFor(t);
    const raw = new Redis(redis.url);
    const listener = new Redis(redis.url);
    t.teardown(() => {
      raw.disconnect();
      listener.disconnect();
    });
    const published: string[] = [];
    await listener.subscribe('k:changes', 'k:targets-changes');
    listener.on('message', (_channel: string, message: string) => void published.push(message));
    // Something stored already, so "changes nothing" is checked against real data.
    const event = JSON.stringify({ revision: 1, kind: 'initial' });
    t.equal(await raw.eval(COMPARE_AND_SET_LUA, 2, 'k:state', 'k:events', String(await redisNow(raw) + 60_000), '', '1', JSON.stringify(s1), 'k:changes', event, 200), 1);
    await raw.set('k:lease:rollout', 'me', 'PX', 60_000);
    await raw.set('k:lease:other', 'someone', 'PX', 60_000);
    // Its own key: the renewal below leaves k:lease:rollout with 1 ms to live, which a release after it could miss.
    await raw.set('k:lease:mine', 'me', 'PX', 60_000);
    const targets = (revision: number) => JSON.stringify({ revision, pools: { blue: { 'a:80': { state: 'drain' } } }, updatedAt: '', updatedBy: 'x' });
    await raw.hset('k:targets', 'revision', '1', 'state', targets(1));
    const rollout = (version: number, phase: string) => JSON.stringify({ version, phase });
    t.equal(await raw.eval(PUT_ROLLOUT_LUA, 1, 'k:rollout', String(await redisNow(raw) + 60_000), '', '1', 'running', rollout(1, 'running')), 1);

    // [name, keys, args after the deadline]: each would change something with a future deadline.
    const scripts: Array<[string, string, string[], Array<string | number>]> = [
      ['compare-and-set', COMPARE_AND_SET_LUA, ['k:state', 'k:events'], ['1', '2', JSON.stringify(s2), 'k:changes', JSON.stringify({ revision: 2 }), 200]],
      ['compare-and-set on an empty key', COMPARE_AND_SET_LUA, ['k:other-state', 'k:other-events'], ['', '1', JSON.stringify(s1), 'k:changes', '', 200]],
      ['targets compare-and-set', COMPARE_AND_SET_TARGETS_LUA, ['k:targets', 'k:events'], ['1', '2', targets(2), 'k:targets-changes', JSON.stringify({ revision: 2, kind: 'target' }), 200]],
      ['targets compare-and-set on an empty key', COMPARE_AND_SET_TARGETS_LUA, ['k:other-targets', 'k:other-events'], ['0', '1', targets(1), 'k:targets-changes', '', 200]],
      ['put rollout', PUT_ROLLOUT_LUA, ['k:rollout'], ['1', '2', 'aborted', rollout(2, 'aborted')]],
      ['hold a free lease', HOLD_LEASE_LUA, ['k:lease:free'], ['me', 60_000]],
      ['renew a lease', HOLD_LEASE_LUA, ['k:lease:rollout'], ['me', 1]],
      ['release a lease', RELEASE_LEASE_LUA, ['k:lease:mine'], ['me']],
      ['record an event', RECORD_EVENT_LUA, ['k:events'], [JSON.stringify({ revision: 1, kind: 'reload' }), 200]],
      ['heartbeat', HEARTBEAT_LUA, ['k:instance:a'], [JSON.stringify({ id: 'a' }), 60_000]],
    ];
    const before = await snapshot(raw);
    for (const [name, script, keys, args] of scripts) {
      const now = await redisNow(raw);
      for (const deadline of [now - 1, now - 60_000, 0]) {
        t.equal(await raw.eval(script, keys.length, ...keys, String(deadline), ...args), PAST_DEADLINE, `${name}: refused at deadline now${deadline - now}`);
      }
    }
    t.same(await snapshot(raw), before, 'nothing changed');
    await raw.publish('k:changes', 'marker'); // messages arrive in order: anything published before is seen first
    await waitFor('the marker', () => published.includes('marker'));
    t.same(published, [JSON.stringify(s1), 'marker'], 'a refused change is not announced');

    for (const [name, script, keys, args] of scripts) {
      const result = await raw.eval(script, keys.length, ...keys, String(await redisNow(raw) + 5000), ...args);
      t.ok(result === 1, `${name}: commits before its deadline`);
    }
    t.notSame(await snapshot(raw), before, 'and then they do change things');
    t.equal(await raw.hget('k:state', 'revision'), '2');
    t.equal(await raw.hget('k:targets', 'revision'), '2');
  });

  t.test('a commit held in the socket while Redis is frozen is refused when Redis resumes; one that runs in time commits', async (t) => {
    const redis = await redisFor(t);
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    t.teardown(() => {
      redis.thaw();
      raw.disconnect();
    });
    const opTimeoutMs = 300;
    t.equal(await raw.eval(COMPARE_AND_SET_LUA, 2, 'k:state', 'k:events', String(await redisNow(raw) + 5000), '', '1', JSON.stringify(s1), 'k:changes', '', 200), 1);
    const cas = async (freezeMs: number) => {
      const startedAt = performance.now();
      const deadline = commitDeadline(await redisNow(raw), startedAt, performance.now(), opTimeoutMs)!;
      redis.freeze();
      const reply = raw.eval(COMPARE_AND_SET_LUA, 2, 'k:state', 'k:events', String(deadline), '1', '2', JSON.stringify(s2), 'k:changes', '{"revision":2}', 200);
      await new Promise((resolve) => setTimeout(resolve, freezeMs)); // how long Redis stays frozen: the scenario itself
      redis.thaw();
      return reply;
    };
    t.equal(await cas(opTimeoutMs + 200), PAST_DEADLINE, 'frozen past the deadline: refused when it finally ran');
    t.equal(await raw.hget('k:state', 'revision'), '1', 'state unchanged');
    t.equal(await raw.llen('k:events'), 0, 'no event recorded');
    t.equal(await cas(20), 1, 'frozen briefly: the same commit runs before its deadline and is applied');
    t.equal(await raw.hget('k:state', 'revision'), '2');
  });

  t.test('RedisStore: with Redis frozen every call gives up within opTimeoutMs, the store goes down with the reason, and nothing is applied after', async (t) => {
    const redis = await redisFor(t);
    const logs = new LogSink();
    const opTimeoutMs = 400;
    const store = new RedisStore({ url: redis.url, prefix: 'k:', opTimeoutMs, logger: createLogger('info', logs) });
    t.teardown(async () => {
      redis.thaw();
      await store.close();
    });
    await waitFor('store up', () => store.up);
    t.equal(await store.compareAndSet(null, s1), true);
    t.same(store.health, { up: true, lastOkAt: store.health.lastOkAt, error: null });
    const upSince = store.health.lastOkAt!;

    redis.freeze();
    const started = performance.now();
    const refused = await store.compareAndSet(1, s2, { revision: 2, at: '', who: 'x', kind: 'flip', from: null, to: null }).catch((err: unknown) => err);
    const waited = performance.now() - started;
    t.ok(refused instanceof SwitchyardError && refused.code === 'STATE_UNAVAILABLE', 'a 503 error');
    t.match((refused as Error).message, /did not commit the routing change within 400 ms; it will not be applied later/);
    t.ok(waited >= opTimeoutMs - 20 && waited < opTimeoutMs + 500, `gave up after ${Math.round(waited)} ms`);
    t.equal(store.up, false, 'down, though its connection is open');
    t.match(store.health, { up: false, lastOkAt: upSince, error: /within 400 ms|Socket timeout/ });
    t.match(logs.find({ kind: 'state' }).at(-1), { level: 50, msg: /state store DOWN/ });

    for (const [what, call] of [
      ['get', () => store.get()], ['recentEvents', () => store.recentEvents(5)], ['getRollout', () => store.getRollout()],
      ['leaseHolder', () => store.leaseHolder('x')], ['instances', () => store.instances()], ['holdLease', () => store.holdLease('x', 'me', 1000)],
      ['heartbeat', () => store.heartbeat({ id: 'me' } as never, 1000)], ['recordEvent', () => store.recordEvent({ revision: 1, at: '', who: '', kind: 'x', from: null, to: null })],
    ] as const) {
      const begun = performance.now();
      const err = await (call as () => Promise<unknown>)().catch((e: unknown) => e);
      t.ok(err instanceof SwitchyardError && err.code === 'STATE_UNAVAILABLE', `${what}: STATE_UNAVAILABLE`);
      t.ok(performance.now() - begun < opTimeoutMs + 500, `${what}: answered in ${Math.round(performance.now() - begun)} ms`);
    }

    redis.thaw();
    await waitFor('store up again', () => store.up, { timeoutMs: 5000 });
    t.equal(store.health.error, null);
    t.ok(store.health.lastOkAt! > upSince, 'lastOkAt moved on');
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    await raw.ping(); // Redis has run what it had buffered from before
    t.equal((await store.get())?.revision, 1, 'the refused change was not applied');
    t.same(await store.recentEvents(10), [], 'nor its event, nor the refused recordEvent');
    t.equal(await raw.exists('k:instance:me', 'k:lease:x'), 0, 'nor the heartbeat or lease');
    t.equal(await store.compareAndSet(1, s2), true, 'changes work again');
  });
}
