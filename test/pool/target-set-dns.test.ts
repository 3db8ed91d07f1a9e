// DNS discovery as the target set's third source (SPEC §12): discovered addresses join as
// `source: dns`, leave by draining, keep a file target's `config` source, and take the API's
// overrides by id. Driven without sockets: a recording lifecycle, connection pools never opened.
import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { TargetSet, type DiscoveryInfo, type TargetLifecycle } from '../../src/pool/target-set.js';
import type { Target } from '../../src/pool/target.js';
import type { PoolConfig } from '../../src/config/schema.js';
import type { TargetsState } from '../../src/pool/target-admin.js';
import { createLogger } from '../../src/observe/logger.js';
import { LogSink } from '../helpers/log-sink.js';

const HEALTH = { path: '/healthz', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1, expectStatus: '200-399' };
const SLOW = { windowMs: 0, aggression: 1, minWeightPercent: 10 };
const DISCOVER = { dns: 'app.test', port: 80, scheme: 'http', type: 'A', refreshMs: 30000, holdMs: 300000 } as const;
const pool = (targets: string[], discover = true): PoolConfig =>
  ({ name: 'blue', version: '1', targets, healthCheck: HEALTH, slowStart: SLOW, ...(discover ? { discover: { ...DISCOVER } } : {}) });
const INFO: DiscoveryInfo = { dns: 'app.test', type: 'A', stale: false, lastError: null, resolvedAt: 1000, lastGoodAt: 1000, ttlMs: 5000 };
const dns = (...hosts: string[]) => hosts.map((host) => ({ url: `http://${host}:80`, weight: 100 }));

/** `checkAtOnce: false`: new targets stay pending their first check until the test passes it (`firstCheck`). */
function makeSet(targets: string[], { checkAtOnce = true } = {}) {
  const calls: string[] = [];
  const watched = new Set<Target>();
  const lifecycle: TargetLifecycle = {
    watch: (target) => {
      if (watched.has(target)) return;
      calls.push(`watch ${target.id}`);
      watched.add(target);
      // As the active checker: pending until its first check answers (a second watch changes nothing).
      target.setFlag(Flag.PENDING_FIRST_CHECK, !checkAtOnce);
    },
    unwatch: (target) => { if (watched.delete(target)) calls.push(`unwatch ${target.id}`); },
    forget: (target) => calls.push(`forget ${target.id}`),
    fence: (target) => calls.push(`fence ${target.id}`),
    unfence: (target) => calls.push(`unfence ${target.id}`),
  };
  const set = new TargetSet([pool(targets)], {
    clientOptions: { connectMs: 1000, headersMs: 1000, connections: 4 }, lifecycle, logger: createLogger('silent', new LogSink()),
  });
  return { set, calls, watched };
}

const ids = (set: TargetSet) => set.get('blue')!.targets.map((target) => `${target.id}${target.health.has(Flag.REMOVED) ? '(leaving)' : ''}`);

t.test('discovered addresses join as source dns, watched, with TTL and resolvedAt', async (t) => {
  const { set, calls } = makeSet(['http://10.0.0.9:80']);
  t.equal(set.discovery('blue'), undefined, 'no answer yet');
  const diff = set.applyDiscovered('blue', dns('10.0.0.1', '10.0.0.2'), INFO);
  t.same(diff.addedTargets.map((target) => target.id), ['10.0.0.1:80', '10.0.0.2:80']);
  t.same(ids(set), ['10.0.0.9:80', '10.0.0.1:80', '10.0.0.2:80']);
  const a = set.find('blue', '10.0.0.1:80')!;
  t.equal(a.source, 'dns');
  t.same(a.dns, { ttlMs: 5000, resolvedAt: 1000, stale: false });
  t.equal(set.find('blue', '10.0.0.9:80')!.dns, null);
  t.ok(calls.includes('watch 10.0.0.1:80'), 'health-checked before rotation');
  t.same(set.discovery('blue'), INFO);
});

