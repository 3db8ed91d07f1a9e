// The target set reconciles the file and the API's overrides into the live set, and applies
// admin states (SPEC §11). Driven without sockets: a recording lifecycle stands in for the
// health checker, ejector and drain controller; connection pools are never opened.
import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { TargetSet, type TargetLifecycle } from '../../src/pool/target-set.js';
import type { Target } from '../../src/pool/target.js';
import type { PoolConfig } from '../../src/config/schema.js';
import type { TargetsState } from '../../src/pool/target-admin.js';
import { createLogger } from '../../src/observe/logger.js';
import { LogSink } from '../helpers/log-sink.js';

const HEALTH = { path: '/healthz', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1, expectStatus: '200-399' };
const SLOW = { windowMs: 0, aggression: 1, minWeightPercent: 10 };
const pool = (targets: string[]): PoolConfig => ({ name: 'blue', version: '1', targets, healthCheck: HEALTH, slowStart: SLOW });
const doc = (revision: number, blue: TargetsState['pools'][string]): TargetsState =>
  ({ revision, pools: { blue }, updatedAt: new Date().toISOString(), updatedBy: 'test' });

function recording() {
  const calls: string[] = [];
  const watched = new Set<Target>();
  const lifecycle: TargetLifecycle = {
    watch: (target) => {
      if (!watched.has(target)) calls.push(`watch ${target.id}`);
      watched.add(target);
      target.setFlag(Flag.PENDING_FIRST_CHECK, false); // as if its first check passed
    },
    unwatch: (target) => {
      if (watched.delete(target)) calls.push(`unwatch ${target.id}`);
    },
    forget: (target) => calls.push(`forget ${target.id}`),
    fence: (target) => calls.push(`fence ${target.id}`),
    unfence: (target) => calls.push(`unfence ${target.id}`),
  };
  return { calls, watched, lifecycle };
}

function makeSet(targets: string[]) {
  const rec = recording();
  const set = new TargetSet([pool(targets)], {
    clientOptions: { connectMs: 1000, headersMs: 1000, connections: 4 }, lifecycle: rec.lifecycle, logger: createLogger('silent', new LogSink()),
  });
  // Connection pools are never opened in these tests.
  for (const target of set.targets()) Object.assign(target, { closeConnections: async () => undefined });
  return { set, ...rec };
}

const ids = (set: TargetSet) => set.get('blue')!.targets.map((target) => `${target.id}${target.health.has(Flag.REMOVED) ? '(leaving)' : ''}`);

t.test('the file and the overrides make the live set; API targets carry source api', async (t) => {
  const { set } = makeSet(['http://a:1', 'http://b:2']);
  t.same(ids(set), ['a:1', 'b:2']);
  set.applyOverrides(doc(1, { 'c:3': { url: 'http://c:3', weight: 7 }, 'b:2': { state: 'maint' } }));
  t.same(ids(set), ['a:1', 'b:2', 'c:3']);
  const [a, b, c] = set.get('blue')!.targets as [Target, Target, Target];
  t.equal(a.source, 'config');
  t.equal(c.source, 'api');
  t.equal(c.weight, 7);
  t.equal(b.adminState, 'maint');
  t.equal(b.ready, false);
});

t.test('drain fences and keeps checks; maint stops checks; ready brings back', async (t) => {
  const { set, calls, watched } = makeSet(['http://a:1', 'http://b:2']);
  const b = set.find('blue', 'b:2')!;
  b.inflight = 2;
  calls.length = 0;
  set.applyOverrides(doc(1, { 'b:2': { state: 'drain' } }));
  t.equal(b.ready, false);
  t.ok(watched.has(b), 'drain: still checked');
  t.same(calls, ['fence b:2'], 'work in flight: a cut is scheduled');
  t.equal(b.drainedAt, null);
  b.inflight = 0;
  b.settle();
  t.not(b.drainedAt, null, 'drained when the last request ends');
  t.same(calls, ['fence b:2', 'unfence b:2']);

  set.applyOverrides(doc(2, { 'b:2': { state: 'maint' } }));
  t.notOk(watched.has(b), 'maint: checks stop');
  set.applyOverrides(doc(3, {}));
  t.ok(watched.has(b), 'ready from maint: checked again');
  t.equal(b.ready, true);
  t.equal(b.drainedAt, null);
});

t.test('a removed target drains, then leaves; re-adding before that revives it', async (t) => {
  const { set, calls } = makeSet(['http://a:1', 'http://b:2']);
  const b = set.find('blue', 'b:2')!;
  b.inflight = 1;
  const diff = set.applyOverrides(doc(1, { 'b:2': { removed: true } }));
  t.same(diff.removedTargets.map((target) => target.id), ['b:2']);
  t.same(ids(set), ['a:1', 'b:2(leaving)'], 'listed while draining');
  t.ok(calls.includes('forget b:2') && calls.includes('unwatch b:2'));
  set.applyOverrides(doc(2, {}));
  t.same(ids(set), ['a:1', 'b:2'], 'revived: same object, same connections');
  t.equal(set.find('blue', 'b:2'), b);
  set.applyOverrides(doc(3, { 'b:2': { removed: true } }));
  b.inflight = 0;
  b.settle();
  t.same(ids(set), ['a:1'], 'drained: gone');
});

t.test('a reload keeps API changes; a file target the API put in maint may leave the file', async (t) => {
  const { set } = makeSet(['http://a:1', 'http://b:2']);
  set.applyOverrides(doc(1, { 'b:2': { state: 'maint' }, 'c:3': { url: 'http://c:3' } }));
  set.reconcile([pool(['http://a:1', 'http://b:2', 'http://d:4'])]);
  t.same(ids(set), ['a:1', 'b:2', 'd:4', 'c:3']);
  t.equal(set.find('blue', 'b:2')!.adminState, 'maint', 'the API state survives the reload');
  set.reconcile([pool(['http://a:1'])]);
  t.same(ids(set), ['a:1', 'c:3'], 'b and d left the file: gone (nothing in flight)');
});

t.test('same host:port with another scheme is another upstream', async (t) => {
  const { set } = makeSet(['http://a:1']);
  const before = set.find('blue', 'a:1')!;
  set.reconcile([pool(['https://a:1'])]);
  const after = set.find('blue', 'a:1')!;
  t.not(after, before);
  t.equal(after.url, 'https://a:1');
});
