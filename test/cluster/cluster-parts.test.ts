// The pure parts of the primary/worker split (SPEC §15): load sums, the flag map, passive
// evidence batching, and which runtimes get SO_REUSEPORT.
import t from 'tap';
import { sumLoads } from '../../src/cluster/load-sum.js';
import { primaryFlags } from '../../src/cluster/flag-map.js';
import { OutcomeLog, replay } from '../../src/cluster/outcomes.js';
import { hasReusePort } from '../../src/cluster/primary.js';
import type { PoolLoad } from '../../src/cluster/messages.js';
import { Flag } from '../../src/pool/health-flags.js';
import { Target } from '../../src/pool/target.js';
import { UpstreamPool } from '../../src/pool/upstream-pool.js';
import type { TargetClient } from '../../src/proxy/upstream-client.js';
import { PassiveEjector } from '../../src/health/passive-ejector.js';

const client = () => ({ closed: false, close: async () => undefined, destroy: async () => undefined }) as unknown as TargetClient;

function pool(name: string, ...ids: string[]): UpstreamPool {
  return new UpstreamPool(name, '1', ids.map((id) => new Target(`http://${id}`, name, client)));
}

function load(inflight: number, drainedAt: number | null, targets: Record<string, { inflight: number; drainedAt: number | null }> = {}): PoolLoad {
  return { inflight, previewInflight: 0, longLived: 0, drainedAt, targets };
}

t.test('in-flight counts are the workers\' sums, per pool and per target', async (t) => {
  const blue = pool('blue', 'a:1', 'b:1');
  blue.setWeight(100);
  sumLoads([blue], [
    { blue: load(3, null, { 'a:1': { inflight: 2, drainedAt: null }, 'b:1': { inflight: 1, drainedAt: null } }) },
    { blue: { ...load(4, null, { 'a:1': { inflight: 4, drainedAt: null } }), previewInflight: 1, longLived: 2 } },
  ]);
  t.equal(blue.inflight, 7);
  t.equal(blue.previewInflight, 1);
  t.equal(blue.longLived, 2);
  t.equal(blue.targets[0]!.inflight, 6);
  t.equal(blue.targets[1]!.inflight, 1, 'a worker that does not know a target adds nothing');
  t.equal(blue.drainedAt, null, 'serving: never drained');
});

t.test('a draining pool is drained when it is on every worker, at the latest worker\'s time', async (t) => {
  const blue = pool('blue', 'a:1');
  blue.setWeight(100);
  blue.inflight = 1; // the last sum, before the flip
  blue.setWeight(0);
  t.equal(blue.phase, 'draining');
  sumLoads([blue], [{ blue: load(0, 1000) }, { blue: load(2, null) }]);
  t.equal(blue.phase, 'draining', 'one worker still has requests');
  t.equal(blue.inflight, 2);
  sumLoads([blue], [{ blue: load(0, 1000) }, { blue: load(0, 3000) }]);
  t.equal(blue.phase, 'drained');
  t.equal(blue.drainedAt?.getTime(), 3000);
  sumLoads([blue], [{ blue: load(0, 1000) }, {}]);
  t.equal(blue.phase, 'draining', 'a worker that has not reported the pool yet holds the drain');
});

t.test('a fenced target is drained when every worker that has it says so: settled once; a serving one never is', async (t) => {
  const blue = pool('blue', 'a:1', 'b:1');
  const [a, b] = blue.targets as [Target, Target];
  const settled: string[] = [];
  a.onDrained = (target) => settled.push(target.id);
  a.setFlag(Flag.ADMIN_FENCED, true);
  const targets = (at: number | null, inflight = 0) => ({ 'a:1': { inflight, drainedAt: at }, 'b:1': { inflight: 0, drainedAt: 5 } });
  sumLoads([blue], [{ blue: load(0, null, targets(10)) }, { blue: load(1, null, targets(null, 1)) }]);
  t.equal(a.drainedAt, null, 'one worker still has a request on it');
  t.equal(a.inflight, 1);
  t.strictSame(settled, []);
  sumLoads([blue], [{ blue: load(0, null, targets(10)) }, { blue: load(0, null, { 'b:1': { inflight: 0, drainedAt: null } }) }]);
  t.not(a.drainedAt, null, 'drained: on one worker, and the other let it go (a worker drops a removed target once drained)');
  t.strictSame(settled, ['a:1'], 'the target set was told (a removed target leaves its pool then)');
  sumLoads([blue], [{ blue: load(0, null, targets(10)) }, { blue: load(0, null, targets(20)) }]);
  t.strictSame(settled, ['a:1'], 'once');
  t.equal(b.drainedAt, null, 'not fenced here: a worker\'s stale drainedAt is not taken');
});

