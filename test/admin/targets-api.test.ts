// SPEC §11 routes on a real Switchyard (blue ×2, green ×1 over real upstreams): every answer,
// every refusal with its code, and the shared document and live set unchanged after each refusal.
import t from 'tap';
import { setup, type AdminSetup } from './fixtures/admin-setup.js';
import { startUpstream } from '../helpers/upstream.js';
import { send, waitFor } from '../helpers/http-client.js';
import { targetId } from '../../src/pool/target-admin.js';

const idOf = (url: string) => targetId(url);

/** The shared document and what GET answers, to assert a refusal changed nothing. */
async function targetsSnapshot(admin: AdminSetup) {
  const list = await admin.call({ method: 'GET', url: '/pools/blue/targets' });
  return {
    revision: admin.proxy.switchyard.targets.current.revision,
    document: JSON.stringify(admin.proxy.switchyard.targets.current.pools),
    list: list.body.map((target: Record<string, unknown>) => ({ id: target.id, state: target.state, weight: target.weight, removing: target.removing })),
  };
}

t.test('GET lists the targets with declared and observed state, and an ETag', async (t) => {
  const admin = await setup(t);
  const res = await admin.call({ method: 'GET', url: '/pools/blue/targets' });
  t.equal(res.status, 200);
  t.equal(res.headers.etag, '"0"');
  t.equal(res.body.length, 2);
  t.match(res.body[0], {
    id: idOf(admin.blue[0]!.url), url: admin.blue[0]!.url, source: 'config', state: 'ready', weight: 100, effectiveWeight: 100,
    healthy: true, ejected: false, ready: true, inflight: 0, drainedAt: null, removing: false,
  });
  const unknown = await admin.call({ method: 'GET', url: '/pools/purple/targets' });
  t.equal(unknown.status, 404);
  t.equal(unknown.body.error.code, 'UNKNOWN_POOL');
});

t.test('drain, maint, ready and weight change the live target and are events', async (t) => {
  const admin = await setup(t);
  const id = idOf(admin.blue[0]!.url);
  let res = await admin.call({ method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'drain', reason: 'kernel update' },
    headers: { 'x-switchyard-actor': 'alice' } });
  t.equal(res.status, 200);
  t.match(res.body, { id, state: 'drain', ready: false, healthy: true });
  t.equal(res.headers.etag, '"1"');
  t.not(res.body.drainedAt, null, 'nothing in flight: drained at once');
  // No new request reaches it.
  for (let i = 0; i < 10; i++) t.equal((await send(admin.proxy.url, '/')).body.toString().includes('blue-1'), false);

  res = await admin.call({ method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'maint' } });
  t.match(res.body, { state: 'maint', ready: false });
  res = await admin.call({ method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'ready', weight: 300 } });
  t.equal(res.status, 200);
  t.match(res.body, { state: 'ready', weight: 300 });
  // Back from maint: checks start again; it is ready after its first one.
  await waitFor('blue-1 ready again', async () =>
    (await admin.call({ method: 'GET', url: '/pools/blue/targets' })).body.find((target: { id: string }) => target.id === id).ready);

  const events = await admin.call({ method: 'GET', url: '/events' });
  const drained = events.body.events.find((event: { kind: string; target?: { to: { state: string } } }) => event.kind === 'target' && event.target?.to?.state === 'drain');
  t.match(drained, { who: /^alice@/, reason: 'kernel update', target: { pool: 'blue', id, from: { state: 'ready', weight: 100 }, to: { state: 'drain', weight: 100 } } });

  const status = await admin.call({ method: 'GET', url: '/status' });
  t.match(status.body.pools.blue.targets.find((target: { id: string }) => target.id === id), { id, state: 'ready', weight: 300, source: 'config' });
});

