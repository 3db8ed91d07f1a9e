import t from 'tap';
import { WeightedChoice } from '../../src/routing/weighted-choice.js';

function count<T>(choice: WeightedChoice<T>, picks: number): Map<T | undefined, number> {
  const counts = new Map<T | undefined, number>();
  for (let i = 0; i < picks; i++) {
    const item = choice.pick();
    counts.set(item, (counts.get(item) ?? 0) + 1);
  }
  return counts;
}

t.test('90/10 over 10,000 picks is exact (and so well within ±1%)', async (t) => {
  const choice = new WeightedChoice([['blue', 90], ['green', 10]] as const);
  const counts = count(choice, 10_000);
  t.equal(counts.get('blue'), 9000);
  t.equal(counts.get('green'), 1000);
  t.ok(Math.abs((counts.get('green') ?? 0) / 10_000 - 0.1) <= 0.01, 'within ±1%');
});

t.test('exact over every cycle of 100 picks, and evenly interleaved', async (t) => {
  const choice = new WeightedChoice([['blue', 90], ['green', 10]] as const);
  for (let cycle = 0; cycle < 5; cycle++) {
    const counts = count(choice, 100);
    t.same([counts.get('blue'), counts.get('green')], [90, 10], `cycle ${cycle}`);
  }
  // Smooth WRR never sends green twice in a row at 90/10.
  const fresh = new WeightedChoice([['blue', 90], ['green', 10]] as const);
  const seq = Array.from({ length: 1000 }, () => fresh.pick()).join(',');
  t.notMatch(seq, /green,green/, 'no back-to-back green');
  t.equal(seq.split(',').slice(0, 10).filter((item) => item === 'green').length, 1, 'one green in the first 10');
});

t.test('50/50 alternates', async (t) => {
  const choice = new WeightedChoice([['a', 50], ['b', 50]] as const);
  const seq = Array.from({ length: 6 }, () => choice.pick());
  t.same(seq, ['a', 'b', 'a', 'b', 'a', 'b']);
});

t.test('three pools split exactly by weight', async (t) => {
  const choice = new WeightedChoice([['a', 50], ['b', 30], ['c', 20]] as const);
  const counts = count(choice, 10_000);
  t.equal(counts.get('a'), 5000);
  t.equal(counts.get('b'), 3000);
  t.equal(counts.get('c'), 2000);
  t.equal(choice.size, 3);
});

t.test('zero weights are never picked', async (t) => {
  const choice = new WeightedChoice([['a', 0], ['b', 70], ['c', 0], ['d', 30]] as const);
  t.equal(choice.size, 2);
  const counts = count(choice, 1000);
  t.notOk(counts.has('a'));
  t.notOk(counts.has('c'));
  t.equal(counts.get('b'), 700);
  t.equal(counts.get('d'), 300);
});

t.test('a single live entry always wins', async (t) => {
  const choice = new WeightedChoice([['a', 0], ['b', 100]] as const);
  const counts = count(choice, 50);
  t.equal(counts.get('b'), 50);
  t.equal(counts.size, 1);
});

t.test('all-zero or empty → undefined', async (t) => {
  const zero = new WeightedChoice([['a', 0], ['b', 0]] as const);
  t.equal(zero.size, 0);
  t.equal(zero.pick(), undefined);
  t.equal(zero.pick(), undefined);
  const empty = new WeightedChoice<string>([]);
  t.equal(empty.pick(), undefined);
});

t.test('negative weights are treated as never picked', async (t) => {
  const choice = new WeightedChoice([['a', -10], ['b', 100]] as const);
  t.equal(choice.size, 1);
  t.equal(choice.pick(), 'b');
});