t.test('the flag map carries only the flags the primary owns', async (t) => {
  const blue = pool('blue', 'a:1', 'b:1', 'c:1');
  const [a, b, c] = blue.targets as [Target, Target, Target];
  a.setFlag(Flag.PENDING_FIRST_CHECK, true);
  b.setFlag(Flag.FAILED_ACTIVE_CHECK, true);
  b.setFlag(Flag.EJECTED, true);
  c.setFlag(Flag.ADMIN_FENCED, true); // the target set's, applied by each worker itself
  c.setFlag(Flag.REMOVED, true);
  t.strictSame(primaryFlags([blue]), { blue: { 'a:1': Flag.PENDING_FIRST_CHECK, 'b:1': Flag.FAILED_ACTIVE_CHECK | Flag.EJECTED, 'c:1': 0 } });
});

t.test('passive evidence batched per target replays to the same ejection verdict', async (t) => {
  const target = { pool: 'blue', id: 'a:1' };
  const log = new OutcomeLog();
  for (const ok of [false, false, true, false, true, false, false]) log.record(target, ok);
  t.strictSame(log.take(), [{ pool: 'blue', id: 'a:1', leading: 2, ok: true, trailing: 2 }]);
  t.strictSame(log.take(), [], 'taken: the log starts over');
  log.record(target, false);
  t.strictSame(log.take(), [{ pool: 'blue', id: 'a:1', leading: 1, ok: false, trailing: 0 }]);

  // Failures across batches (and across a success) count as the ejector would count them one by one.
  const cases: boolean[][][] = [
    [[false, false], [false, false, false]], // 5 in a row over two batches: ejected
    [[false, false, true], [false, false, false, false]], // 4 after the success: not
    [[false, false, false, false], [false, true, false]], // the 5th failure comes before the success: ejected
    [[true, false, false], [false, false], [false]], // 5 after the success, three batches: ejected
  ];
  for (const batches of cases) {
    const direct = verdict((observe) => batches.flat().forEach(observe));
    const batched = verdict((observe) => {
      for (const batch of batches) {
        const perBatch = new OutcomeLog();
        for (const ok of batch) perBatch.record(target, ok);
        for (const outcome of perBatch.take()) replay(outcome, observe);
      }
    });
    t.equal(batched, direct, `${JSON.stringify(batches)} → ${direct ? 'ejected' : 'kept'}`);
  }
  t.ok(verdict((observe) => [false, false, false, false, false].forEach(observe)), 'five failures eject (the verdict can be true)');
});

/** Whether a PassiveEjector (5 consecutive failures) ejects the one non-last target after `feed`. */
function verdict(feed: (observe: (ok: boolean) => void) => void): boolean {
  const blue = pool('blue', 'a:1', 'b:1');
  const ejector = new PassiveEjector({ consecutiveFailures: 5, ejectMs: 60_000 }, () => blue.targets, () => undefined);
  feed((ok) => ejector.observe(blue.targets[0]!, ok));
  const ejected = blue.targets[0]!.health.has(Flag.EJECTED);
  ejector.stop();
  return ejected;
}

t.test('SO_REUSEPORT from Node 22.12 and 23.1 (Node 20 ignores the option silently)', async (t) => {
  t.notOk(hasReusePort('20.18.1'));
  t.notOk(hasReusePort('20.20.2'));
  t.notOk(hasReusePort('22.11.0'));
  t.ok(hasReusePort('22.12.0'));
  t.notOk(hasReusePort('23.0.0'));
  t.ok(hasReusePort('23.1.0'));
  t.ok(hasReusePort('24.21.0'));
  t.ok(hasReusePort('25.0.0'));
});
