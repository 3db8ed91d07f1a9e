// `switchyard roll POOL --exec CMD` (SPEC §11): the pure rules (plan, batch guard, readiness
// gate), then real rolls — the CLI as a child process, a CMD that really stops each instance's
// process and starts the next version on its port — under steady load through the proxy.
import t, { type Test } from 'tap';
import { cli, spawnCli } from '../helpers/cli.js';
import { startLoad } from '../helpers/load.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/http-client.js';
import { startVersionedInstances, type VersionedInstances } from '../helpers/versioned-upstream.js';
import type { TargetView } from '../../src/cli/format-targets.js';
import { batchRefusal, planRoll, ReadyGate } from '../../src/cli/roll-plan.js';
import { progressLine, type RollEvent } from '../../src/cli/roll-progress.js';
import { settingsOf } from '../../src/cli/commands/roll.js';
import { UsageError } from '../../src/cli/result.js';

const view = (id: string, fields: Partial<TargetView> = {}): TargetView => ({
  id, url: `http://${id}`, source: 'config', state: 'ready', weight: 100, effectiveWeight: 100, healthy: true, ejected: false,
  ready: true, inflight: 0, drainedAt: null, removing: false, lastCheck: null, ...fields,
});

t.test('plan: batches of --max-unavailable, a ready target kept for a pool with weight, skips said', async (t) => {
  const three = [view('a:1'), view('a:2'), view('a:3')];
  t.match(planRoll('blue', 100, three, 1), { batches: [['a:1'], ['a:2'], ['a:3']], batchSize: 1, skipped: [], notes: [] });
  t.match(planRoll('blue', 100, three, 2), { batches: [['a:1', 'a:2'], ['a:3']], batchSize: 2 });
  const lowered = planRoll('blue', 100, three, 3);
  t.match(lowered, { batches: [['a:1', 'a:2'], ['a:3']], batchSize: 2, notes: [/--max-unavailable 3 lowered to 2/] });
  t.match(planRoll('green', 0, three, 3), { batches: [['a:1', 'a:2', 'a:3']], notes: [] }, 'a standby pool may go out whole');

  const single = planRoll('blue', 100, [view('a:1')], 1);
  t.match(single, { refused: /blue has weight 100% and one target in rotation \(a:1\).*target add blue URL/ });
  t.match(planRoll('blue', 100, [view('a:1'), view('a:2', { state: 'maint' })], 1), { refused: /one target in rotation \(a:1\)/ },
    'a target in maint does not count');
  t.match(planRoll('green', 0, [view('a:1')], 1), { batches: [['a:1']] }, 'a standby pool with one target may roll');
  t.match(planRoll('blue', 100, [view('a:1', { ready: false }), view('a:2', { ready: false })], 1), { refused: /no target is ready now/ });
  t.match(planRoll('blue', 100, [view('a:1', { state: 'drain' })], 1), { refused: /no target in state ready/ });

  const mixed = planRoll('blue', 100, [view('a:1'), view('a:2', { state: 'drain' }), view('a:3', { removing: true }),
    view('a:4', { ready: false, healthy: false }), view('a:5')], 1);
  t.match(mixed, {
    batches: [['a:4'], ['a:1'], ['a:5']],
    skipped: [{ id: 'a:2', why: /in drain: left as it is \(`switchyard target ready blue a:2`/ }, { id: 'a:3', why: 'being removed' }],
  }, 'not-ready targets first (they cost no capacity); drain and removing skipped');
});

t.test('batch guard: a pool with weight keeps a ready target outside the batch', async (t) => {
  const targets = [view('a:1'), view('a:2', { ready: false }), view('a:3')];
  t.equal(batchRefusal('blue', 100, targets, ['a:1']), null);
  t.match(batchRefusal('blue', 100, targets, ['a:1', 'a:3']), /no ready target outside a:1, a:3 now/);
  t.equal(batchRefusal('blue', 0, targets, ['a:1', 'a:3']), null, 'no weight, no guard');
});

t.test('ready gate: a check after CMD, healthy, held for min-ready', async (t) => {
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  const seen = (checkMs: number, fields: Partial<TargetView> = {}) => view('a:1', { lastCheck: { at: at(checkMs), ok: true, status: 200, ms: 1 }, ...fields });
  const gate = new ReadyGate(500, at(0));
  t.equal(gate.observe(seen(0), 1000), false, 'the check read right after CMD: not after it');
  t.equal(gate.observe(seen(100), 1100), false, 'the next one may have started before CMD ended');
  t.equal(gate.healthySince, null);
  t.equal(gate.observe(seen(200), 1200), false, 'a check that started after CMD: healthy from now');
  t.equal(gate.healthySince, 1200);
  t.equal(gate.observe(seen(300, { healthy: false }), 1300), false, 'a relapse starts over');
  t.equal(gate.healthySince, null);
  t.equal(gate.observe(seen(400), 1400), false);
  t.equal(gate.observe(seen(700, { ejected: true }), 1700), false, 'ejected is not healthy');
  t.equal(gate.observe(seen(800), 1800), false);
  t.equal(gate.observe(seen(800), 2200), false, '400 ms of 500');
  t.equal(gate.observe(seen(800), 2400), false, 'long enough, but no check since the first healthy one...');
  t.equal(gate.healthySince, 1800);
  t.equal(gate.observe(seen(1300), 2400), true, '...until a later check confirms it');

  const none = new ReadyGate(0, null);
  t.equal(none.observe(view('a:1'), 0), false, 'no check yet');
  t.equal(none.observe(seen(10), 10), false, 'the first check after CMD is not believed');
  t.equal(none.observe(seen(20, { lastCheck: { at: at(20), ok: false, error: 'ECONNREFUSED', ms: 1 } }), 20), false, 'a failed check');
  t.equal(none.observe(seen(30), 30), true, 'min-ready 0: the first healthy believed check');
});

t.test('flags and progress lines', async (t) => {
  t.same(settingsOf({ exec: 'true', maxUnavailable: '2', minReady: '10s', timeout: '5m' }), { maxUnavailable: 2, minReadyMs: 10_000, timeoutMs: 300_000 });
  for (const bad of [{ maxUnavailable: '0' }, { maxUnavailable: 'x' }, { minReady: 'soon' }, { timeout: '0' }, { exec: ' ' }]) {
    let thrown: unknown = null;
    try {
      settingsOf({ exec: 'true', maxUnavailable: '1', minReady: '10s', timeout: '5m', ...bad });
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof UsageError, `${JSON.stringify(bad)}: bad usage`);
  }
  const event: RollEvent = { step: 'drained', pool: 'blue', target: 'a:1', at: new Date(2026, 0, 1, 9, 5, 7, 12).toISOString(), message: '0 in flight after 1.2s' };
  t.equal(progressLine(event, false), '09:05:07.012 a:1 drained: 0 in flight after 1.2s');
  t.same(JSON.parse(progressLine(event, true)), event);
  t.equal(progressLine({ step: 'done', pool: 'blue', at: event.at, message: 'x' }, false), '09:05:07.012 blue done: x');
});

// ---- real rolls -------------------------------------------------------------------------------

const HEALTH = { path: '/healthz', intervalMs: 100, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 };

interface RollSetup {
  proxy: TestProxy;
  app: VersionedInstances;
  env: { SWITCHYARD_ADMIN_URL: string };
}

/** blue (weight 100): `count` versioned instances; green (standby): one plain upstream. */
async function setup(t: Test, count = 3, poolOfApp: 'blue' | 'green' = 'blue'): Promise<RollSetup> {
  const app = await startVersionedInstances(t, count);
  const plain = await startUpstream('plain');
  const pools = poolOfApp === 'blue' ? { blue: app.urls, green: [plain.url] } : { blue: [plain.url], green: app.urls };
  const proxy = await startProxy(pools, {
    log: { level: 'warn', access: false }, healthCheck: HEALTH, drain: { timeoutMs: 5000 }, slowStart: { windowMs: 300, aggression: 1, minWeightPercent: 10 },
  });
  t.teardown(async () => {
    await proxy.close();
    await plain.close();
  });
  return { proxy, app, env: { SWITCHYARD_ADMIN_URL: proxy.admin } };
}

async function targetsOf(proxy: TestProxy, pool: string): Promise<TargetView[]> {
  return (await fetch(`${proxy.admin}/pools/${pool}/targets`)).json() as Promise<TargetView[]>;
}

interface TargetEvent {
  kind: string;
  target?: { pool: string; id: string; from: { state: string } | null; to: { state: string } | null };
}

/** The most targets of `pool` out of `ready` at once, replaying GET /events's target changes (oldest first). */
async function mostOutFromEvents(proxy: TestProxy, pool: string, ids: readonly string[]): Promise<{ most: number; changes: number }> {
  const { events } = await (await fetch(`${proxy.admin}/events?limit=999`)).json() as { events: TargetEvent[] };
  const states = new Map(ids.map((id) => [id, 'ready']));
  let most = 0;
  let changes = 0;
  for (const event of [...events].reverse()) {
    if (event.kind !== 'target' || event.target?.pool !== pool) continue;
    changes++;
    states.set(event.target.id, event.target.to?.state ?? 'gone');
    most = Math.max(most, [...states.values()].filter((state) => state !== 'ready').length);
  }
  return { most, changes };
}

/** The most targets out at once per the --json progress: out from `drain` until `ready`. */
function mostOutFromProgress(events: readonly RollEvent[]): number {
  const out = new Set<string>();
  let most = 0;
  for (const event of events) {
    if (event.step === 'drain') out.add(event.target!);
    if (event.step === 'ready') out.delete(event.target!);
    most = Math.max(most, out.size);
  }
  return most;
}

const progressOf = (output: string): RollEvent[] =>
  output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as RollEvent);

