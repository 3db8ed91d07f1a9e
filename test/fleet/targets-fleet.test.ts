// Targets as fleet state (SPEC §11 over §7): two instances on one private redis-server. A
// change on one is applied on the other within 100 ms; If-Match makes concurrent changes safe;
// API-added targets and admin states survive reloads and restarts (Redis keeps them); a frozen
// Redis refuses changes with 503 and applies none of them after it resumes.
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { LogSink } from '../helpers/log-sink.js';
import type { TestProxy } from '../helpers/proxy.js';
import { redisFor, requireRedis, type RedisServer } from '../helpers/redis-server.js';
import { waitFor, withDeadline } from '../helpers/http-client.js';
import { PROBE_PATH, targetUpstreamsFor, type TargetUpstream } from '../helpers/target-upstreams.js';

const OP_TIMEOUT_MS = 500;

interface Answer {
  status: number;
  body: any;
  etag: string | null;
}

async function call(proxy: TestProxy, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${proxy.admin}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json(), etag: response.headers.get('etag') };
}

/** A config file the test can rewrite and reload: pool blue over `urls`, state in `redis`. */
function configFile(redis: RedisServer): { path: string; write(urls: string[]): void } {
  const path = join(mkdtempSync(join(tmpdir(), 'switchyard-targets-fleet-')), 'config.json');
  const write = (urls: string[]) => writeFileSync(path, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 },
    pools: { blue: { version: 'blue-v1', targets: urls } },
    healthCheck: { path: PROBE_PATH, intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 3 },
    state: { store: 'redis', url: redis.url, prefix: 'test:', opTimeoutMs: OP_TIMEOUT_MS },
    log: { level: 'info', access: false },
  }));
  return { path, write };
}

/** One instance started from the file (so POST /reload re-reads it); closed at teardown unless closed before. */
async function startInstance(t: Test, path: string): Promise<TestProxy> {
  const logs = new LogSink();
  const switchyard = await Switchyard.start(loadConfigFile(path, {}), { configPath: path, logDestination: logs });
  t.teardown(() => switchyard.close());
  return { switchyard, url: switchyard.proxyUrl, admin: switchyard.adminUrl, logs, close: () => switchyard.close() };
}

async function setup(t: Test, names = ['t1', 't2', 't3', 't4', 't5']) {
  const redis = await redisFor(t);
  const upstreams = await targetUpstreamsFor(t, names);
  const file = configFile(redis);
  file.write(upstreams.slice(0, 3).map((upstream) => upstream.url));
  const a = await startInstance(t, file.path);
  const b = await startInstance(t, file.path);
  return { redis, upstreams, file, a, b };
}

/** The live target on an instance (what its picker reads), leaving ones included. */
const live = (proxy: TestProxy, id: string) => proxy.switchyard.pools.find('blue', id);

async function views(proxy: TestProxy): Promise<Map<string, Record<string, any>>> {
  const answer = await call(proxy, 'GET', '/pools/blue/targets');
  if (answer.status !== 200) throw new Error(`GET targets: ${answer.status}`);
  return new Map((answer.body as Array<Record<string, any>>).map((view) => [view.id, view]));
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((x, y) => x - y);
  return { p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.ceil(sorted.length * 0.99) - 1]! };
}

const revisionOf = (etag: string | null) => Number(JSON.parse(etag ?? 'NaN'));