t.test('add and remove through the API', async (t) => {
  const admin = await setup(t);
  const extra = await startUpstream('blue-3');
  t.teardown(() => extra.close());
  let res = await admin.call({ method: 'POST', url: '/pools/blue/targets', payload: { url: extra.url, weight: 50 } });
  t.equal(res.status, 201);
  t.match(res.body, { id: idOf(extra.url), source: 'api', weight: 50, state: 'ready' });
  t.equal(res.headers.location, `/pools/blue/targets/${idOf(extra.url)}`);
  await waitFor('the added target serves', async () => (await send(admin.proxy.url, '/')).body.toString().includes('blue-3'));

  res = await admin.call({ method: 'POST', url: '/pools/blue/targets', payload: { url: extra.url } });
  t.equal(res.status, 409);
  t.equal(res.body.error.code, 'DUPLICATE_TARGET');
  res = await admin.call({ method: 'POST', url: '/pools/blue/targets', payload: { url: admin.blue[0]!.url } });
  t.equal(res.body.error.code, 'DUPLICATE_TARGET', 'a file target is a duplicate too');

  res = await admin.call({ method: 'DELETE', url: `/pools/blue/targets/${idOf(extra.url)}` });
  t.equal(res.status, 202);
  t.equal(res.body.removing, true);
  await waitFor('the removed target left the list', async () =>
    (await admin.call({ method: 'GET', url: '/pools/blue/targets' })).body.every((target: { id: string }) => target.id !== idOf(extra.url)));
  t.equal(admin.proxy.switchyard.targets.current.pools.blue, undefined, 'an API target removed leaves nothing behind');

  // A file target removed through the API stays removed across a reload-free re-apply.
  res = await admin.call({ method: 'DELETE', url: `/pools/blue/targets/${idOf(admin.blue[1]!.url)}` });
  t.equal(res.status, 202);
  t.same(admin.proxy.switchyard.targets.current.pools.blue, { [idOf(admin.blue[1]!.url)]: { removed: true } });
  // Adding it back brings it back.
  res = await admin.call({ method: 'POST', url: '/pools/blue/targets', payload: { url: admin.blue[1]!.url } });
  t.equal(res.status, 201);
});

t.test('bad inputs: each its code, nothing changes', async (t) => {
  const admin = await setup(t);
  const id = idOf(admin.blue[0]!.url);
  const before = await targetsSnapshot(admin);
  const cases: Array<[string, Parameters<AdminSetup['call']>[0], number, string]> = [
    ['unknown pool', { method: 'PUT', url: `/pools/purple/targets/${id}`, payload: { state: 'drain' } }, 404, 'UNKNOWN_POOL'],
    ['unknown target', { method: 'PUT', url: '/pools/blue/targets/127.0.0.1:1', payload: { state: 'drain' } }, 404, 'UNKNOWN_TARGET'],
    ['unknown target (delete)', { method: 'DELETE', url: '/pools/blue/targets/127.0.0.1:1' }, 404, 'UNKNOWN_TARGET'],
    ['malformed id', { method: 'PUT', url: '/pools/blue/targets/not%20an%20id', payload: { state: 'drain' } }, 400, 'INVALID_TARGET'],
    ['id without port', { method: 'PUT', url: '/pools/blue/targets/127.0.0.1', payload: { state: 'drain' } }, 400, 'INVALID_TARGET'],
    ['port out of range', { method: 'PUT', url: '/pools/blue/targets/127.0.0.1:70000', payload: { state: 'drain' } }, 400, 'INVALID_TARGET'],
    ['state foo', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'foo' } }, 400, 'INVALID_BODY'],
    ['weight 0', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { weight: 0 } }, 400, 'INVALID_BODY'],
    ['weight 1001', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { weight: 1001 } }, 400, 'INVALID_BODY'],
    ['weight 1.5', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { weight: 1.5 } }, 400, 'INVALID_BODY'],
    ['weight as text', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { weight: '10' } }, 400, 'INVALID_BODY'],
    ['empty body', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: {} }, 400, 'INVALID_BODY'],
    ['unknown key', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'drain', extra: 1 } }, 400, 'INVALID_BODY'],
    ['url with a path', { method: 'POST', url: '/pools/blue/targets', payload: { url: 'http://127.0.0.1:9/app' } }, 400, 'INVALID_TARGET'],
    ['url not http', { method: 'POST', url: '/pools/blue/targets', payload: { url: 'ftp://127.0.0.1:9' } }, 400, 'INVALID_TARGET'],
    ['not a url', { method: 'POST', url: '/pools/blue/targets', payload: { url: 'localhost:9' } }, 400, 'INVALID_TARGET'],
    ['url with credentials', { method: 'POST', url: '/pools/blue/targets', payload: { url: 'http://u:p@127.0.0.1:9' } }, 400, 'INVALID_TARGET'],
    ['no url', { method: 'POST', url: '/pools/blue/targets', payload: { weight: 5 } }, 400, 'INVALID_BODY'],
    ['malformed JSON', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: '{"state":', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_BODY'],
    ['stale If-Match', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'drain' }, headers: { 'if-match': '"7"' } }, 412, 'REVISION_MISMATCH'],
    ['If-Match naming nothing', { method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { state: 'drain' }, headers: { 'if-match': 'abc' } }, 412, 'REVISION_MISMATCH'],
  ];
  for (const [what, request, status, code] of cases) {
    const res = await admin.call(request);
    t.equal(res.status, status, `${what}: ${status}`);
    t.equal(res.body?.error?.code, code, `${what}: ${code}`);
    t.same(await targetsSnapshot(admin), before, `${what}: nothing changed`);
  }
});

