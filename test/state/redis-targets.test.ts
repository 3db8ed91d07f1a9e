// SPEC §11 + §7 on a real redis-server: the targets document is compare-and-set on its own
// revision (nothing stored = revision 0), each commit records its event and is published on its
// own channel to every instance (the routing listeners never see it, nor the other way round),
// a malformed message is dropped with a warning, and a commit Redis cannot take in time (frozen)
// is a 503 that is never applied after it resumes (SPEC §10).
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/http-client.js';
import { LogSink } from '../helpers/log-sink.js';
import { createLogger } from '../../src/observe/logger.js';
import { RedisStore } from '../../src/state/redis-store.js';
import { SwitchyardError } from '../../src/errors.js';
import { initialState } from '../../src/routing/state.js';
import type { TargetsState } from '../../src/pool/target-admin.js';
import type { ChangeEvent } from '../../src/state/store.js';

function doc(revision: number, pools: TargetsState['pools'], by = 'op'): TargetsState {
  return { revision, pools, updatedAt: new Date(revision * 1000).toISOString(), updatedBy: by };
}

function targetEvent(revision: number, id: string, from: string | null, to: string | null): ChangeEvent {
  return {
    revision, at: new Date().toISOString(), who: 'op', kind: 'target', from: null, to: null, reason: `test ${revision}`,
    target: { pool: 'blue', id, from: from === null ? null : { state: from, weight: 100 }, to: to === null ? null : { state: to, weight: 100 } },
  };
}

/**
 * A TCP relay to Redis that, once `swallowSubscribes` is set, drops every command chunk that
 * holds a SUBSCRIBE: Redis never sees it, so it stays pending on the client's connection.
 */