t.test('an address that leaves drains, then is removed; one that comes back is revived', async (t) => {
  const { set, calls } = makeSet([]);
  set.applyDiscovered('blue', dns('10.0.0.1', '10.0.0.2'), INFO);
  const b = set.find('blue', '10.0.0.2:80')!;
  b.inflight = 1;
  calls.length = 0;
  const diff = set.applyDiscovered('blue', dns('10.0.0.1'), { ...INFO, resolvedAt: 2000, lastGoodAt: 2000 });
  t.same(diff.removedTargets.map((target) => target.id), ['10.0.0.2:80']);
  t.same(ids(set), ['10.0.0.1:80', '10.0.0.2:80(leaving)'], 'listed while it drains');
  t.equal(b.ready, false, 'no new requests');
  t.same(calls, ['unwatch 10.0.0.2:80', 'forget 10.0.0.2:80', 'fence 10.0.0.2:80']);
  t.same(set.find('blue', '10.0.0.1:80')!.dns, { ttlMs: 5000, resolvedAt: 2000, stale: false }, 'kept targets carry the newer answer');
  b.inflight = 0;
  b.settle();
  t.same(ids(set), ['10.0.0.1:80'], 'gone once drained');

  set.applyDiscovered('blue', dns('10.0.0.1', '10.0.0.3'), INFO);
  const c = set.find('blue', '10.0.0.3:80')!;
  c.inflight = 1;
  set.applyDiscovered('blue', dns('10.0.0.1'), INFO);
  t.ok(c.health.has(Flag.REMOVED));
  set.applyDiscovered('blue', dns('10.0.0.1', '10.0.0.3'), INFO);
  t.equal(set.find('blue', '10.0.0.3:80'), c, 'back before drained: the same target, revived');
  t.notOk(c.health.has(Flag.REMOVED));
});

t.test('a file target also discovered stays config; leaving DNS does not remove it', async (t) => {
  const { set } = makeSet(['http://10.0.0.1:80']);
  set.applyDiscovered('blue', dns('10.0.0.1', '10.0.0.2'), INFO);
  t.equal(set.find('blue', '10.0.0.1:80')!.source, 'config');
  set.applyDiscovered('blue', [], INFO);
  t.same(ids(set), ['10.0.0.1:80'], 'the dns-only one left (nothing in flight: at once)');
});

