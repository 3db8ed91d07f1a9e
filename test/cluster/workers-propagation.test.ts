// SPEC §15 workers: what a 200 promises when a worker cannot apply a change in time (503
// NOT_PROPAGATED, the change committed and applied once the worker runs again), that a refused
// change pushes nothing, and that passive evidence from every worker reaches one ejector.
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { startUpstream } from '../helpers/upstream.js';
import { targetUpstreamsFor, PROBE_PATH } from '../helpers/target-upstreams.js';
import { waitFor } from '../helpers/http-client.js';
import { oneShot } from '../helpers/tagged-load.js';
import { freshGets, getStatus, startWorkers, workersConfigText, workersServing } from '../helpers/workers.js';

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

t.test('a stopped worker: the flip answers 503 NOT_PROPAGATED after 2 s, committed; the worker follows once it runs', async (t) => {
  const [blue, green] = await targetUpstreamsFor(t, ['blue', 'green']);
  const sy = await startWorkers(t, workersConfigText({ pools: { blue: [blue!.url], green: [green!.url] } }));
  const before = await getStatus(sy.admin);
  const seqs = before.workers!.map((worker) => worker.seq);

  // A refused change pushes nothing: no worker's sequence number moves.
  const refused = await post(`${sy.admin}/flip`, { pool: 'purple' });
  t.equal(refused.status, 400);
  t.match(await refused.json(), { error: { code: 'UNKNOWN_POOL' } });
  t.strictSame((await getStatus(sy.admin)).workers!.map((worker) => worker.seq), seqs, 'a refused flip reached no worker');

  const stopped = sy.workers().get(1)!;
  process.kill(stopped, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(stopped, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  const began = performance.now();
  const flip = await post(`${sy.admin}/flip`, { pool: 'green' });
  const waited = performance.now() - began;
  t.equal(flip.status, 503, 'not 200: worker 1 did not apply it');
  const body = await flip.json() as { error: { code: string; details: { missing: number[]; seq: number } } };
  t.match(body, { error: { code: 'NOT_PROPAGATED', details: { missing: [1] } } });
  t.ok(waited >= 1900 && waited < 6000, `answered after the 2 s propagation deadline (${waited.toFixed(0)} ms)`);
  const committed = await getStatus(sy.admin) as unknown as { revision: number; weights: Record<string, number> };
  t.strictSame(committed.weights, { blue: 0, green: 100 }, 'the change is committed (it cannot be taken back from the store)');

  process.kill(stopped, 'SIGCONT');
  await waitFor('worker 1 applied the flip', async () => (await getStatus(sy.admin)).workers!.every((worker) => worker.seq === body.error.details.seq),
    { timeoutMs: 10_000, intervalMs: 20 });
  const after = await freshGets(sy.proxy, '/', 'after-cont', 100);
  t.strictSame(after.filter((answer) => answer.status !== 200 || answer.name !== 'green'), [], 'every request after that lands on green');
  const bySlot = await workersServing(sy, after.map((answer) => answer.id));
  t.ok((bySlot.get(1) ?? 0) > 0 && (bySlot.get(2) ?? 0) > 0, `on both workers (${JSON.stringify(Object.fromEntries(bySlot))})`);

  const again = await post(`${sy.admin}/flip`, { pool: 'green' });
  t.equal(again.status, 200, 'retrying the same flip is safe once every worker runs');
});

t.test('passive ejection counts failures from every worker together', async (t) => {
  // Both targets fail every request but pass their checks: the first to reach 5 consecutive
  // failures is ejected (the other is kept: the last ready target of its pool never is).
  const arrivals = new Map<string, number>();
  const names = ['x', 'y'];
  const failing = await Promise.all(names.map((name) => startUpstream(name, (req, res) => {
    if (req.url === PROBE_PATH) return void res.end('ok');
    arrivals.set(name, (arrivals.get(name) ?? 0) + 1);
    res.writeHead(502).end('bad gateway');
  })));
  t.teardown(() => Promise.all(failing.map((upstream) => upstream.close())));
  const sy = await startWorkers(t, workersConfigText({
    pools: { blue: failing.map((upstream) => upstream.url) },
    healthCheck: `{ path: ${PROBE_PATH}, intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 }`,
    extra: 'passive: { consecutiveFailures: 5, ejectMs: 60000 }\nretries: { attempts: 0 }',
  }));

  // One request at a time on a new connection (so both workers take some), the next only once
  // the primary has its outcome, so the ejector's verdict can be read request by request.
  const ids: string[] = [];
  let ejected: string | undefined;
  for (let i = 0; i < 40 && ejected === undefined; i++) {
    const id = `passive-${i}`;
    ids.push(id);
    t.equal((await oneShot(sy.proxy, '/', id)).status, 502);
    // Its worker's report (rates and passive evidence travel together) has reached the primary.
    await waitFor(`request ${i + 1} reported`, async () => {
      const stats = await (await fetch(`${sy.admin}/stats`)).json() as { pools: { blue: { rps: number[] } } };
      return stats.pools.blue.rps.reduce((sum, count) => sum + count, 0) >= i + 1;
    }, { timeoutMs: 5000, intervalMs: 10 });
    const status = await getStatus(sy.admin) as unknown as { pools: { blue: { targets: Array<{ url: string; ejected: boolean }> } } };
    const out = status.pools.blue.targets.find((target) => target.ejected);
    if (out !== undefined) ejected = names[failing.findIndex((upstream) => upstream.url === out.url)];
  }
  t.ok(ejected !== undefined, `a target was ejected (${ejected})`);
  t.equal(arrivals.get(ejected!), 5, 'after exactly passive.consecutiveFailures failures, counted over both workers');
  const bySlot = await workersServing(sy, ids);
  t.ok((bySlot.get(1) ?? 0) > 0 && (bySlot.get(2) ?? 0) > 0, `the failures were served by both workers (${JSON.stringify(Object.fromEntries(bySlot))})`);
});
