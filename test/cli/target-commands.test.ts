// `switchyard targets` and `switchyard target …` (SPEC §11) against a real Switchyard over real
// upstreams: tables and --json, --wait on a drain with a slow request in flight (success and
// timeout), every refusal's code and exit 1 with the state unchanged, bad usage exit 2.
import t, { type Test } from 'tap';
import { cli } from '../helpers/cli.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { PROBE_PATH, targetUpstreamsFor, type TargetUpstream } from '../helpers/target-upstreams.js';
import { send, waitFor } from '../helpers/http-client.js';
import { formatTargets, type TargetView } from '../../src/cli/format-targets.js';
import { formatEvents } from '../../src/cli/format.js';
import { idOf, weightOf } from '../../src/cli/commands/target-commands.js';

async function setup(t: Test) {
  const [a, b, g] = await targetUpstreamsFor(t, ['blue-1', 'blue-2', 'green-1']);
  const blue = [a!, b!];
  const proxy = await startProxy({
    blue: { version: '1.0.0', targets: blue.map((up) => up.url) },
    green: { version: '2.0.0', targets: [g!.url] },
  }, { log: { level: 'info', access: false }, healthCheck: { path: PROBE_PATH, intervalMs: 100 } });
  t.teardown(() => proxy.close());
  return { proxy, blue, ids: { a: a!.id, b: b!.id, g: g!.id }, env: { SWITCHYARD_ADMIN_URL: proxy.admin } };
}

async function list(proxy: TestProxy, pool = 'blue'): Promise<TargetView[]> {
  return (await fetch(`${proxy.admin}/pools/${pool}/targets`)).json() as Promise<TargetView[]>;
}

/** What a refusal must leave as it was: each target's declared state, weight and presence. */
async function declared(proxy: TestProxy): Promise<string> {
  const views = [...await list(proxy, 'blue'), ...await list(proxy, 'green')];
  return JSON.stringify(views.map((view) => [view.id, view.state, view.weight, view.removing]));
}

/**
 * Sends slow requests through the proxy, one at a time, until `upstream` (one of `pool`)
 * holds one; resolves then, with `answered`: the worst status among them once all are answered.
 */
async function slowRequestOn(proxy: TestProxy, upstream: TargetUpstream, pool: readonly TargetUpstream[], ms: number): Promise<{ answered: Promise<number> }> {
  const held = () => pool.reduce((sum, each) => sum + each.slowHeld(), 0);
  const answers: Array<Promise<number>> = [];
  while (upstream.slowHeld() === 0) {
    if (answers.length === pool.length) throw new Error(`${pool.length} slow requests and none on ${upstream.id}`);
    const before = held();
    answers.push(send(proxy.url, `/slow?ms=${ms}`).then((answer) => answer.status));
    await waitFor('the slow request to arrive', () => held() > before);
  }
  return { answered: Promise.all(answers).then((statuses) => Math.max(...statuses)) };
}

t.test('targets: a table for every pool or one, --json as the API answers', async (t) => {
  const { ids, env } = await setup(t);
  const all = await cli(['targets'], env);
  t.equal(all.code, 0, all.err);
  t.match(all.out, /POOL\s+TARGET\s+STATE\s+WEIGHT\s+EFFECTIVE\s+HEALTHY\s+EJECTED\s+INFLIGHT\s+DRAIN\s+SOURCE/);
  t.match(all.out, new RegExp(`blue\\s+${ids.a}\\s+ready\\s+100\\s+100\\s+yes\\s+no\\s+0\\s+-\\s+config`));
  t.match(all.out, new RegExp(`blue\\s+${ids.b}\\s+ready`));
  t.match(all.out, new RegExp(`green\\s+${ids.g}\\s+ready`));

  const one = await cli(['targets', 'green'], env);
  t.equal(one.code, 0);
  t.notMatch(one.out, /blue/);

  const json = await cli(['targets', 'blue', '--json'], env);
  const views = JSON.parse(json.out) as TargetView[];
  t.same(views.map((view) => view.id), [ids.a, ids.b]);
  t.match(views[0], { url: /^http:\/\/127\.0\.0\.1:/, source: 'config', state: 'ready', weight: 100, healthy: true, ejected: false, drainedAt: null });
  const everyPool = JSON.parse((await cli(['targets', '--json'], env)).out) as { pools: Record<string, TargetView[]> };
  t.same(Object.keys(everyPool.pools), ['blue', 'green']);
});