t.test('API overrides apply by id: state and weight; removed keeps it out', async (t) => {
  const { set } = makeSet([]);
  const state: TargetsState = { revision: 1, updatedAt: '', updatedBy: 'test',
    pools: { blue: { '10.0.0.1:80': { state: 'drain', weight: 7 }, '10.0.0.2:80': { removed: true } } } };
  set.applyOverrides(state);
  set.applyDiscovered('blue', [...dns('10.0.0.1', '10.0.0.2'), { url: 'http://10.0.0.3:80', weight: 300 }], INFO);
  const a = set.find('blue', '10.0.0.1:80')!;
  t.equal(a.adminState, 'drain');
  t.equal(a.weight, 7);
  t.equal(a.ready, false);
  t.equal(set.find('blue', '10.0.0.2:80'), undefined);
  t.equal(set.find('blue', '10.0.0.3:80')!.weight, 300, 'SRV weight when no override');
  set.applyOverrides({ ...state, revision: 2, pools: {} });
  t.equal(a.adminState, 'ready', 'overrides change, discovered set stays');
  t.same(ids(set), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
});

t.test('a pool that does not discover ignores answers; a reload dropping discover drains its dns targets', async (t) => {
  const { set } = makeSet(['http://10.0.0.9:80']);
  set.applyDiscovered('blue', dns('10.0.0.1'), INFO);
  set.reconcile([pool(['http://10.0.0.9:80'], false)]);
  t.same(ids(set), ['10.0.0.9:80']);
  t.equal(set.discovery('blue'), undefined);
  const diff = set.applyDiscovered('blue', dns('10.0.0.5'), INFO);
  t.same(diff.addedTargets, [], 'a late answer racing the reload is ignored');
  t.equal(set.find('blue', '10.0.0.5:80'), undefined);
  t.equal(set.applyDiscovered('nope', dns('10.0.0.5'), INFO).addedTargets.length, 0);
});

t.test('every address replaced at once: the old ones serve until a new one passed its first check (make before break)', async (t) => {
  const { set } = makeSet([], { checkAtOnce: false });
  set.applyDiscovered('blue', dns('10.0.0.1', '10.0.0.2'), INFO);
  const firstCheck = (target: Target, healthy: boolean) => {
    if (!healthy) target.setFlag(Flag.FAILED_ACTIVE_CHECK, true);
    target.setFlag(Flag.PENDING_FIRST_CHECK, false);
    set.healthChanged(target);
  };
  for (const target of set.get('blue')!.targets) firstCheck(target, true);
  t.equal(set.get('blue')!.readyTargets, 2);

  set.applyDiscovered('blue', dns('10.0.0.3', '10.0.0.4'), INFO);
  t.same(ids(set), ['10.0.0.3:80', '10.0.0.4:80', '10.0.0.1:80', '10.0.0.2:80'], 'old ones still listed, not leaving');
  t.equal(set.get('blue')!.readyTargets, 2, 'the pool never has no ready target');
  const [c, d] = [set.find('blue', '10.0.0.3:80')!, set.find('blue', '10.0.0.4:80')!];
  firstCheck(c, false);
  t.equal(set.get('blue')!.readyTargets, 2, 'a new one failing its first check changes nothing while another is pending');
  firstCheck(d, true);
  t.same(ids(set), ['10.0.0.3:80', '10.0.0.4:80'], 'once one is ready the old ones leave (idle: at once)');
  t.same(set.get('blue')!.targets.filter((target) => target.ready).map((target) => target.id), ['10.0.0.4:80']);

  // A held old target that DNS names again simply stays.
  set.applyDiscovered('blue', dns('10.0.0.5'), INFO);
  t.ok(set.find('blue', '10.0.0.4:80')!.ready, 'kept while 10.0.0.5 is pending');
  set.applyDiscovered('blue', dns('10.0.0.4', '10.0.0.5'), INFO);
  t.notOk(set.find('blue', '10.0.0.4:80')!.health.has(Flag.REMOVED));
  t.same(ids(set), ['10.0.0.4:80', '10.0.0.5:80']);

  // Every new one failing its checks: the old one keeps serving until a new one is healthy.
  set.applyDiscovered('blue', dns('10.0.0.6'), INFO);
  const f = set.find('blue', '10.0.0.6:80')!;
  firstCheck(f, false);
  t.ok(set.find('blue', '10.0.0.4:80')!.ready, 'still serving while the new one is unhealthy');
  f.setFlag(Flag.FAILED_ACTIVE_CHECK, false);
  set.healthChanged(f);
  t.same(ids(set), ['10.0.0.6:80'], 'gone once the new one recovers');

  // Nothing wanted (an empty answer honoured after holdMs): no hand-over, they leave.
  set.applyDiscovered('blue', dns('10.0.0.7'), INFO);
  t.ok(set.find('blue', '10.0.0.6:80')!.ready);
  set.applyDiscovered('blue', [], INFO);
  t.same(ids(set), [], 'an empty set empties the pool');
});

t.test('a pool switched to discovery by a reload keeps its file targets until the first answer brings a ready one', async (t) => {
  const { set } = makeSet([], { checkAtOnce: false });
  const file = { ...pool(['http://10.0.0.1:80']) };
  delete (file as { discover?: unknown }).discover;
  set.reconcile([file]);
  const old = set.find('blue', '10.0.0.1:80')!;
  old.setFlag(Flag.PENDING_FIRST_CHECK, false);
  const diff = set.reconcile([pool([])]);
  t.same(diff.removedTargets.map((target) => target.id), ['10.0.0.1:80'], 'reported removed');
  t.ok(old.ready, 'but serving: no DNS answer yet');
  set.applyDiscovered('blue', dns('10.0.0.2'), INFO);
  t.ok(old.ready, 'the answer\'s target is still pending');
  const fresh = set.find('blue', '10.0.0.2:80')!;
  fresh.setFlag(Flag.PENDING_FIRST_CHECK, false);
  set.healthChanged(fresh);
  t.same(ids(set), ['10.0.0.2:80']);
});