async function swallowingRelay(t: Test, redisPort: number) {
  const relay = { url: '', swallowSubscribes: false, swallowed: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      if (relay.swallowSubscribes && /subscribe/i.test(chunk.toString('latin1'))) relay.swallowed++;
      else upstream.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  relay.url = `redis://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return relay;
}

const t1 = doc(1, { blue: { 'a:80': { state: 'drain' } } });
const t2 = doc(2, { blue: { 'a:80': { state: 'maint' }, 'b:81': { url: 'http://b:81', weight: 50 } } });
const t3 = doc(3, { blue: { 'a:80': { state: 'ready' } } });

if (requireRedis(t)) {
  /** A store on `url` that closes when the test ends. */
  const storeFor = (t: Test, url: string, options: { prefix?: string; opTimeoutMs?: number; logs?: LogSink } = {}) => {
    const store = new RedisStore({
      url, prefix: options.prefix ?? 'k:', opTimeoutMs: options.opTimeoutMs, logger: createLogger('info', options.logs ?? new LogSink()),
    });
    t.teardown(() => store.close());
    return store;
  };

  /** Waits until `count` connections listen on `channel`, so nothing published after is missed. */
  const subscribed = (raw: Redis, channel: string, count: number) => waitFor(`${count} subscribers on ${channel}`, async () => {
    const [, listening] = (await raw.pubsub('NUMSUB', channel)) as [string, number];
    return Number(listening) >= count;
  });

  t.test('compare-and-set on the targets revision: nothing stored is 0, a stale or wrong revision loses and changes nothing', async (t) => {
    const redis = await redisFor(t);
    const store = storeFor(t, redis.url);
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    await waitFor('store up', () => store.up);

    t.equal(await store.getTargets(), null, 'nothing stored yet');
    t.equal(await store.compareAndSetTargets(1, t1), false, 'nothing stored: expected 1 loses');
    t.equal(await raw.exists('k:targets'), 0, 'and wrote nothing');
    t.equal(await store.compareAndSetTargets(null, t1, targetEvent(1, 'a:80', 'ready', 'drain')), true, 'null: only if nothing stored — wins');
    t.same(await store.getTargets(), t1);
    t.same(await raw.hgetall('k:targets'), { revision: '1', state: JSON.stringify(t1) }, 'a hash: revision and state JSON');
    t.equal(await store.compareAndSetTargets(null, t2), false, 'something stored: null loses');
    t.equal(await store.compareAndSetTargets(0, t2), false, 'something stored: 0 loses');
    t.equal(await store.compareAndSetTargets(2, t2), false, 'a revision ahead of the stored one loses');
    t.same(await store.getTargets(), t1, 'the losers stored nothing');
    t.equal(await store.compareAndSetTargets(1, t2, targetEvent(2, 'b:81', null, 'ready')), true);
    t.equal(await store.compareAndSetTargets(1, t3, targetEvent(3, 'a:80', 'maint', 'ready')), false, 'a stale revision loses');
    t.same(await store.getTargets(), t2);

    const racing = await Promise.all([store.compareAndSetTargets(2, t3), store.compareAndSetTargets(2, doc(3, {}, 'other'))]);
    t.same(racing.filter(Boolean), [true], `two writers on one revision: exactly one wins (${racing})`);
    t.equal((await store.getTargets())?.revision, 3);

    const other = storeFor(t, redis.url, { prefix: 'other:' });
    await waitFor('other up', () => other.up);
    t.equal(await other.compareAndSetTargets(0, t1), true, 'expected 0 on an empty store wins (the memory store\'s rule)');
    t.same(await other.getTargets(), t1, 'its own prefix');
    t.equal((await store.getTargets())?.revision, 3, 'the first prefix untouched');
  });

  t.test('each winning commit records its event in the shared events list, newest first; a losing one records nothing', async (t) => {
    const redis = await redisFor(t);
    const store = storeFor(t, redis.url);
    await waitFor('store up', () => store.up);
    const first = targetEvent(1, 'a:80', 'ready', 'drain');
    const second = targetEvent(2, 'b:81', null, 'ready');
    t.equal(await store.compareAndSetTargets(null, t1, first), true);
    t.equal(await store.compareAndSetTargets(0, t2, targetEvent(9, 'lost:1', null, 'ready')), false);
    await store.recordEvent({ revision: 0, at: '', who: 'x', kind: 'reload', from: null, to: null });
    t.equal(await store.compareAndSetTargets(1, t2, second), true);
    t.equal(await store.compareAndSetTargets(2, t3), true, 'a commit without an event');
    const events = await store.recentEvents(10);
    t.same(events.map((event) => event.kind), ['target', 'reload', 'target'], 'the same list as every other event');
    t.same(events[0], second);
    t.same(events[2], first);
    t.notOk(events.some((event) => event.target?.id === 'lost:1'), 'the loser\'s event is not there');
  });

  t.test('a commit on one instance reaches another instance\'s targets subscriber within 100 ms; routing and targets listeners each get their own', async (t) => {
    const redis = await redisFor(t);
    const a = storeFor(t, redis.url);
    const b = storeFor(t, redis.url);
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    const seenByB: Array<{ revision: number; at: number }> = [];
    const seenByA: number[] = [];
    const routingSeenByB: number[] = [];
    b.subscribeTargets((state) => void seenByB.push({ revision: state.revision, at: performance.now() }));
    a.subscribeTargets((state) => void seenByA.push(state.revision));
    b.subscribe((state) => void routingSeenByB.push(state.revision));
    await waitFor('both up', () => a.up && b.up);
    await subscribed(raw, 'k:targets-changes', 2);
    await subscribed(raw, 'k:changes', 2);

    const started = performance.now();
    t.equal(await a.compareAndSetTargets(null, t1), true);
    const arrival = await waitFor('b sees revision 1', () => seenByB.find((seen) => seen.revision === 1), { intervalMs: 1 });
    const ms = arrival.at - started;
    t.ok(ms < 100, `reached b ${ms.toFixed(1)} ms after the commit began`);
    await waitFor('a sees its own commit', () => seenByA.includes(1));

    const routing = initialState({ blue: 100 }, ['blue', 'green'], { actor: 'a' });
    t.equal(await a.compareAndSet(null, routing), true);
    await waitFor('b sees the routing change', () => routingSeenByB.includes(routing.revision));
    t.equal(await b.compareAndSetTargets(1, t2), true, 'b commits the next one');
    await waitFor('a sees b\'s commit', () => seenByA.includes(2));
    await waitFor('b sees its own', () => seenByB.some((seen) => seen.revision === 2));
    t.same(seenByB.map((seen) => seen.revision), [1, 2], 'the targets listener saw only targets documents, in order');
    t.same(routingSeenByB, [routing.revision], 'the routing listener saw only the routing state');

    const off = b.subscribeTargets(() => t.fail('an unsubscribed listener is not called'));
    off();
    t.equal(await a.compareAndSetTargets(2, t3), true);
    await waitFor('b sees revision 3', () => seenByB.some((seen) => seen.revision === 3));
  });

  t.test('a malformed targets or routing message is ignored with a warning; the next good one still arrives', async (t) => {
    const redis = await redisFor(t);
    const logs = new LogSink();
    const store = storeFor(t, redis.url, { logs });
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    const targets: TargetsState[] = [];
    const routing: unknown[] = [];
    store.subscribeTargets((state) => void targets.push(state));
    store.subscribe((state) => void routing.push(state));
    await subscribed(raw, 'k:targets-changes', 1);

    for (const bad of ['not json', 'null', '{"revision":"1","pools":{}}', '{"revision":1}', '{"revision":1,"pools":null}', JSON.stringify({ revision: 1, weights: {} })]) {
      await raw.publish('k:targets-changes', bad);
    }
    await raw.publish('k:changes', '{oops');
    await raw.publish('k:changes', JSON.stringify(t1)); // a targets document on the routing channel: no weights
    await raw.publish('k:targets-changes', JSON.stringify(t1));
    await waitFor('the good document', () => targets.length === 1);
    t.same(targets, [t1], 'only the good one, as published');
    t.same(routing, [], 'nothing reached the routing listeners');
    const warnings = logs.find({ kind: 'state', level: 40 });
    t.equal(warnings.filter((line) => line.channel === 'k:targets-changes').length, 6, 'a warning per malformed targets message');
    t.equal(warnings.filter((line) => line.channel === 'k:changes').length, 2, 'and per malformed routing message');
    t.match(warnings[0], { msg: /ignored a malformed targets message/ });
  });

  t.test('closing the store while its SUBSCRIBE after a reconnect is unanswered leaves no unhandled rejection (it would end the process)', async (t) => {
    const redis = await redisFor(t);
    const relay = await swallowingRelay(t, redis.port);
    const store = storeFor(t, relay.url);
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    await subscribed(raw, 'k:targets-changes', 1);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    t.teardown(() => void process.off('unhandledRejection', onUnhandled));
    const subscriber = (store as unknown as { subscriber: Redis }).subscriber;
    const ended = new Promise((resolve) => subscriber.once('end', resolve));
    relay.swallowSubscribes = true;
    // Ready again: its SUBSCRIBE is written and will never be answered; shut down meanwhile.
    subscriber.once('ready', () => void store.close());
    t.equal(await raw.client('KILL', 'TYPE', 'pubsub'), 1, 'the subscriber connection cut');
    await ended;
    await new Promise((resolve) => setImmediate(resolve)); // unhandled rejections are reported after the microtasks
    t.ok(relay.swallowed > 0, 'a SUBSCRIBE was pending when the store closed');
    t.same(unhandled.map(String), [], 'no unhandled rejection');
  });

  t.test('Redis frozen: compareAndSetTargets answers STATE_UNAVAILABLE within opTimeoutMs, and after SIGCONT the document, events and subscribers show it never happened', async (t) => {
    const redis = await redisFor(t);
    const opTimeoutMs = 400;
    const store = storeFor(t, redis.url, { opTimeoutMs });
    const watcher = storeFor(t, redis.url);
    t.teardown(() => redis.thaw()); // last in, first run: Redis resumes before the stores close
    const raw = new Redis(redis.url);
    t.teardown(() => void raw.disconnect());
    const seen: number[] = [];
    watcher.subscribeTargets((state) => void seen.push(state.revision));
    await waitFor('stores up', () => store.up && watcher.up);
    await subscribed(raw, 'k:targets-changes', 2);
    t.equal(await store.compareAndSetTargets(null, t1, targetEvent(1, 'a:80', 'ready', 'drain')), true);
    await waitFor('watcher has revision 1', () => seen.includes(1));

    redis.freeze();
    const started = performance.now();
    const refused = await store.compareAndSetTargets(1, t2, targetEvent(2, 'b:81', null, 'ready')).catch((err: unknown) => err);
    const waited = performance.now() - started;
    t.ok(refused instanceof SwitchyardError && refused.code === 'STATE_UNAVAILABLE', `a 503 error: ${String(refused)}`);
    t.match((refused as Error).message, /did not commit the targets change within 400 ms; it will not be applied later/);
    t.ok(waited >= opTimeoutMs - 20 && waited < opTimeoutMs + 500, `gave up after ${Math.round(waited)} ms`);
    t.equal(store.up, false, 'the store is down');
    const read = await store.getTargets().catch((err: unknown) => err);
    t.ok(read instanceof SwitchyardError && read.code === 'STATE_UNAVAILABLE', 'getTargets: STATE_UNAVAILABLE too');

    redis.thaw();
    await waitFor('store up again', () => store.up, { timeoutMs: 5000 });
    await raw.ping(); // Redis has run whatever it had buffered from before the freeze
    t.same(await store.getTargets(), t1, 'the refused change was not applied');
    t.same((await store.recentEvents(10)).map((event) => event.revision), [1], 'nor its event recorded');
    await raw.publish('k:targets-changes', JSON.stringify(t3)); // published after anything the late script could have sent
    await waitFor('the watcher sees the marker', () => seen.includes(3), { timeoutMs: 5000 });
    t.same(seen, [1, 3], 'the refused change was never announced');
    t.equal(await store.compareAndSetTargets(1, t2), true, 'changes work again');
  });
}
