import t from 'tap';
import { judge, nextStep, skippedSteps, specProblem, weightsForStep, windowMetrics, type RolloutSpec } from '../../src/rollout/rollout-state.js';
import { BUCKET_BOUNDS_MS, add, bucketOf, emptyCounts, quantileMs, record, subtract } from '../../src/rollout/latency-histogram.js';

const spec = (overrides: Partial<RolloutSpec> = {}): RolloutSpec => ({ pool: 'green', steps: [10, 50, 100], intervalMs: 1000, maxErrorRate: 0.01, minRequests: 10, ...overrides });

t.test('spec problems', async (t) => {
  const pools = ['blue', 'green'];
  t.equal(specProblem(spec(), pools), null);
  t.match(specProblem(spec({ pool: 'purple' }), pools), /no pool named purple/);
  t.match(specProblem(spec({ steps: [] }), pools), /empty/);
  t.match(specProblem(spec({ steps: [10, 10, 100] }), pools), /must increase/);
  t.match(specProblem(spec({ steps: [0, 100] }), pools), /steps\[0\] must be an integer from 1 to 100/);
  t.match(specProblem(spec({ steps: [10, 50] }), pools), /last step must be 100/);
  t.match(specProblem(spec(), ['green']), /another pool/);
});

t.test('weights for a step share the rest by the baseline', async (t) => {
  t.same(weightsForStep('green', 10, { blue: 100, green: 0 }, ['blue', 'green']), { green: 10, blue: 90 });
  t.same(weightsForStep('green', 25, { blue: 50, green: 0, red: 50 }, ['blue', 'green', 'red']), { green: 25, blue: 38, red: 37 });
  t.same(weightsForStep('green', 40, { blue: 0, green: 100, red: 0 }, ['blue', 'green', 'red']), { green: 40, blue: 30, red: 30 });
  t.same(weightsForStep('green', 100, { blue: 100, green: 0 }, ['blue', 'green']), { green: 100, blue: 0 });
});

t.test('judge: hold on too little evidence, fail on errors or p99, else pass', async (t) => {
  const counts = emptyCounts();
  for (let i = 0; i < 5; i++) record(counts, 3, false);
  t.match(judge(spec(), windowMetrics(counts)), { verdict: 'hold', reason: /only 5 requests/ });
  for (let i = 0; i < 95; i++) record(counts, 3, false);
  t.match(judge(spec(), windowMetrics(counts)), { verdict: 'pass' });
  record(counts, 3, true);
  record(counts, 3, true);
  t.match(judge(spec(), windowMetrics(counts)), { verdict: 'fail', reason: /error rate 0\.0196 > maxErrorRate 0\.01 \(2\/102/ });
  const slow = emptyCounts();
  for (let i = 0; i < 100; i++) record(slow, i < 95 ? 2 : 900, false);
  t.match(judge(spec({ maxP99Ms: 500 }), windowMetrics(slow)), { verdict: 'fail', reason: /p99 \d+(\.\d+)? ms > maxP99Ms 500/ });
});

t.test('histogram arithmetic', async (t) => {
  t.equal(bucketOf(0), 0);
  t.equal(bucketOf(0.5), 0);
  t.equal(bucketOf(0.51), 1);
  t.equal(bucketOf(1e9), BUCKET_BOUNDS_MS.length, 'slower than every bound: the last bucket');
  const a = emptyCounts();
  for (let i = 1; i <= 100; i++) record(a, i, false);
  const p99 = quantileMs(a, 0.99)!;
  t.ok(p99 >= 99 && p99 <= 99 * 1.25, `p99 ${p99} within a bucket of 99`);
  t.equal(quantileMs(emptyCounts(), 0.99), null);
  const b = emptyCounts();
  record(b, 5, true);
  const sum = add(a, b);
  t.equal(sum.requests, 101);
  t.same(subtract(sum, a), { ...b, buckets: b.buckets });
  t.same(subtract(b, undefined), b);
});

t.test('nextStep: the first step above the pool\'s weight, and the ones passed over', async (t) => {
  const steps = [10, 25, 50, 100];
  t.same(nextStep(steps, 0, 0), { next: 0, skipped: [] }, 'at 0: starts at the first step');
  t.same(nextStep(steps, 0, 30), { next: 2, skipped: [0, 1] }, 'at 30: 10 and 25 skipped, starts at 50');
  t.same(nextStep(steps, 0, 25), { next: 2, skipped: [0, 1] }, 'a step equal to the weight is skipped too');
  t.same(nextStep(steps, 0, 99), { next: 3, skipped: [0, 1, 2] });
  t.same(nextStep(steps, 0, 100), { next: null, skipped: [0, 1, 2, 3] }, 'at 100: nothing to do');
  t.same(nextStep(steps, 2, 10), { next: 2, skipped: [] }, 'from a later index, below its weight');
  t.same(nextStep(steps, 1, 60), { next: 3, skipped: [1, 2] }, 'raised meanwhile: skips to the first step above');
  t.same(nextStep(steps, 4, 100), { next: null, skipped: [] }, 'past the last step');
  t.same(skippedSteps(spec({ steps }), [0, 1], 30, 'T'), [
    { step: 0, weight: 10, at: 'T', reason: "green was at 30 already (a rollout never lowers its pool's weight)" },
    { step: 1, weight: 25, at: 'T', reason: "green was at 30 already (a rollout never lowers its pool's weight)" },
  ]);
});
