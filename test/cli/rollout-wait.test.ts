// `rollout status` answers "did it go through?" in its exit code (1 for aborted or rolled
// back), and `rollout POOL --wait` follows a rollout to its end: 0 when it completes or is
// promoted, 1 with the reason when it is aborted or rolled back.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cli } from '../helpers/cli.js';
import { startProxy, trustingProbe, type TestProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/http-client.js';
import { pollMs, rolloutExitCode } from '../../src/cli/commands/rollout-wait.js';
import { runCli } from '../../src/cli/program.js';

async function setup(t: Test, greenHandler?: (req: IncomingMessage, res: ServerResponse) => void) {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green', greenHandler);
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, { log: { access: false } },
    { rollout: { tickMs: 25 }, probe: trustingProbe });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  return { proxy, env: { SWITCHYARD_ADMIN_URL: proxy.admin } };
}

/** Requests through the proxy until stopped: evidence for the rollout's verdicts. */
function traffic(proxy: TestProxy): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) await fetch(`${proxy.url}/`).then((response) => response.arrayBuffer()).catch(() => undefined);
  })();
  return async () => {
    running = false;
    await loop;
  };
}

t.test('rollout status exits 1 for an aborted rollout, 0 for a running, promoted or completed one', async (t) => {
  const { env } = await setup(t);
  t.equal((await cli(['rollout', 'status'], env)).code, 0, 'no rollout yet: nothing failed');
  t.equal((await cli(['rollout', 'green', '--interval', '1m'], env)).code, 0);
  t.equal((await cli(['rollout', 'status'], env)).code, 0, 'running');
  t.equal((await cli(['rollout', 'abort'], env)).code, 0, 'the abort itself succeeded');
  const aborted = await cli(['rollout', 'status'], env);
  t.equal(aborted.code, 1, 'aborted → 1');
  t.match(aborted.out, /ABORTED[\s\S]*reason: aborted by/);
  t.equal((await cli(['rollout', 'status', '--json'], env)).code, 1, 'with --json too');
  t.equal((await cli(['rollout', 'green', '--interval', '1m'], env)).code, 0);
  t.equal((await cli(['rollout', 'promote'], env)).code, 0);
  t.equal((await cli(['rollout', 'status'], env)).code, 0, 'promoted → 0');
});

t.test('a rolled-back rollout: rollout status exits 1 with the reason', async (t) => {
  const { proxy, env } = await setup(t, (req, res) => {
    req.resume();
    res.writeHead(500).end('{"name":"green"}');
  });
  const stop = traffic(proxy);
  t.equal((await cli(['rollout', 'green', '--steps', '10,100', '--interval', '300ms', '--min-requests', '3'], env)).code, 0);
  await waitFor('rolled back', async () => (await cli(['rollout', 'status', '--json'], env)).code === 1, { timeoutMs: 10_000, intervalMs: 50 });
  await stop();
  const status = await cli(['rollout', 'status'], env);
  t.equal(status.code, 1);
  t.match(status.out, /reason: step 1 \(10%\) failed: error rate 1 > maxErrorRate 0\.01/);
  t.same(proxy.switchyard.control.current.weights, { blue: 100, green: 0 });
});

t.test('--wait: prints each step and exits 0 when the rollout completes', async (t) => {
  const { proxy, env } = await setup(t);
  t.equal((await cli(['weights', 'blue=70', 'green=30'], env)).code, 0);
  const run = await cli(['rollout', 'green', '--steps', '10,25,50,75,100', '--interval', '300ms', '--min-requests', '0', '--wait'], env);
  t.equal(run.code, 0, run.err);
  t.match(run.out, /rollout of green: RUNNING · step 3\/5 \(50%\)/, 'the start, as without --wait');
  t.match(run.out, /skipped 10%, 25%: green was at 30 already/);
  t.match(run.out, /step 3 \(50%\): pass · error rate 0/);
  t.match(run.out, /step 4\/5: green at 75%/);
  t.match(run.out, /step 5 \(100%\): pass/);
  t.match(run.out, /rollout of green COMPLETED: all steps passed\n$/);
  t.same(proxy.switchyard.control.current.weights, { blue: 0, green: 100 });
  t.equal(run.err, '');
});