/** Runs `switchyard roll` as a child process; resolves with its exit code and output. */
async function runRoll(env: RollSetup['env'], args: string[]): Promise<{ code: number | null; output: string; events: RollEvent[] }> {
  const child = spawnCli(['roll', ...args], env);
  const code = await child.exited;
  return { code, output: child.output(), events: progressOf(child.output()) };
}

t.test('roll under load: every instance replaced, 0 failed requests, never more than 1 out', async (t) => {
  const { proxy, app, env } = await setup(t);
  for (const url of app.urls) t.equal(await app.versionAt(url), 1);
  const load = startLoad(proxy.url, { seconds: 120, connections: 8 });
  const roll = await runRoll(env, ['blue', '--exec', app.replaceCommand, '--max-unavailable', '1', '--min-ready', '300ms', '--timeout', '20s', '--json']);
  // Load through the slow start of the last target too, then stop.
  const servedBefore = load.completed();
  await waitFor('500 more requests after the roll', () => load.completed() > servedBefore + 500, { timeoutMs: 10_000, intervalMs: 20 });
  load.stop();
  const result = await load.done;
  t.equal(roll.code, 0, roll.code === 0 ? 'exit 0' : roll.output);
  t.comment(`roll under load: ${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  t.ok(result.requests > 500, `steady load ran (${result.requests} requests)`);
  t.equal(result.non2xx + result.errors + result.timeouts, 0, '0 failed requests during the roll');

  for (const url of app.urls) t.equal(await app.versionAt(url), 2, `${url} serves version 2`);
  const versions = new Set<number>();
  for (let i = 0; i < 12; i++) versions.add(((await (await fetch(`${proxy.url}/`)).json()) as { version: number }).version);
  t.same([...versions], [2], 'through the proxy, only version 2 answers');
  t.same((await targetsOf(proxy, 'blue')).map((target) => [target.id, target.state, target.ready]), app.ids.map((id) => [id, 'ready', true]));

  t.equal(mostOutFromProgress(roll.events), 1, 'progress: one target out at a time');
  const fromEvents = await mostOutFromEvents(proxy, 'blue', app.ids);
  t.equal(fromEvents.changes, 6, 'events: a drain and a ready per target');
  t.equal(fromEvents.most, 1, 'events: never more than --max-unavailable out');

  // Each target went through every step, in order, each line with step, pool, target and at.
  for (const id of app.ids) {
    const steps = roll.events.filter((event) => event.target === id).map((event) => event.step);
    t.same(steps, ['drain', 'drained', 'exec', 'exec-done', 'healthy', 'ready'], `${id}'s steps`);
  }
  t.match(roll.events[0], { step: 'plan', pool: 'blue', batches: app.ids.map((id) => [id]), at: /^\d{4}-/ });
  t.match(roll.events.at(-1), { step: 'done', ok: true, rolled: app.ids });
  t.match(roll.output, /\[127\.0\.0\.1:\d+\] version 2 \(pid \d+\) answers on port \d+/, 'CMD output on stderr, prefixed with its target');
});

