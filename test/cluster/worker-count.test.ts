// SPEC §15 `workers`: how many data-plane processes a setting asks for on a machine.
import t from 'tap';
import { availableParallelism } from 'node:os';
import { workerCount } from '../../src/cluster/worker-count.js';

t.test('auto is the available parallelism; a count is kept, with a warning above the cores', async (t) => {
  t.strictSame(workerCount('auto', 8), { count: 8 });
  t.strictSame(workerCount('auto', 0), { count: 1 }, 'never below one');
  t.strictSame(workerCount('auto'), { count: availableParallelism() }, 'this machine by default');
  t.strictSame(workerCount(2, 8), { count: 2 });
  t.strictSame(workerCount(8, 8), { count: 8 }, 'one per core: no warning');
  const over = workerCount(4, 2);
  t.equal(over.count, 4, 'more workers than cores is allowed (nginx allows it too)');
  t.equal(over.warning, 'workers: 4 is more than the 2 core(s) available; they will share cores');
});
