import t from 'tap';
import { Thresholds } from '../../src/health/thresholds.js';

t.test('the first result decides at once', async (t) => {
  const up = new Thresholds(2, 3);
  t.equal(up.observe(true), 'changed');
  t.equal(up.healthy, true);
  const down = new Thresholds(2, 3);
  t.equal(down.observe(false), 'changed');
  t.equal(down.healthy, false);
});

t.test('unhealthy after `unhealthyThreshold` consecutive failures, healthy after `healthyThreshold` passes', async (t) => {
  const th = new Thresholds(2, 3);
  th.observe(true);
  t.equal(th.observe(false), 'unchanged');
  t.equal(th.observe(false), 'unchanged');
  t.equal(th.observe(true), 'unchanged', 'a pass resets the failure count');
  t.equal(th.observe(false), 'unchanged');
  t.equal(th.observe(false), 'unchanged');
  t.equal(th.observe(false), 'changed');
  t.equal(th.healthy, false);
  t.equal(th.observe(true), 'unchanged');
  t.equal(th.observe(false), 'unchanged', 'a failure resets the pass count');
  t.equal(th.observe(true), 'unchanged');
  t.equal(th.observe(true), 'changed');
  t.equal(th.healthy, true);
});

t.test('configure changes the thresholds from the next result', async (t) => {
  const th = new Thresholds(2, 3);
  th.observe(true);
  th.configure(1, 1);
  t.equal(th.observe(false), 'changed');
  t.equal(th.observe(true), 'changed');
});