t.test('drain --wait returns once the slow request in flight has finished', async (t) => {
  const { proxy, blue, ids, env } = await setup(t);
  const { answered } = await slowRequestOn(proxy, blue[0]!, blue, 700);
  const drain = await cli(['target', 'drain', 'blue', ids.a, '--wait', '--timeout', '10s', '--reason', 'kernel'], env);
  t.equal(drain.code, 0, drain.err);
  t.equal(blue[0]!.slowHeld(), 0, 'the in-flight request had been answered when --wait returned');
  t.match(drain.out, new RegExp(`blue ${ids.a}: drain, weight 100, healthy, in-flight 1, draining`), 'first the change, with what is in flight');
  t.match(drain.out, new RegExp(`blue ${ids.a}: drained after [\\d.]+(ms|s) \\(drainedAt \\d{4}-`));
  t.equal(await answered, 200, 'the slow request finished with 200');
  const view = (await list(proxy)).find((target) => target.id === ids.a)!;
  t.match(view, { state: 'drain', ready: false, inflight: 0 });
  t.not(view.drainedAt, null);

  const table = await cli(['targets', 'blue'], env);
  t.match(table.out, new RegExp(`${ids.a}\\s+drain\\s+100\\s+0\\s+yes\\s+no\\s+0\\s+drained \\d+s ago\\s+config`));
  const events = await cli(['events'], env);
  t.match(events.out, new RegExp(`target blue/${ids.a}\\s+\\S+\\s+ready 100\\s+drain 100\\s+kernel`), 'the change is an event with who and why');

  const json = await cli(['target', 'ready', 'blue', ids.a, '--wait', '--json'], env);
  t.equal(json.code, 0, json.err);
  t.match(JSON.parse(json.out), { id: ids.a, state: 'ready', ready: true }, '--json prints the target once it is back');
});

t.test('drain --wait exits 1 at --timeout, naming what is still in flight', async (t) => {
  const { proxy, blue, ids, env } = await setup(t);
  const { answered } = await slowRequestOn(proxy, blue[0]!, blue, 3000);
  const started = Date.now();
  const drain = await cli(['target', 'drain', 'blue', ids.a, '--wait', '--timeout', '300ms'], env);
  t.equal(drain.code, 1);
  t.ok(Date.now() - started < 2500, 'gave up at the timeout, not when the request finished');
  t.match(drain.err, new RegExp(`timed out after 300ms: blue ${ids.a} still has 1 request in flight; it stays in drain`));
  t.equal(blue[0]!.slowHeld(), 1, 'the request is still in flight');
  t.match((await list(proxy)).find((target) => target.id === ids.a), { state: 'drain', drainedAt: null });
  t.equal(await answered, 200, 'and it still finishes with 200');
});

t.test('maint, ready --wait, weight, add and remove --wait', async (t) => {
  const { proxy, ids, env } = await setup(t);
  const maint = await cli(['target', 'maint', 'blue', `http://${ids.b}`], env);
  t.equal(maint.code, 0, maint.err);
  t.match(maint.out, new RegExp(`blue ${ids.b}: maint`), 'a URL is taken for its id');
  const back = await cli(['target', 'ready', 'blue', ids.b, '--wait'], env);
  t.equal(back.code, 0, back.err);
  t.match(back.out, new RegExp(`blue ${ids.b}: back in rotation after`));

  const weight = await cli(['target', 'weight', 'blue', ids.a, '250', '--json'], env);
  t.equal(weight.code, 0, weight.err);
  t.match(JSON.parse(weight.out), { id: ids.a, weight: 250 });

  const [extra] = await targetUpstreamsFor(t, ['blue-3']);
  const extraId = extra!.id;
  const add = await cli(['target', 'add', 'blue', extra!.url, '--weight', '50', '--state', 'drain', '--reason', 'scale out'], env);
  t.equal(add.code, 0, add.err);
  t.match(add.out, new RegExp(`blue ${extraId}: drain, weight 50`));
  t.match((await list(proxy)).find((target) => target.id === extraId), { source: 'api', state: 'drain', weight: 50 });

  const remove = await cli(['target', 'remove', 'blue', extraId, '--wait', '--timeout', '10s'], env);
  t.equal(remove.code, 0, remove.err);
  t.match(remove.out, new RegExp(`blue ${extraId}: removed after`));
  t.notOk((await list(proxy)).some((target) => target.id === extraId), 'gone from the list');
});

t.test('refusals exit 1 with the server code and a hint; nothing changes', async (t) => {
  const { proxy, ids, env } = await setup(t);
  const refusals: Array<[string[], RegExp, RegExp | null]> = [
    [['targets', 'purple'], /404 UNKNOWN_POOL/, null],
    [['target', 'drain', 'purple', ids.a], /404 UNKNOWN_POOL/, null],
    [['target', 'drain', 'blue', '127.0.0.1:1'], /404 UNKNOWN_TARGET/, /hint: `switchyard targets POOL` lists/],
    [['target', 'weight', 'blue', '127.0.0.1:1', '5'], /404 UNKNOWN_TARGET/, /hint/],
    [['target', 'drain', 'blue', 'not_an_id'], /400 INVALID_TARGET/, null],
    [['target', 'add', 'blue', 'http://127.0.0.1:3001/path'], /400 INVALID_TARGET/, null],
    [['target', 'add', 'blue', `http://${ids.a}`], /409 DUPLICATE_TARGET/, /hint: `switchyard targets POOL` shows it/],
    [['target', 'drain', 'blue', ids.a, '--if-match', '999'], /412 REVISION_MISMATCH/, null],
  ];
  const before = await declared(proxy);
  for (const [argv, code, hint] of refusals) {
    const run = await cli(argv, env);
    t.equal(run.code, 1, `${argv.join(' ')} → 1`);
    t.match(run.err, code, argv.join(' '));
    if (hint !== null) t.match(run.err, hint);
    t.equal(await declared(proxy), before, `${argv.join(' ')} changed nothing`);
  }

  // The last ready target of a pool that has weight: LAST_TARGET, --force overrides.
  t.equal((await cli(['target', 'drain', 'blue', ids.a], env)).code, 0);
  const drained = await declared(proxy);
  for (const command of ['drain', 'maint', 'remove']) {
    const last = await cli(['target', command, 'blue', ids.b], env);
    t.equal(last.code, 1, `${command} of the last ready target → 1`);
    t.match(last.err, /409 LAST_TARGET\): .*last ready target of pool blue.*\(use --force to override\)/);
    t.match(last.err, /hint: move the pool's traffic first/);
    t.equal(await declared(proxy), drained, `${command} changed nothing`);
  }
  t.equal((await cli(['target', 'drain', 'green', ids.g], env)).code, 0, 'green has no weight: its last target may go');
  const forced = await cli(['target', 'drain', 'blue', ids.b, '--force'], env);
  t.equal(forced.code, 0, forced.err);
  t.match((await list(proxy)).find((target) => target.id === ids.b), { state: 'drain' });
});

