import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { TargetPicker } from '../../src/pool/picker.js';
import { Target } from '../../src/pool/target.js';
import type { UpstreamClient } from '../../src/proxy/upstream-client.js';

// Pure: the picker only reads `ready` and `inflight`, so targets need no real client.
const makeTargets = (...names: string[]) =>
  names.map((name) => new Target(`http://${name}`, 'pool', () => ({}) as UpstreamClient));

const names = (targets: Array<Target | undefined>) => targets.map((target) => target?.url.slice(7));

t.test('equal targets share load round robin', async (t) => {
  const targets = makeTargets('a', 'b', 'c');
  const picker = new TargetPicker();
  t.same(names(Array.from({ length: 7 }, () => picker.pick(targets))), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

t.test('the one with the fewest in flight wins', async (t) => {
  const [a, b, c] = makeTargets('a', 'b', 'c') as [Target, Target, Target];
  a.inflight = 3;
  b.inflight = 1;
  c.inflight = 2;
  const picker = new TargetPicker();
  t.equal(picker.pick([a, b, c]), b);
  t.equal(picker.pick([a, b, c]), b, 'still least loaded');
  b.inflight = 5;
  t.equal(picker.pick([a, b, c]), c);
});

t.test('ties among the least loaded rotate', async (t) => {
  const [a, b, c] = makeTargets('a', 'b', 'c') as [Target, Target, Target];
  a.inflight = 1;
  const picker = new TargetPicker();
  t.same(names([picker.pick([a, b, c]), picker.pick([a, b, c]), picker.pick([a, b, c]), picker.pick([a, b, c])]), ['b', 'c', 'b', 'c']);
});

t.test('simulated load: begin/end keeps targets balanced', async (t) => {
  const targets = makeTargets('a', 'b', 'c');
  const picker = new TargetPicker();
  for (let i = 0; i < 9; i++) picker.pick(targets)!.inflight++;
  t.same(targets.map((target) => target.inflight), [3, 3, 3]);
});

t.test('unready targets are skipped', async (t) => {
  const [a, b, c] = makeTargets('a', 'b', 'c') as [Target, Target, Target];
  b.health.set(Flag.FAILED_ACTIVE_CHECK, true);
  c.health.set(Flag.EJECTED, true);
  const picker = new TargetPicker();
  for (let i = 0; i < 5; i++) t.equal(picker.pick([a, b, c]), a);
  a.health.set(Flag.PENDING_FIRST_CHECK, true);
  t.equal(picker.pick([a, b, c]), undefined, 'none ready → undefined');
  c.health.set(Flag.EJECTED, false);
  t.equal(picker.pick([a, b, c]), c);
});

t.test('exclude skips targets already tried', async (t) => {
  const [a, b, c] = makeTargets('a', 'b', 'c') as [Target, Target, Target];
  const picker = new TargetPicker();
  t.equal(picker.pick([a, b, c], [a]), b);
  t.equal(picker.pick([a, b, c], [b, c]), a);
  t.equal(picker.pick([a, b, c], [a, b, c]), undefined);
});

t.test('empty target list', async (t) => {
  t.equal(new TargetPicker().pick([]), undefined);
});
