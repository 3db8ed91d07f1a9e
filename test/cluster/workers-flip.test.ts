// SPEC §15 workers: a flip under load with two worker processes. The admin API lives in the
// primary; its 200 means every worker follows, so no request sent after it reaches blue — on
// either worker — and no request fails across the flip.
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { targetUpstreamsFor } from '../helpers/target-upstreams.js';
import { failures, startTaggedLoad } from '../helpers/tagged-load.js';
import { waitFor } from '../helpers/http-client.js';
import { freshGets, startWorkers, unparsedLines, workersConfigText, workersServing } from '../helpers/workers.js';

/** How this Node shares the listening port between workers (SPEC §15): reusePort from 22.12 / 23.1 on. */
function expectedSharing(): 'reusePort' | 'cluster' {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12) ? 'reusePort' : 'cluster';
}

t.test('flip blue → green under load, workers: 2: no failure, every request after the 200 on green, both workers serving', async (t) => {
  const [blue, green] = await targetUpstreamsFor(t, ['blue', 'green']);
  const sy = await startWorkers(t, workersConfigText({ pools: { blue: [blue!.url], green: [green!.url] } }));
  const listening = sy.lines().find((line) => line.msg === 'switchyard listening')!;
  t.match(listening, { workers: 2, sharing: expectedSharing() }, 'the primary reports the workers and how they share the port');
  t.equal(sy.workers().size, 2, 'two workers said "worker ready"');
  t.not(sy.workers().get(1), sy.workers().get(2), 'in two processes');

  // 16 keep-alive connections and 2 lanes of fresh connections: with reusePort the kernel picks a
  // worker per connection (4-tuple hash), so both get some.
  const load = startTaggedLoad(sy.proxy, { keepAlive: 16, fresh: 2, prefix: 'flip' });
  await waitFor('both workers serving the load', () => {
    const recent = load.records.slice(-400);
    return recent.length >= 200 && new Set(recent.map((record) => sy.servedBy(record.id)).filter((slot) => slot !== undefined)).size === 2;
  }, { timeoutMs: 15_000, intervalMs: 50 });

  const flip = await fetch(`${sy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool: 'green' }) });
  const flippedAt = performance.now();
  t.equal(flip.status, 200, `POST /flip answered 200: ${await flip.text()}`);

  // 200 requests started after the 200, each on a new connection (each a new pick of worker).
  const after = await freshGets(sy.proxy, '/', 'after-flip', 200);
  t.strictSame(after.filter((answer) => answer.status !== 200 || answer.name !== 'green'), [], 'all 200 requests after the flip answered 200 by green');
  const bySlot = await workersServing(sy, after.map((answer) => answer.id));
  t.comment(`the 200 requests after the flip by worker: ${JSON.stringify(Object.fromEntries(bySlot))}`);
  t.ok((bySlot.get(1) ?? 0) > 0 && (bySlot.get(2) ?? 0) > 0, 'both workers served some of them');

  await waitFor('more load after the flip', () => load.records.filter((record) => record.startedAt > flippedAt).length >= 1000, { timeoutMs: 15_000, intervalMs: 50 });
  const records = await load.stop();
  t.comment(`load: ${records.length} requests, ${records.filter((record) => record.startedAt > flippedAt).length} sent after the flip`);
  t.strictSame(failures(records), [], 'no request failed across the flip');
  t.strictSame(records.filter((record) => record.startedAt > flippedAt && record.name !== 'green').map((record) => record.id), [],
    'no load request sent after the 200 was answered by blue');
  t.strictSame(blue!.arrivals.filter((arrival) => arrival.sentAt > flippedAt), [], 'blue received no request sent after the 200');
  const loadSlots = new Set(records.filter((record) => record.kind === 'keepAlive').map((record) => sy.servedBy(record.id)));
  t.ok(loadSlots.has(1) && loadSlots.has(2), 'the keep-alive load was spread over both workers');
  t.strictSame(unparsedLines(sy.proc.output()), [], 'no log line torn between processes writing to one stdout');
});