if (requireRedis(t)) {
  t.test('a change on instance A is applied on instance B within 100 ms (p99 over 30 changes)', async (t) => {
    const { upstreams, a, b } = await setup(t, ['t1', 't2', 't3']);
    const target = upstreams[0]!;
    const lags: number[] = [];
    const fromSend: number[] = [];
    for (let i = 0; i < 30; i++) {
      const state = i % 2 === 0 ? 'drain' : 'ready';
      const sentAt = performance.now();
      const answer = await call(a, 'PUT', `/pools/blue/targets/${target.id}`, { state, reason: `propagation ${i}` });
      const answeredAt = performance.now();
      t.equal(answer.status, 200, `change ${i} (${state}) answered 200`);
      const revision = revisionOf(answer.etag);
      await waitFor(`B on revision ${revision} with ${target.name} ${state}`, () =>
        b.switchyard.targets.current.revision === revision && live(b, target.id)?.adminState === state, { timeoutMs: 2000, intervalMs: 1 });
      lags.push(performance.now() - answeredAt);
      fromSend.push(performance.now() - sentAt);
      if (state === 'drain') t.equal(live(b, target.id)!.ready, false, `B fenced ${target.name}`);
    }
    const { p50, p99 } = percentiles(lags);
    const whole = percentiles(fromSend);
    t.comment(`targets propagation A → B over ${lags.length} changes, from A's 200: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms; ` +
      `from sending the PUT to A: p50 ${whole.p50.toFixed(2)} ms, p99 ${whole.p99.toFixed(2)} ms`);
    t.ok(p99 <= 100, `p99 ${p99.toFixed(2)} ms ≤ 100 ms`);
    const onB = (await views(b)).get(target.id)!;
    t.match(onB, { state: 'ready', ready: true }, 'B\'s API shows the last change');
    const events = (await call(b, 'GET', '/events')).body.events as Array<Record<string, any>>;
    t.match(events[0], { kind: 'target', reason: 'propagation 29', target: { pool: 'blue', id: target.id, from: { state: 'drain' }, to: { state: 'ready' } } },
      'the change is an event, read from Redis on B');
  });

  t.test('two concurrent changes with the same If-Match on two instances: one 200, one 412 REVISION_MISMATCH', async (t) => {
    const { upstreams, a, b } = await setup(t, ['t1', 't2', 't3']);
    const [one, two] = upstreams as [TargetUpstream, TargetUpstream];
    const weights = { [one.id]: 100, [two.id]: 100 };
    for (let round = 0; round < 5; round++) {
      const listed = await call(a, 'GET', '/pools/blue/targets');
      const ifMatch = { 'if-match': listed.etag! };
      // The one sent first usually wins; alternate so both instances are seen losing.
      const sendA = () => call(a, 'PUT', `/pools/blue/targets/${one.id}`, { weight: 10 + round }, ifMatch);
      const sendB = () => call(b, 'PUT', `/pools/blue/targets/${two.id}`, { weight: 20 + round }, ifMatch);
      const [onA, onB] = round % 2 === 0 ? await Promise.all([sendA(), sendB()]) : (await Promise.all([sendB(), sendA()])).reverse() as [Answer, Answer];
      t.same([onA.status, onB.status].sort(), [200, 412], `round ${round}: one 200, one 412 (A ${onA.status}, B ${onB.status})`);
      const [winner, loser] = onA.status === 200 ? [onA, onB] : [onB, onA];
      t.equal(loser.body.error?.code, 'REVISION_MISMATCH', 'the other is REVISION_MISMATCH');
      t.equal(revisionOf(winner.etag), revisionOf(listed.etag) + 1, 'the winner made exactly one revision');
      if (winner === onA) weights[one.id] = 10 + round;
      else weights[two.id] = 20 + round;
      for (const proxy of [a, b]) {
        await waitFor('the instance on the winner\'s revision', () => proxy.switchyard.targets.current.revision === revisionOf(winner.etag));
        t.same({ [one.id]: live(proxy, one.id)!.weight, [two.id]: live(proxy, two.id)!.weight }, weights, 'only the winner\'s weight applied');
      }
    }
  });

  t.test('API-added targets and admin states survive reloads (file unchanged and changed) and restarts; a file may drop a target the API put in maint', async (t) => {
    const { upstreams, file, a, b } = await setup(t);
    const [t1, t2, t3, t4, t5] = upstreams as [TargetUpstream, TargetUpstream, TargetUpstream, TargetUpstream, TargetUpstream];
    const added = await call(a, 'POST', '/pools/blue/targets', { url: t4.url, reason: 'scale out' });
    t.equal(added.status, 201, 'target added through A');
    t.equal((await call(b, 'PUT', `/pools/blue/targets/${t2.id}`, { state: 'maint' })).status, 200, 't2 in maint through B');
    const revision = a.switchyard.targets.current.revision;
    await waitFor('both instances on the same targets', () => b.switchyard.targets.current.revision === revision && a.switchyard.targets.current.revision === revision);

    /** Every instance lists t1..t3 from the file, t4 from the API (ready once checked), t2 in maint; plus `extra` checks. */
    const kept = async (what: string, proxies: TestProxy[], extra: (list: Map<string, Record<string, any>>) => void = () => undefined) => {
      for (const [i, proxy] of proxies.entries()) {
        const list = await waitFor(`${what}: instance ${i} sees t4 ready`, async () => {
          const current = await views(proxy);
          return current.get(t4.id)?.ready === true ? current : undefined;
        }, { timeoutMs: 3000 });
        t.match(list.get(t4.id), { source: 'api', state: 'ready' }, `${what}: instance ${i} keeps the API's target`);
        t.match(list.get(t2.id), { source: 'config', state: 'maint', ready: false }, `${what}: instance ${i} keeps t2 in maint`);
        t.match(list.get(t1.id), { state: 'ready' });
        extra(list);
      }
    };
    await kept('before any reload', [a, b]);

    const same = await call(a, 'POST', '/reload');
    t.equal(same.status, 200, 'reload with the file unchanged');
    await kept('after a reload of the same file', [a, b]);

    file.write([t1, t2, t3, t5].map((upstream) => upstream.url));
    for (const proxy of [a, b]) t.equal((await call(proxy, 'POST', '/reload')).status, 200, 'reload with t5 added to the file');
    await kept('after a reload of a changed file', [a, b], (list) => t.match(list.get(t5.id), { source: 'config' }, 't5 joined from the file'));
    t.equal(a.switchyard.targets.current.revision, revision, 'a reload commits nothing to the targets document');

    // Restart both instances: nothing survives in a process, so what comes back came from Redis.
    await a.close();
    await b.close();
    const a2 = await startInstance(t, file.path);
    const b2 = await startInstance(t, file.path);
    await kept('after a restart of both', [a2, b2], (list) => t.same([...list.keys()].sort(), [t1, t2, t3, t4, t5].map((up) => up.id).sort()));
    t.equal(a2.switchyard.targets.current.revision, revision, 'the stored revision was loaded');

    // The file drops t2, which the API put in maint: fine, it leaves.
    file.write([t1, t3, t5].map((upstream) => upstream.url));
    const dropped = await call(a2, 'POST', '/reload');
    t.equal(dropped.status, 200, `reload without t2 answers 200 (${JSON.stringify(dropped.body.error ?? '')})`);
    const list = await waitFor('t2 gone from A', async () => {
      const current = await views(a2);
      return current.has(t2.id) ? undefined : current;
    }, { timeoutMs: 2000 });
    t.same([...list.keys()].sort(), [t1, t3, t4, t5].map((up) => up.id).sort(), 'the rest stays, the API target included');
    t.match(list.get(t4.id), { source: 'api', ready: true });
  });

  t.test('Redis frozen: a target change answers 503 STATE_UNAVAILABLE, and nothing changes after SIGCONT', async (t) => {
    const { redis, upstreams, a, b } = await setup(t, ['t1', 't2', 't3', 't4']);
    t.teardown(() => redis.thaw()); // runs before the instances close, whatever failed
    const [t1, t2, , t4] = upstreams as [TargetUpstream, TargetUpstream, TargetUpstream, TargetUpstream];
    t.equal((await call(a, 'PUT', `/pools/blue/targets/${t2.id}`, { weight: 50 })).status, 200);
    const revision = a.switchyard.targets.current.revision;
    await waitFor('B on the same revision', () => b.switchyard.targets.current.revision === revision);
    const eventsBefore = await a.switchyard.store.recentEvents(50);

    // The first change freezes Redis between its two round trips (the clock read and the
    // compare-and-set), so its commit waits in Redis's socket buffer and runs after SIGCONT:
    // what must stop it then is the commit deadline. A seam on the store's Redis client.
    type Script = (...args: unknown[]) => Promise<unknown>;
    const client = (a.switchyard.store as unknown as { client?: Record<string, Script> }).client;
    const commit = client?.switchyardCasTargets;
    if (client === undefined || typeof commit !== 'function') throw new Error('RedisStore client.switchyardCasTargets not found: update this seam');
    let frozenAtCommit = 0;
    client.switchyardCasTargets = function (this: unknown, ...args: unknown[]) {
      client.switchyardCasTargets = commit;
      redis.freeze();
      frozenAtCommit++;
      return commit.apply(this, args);
    };
    const attempts: Array<[TestProxy, string, string, unknown]> = [
      [a, 'PUT', `/pools/blue/targets/${t1.id}`, { state: 'drain' }],
      [b, 'PUT', `/pools/blue/targets/${t2.id}`, { weight: 7 }],
      [a, 'POST', '/pools/blue/targets', { url: t4.url }],
      [b, 'DELETE', `/pools/blue/targets/${t1.id}`, undefined],
    ];
    for (const [proxy, method, path, body] of attempts) {
      const started = Date.now();
      const answer = await withDeadline(call(proxy, method, path, body), OP_TIMEOUT_MS + 5000, `${method} ${path} while Redis is frozen`);
      const ms = Date.now() - started;
      t.equal(answer.status, 503, `${method} ${path}: 503 in ${ms} ms`);
      t.equal(answer.body.error?.code, 'STATE_UNAVAILABLE');
      t.ok(ms <= OP_TIMEOUT_MS + 1000, `answered within opTimeoutMs + 1 s (${ms} ms)`);
    }
    t.equal(frozenAtCommit, 1, 'the first change had its commit sent to the frozen Redis');
    for (const proxy of [a, b]) t.match((await views(proxy)).get(t1.id), { state: 'ready', ready: true }, 'nothing fenced meanwhile');

    redis.thaw();
    await waitFor('store up on both', () => a.switchyard.store.up && b.switchyard.store.up, { timeoutMs: 5000 });
    // The frozen Redis ran what it had buffered by now: a read after the thaw queues behind it.
    const stored = await a.switchyard.store.getTargets();
    t.equal(stored?.revision, revision, 'stored targets revision unchanged');
    t.same(stored?.pools, { blue: { [t2.id]: { weight: 50 } } }, 'stored document unchanged');
    t.same((await a.switchyard.store.recentEvents(50)).length, eventsBefore.length, 'no event recorded');
    for (const proxy of [a, b]) {
      await proxy.switchyard.targets.resync();
      t.equal(proxy.switchyard.targets.current.revision, revision, 'revision unchanged');
      const list = await views(proxy);
      t.match(list.get(t1.id), { state: 'ready', ready: true }, 't1 still ready');
      t.match(list.get(t2.id), { weight: 50 }, 't2 keeps weight 50');
      t.notOk(list.has(t4.id), 't4 was not added');
    }
    const after = await call(b, 'PUT', `/pools/blue/targets/${t1.id}`, { state: 'drain' });
    t.equal(after.status, 200, 'a change after the thaw succeeds');
    t.equal(revisionOf(after.etag), revision + 1, 'right on top of the last committed document');
  });
}
