// SPEC §15 workers: a SIGHUP reload is applied by the primary and reaches every worker — the
// requests through both follow the new target set, without a failure on the way.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { targetUpstreamsFor } from '../helpers/target-upstreams.js';
import { waitFor } from '../helpers/http-client.js';
import { freshGets, startWorkers, workersConfigText, workersServing } from '../helpers/workers.js';

t.test('SIGHUP: a changed target set reaches every worker', async (t) => {
  const [before, after] = await targetUpstreamsFor(t, ['before', 'after']);
  const sy = await startWorkers(t, workersConfigText({ pools: { blue: [before!.url] } }));
  const first = await freshGets(sy.proxy, '/', 'first', 40);
  t.ok(first.every((answer) => answer.status === 200 && answer.name === 'before'), 'served by the first target');
  const firstSlots = await workersServing(sy, first.map((answer) => answer.id));
  t.equal(firstSlots.size, 2, 'through both workers');

  writeFileSync(sy.file, workersConfigText({ pools: { blue: [after!.url] } }));
  const from = sy.lines().length;
  sy.proc.child.kill('SIGHUP');
  await sy.waitForLine('config reloaded', (line) => line.msg === 'config reloaded', { from });

  // Until each worker has answered from the new target (it joins after its first check; the old
  // one serves until then), no request may fail.
  const onNew = new Set<number>();
  const transition: Array<{ id: string; status?: number; error?: string }> = [];
  let round = 0;
  await waitFor('both workers on the new target', async () => {
    const batch = await freshGets(sy.proxy, '/', `switch${round++}`, 8);
    transition.push(...batch);
    await workersServing(sy, batch.filter((answer) => answer.status !== undefined).map((answer) => answer.id));
    for (const answer of batch) if (answer.name === 'after') onNew.add(sy.servedBy(answer.id)!);
    return onNew.size === 2;
  }, { timeoutMs: 10_000, intervalMs: 20 });
  const switchedAt = performance.now();
  t.strictSame(transition.filter((answer) => answer.status !== 200), [], `no failure during the change (${transition.length} requests)`);

  const next = await freshGets(sy.proxy, '/', 'next', 200);
  t.strictSame(next.filter((answer) => answer.status !== 200 || answer.name !== 'after').map((answer) => answer.id), [], 'the next 200 requests all reach the new target');
  const nextSlots = await workersServing(sy, next.map((answer) => answer.id));
  t.comment(`after the reload, by worker: ${JSON.stringify(Object.fromEntries(nextSlots))}`);
  t.equal(nextSlots.size, 2, 'through both workers');
  t.strictSame(before!.arrivals.filter((arrival) => arrival.sentAt > switchedAt), [], 'the removed target gets no new request');
});
