import t, { type Test } from 'tap';
import { SwitchyardError } from '../../src/errors.js';
import {
  flip, initialState, poolRole, poolsGainingWeight, rollback, sameWeights, setWeights, type RoutingState,
} from '../../src/routing/state.js';

const pools = ['blue', 'green'];
const at = (iso: string) => ({ actor: 'tester', now: new Date(iso) });
const start = () => initialState({ blue: 100 }, pools, at('2024-01-01T00:00:00.000Z'));

function throwsCode(t: Test, fn: () => unknown, code: string): void {
  try {
    fn();
    t.fail(`expected ${code}`);
  } catch (err) {
    t.type(err, SwitchyardError);
    t.equal((err as SwitchyardError).code, code);
  }
}

t.test('initialState', async (t) => {
  const state = start();
  t.same(state, {
    revision: 1,
    weights: { blue: 100, green: 0 },
    previous: null,
    updatedAt: '2024-01-01T00:00:00.000Z',
    updatedBy: 'tester',
  });
  t.notOk('reason' in state, 'no reason key unless given');
  const withReason = initialState({ blue: 100 }, pools, { actor: 'x', reason: 'why' });
  t.equal(withReason.reason, 'why');
});

t.test('flip', async (t) => {
  const s1 = start();
  const s2 = flip(s1, 'green', pools, { ...at('2024-01-01T00:01:00.000Z'), reason: 'release' });
  t.equal(s2.revision, 2);
  t.same(s2.weights, { blue: 0, green: 100 });
  t.same(s2.previous, { revision: 1, weights: { blue: 100, green: 0 } });
  t.equal(s2.updatedAt, '2024-01-01T00:01:00.000Z');
  t.equal(s2.updatedBy, 'tester');
  t.equal(s2.reason, 'release');
  t.same(s1.weights, { blue: 100, green: 0 }, 'input not mutated');
  t.equal(s1.revision, 1);
  throwsCode(t, () => flip(s1, 'purple', pools, at('2024-01-01T00:00:00Z')), 'UNKNOWN_POOL');
  throwsCode(t, () => flip(s1, '', pools, at('2024-01-01T00:00:00Z')), 'UNKNOWN_POOL');
});

t.test('setWeights', async (t) => {
  const s1 = start();
  const s2 = setWeights(s1, { blue: 90, green: 10 }, pools, at('2024-01-01T00:02:00.000Z'));
  t.equal(s2.revision, 2);
  t.same(s2.weights, { blue: 90, green: 10 });
  t.same(s2.previous, { revision: 1, weights: { blue: 100, green: 0 } });
  const s3 = setWeights(s2, { green: 100 }, pools, at('2024-01-01T00:03:00.000Z'));
  t.same(s3.weights, { blue: 0, green: 100 }, 'missing pools become 0');
  t.equal(s3.revision, 3);
  t.same(s3.previous, { revision: 2, weights: { blue: 90, green: 10 } });

  throwsCode(t, () => setWeights(s1, { blue: 90, green: 9 }, pools, at('2024-01-01T00:00:00Z')), 'INVALID_WEIGHTS');
  throwsCode(t, () => setWeights(s1, { blue: 90.5, green: 9.5 }, pools, at('2024-01-01T00:00:00Z')), 'INVALID_WEIGHTS');
  throwsCode(t, () => setWeights(s1, { blue: 110, green: -10 }, pools, at('2024-01-01T00:00:00Z')), 'INVALID_WEIGHTS');
  throwsCode(t, () => setWeights(s1, { blue: '90', green: 10 } as never, pools, at('2024-01-01T00:00:00Z')), 'INVALID_WEIGHTS');
  throwsCode(t, () => setWeights(s1, { blue: 90, purple: 10 }, pools, at('2024-01-01T00:00:00Z')), 'UNKNOWN_POOL');
});

t.test('rollback', async (t) => {
  const s1 = start();
  throwsCode(t, () => rollback(s1, pools, at('2024-01-01T00:00:00Z')), 'NO_PREVIOUS');

  const s2 = setWeights(s1, { blue: 75, green: 25 }, pools, at('2024-01-01T00:01:00.000Z'));
  const s3 = rollback(s2, pools, at('2024-01-01T00:02:00.000Z'));
  t.equal(s3.revision, 3, 'rollback is a new revision');
  t.same(s3.weights, { blue: 100, green: 0 });
  t.same(s3.previous, { revision: 2, weights: { blue: 75, green: 25 } }, 'previous holds what was rolled back from');
  t.equal(s3.updatedAt, '2024-01-01T00:02:00.000Z');

  const s4 = rollback(s3, pools, at('2024-01-01T00:03:00.000Z'));
  t.equal(s4.revision, 4);
  t.same(s4.weights, { blue: 75, green: 25 }, 'rolling back a rollback redoes the change');
  t.same(s4.previous, { revision: 3, weights: { blue: 100, green: 0 } });
});

t.test('rollback completes weights for pools added since', async (t) => {
  const s1 = start();
  const s2 = flip(s1, 'green', pools, at('2024-01-01T00:01:00Z'));
  const s3 = rollback(s2, ['blue', 'green', 'canary'], at('2024-01-01T00:02:00Z'));
  t.same(s3.weights, { blue: 100, green: 0, canary: 0 });
});

t.test('revision increments on every change', async (t) => {
  let state: RoutingState = start();
  const ctx = at('2024-01-01T00:00:00Z');
  state = flip(state, 'green', pools, ctx);
  state = setWeights(state, { blue: 50, green: 50 }, pools, ctx);
  state = rollback(state, pools, ctx);
  state = flip(state, 'blue', pools, ctx);
  t.equal(state.revision, 5);
  t.same(state.previous, { revision: 4, weights: { blue: 0, green: 100 } });
});

t.test('poolsGainingWeight', async (t) => {
  t.same(poolsGainingWeight({ blue: 100, green: 0 }, { blue: 0, green: 100 }), ['green']);
  t.same(poolsGainingWeight({ blue: 90, green: 10 }, { blue: 80, green: 20 }), ['green']);
  t.same(poolsGainingWeight({ blue: 80, green: 20 }, { blue: 90, green: 10 }), ['blue']);
  t.same(poolsGainingWeight({ blue: 100, green: 0 }, { blue: 100, green: 0 }), []);
  t.same(poolsGainingWeight({ blue: 100 }, { blue: 50, green: 50 }), ['green'], 'missing in from counts as 0');
  t.same(poolsGainingWeight({ a: 100, b: 0, c: 0 }, { a: 0, b: 50, c: 50 }), ['b', 'c']);
});

t.test('sameWeights and poolRole', async (t) => {
  t.ok(sameWeights({ blue: 100, green: 0 }, { blue: 100 }));
  t.notOk(sameWeights({ blue: 100, green: 0 }, { green: 100 }));
  t.equal(poolRole(100), 'active');
  t.equal(poolRole(0), 'standby');
  t.equal(poolRole(1), 'split');
  t.equal(poolRole(99), 'split');
});