t.test('a CMD that fails on the second target: exit 1 naming it, it stays in maint, the third untouched', async (t) => {
  const { proxy, app, env } = await setup(t);
  app.failNextReplace(app.urls[1]!);
  const load = startLoad(proxy.url, { seconds: 120, connections: 8 });
  const roll = await runRoll(env, ['blue', '--exec', app.replaceCommand, '--min-ready', '200ms', '--timeout', '20s']);
  load.stop();
  const result = await load.done;
  t.equal(roll.code, 1, roll.code === 1 ? 'exit 1' : roll.output);
  t.match(roll.output, new RegExp(`roll of blue stopped: ${app.ids[1]}: CMD exited with 3; left in maint\\. Not touched: ${app.ids[2]}`));
  t.match(roll.output, new RegExp(`${app.ids[1]} maint: left in maint \\(switchyard target ready blue ${app.ids[1]} brings it back\\)`));
  t.comment(`failed roll under load: ${result.requests} requests, ${result.non2xx + result.errors + result.timeouts} failed`);
  t.equal(result.non2xx + result.errors + result.timeouts, 0, 'the failed target was out of rotation: 0 failed requests');

  const targets = new Map((await targetsOf(proxy, 'blue')).map((target) => [target.id, target]));
  t.match(targets.get(app.ids[0]!), { state: 'ready', ready: true });
  t.equal(await app.versionAt(app.urls[0]!), 2, 'the first was replaced');
  t.match(targets.get(app.ids[1]!), { state: 'maint', ready: false });
  t.equal(await app.versionAt(app.urls[1]!), null, 'the second is down (its new version never started)');
  t.match(targets.get(app.ids[2]!), { state: 'ready', ready: true });
  t.equal(await app.versionAt(app.urls[2]!), 1, 'the third still runs the old version');
  const { most } = await mostOutFromEvents(proxy, 'blue', app.ids);
  t.equal(most, 1);
});