t.test('bad usage exits 2 before any call', async (t) => {
  const { proxy, ids, env } = await setup(t);
  const before = await declared(proxy);
  const argvs = [
    ['target', 'weight', 'blue', ids.a, 'abc'],
    ['target', 'weight', 'blue', ids.a, '0'],
    ['target', 'weight', 'blue', ids.a, '1001'],
    ['target', 'weight', 'blue', ids.a, '1.5'],
    ['target', 'add', 'blue', 'http://127.0.0.1:9', '--weight', 'lots'],
    ['target', 'add', 'blue', 'http://127.0.0.1:9', '--state', 'foo'],
    ['target', 'drain', 'blue'],
    ['target', 'drain', 'blue', ids.a, '--timeout', '5s'],
    ['target', 'drain', 'blue', ids.a, '--wait', '--timeout', 'soon'],
    ['target', 'drain', 'blue', 'http://[bad'],
    ['target', 'frobnicate', 'blue', ids.a],
    ['targets', 'blue', '--bogus'],
  ];
  for (const argv of argvs) {
    const run = await cli(argv, env);
    t.equal(run.code, 2, `${argv.join(' ')} → 2`);
    t.not(run.err, '', 'says what is wrong');
  }
  t.equal(await declared(proxy), before);
  const help = await cli(['target', '--help'], env);
  t.equal(help.code, 0);
  t.match(help.out, /drain.*\n.*maint/s);
});

t.test('pure helpers: ids, weights, the table, target events', async (t) => {
  t.equal(idOf('127.0.0.1:3001'), '127.0.0.1:3001');
  t.equal(idOf('http://app.internal'), 'app.internal:80', 'a URL without a port: the scheme\'s');
  t.equal(idOf('https://[::1]:8443'), '[::1]:8443');
  t.throws(() => idOf('http://'), /ID is a target's host:port or its URL/);
  t.equal(weightOf('1', 'w'), 1);
  t.equal(weightOf('1000', 'w'), 1000);
  t.throws(() => weightOf('-1', 'w'), /w takes a whole number from 1 to 1000/);

  const now = new Date('2026-01-01T00:01:00Z');
  const base = { url: 'http://a:1', source: 'config', weight: 100, healthy: true, ejected: false, ready: true, inflight: 0, lastCheck: null };
  const text = formatTargets({
    blue: [
      { ...base, id: 'a:1', state: 'ready', effectiveWeight: 12.5, drainedAt: null },
      { ...base, id: 'a:2', state: 'drain', effectiveWeight: 0, ready: false, inflight: 2, drainedAt: null },
      { ...base, id: 'a:3', state: 'maint', effectiveWeight: 0, ready: false, drainedAt: '2026-01-01T00:00:30Z', removing: true, source: 'api', ejected: true },
    ],
  }, { now });
  t.match(text, /a:1\s+ready\s+100\s+12\.5 \(13%\)\s+yes\s+no\s+0\s+-\s+config/, 'slow start shows its share');
  t.match(text, /a:2\s+drain\s+100\s+0\s+yes\s+no\s+2\s+draining\s+config/);
  t.match(text, /a:3\s+maint\s+100\s+0\s+yes\s+yes\s+0\s+removing, drained 30s ago\s+api/);
  t.equal(formatTargets({ blue: [] }), 'no targets\n');

  const events = formatEvents([
    { at: 'T2', revision: 3, kind: 'target', who: 'ann', from: null, to: null, reason: 'roll', target: { pool: 'blue', id: 'a:1', from: { state: 'ready', weight: 100 }, to: null } },
    { at: 'T1', revision: 2, kind: 'flip', who: 'bob', from: { blue: 0, green: 100 }, to: { blue: 100, green: 0 } },
  ]);
  t.match(events, /T2\s+3\s+target blue\/a:1\s+ann\s+ready 100\s+-\s+roll/);
  t.match(events, /T1\s+2\s+flip\s+bob\s+blue=0 green=100\s+blue=100 green=0/);
});