t.test('--wait exits 1 with the reason when the rollout is rolled back or aborted', async (t) => {
  const { proxy, env } = await setup(t, (req, res) => {
    req.resume();
    res.writeHead(500).end('{"name":"green"}');
  });
  const stop = traffic(proxy);
  t.teardown(stop);
  const run = await cli(['rollout', 'green', '--steps', '10,100', '--interval', '300ms', '--min-requests', '3', '--wait'], env);
  t.equal(run.code, 1);
  t.match(run.err, /rollout of green ABORTED: step 1 \(10%\) failed: error rate 1 > maxErrorRate 0\.01/);
  t.match(run.out, /step 1 \(10%\): fail/);
  t.same(proxy.switchyard.control.current.weights, { blue: 100, green: 0 });
  await stop();

  // Aborted by an operator while a second command waits on it (rollout status --wait).
  t.equal((await cli(['rollout', 'green', '--interval', '1m'], env)).code, 0);
  let out = '';
  let err = '';
  const waiting = runCli(['rollout', 'status', '--wait'], { out: (text) => void (out += `${text}\n`), err: (text) => void (err += `${text}\n`), env });
  await waitFor('the waiter saw it running', () => /RUNNING/.test(out), { timeoutMs: 5000 });
  t.equal((await cli(['rollout', 'abort'], env)).code, 0);
  t.equal(await waiting, 1, 'the waiter exits 1');
  t.match(out, /step 1\/4: green at 10%/, 'it was following the running rollout');
  t.match(err, /rollout of green ABORTED: aborted by/);
});

t.test('--wait goes with POOL or status only; helpers', async (t) => {
  for (const action of ['abort', 'promote']) {
    const run = await cli(['rollout', action, '--wait'], { SWITCHYARD_ADMIN_URL: 'http://127.0.0.1:1' });
    t.equal(run.code, 2, `rollout ${action} --wait → 2`);
  }
  t.equal(pollMs(300), 100);
  t.equal(pollMs(30), 100);
  t.equal(pollMs(30_000), 1000);
  t.equal(rolloutExitCode(null), 0);
  t.equal(rolloutExitCode({ phase: 'aborted' }), 1);
  t.equal(rolloutExitCode({ phase: 'completed' }), 0);
});

t.test('rollout --wait rides out a few failed polls, and says so when another rollout replaced the one it follows', async (t) => {
  const { UnreachableError } = await import('../../src/cli/admin-client.js');
  const { waitForRollout } = await import('../../src/cli/commands/rollout-wait.js');
  type Client = Parameters<typeof waitForRollout>[0];
  const first = { id: 'r-1', phase: 'running', step: 0, spec: { pool: 'green', steps: [10, 100], intervalMs: 30 }, history: [] };
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (text: string) => out.push(text), err: (text: string) => err.push(text) } as unknown as Parameters<typeof waitForRollout>[1] };
  };
  const scripted = (answers: Array<Error | unknown>): Client => ({
    get: async () => {
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next;
    },
  }) as unknown as Client;

  const ok = io();
  const done = { rollout: { ...first, phase: 'completed', step: 1 } };
  t.equal(await waitForRollout(scripted([new UnreachableError('down'), new UnreachableError('down'), done]), ok.io, first, false), 0);
  t.same(ok.err, ['down; trying again', 'down; trying again']);
  t.match(ok.out.join('\n'), /rollout of green COMPLETED/);

  const replaced = io();
  t.equal(await waitForRollout(scripted([{ rollout: { ...first, id: 'r-2' } }]), replaced.io, first, false), 1);
  t.match(replaced.err.join('\n'), /no longer the current rollout/);

  const gone = io();
  const downs = Array.from({ length: 5 }, () => new UnreachableError('down'));
  const thrown = await waitForRollout(scripted(downs), gone.io, first, false).then(() => null, (err: unknown) => err);
  t.ok(thrown instanceof UnreachableError, 'five failed polls in a row: gives up with the last error');
  t.equal(gone.err.length, 4);
});