t.test('a new version that never turns healthy: maint after --timeout, exit 1; Ctrl-C stops a roll where it is', async (t) => {
  const { proxy, app, env } = await setup(t);
  app.unhealthyNextVersion(app.urls[0]!);
  const started = Date.now();
  const roll = await runRoll(env, ['blue', '--exec', app.replaceCommand, '--min-ready', '0s', '--timeout', '1500ms']);
  t.equal(roll.code, 1, roll.code === 1 ? 'exit 1' : roll.output);
  t.ok(Date.now() - started < 15_000, 'gave up near --timeout');
  t.match(roll.output, new RegExp(`roll of blue stopped: ${app.ids[0]}: not healthy for 0ms within 1.5s after CMD; last check failed: 503; left in maint`));
  t.match((await targetsOf(proxy, 'blue')).map((target) => target.state), ['maint', 'ready', 'ready']);
  t.equal(await app.versionAt(app.urls[0]!), 2, 'the new version runs, unhealthy');

  // Ctrl-C while CMD runs: CMD is stopped, the target stays out of rotation (drain), exit 1.
  const child = spawnCli(['roll', 'blue', '--exec', 'echo started; sleep 30'], env);
  await child.waitFor(/\] started/);
  child.child.kill('SIGINT');
  t.equal(await child.exited, 1);
  t.match(child.output(), /SIGINT: stopping the roll where it is/);
  t.match(child.output(), new RegExp(`${app.ids[1]} failed: interrupted at exec; left in drain`));
  t.match((await targetsOf(proxy, 'blue')).map((target) => target.state), ['maint', 'drain', 'ready']);
});

t.test('standby pool: batches of --max-unavailable 2, a target in maint skipped and left as it is', async (t) => {
  const { proxy, app, env } = await setup(t, 4, 'green');
  const maint = await cli(['target', 'maint', 'green', app.ids[3]!], env);
  t.equal(maint.code, 0, maint.err);
  const roll = await runRoll(env, ['green', '--exec', app.replaceCommand, '--max-unavailable', '2', '--min-ready', '0s', '--timeout', '20s', '--json']);
  t.equal(roll.code, 0, roll.code === 0 ? 'exit 0' : roll.output);
  t.match(roll.events.find((event) => event.step === 'skip'), { target: app.ids[3], message: /in maint: left as it is/ });
  t.match(roll.events[0], { step: 'plan', batches: [[app.ids[0], app.ids[1]], [app.ids[2]]] });
  t.equal(mostOutFromProgress(roll.events), 2, 'two out together');
  // The skipped target counts as out in the events (it was in maint before and after).
  t.equal((await mostOutFromEvents(proxy, 'green', app.ids)).most, 3, 'the batch of two plus the one in maint');
  for (const url of app.urls.slice(0, 3)) t.equal(await app.versionAt(url), 2);
  t.equal(await app.versionAt(app.urls[3]!), 1, 'the one in maint was not replaced');
  t.match((await targetsOf(proxy, 'green')).find((target) => target.id === app.ids[3]), { state: 'maint' });
});

t.test('refused before touching anything: one target in rotation in a pool with weight; bad usage exits 2', async (t) => {
  const { proxy, app, env } = await setup(t, 1);
  const roll = await cli(['roll', 'blue', '--exec', app.replaceCommand], env);
  t.equal(roll.code, 1);
  t.match(roll.err, /blue has weight 100% and one target in rotation \(127\.0\.0\.1:\d+\): taking it out would leave the pool without a ready target/);
  t.match(roll.out, /blue done: refused:/);
  t.equal(await app.versionAt(app.urls[0]!), 1, 'CMD never ran');
  t.match(await targetsOf(proxy, 'blue'), [{ state: 'ready' }]);
  t.equal((await (await fetch(`${proxy.admin}/events`)).json() as { events: TargetEvent[] }).events.filter((event) => event.kind === 'target').length, 0);

  const unknown = await cli(['roll', 'purple', '--exec', 'true'], env);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /404 UNKNOWN_POOL/);
  for (const argv of [['roll', 'blue'], ['roll', 'blue', '--exec', 'true', '--max-unavailable', '0'], ['roll', 'blue', '--exec', 'true', '--min-ready', 'x']]) {
    const run = await cli(argv, env);
    t.equal(run.code, 2, `${argv.join(' ')} → 2`);
  }
});
