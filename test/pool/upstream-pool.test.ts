import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { Target } from '../../src/pool/target.js';
import { UpstreamPool } from '../../src/pool/upstream-pool.js';
import type { UpstreamClient } from '../../src/proxy/upstream-client.js';

const makePool = (...urls: string[]) =>
  new UpstreamPool('blue', '1.0.0', urls.map((url) => new Target(url, 'blue', () => ({}) as UpstreamClient)));

t.test('phases: standby → serving → draining → drained', async (t) => {
  const pool = makePool('http://a', 'http://b');
  t.equal(pool.phase, 'standby');
  pool.setWeight(100);
  t.equal(pool.phase, 'serving');
  const target = pool.pick()!;
  pool.begin(target);
  t.equal(pool.inflight, 1);
  t.equal(target.inflight, 1);

  let drained = 0;
  pool.on('drained', () => drained++);
  const at = new Date('2024-01-01T00:00:00Z');
  pool.setWeight(0, at);
  t.equal(pool.phase, 'draining');
  t.same(pool.drainingSince, at);
  t.equal(pool.drainedAt, null);
  t.equal(drained, 0);

  pool.setWeight(0);
  t.equal(pool.phase, 'draining', 'another 0 does not restart the drain');
  t.same(pool.drainingSince, at);

  pool.end(target);
  t.equal(pool.inflight, 0);
  t.equal(pool.phase, 'drained');
  t.type(pool.drainedAt, Date);
  t.equal(drained, 1);

  pool.setWeight(50);
  t.equal(pool.phase, 'serving');
  t.equal(pool.drainingSince, null);
  t.equal(pool.drainedAt, null);
});

t.test('a pool with nothing in flight drains at once', async (t) => {
  const pool = makePool('http://a');
  pool.setWeight(10);
  const at = new Date('2024-02-02T00:00:00Z');
  pool.setWeight(0, at);
  t.equal(pool.phase, 'drained');
  t.same(pool.drainedAt, at);
});

t.test('long-lived connections hold the drain', async (t) => {
  const pool = makePool('http://a');
  pool.setWeight(100);
  pool.longLived = 1;
  pool.setWeight(0);
  t.equal(pool.phase, 'draining');
});

t.test('readyTargets counts ready targets', async (t) => {
  const pool = makePool('http://a', 'http://b');
  t.equal(pool.readyTargets, 2);
  pool.targets[0]!.health.set(Flag.EJECTED, true);
  t.equal(pool.readyTargets, 1);
  t.equal(pool.pick(), pool.targets[1]);
});
