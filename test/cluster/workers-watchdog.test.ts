// SPEC §15 workers: a slot is always refilled — a worker that stops answering (its event loop
// blocked; here SIGSTOP) is killed and replaced, and a replacement that dies before it listens
// is retried, not given up on. /readyz says 503 only while no worker listens.
import t from 'tap';
import { targetUpstreamsFor } from '../helpers/target-upstreams.js';
import { waitFor } from '../helpers/http-client.js';
import { freshGets, getStatus, processGone, startWorkers, workersConfigText, workersServing } from '../helpers/workers.js';

t.test('a silent worker is killed and replaced; a replacement that dies before it listens is retried', async (t) => {
  const [blue] = await targetUpstreamsFor(t, ['blue']);
  const sy = await startWorkers(t, workersConfigText({ pools: { blue: [blue!.url] } }));
  const silent = sy.workers().get(1)!;
  process.kill(silent, 'SIGSTOP');
  t.teardown(() => {
    if (!processGone(silent)) process.kill(silent, 'SIGKILL');
  });
  const line = await sy.waitForLine('the watchdog', (l) => l.msg === 'worker silent (event loop blocked or stopped): killed, to be replaced', { timeoutMs: 20_000 });
  t.match(line, { worker: 1, workerPid: silent });
  t.ok((line.silentMs as number) >= 10_000, `silent ${line.silentMs as number} ms (the watchdog allows 10 s)`);
  await waitFor('the stopped worker gone', () => processGone(silent), { timeoutMs: 5000 });

  // Its replacement: killed while it is still starting, then retried.
  const starting = await waitFor('a replacement starting in slot 1', async () => {
    const worker = (await getStatus(sy.admin)).workers!.find((w) => w.slot === 1);
    return worker !== undefined && worker.pid !== null && worker.pid !== silent && !worker.ready ? worker.pid : undefined;
  }, { timeoutMs: 10_000, intervalMs: 5 });
  process.kill(starting, 'SIGKILL');
  const exited = await sy.waitForLine('its exit', (l) => l.msg === 'worker exited' && l.workerPid === starting, { timeoutMs: 10_000 });
  t.match(exited, { worker: 1, listening: false, signal: 'SIGKILL' });
  const ready = await sy.waitForLine('slot 1 ready again', (l) => l.msg === 'worker ready' && l.worker === 1 && l.pid !== silent && l.pid !== starting, { timeoutMs: 30_000 });
  t.ok(ready, 'slot 1 was refilled by a third process');
  t.equal((await fetch(`${sy.admin}/readyz`)).status, 200);
  await waitFor('status lists both workers ready', async () => (await getStatus(sy.admin)).workers!.filter((w) => w.ready).length === 2, { timeoutMs: 5000 });

  const answers = await freshGets(sy.proxy, '/', 'refilled', 60);
  t.strictSame(answers.filter((answer) => answer.status !== 200), [], 'every request answered');
  const bySlot = await workersServing(sy, answers.map((answer) => answer.id));
  t.ok((bySlot.get(1) ?? 0) > 0 && (bySlot.get(2) ?? 0) > 0, `both slots serving (${JSON.stringify(Object.fromEntries(bySlot))})`);
});