t.test('LAST_TARGET guards a pool with weight; force overrides; a standby pool is free', async (t) => {
  const admin = await setup(t);
  const [first, second] = admin.blue.map((up) => idOf(up.url)) as [string, string];
  t.equal((await admin.call({ method: 'PUT', url: `/pools/blue/targets/${first}`, payload: { state: 'drain' } })).status, 200);
  const before = await targetsSnapshot(admin);
  for (const request of [
    { method: 'PUT' as const, url: `/pools/blue/targets/${second}`, payload: { state: 'drain' } },
    { method: 'PUT' as const, url: `/pools/blue/targets/${second}`, payload: { state: 'maint' } },
    { method: 'DELETE' as const, url: `/pools/blue/targets/${second}` },
  ]) {
    const res = await admin.call(request);
    t.equal(res.status, 409, `${request.method} ${request.payload?.state ?? ''}: 409`);
    t.equal(res.body.error.code, 'LAST_TARGET');
    t.same(await targetsSnapshot(admin), before, 'nothing changed');
  }
  t.equal((await send(admin.proxy.url, '/')).status, 200, 'blue still serves');
  // A weight change on the last target is fine.
  t.equal((await admin.call({ method: 'PUT', url: `/pools/blue/targets/${second}`, payload: { weight: 10 } })).status, 200);
  const forced = await admin.call({ method: 'PUT', url: `/pools/blue/targets/${second}`, payload: { state: 'drain', force: true } });
  t.equal(forced.status, 200);
  t.equal((await send(admin.proxy.url, '/')).status, 503, 'forced: blue has no ready target, 503 as documented');
  // green has no weight: its only target may go.
  const green = idOf(admin.green[0]!.url);
  t.equal((await admin.call({ method: 'PUT', url: `/pools/green/targets/${green}`, payload: { state: 'maint' } })).status, 200);
});

t.test('two changes with the same If-Match: one 200, one 412', async (t) => {
  const admin = await setup(t);
  const [first, second] = admin.blue.map((up) => idOf(up.url)) as [string, string];
  const answers = await Promise.all([first, second].map((id) =>
    admin.call({ method: 'PUT', url: `/pools/blue/targets/${id}`, payload: { weight: 200 }, headers: { 'if-match': '"0"' } })));
  t.same(answers.map((res) => res.status).sort(), [200, 412]);
  t.equal(admin.proxy.switchyard.targets.current.revision, 1);
});

