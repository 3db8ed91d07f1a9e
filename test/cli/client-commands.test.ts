import t, { type Test } from 'tap';
import { cli } from '../helpers/cli.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

async function poolThatAnswers(proxy: TestProxy): Promise<string> {
  const response = await fetch(`${proxy.url}/`);
  return ((await response.json()) as { name: string }).name;
}

async function setup(t: Test, overrides: Record<string, unknown> = {}) {
  const blue: Upstream = await startUpstream('blue');
  const green: Upstream = await startUpstream('green');
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, overrides);
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  return { proxy, env: { SWITCHYARD_ADMIN_URL: proxy.admin } };
}

t.test('status prints a table, or JSON with --json', async (t) => {
  const { env } = await setup(t);
  const table = await cli(['status'], env);
  t.equal(table.code, 0);
  t.match(table.out, /POOL\s+VERSION\s+WEIGHT\s+STATE\s+HEALTHY\s+INFLIGHT/);
  t.match(table.out, /blue\s+blue-v1\s+100\s+active\s+1\/1\s+0/);
  t.match(table.out, /green\s+green-v1\s+0\s+standby\s+1\/1\s+0/);
  const json = await cli(['status', '--json'], env);
  t.equal(json.code, 0);
  const status = JSON.parse(json.out);
  t.same(status.weights, { blue: 100, green: 0 });
  t.equal(status.revision, 1);
});

t.test('flip, weights and rollback move the very next request', async (t) => {
  const { proxy, env } = await setup(t);
  t.equal(await poolThatAnswers(proxy), 'blue');

  const flip = await cli(['flip', 'green', '--reason', 'release 2'], env);
  t.equal(flip.code, 0, flip.err);
  t.equal(await poolThatAnswers(proxy), 'green');
  t.match(proxy.switchyard.control.current, { reason: 'release 2', weights: { blue: 0, green: 100 } });
  t.match(proxy.switchyard.control.current.updatedBy, /@127\.0\.0\.1$/);

  const weights = await cli(['weights', 'blue=50', 'green=50', '--json'], env);
  t.equal(weights.code, 0, weights.err);
  t.same(JSON.parse(weights.out).weights, { blue: 50, green: 50 });
  const seen = [await poolThatAnswers(proxy), await poolThatAnswers(proxy)].sort();
  t.same(seen, ['blue', 'green'], 'a 50/50 split alternates');

  const back = await cli(['rollback'], env);
  t.equal(back.code, 0, back.err);
  t.same(proxy.switchyard.control.current.weights, { blue: 0, green: 100 });
  t.equal(await poolThatAnswers(proxy), 'green');
});

t.test('refusals exit 1 with the server code; state unchanged', async (t) => {
  const { proxy, env } = await setup(t);
  const before = proxy.switchyard.control.current;

  const unknown = await cli(['flip', 'purple'], env);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /400 UNKNOWN_POOL/);

  const sum = await cli(['weights', 'blue=90', 'green=5'], env);
  t.equal(sum.code, 1);
  t.match(sum.err, /INVALID_WEIGHTS.*got 95/);

  const noPrevious = await cli(['rollback'], env);
  t.equal(noPrevious.code, 1);
  t.match(noPrevious.err, /409 NO_PREVIOUS/);

  const stale = await cli(['flip', 'green', '--if-match', '7'], env);
  t.equal(stale.code, 1);
  t.match(stale.err, /412 REVISION_MISMATCH/);

  t.equal(proxy.switchyard.control.current, before, 'no refusal changed the routing state');

  const matching = await cli(['flip', 'green', '--if-match', String(before.revision)], env);
  t.equal(matching.code, 0, matching.err);
});

t.test('bad usage exits 2 without calling the server', async (t) => {
  const { proxy, env } = await setup(t);
  const before = proxy.switchyard.control.current;
  for (const argv of [['weights', 'blue=abc'], ['weights', 'blue:50'], ['flip'], ['frobnicate'], ['status', '--bogus']]) {
    const run = await cli(argv, env);
    t.equal(run.code, 2, `${argv.join(' ')} → 2`);
    t.not(run.err, '', 'says what is wrong');
  }
  t.equal(proxy.switchyard.control.current, before);
  const help = await cli(['--help'], env);
  t.equal(help.code, 0);
  t.match(help.out, /flip/);
});

t.test('an unreachable admin API exits 1 and says where it tried', async (t) => {
  const run = await cli(['status', '--admin', 'http://127.0.0.1:1'], {});
  t.equal(run.code, 1);
  t.match(run.err, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);
});

t.test('the token comes from --token or SWITCHYARD_ADMIN_TOKEN', async (t) => {
  const { env } = await setup(t, { admin: { host: '127.0.0.1', port: 0, token: 's3cret' } });
  const missing = await cli(['status'], env);
  t.equal(missing.code, 1);
  t.match(missing.err, /401 UNAUTHORIZED/);
  t.equal((await cli(['status', '--token', 's3cret'], env)).code, 0);
  t.equal((await cli(['status'], { ...env, SWITCHYARD_ADMIN_TOKEN: 's3cret' })).code, 0);
  t.equal((await cli(['status', '--token', 'wrong'], { ...env, SWITCHYARD_ADMIN_TOKEN: 's3cret' })).code, 1, '--token wins over the env');
});
