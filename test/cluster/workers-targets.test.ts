// SPEC §15 with §11: a target removed while workers still run requests on it stays listed
// (`removing`, its in-flight the workers' sum) until every worker is done with it, then leaves —
// so `switchyard targets wait` and scripts polling the target never see it gone early.
import t from 'tap';
import { targetUpstreamsFor } from '../helpers/target-upstreams.js';
import { waitFor } from '../helpers/http-client.js';
import { oneShot } from '../helpers/tagged-load.js';
import { freshGets, startWorkers, workersConfigText, workersServing } from '../helpers/workers.js';

interface TargetRow { id: string; removing: boolean; inflight: number; drainedAt: string | null }

t.test('a removed target is listed, draining, until no worker has a request on it', async (t) => {
  const [a, b] = await targetUpstreamsFor(t, ['a', 'b']);
  const sy = await startWorkers(t, workersConfigText({ pools: { blue: [a!.url, b!.url] } }));
  const list = async () => (await (await fetch(`${sy.admin}/pools/blue/targets`)).json()) as TargetRow[];

  // Slow requests on fresh connections until both workers hold some on target a.
  const slow: Array<Promise<{ status: number; body: string }>> = [];
  const ids: string[] = [];
  for (let i = 0; i < 16; i++) {
    ids.push(`slow-${i}`);
    slow.push(oneShot(sy.proxy, '/slow?ms=2500', `slow-${i}`));
  }
  await waitFor('slow requests held on a', () => a!.slowHeld() >= 4, { timeoutMs: 10_000 });

  const removed = await fetch(`${sy.admin}/pools/blue/targets/${a!.id}`, { method: 'DELETE' });
  t.equal(removed.status, 202);
  const during = (await list()).find((row) => row.id === a!.id);
  t.match(during, { removing: true, drainedAt: null }, 'still listed, removing, not drained');
  t.ok(during!.inflight >= 1, `its in-flight is the workers' sum (${during?.inflight})`);

  const answers = await Promise.all(slow);
  t.strictSame(answers.filter((answer) => answer.status !== 200), [], 'every slow request finished 200');
  const bySlot = await workersServing(sy, ids);
  t.comment(`slow requests by worker: ${JSON.stringify(Object.fromEntries(bySlot))}`);
  await waitFor('a leaves the list once drained everywhere', async () => !(await list()).some((row) => row.id === a!.id), { timeoutMs: 5000, intervalMs: 20 });

  const before = a!.arrivals.length;
  const after = await freshGets(sy.proxy, '/', 'after-removal', 40);
  t.strictSame(after.filter((answer) => answer.status !== 200 || answer.name !== 'b'), [], 'every later request on b');
  t.equal(a!.arrivals.length, before, 'a received nothing more');
});
