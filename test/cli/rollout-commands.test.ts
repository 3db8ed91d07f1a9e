import t from 'tap';
import { cli } from '../helpers/cli.js';
import { startProxy, trustingProbe } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { parseDuration } from '../../src/cli/duration.js';
import { formatEvents, formatRollout } from '../../src/cli/format.js';

t.test('rollout, status, promote and events through the CLI', async (t) => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, { log: { access: false } }, { probe: trustingProbe });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  const env = { SWITCHYARD_ADMIN_URL: proxy.admin };

  const none = await cli(['rollout', 'status'], env);
  t.equal(none.code, 0);
  t.match(none.out, /no rollout has run/);

  const started = await cli(['rollout', 'green', '--steps', '10,50,100', '--interval', '1m', '--max-error-rate', '0.02', '--max-p99', '250ms', '--min-requests', '3'], env);
  t.equal(started.code, 0, started.err);
  t.match(started.out, /rollout of green: RUNNING · step 1\/3 \(10%\) · steps 10, 50, 100 every 60000 ms/);
  t.match(started.out, /error rate ≤ 0\.02, p99 ≤ 250 ms, at least 3 requests/);
  t.same(proxy.switchyard.control.current.weights, { blue: 90, green: 10 });

  const again = await cli(['rollout', 'green'], env);
  t.equal(again.code, 1);
  t.match(again.err, /409 ROLLOUT_RUNNING/);
  const manual = await cli(['flip', 'blue'], env);
  t.equal(manual.code, 1);
  t.match(manual.err, /409 ROLLOUT_RUNNING/);

  const status = await cli(['rollout', 'status', '--json'], env);
  t.match(JSON.parse(status.out).rollout, { phase: 'running', spec: { pool: 'green', maxP99Ms: 250, minRequests: 3 } });

  const promoted = await cli(['rollout', 'promote'], env);
  t.equal(promoted.code, 0, promoted.err);
  t.match(promoted.out, /PROMOTED/);
  t.same(proxy.switchyard.control.current.weights, { blue: 0, green: 100 });
  t.equal((await cli(['rollout', 'abort'], env)).code, 1, 'nothing to abort');

  const events = await cli(['events'], env);
  t.equal(events.code, 0);
  t.match(events.out, /AT\s+REV\s+KIND\s+WHO/);
  t.match(events.out, /rollout-promote/);
  t.match(events.out, /rollout-start/);
  const json = JSON.parse((await cli(['events', '--json', '--limit', '2'], env)).out);
  t.equal(json.events.length, 2);
});

t.test('bad rollout arguments are usage errors (exit 2)', async (t) => {
  for (const argv of [
    ['rollout', 'green', '--steps', '10,x'],
    ['rollout', 'green', '--interval', 'soon'],
    ['rollout', 'green', '--max-error-rate', 'low'],
    ['rollout', 'green', '--max-p99', 'fast'],
    ['rollout', 'green', '--min-requests', '-1'],
    ['events', '--limit', '0'],
  ]) {
    t.equal((await cli(argv, { SWITCHYARD_ADMIN_URL: 'http://127.0.0.1:1' })).code, 2, argv.join(' '));
  }
});

t.test('durations and formatting', async (t) => {
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1.5h'), 5_400_000);
  t.equal(parseDuration('250'), 250);
  t.equal(parseDuration('soon'), null);
  t.match(formatEvents([]), /no events/);
  t.match(formatEvents([{ at: 'T', revision: 3, kind: 'flip', who: 'ann', from: { blue: 100, green: 0 }, to: { blue: 0, green: 100 }, reason: 'go' }]),
    /T\s+3\s+flip\s+ann\s+blue=100 green=0\s+blue=0 green=100\s+go/);
  t.match(formatRollout({
    spec: { pool: 'green', steps: [10, 100], intervalMs: 1000, maxErrorRate: 0.01, minRequests: 0 }, step: 0, phase: 'aborted', reason: 'step 1 failed',
    history: [{ step: 0, weight: 10, at: 'T', verdict: 'fail', reason: 'error rate 0.5' }],
  }), /ABORTED[\s\S]*reason: step 1 failed[\s\S]*1\s+10%\s+fail\s+T\s+error rate 0\.5/);
});
