import t from 'tap';
import { request } from 'undici';
import { tokenId } from '../../src/admin/auth.js';
import { setup } from './fixtures/admin-setup.js';

const TOKEN = 's3cret';
const tokenConfig = { admin: { token: TOKEN, host: '127.0.0.1', port: 0 } };
const bearer = { authorization: `Bearer ${TOKEN}` };

const mutations = [
  { method: 'POST', url: '/flip', payload: { pool: 'green' } },
  { method: 'PUT', url: '/weights', payload: { weights: { blue: 50, green: 50 } } },
  { method: 'POST', url: '/rollback' },
  { method: 'POST', url: '/flip', payload: '{not json', headers: { 'content-type': 'application/json' } },
] as const;

t.test('missing or wrong token → 401 on /status and every mutation; state unchanged', async (t) => {
  const { call, snapshot, unchanged } = await setup(t, tokenConfig);
  const before = snapshot();
  for (const [label, authorization] of [
    ['missing', undefined], ['wrong', 'Bearer nope'], ['not bearer', `Basic ${TOKEN}`], ['bare token', TOKEN], ['empty', ''],
  ] as const) {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    const status = await call({ method: 'GET', url: '/status', headers });
    t.equal(status.status, 401, `${label}: GET /status`);
    t.same(status.body, { error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } }, `${label}: error shape`);
    t.equal(status.headers.etag, undefined, `${label}: no state leaks`);
    for (const mutation of mutations) {
      const res = await call({ ...mutation, headers: { ...('headers' in mutation ? mutation.headers : {}), ...headers } });
      t.equal(res.status, 401, `${label}: ${mutation.method} ${mutation.url}`);
      t.equal(res.body?.error?.code, 'UNAUTHORIZED', `${label}: ${mutation.method} ${mutation.url}`);
      t.same(snapshot(), before, `${label}: ${mutation.method} ${mutation.url} changed nothing`);
    }
    const unknown = await call({ method: 'GET', url: '/secret-route', headers });
    t.equal(unknown.status, 401, `${label}: unknown routes do not answer 404 without auth`);
  }
  await unchanged(t, before, 'after every refused call');
});

t.test('the right token works, and who names the token', async (t) => {
  const { call, proxy } = await setup(t, tokenConfig, bearer);
  const status = await call({ method: 'GET', url: '/status' });
  t.equal(status.status, 200);
  t.equal(status.headers.etag, '"1"');
  const flipped = await call({ method: 'POST', url: '/flip', payload: { pool: 'green' }, headers: { 'x-switchyard-actor': 'alice' } });
  t.equal(flipped.status, 200);
  const who = `alice@127.0.0.1 ${tokenId(TOKEN)}`;
  t.equal(flipped.body.updatedBy, who);
  t.match(proxy.logs.find({ kind: 'admin' }), [{ who, change: { kind: 'flip', pool: 'green' } }]);
  t.notMatch(JSON.stringify(proxy.logs.lines), new RegExp(TOKEN), 'the token itself is never logged');
  const lowercase = await call({ method: 'POST', url: '/rollback', headers: { authorization: `bearer ${TOKEN}` } });
  t.equal(lowercase.status, 200, 'scheme is case-insensitive');
  const unknown = await call({ method: 'GET', url: '/nope' });
  t.equal(unknown.status, 404, 'authenticated unknown route → 404');
  t.equal(unknown.body.error.code, 'NOT_FOUND');
});

t.test('probes stay open without a token', async (t) => {
  const { call } = await setup(t, tokenConfig);
  t.equal((await call({ method: 'GET', url: '/healthz' })).status, 200);
  t.equal((await call({ method: 'GET', url: '/readyz' })).status, 200);
  t.equal((await call({ method: 'GET', url: '/status' })).status, 401);
});

t.test('over a real socket', async (t) => {
  const { proxy } = await setup(t, tokenConfig);
  const open = await request(`${proxy.admin}/healthz`);
  t.equal(open.statusCode, 200);
  await open.body.dump();
  const refused = await request(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pool":"green"}' });
  t.equal(refused.statusCode, 401);
  t.same(await refused.body.json(), { error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
  t.equal(proxy.switchyard.control.current.revision, 1);
  const ok = await request(`${proxy.admin}/status`, { headers: bearer });
  t.equal(ok.statusCode, 200);
  t.match(await ok.body.json(), { revision: 1 });
});
