import t from 'tap';
import { completeWeights, weightProblem } from '../../src/routing/weights.js';

const pools = ['blue', 'green'];

t.test('valid weights have no problem', async (t) => {
  t.equal(weightProblem({ blue: 90, green: 10 }, pools), null);
  t.equal(weightProblem({ blue: 100 }, pools), null, 'pools left out count as 0');
  t.equal(weightProblem({ blue: 0, green: 100 }, pools), null);
  t.equal(weightProblem({ a: 50, b: 30, c: 20 }, ['a', 'b', 'c']), null);
});

t.test('unknown pool', async (t) => {
  const problem = weightProblem({ blue: 90, purple: 10 }, pools);
  t.match(problem, { kind: 'unknown-pool', key: 'purple' });
  t.match(problem?.message, /purple/);
});

t.test('invalid values', async (t) => {
  for (const [label, weights, key] of [
    ['string', { blue: '90', green: 10 }, 'blue'],
    ['non-integer', { blue: 89.5, green: 10.5 }, 'blue'],
    ['negative', { blue: 110, green: -10 }, 'blue'],
    ['negative second', { blue: 100, green: -0.5 }, 'green'],
    ['over 100', { blue: 101 }, 'blue'],
    ['null', { blue: null, green: 100 }, 'blue'],
    ['NaN', { blue: Number.NaN, green: 100 }, 'blue'],
    ['boolean', { blue: true, green: 99 }, 'blue'],
  ] as const) {
    const problem = weightProblem(weights as Record<string, unknown>, pools);
    t.match(problem, { kind: 'invalid', key }, label);
  }
});

t.test('sum must be 100', async (t) => {
  t.match(weightProblem({ blue: 90, green: 9 }, pools), { kind: 'invalid', message: /sum to 100 \(got 99\)/ });
  t.match(weightProblem({ blue: 90, green: 20 }, pools), { kind: 'invalid', message: /got 110/ });
  t.match(weightProblem({}, pools), { kind: 'invalid', message: /got 0/ });
  t.equal(weightProblem({ blue: 0, green: 0 }, pools)?.kind, 'invalid');
});

t.test('completeWeights fills every pool, drops nothing known, ignores unknown', async (t) => {
  t.same(completeWeights({ green: 100 }, pools), { blue: 0, green: 100 });
  t.same(completeWeights({ blue: 60, green: 40 }, pools), { blue: 60, green: 40 });
  t.same(completeWeights({ blue: 100, old: 0 }, pools), { blue: 100, green: 0 });
  t.same(Object.keys(completeWeights({ green: 1, blue: 99 }, pools)), ['blue', 'green'], 'pool order');
});
