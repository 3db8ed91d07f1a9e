// Weighted picking (SPEC §11): smooth weighted round robin when weights differ, with the
// in-flight bias, and slow start's ramp. Pure: targets need no real client.
import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { TargetPicker } from '../../src/pool/picker.js';
import { Target } from '../../src/pool/target.js';
import { slowStartFactor } from '../../src/pool/slow-start.js';
import type { UpstreamClient } from '../../src/proxy/upstream-client.js';

const makeTargets = (...names: string[]) =>
  names.map((name) => new Target(`http://${name}:80`, 'pool', () => ({}) as UpstreamClient));

function shares(picker: TargetPicker, targets: Target[], picks: number): number[] {
  const counts = new Map(targets.map((target) => [target, 0]));
  for (let i = 0; i < picks; i++) {
    const chosen = picker.pick(targets)!;
    counts.set(chosen, counts.get(chosen)! + 1);
  }
  return targets.map((target) => counts.get(target)!);
}

t.test('weights 1:2:3 split exactly every 6 picks, turns spread out', async (t) => {
  const targets = makeTargets('a', 'b', 'c');
  targets.forEach((target, index) => { target.weight = index + 1; });
  const picker = new TargetPicker();
  t.same(shares(picker, targets, 600), [100, 200, 300]);
  // Smooth: within any 6 picks, c never gets more than 2 in a row.
  const order = Array.from({ length: 12 }, () => picker.pick(targets)!.id[0]).join('');
  t.notMatch(order, /ccc/, `spread: ${order}`);
});

t.test('weights 1000:1 and exclusions', async (t) => {
  const [a, b] = makeTargets('a', 'b') as [Target, Target];
  a.weight = 1000;
  b.weight = 1;
  const picker = new TargetPicker();
  t.same(shares(picker, [a, b], 1001), [1000, 1]);
  t.equal(picker.pick([a, b], [a]), b, 'a retry goes elsewhere');
  a.setFlag(Flag.EJECTED, true);
  t.equal(picker.pick([a, b]), b, 'not-ready targets are skipped');
  b.setFlag(Flag.ADMIN_FENCED, true);
  t.equal(picker.pick([a, b]), undefined, 'nothing ready: no target');
});

t.test('in flight does not bend a weighted split (SPEC §11: in proportion)', async (t) => {
  const [a, b] = makeTargets('a', 'b') as [Target, Target];
  a.weight = 200;
  b.weight = 100;
  a.inflight = 9;
  const picker = new TargetPicker();
  t.same(shares(picker, [a, b], 120), [80, 40]);
});

t.test('slow start factor: SPEC §11 formula', async (t) => {
  const config = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };
  t.equal(slowStartFactor(config, 0), 0.1, 'floor at minWeightPercent');
  t.equal(slowStartFactor(config, 500), 0.1);
  t.equal(slowStartFactor(config, 5000), 0.5, 'linear with aggression 1');
  t.equal(slowStartFactor(config, 10_000), 1, 'window over');
  t.equal(slowStartFactor({ ...config, aggression: 2 }, 2500), 0.5, 'aggression 2: square root');
  t.equal(slowStartFactor({ ...config, windowMs: 0 }, 0), 1, 'off');
  t.equal(slowStartFactor({ ...config, minWeightPercent: 0 }, 0), 0);
});

t.test('a target re-entering rotation slow-starts; a first-config one does not', async (t) => {
  const open = () => ({}) as UpstreamClient;
  const config = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };
  const initial = new Target('http://a:80', 'pool', open, { initial: true });
  initial.slowStart = config;
  initial.setFlag(Flag.PENDING_FIRST_CHECK, true, 1000);
  initial.setFlag(Flag.PENDING_FIRST_CHECK, false, 1000);
  t.equal(initial.effectiveWeight(1000), 100, 'first ready of a first-config target: full weight');
  initial.setFlag(Flag.EJECTED, true, 2000);
  t.equal(initial.effectiveWeight(2500), 0, 'out of rotation: no weight');
  initial.setFlag(Flag.EJECTED, false, 3000);
  t.equal(initial.effectiveWeight(3000), 10, 'back from ejection: minWeightPercent');
  t.equal(initial.effectiveWeight(8000), 50, 'half the window: half the weight');
  t.equal(initial.effectiveWeight(13_000), 100, 'window over');
  t.equal(initial.enteredAt, 0, 'no more clock reads');

  const added = new Target('http://b:80', 'pool', open);
  added.slowStart = config;
  added.weight = 300;
  added.setFlag(Flag.PENDING_FIRST_CHECK, true, 1000);
  added.setFlag(Flag.PENDING_FIRST_CHECK, false, 1000);
  t.equal(added.effectiveWeight(3000), 60, 'a target added at run time slow-starts from its first ready');
});

t.test('picking follows slow start: the newcomer gets about its factor', async (t) => {
  const config = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };
  const [a, b] = makeTargets('a', 'b') as [Target, Target];
  b.slowStart = config;
  b.setFlag(Flag.ADMIN_FENCED, true);
  b.setFlag(Flag.ADMIN_FENCED, false); // entered rotation just now
  const picker = new TargetPicker();
  const [ofA, ofB] = shares(picker, [a, b], 1100);
  // b at factor 0.1: 10/(100+10) of the picks.
  t.ok(Math.abs(ofB! - 100) <= 2, `b got ${ofB} of 1100 (a ${ofA})`);
});