t.test('?fleet=1: a target drained on every instance (this one live, not a heartbeat late)', async (t) => {
  const admin = await setup(t);
  const [first, second] = admin.blue.map((up) => idOf(up.url)) as [string, string];
  t.equal((await admin.call({ method: 'PUT', url: `/pools/blue/targets/${first}`, payload: { state: 'drain' } })).status, 200);
  const res = await admin.call({ method: 'GET', url: '/pools/blue/targets?fleet=1' });
  t.equal(res.status, 200);
  const byId = Object.fromEntries(res.body.map((view: { id: string }) => [view.id, view]));
  t.match(byId[first].fleet, { instances: 1, inflight: 0, drainedEverywhere: true });
  t.match(byId[second].fleet, { instances: 1, drainedEverywhere: false }, 'a ready target is not drained');
  t.equal((await admin.call({ method: 'GET', url: '/pools/blue/targets?fleet=2' })).status, 400);
});

t.test('ids are normalised like URLs; a target belongs to one pool; a removal of a file target is remembered whoever added it', async (t) => {
  const admin = await setup(t);
  const port = new URL(admin.blue[0]!.url).port;
  const extra = await startUpstream('blue-3');
  t.teardown(() => extra.close());
  const extraPort = new URL(extra.url).port;
  t.equal((await admin.call({ method: 'POST', url: '/pools/blue/targets', payload: { url: `http://LocalHost:${extraPort}/` } })).status, 201);
  let res = await admin.call({ method: 'PUT', url: `/pools/blue/targets/LOCALHOST:${extraPort}`, payload: { weight: 5 } });
  t.equal(res.status, 200, 'an upper-case host names the same target');
  t.equal(res.body.id, `localhost:${extraPort}`);
  res = await admin.call({ method: 'PUT', url: `/pools/blue/targets/127.000.000.001:${port}`, payload: { weight: 6 } });
  t.equal(res.body.id, `127.0.0.1:${port}`, 'an IPv4 address in another spelling names the same target');

  const before = await targetsSnapshot(admin);
  res = await admin.call({ method: 'POST', url: '/pools/blue/targets', payload: { url: admin.green[0]!.url } });
  t.equal(res.status, 409);
  t.equal(res.body.error.code, 'DUPLICATE_TARGET');
  t.match(res.body.error.message, /already in pool green/);
  t.same(await targetsSnapshot(admin), before, 'nothing changed');

  // An API target the file later lists too (the reload's reconcile, without a file): deleting it
  // must remove it for good, not only forget the API's entry.
  const switchyard = admin.proxy.switchyard;
  switchyard.pools.reconcile(switchyard.config.pools.map((pool) =>
    pool.name === 'blue' ? { ...pool, targets: [...pool.targets, `http://localhost:${extraPort}`] } : pool));
  res = await admin.call({ method: 'DELETE', url: `/pools/blue/targets/localhost:${extraPort}` });
  t.equal(res.status, 202);
  t.same(switchyard.targets.current.pools.blue?.[`localhost:${extraPort}`], { removed: true });
  await waitFor('it left the pool', async () =>
    (await admin.call({ method: 'GET', url: '/pools/blue/targets' })).body.every((target: { id: string }) => target.id !== `localhost:${extraPort}`));
});

t.test('a wrong state value names the allowed ones', async (t) => {
  const admin = await setup(t);
  const res = await admin.call({ method: 'PUT', url: `/pools/blue/targets/${idOf(admin.blue[0]!.url)}`, payload: { state: 'READY' } });
  t.equal(res.status, 400);
  t.equal(res.body.error.message, '/state must be equal to one of the allowed values: ready, drain, maint');
});
