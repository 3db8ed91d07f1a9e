import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { setup } from './fixtures/admin-setup.js';

const json = { 'content-type': 'application/json' };

t.test('GET /status shape and ETag', async (t) => {
  const { call, blue, green } = await setup(t);
  const res = await call({ method: 'GET', url: '/status' });
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /application\/json/);
  t.equal(res.headers.etag, '"1"');
  const body = res.body;
  t.match(body, {
    revision: 1,
    weights: { blue: 100, green: 0 },
    previous: null,
    updatedAt: String,
    updatedBy: 'config:routing.initial',
    pools: {
      blue: { version: '1.0.0', weight: 100, state: 'active', inflight: 0 },
      green: { version: '2.0.0', weight: 0, state: 'standby', inflight: 0 },
    },
  });
  t.same(Object.keys(body.weights).sort(), ['blue', 'green']);
  t.ok(!Number.isNaN(Date.parse(body.updatedAt)), 'updatedAt is a timestamp');
  t.same(body.pools.blue.targets.map((target: { url: string }) => target.url), blue.map((up) => up.url));
  t.same(body.pools.green.targets.map((target: { url: string }) => target.url), green.map((up) => up.url));
  for (const target of [...body.pools.blue.targets, ...body.pools.green.targets]) {
    t.match(target, { url: String, healthy: Boolean, ejected: false, inflight: 0 });
    t.ok('lastCheck' in target, 'lastCheck present');
  }
});

t.test('pool states: split, active, standby, drained', async (t) => {
  const { call } = await setup(t);
  let res = await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 90, green: 10 } } });
  t.equal(res.status, 200);
  t.equal(res.body.pools.blue.state, 'split');
  t.equal(res.body.pools.green.state, 'split');
  t.equal(res.body.pools.green.weight, 10);
  res = await call({ method: 'POST', url: '/flip', payload: { pool: 'green' } });
  t.equal(res.body.pools.green.state, 'active');
  t.equal(res.body.pools.blue.state, 'drained', 'nothing was in flight on blue');
  t.type(res.body.pools.blue.drainedAt, 'string');
});

t.test('probes', async (t) => {
  const { call } = await setup(t);
  const healthz = await call({ method: 'GET', url: '/healthz' });
  t.equal(healthz.status, 200);
  t.same(healthz.body, { ok: true });
  const readyz = await call({ method: 'GET', url: '/readyz' });
  t.equal(readyz.status, 200);
  t.same(readyz.body, { ready: true });
});

t.test('POST /flip', async (t) => {
  const { call, snapshot, unchanged } = await setup(t);
  const res = await call({ method: 'POST', url: '/flip', payload: { pool: 'green' }, headers: { 'x-switchyard-actor': 'alice' } });
  t.equal(res.status, 200);
  t.equal(res.headers.etag, '"2"');
  t.match(res.body, {
    revision: 2,
    weights: { blue: 0, green: 100 },
    previous: { revision: 1, weights: { blue: 100, green: 0 } },
    updatedBy: 'alice@127.0.0.1',
    pools: { green: { weight: 100, state: 'active' }, blue: { weight: 0 } },
  });
  t.same(snapshot(), { revision: 2, weights: { blue: 0, green: 100 } });

  const before = snapshot();
  const unknown = await call({ method: 'POST', url: '/flip', payload: { pool: 'purple' } });
  t.equal(unknown.status, 400);
  t.match(unknown.body, { error: { code: 'UNKNOWN_POOL', message: /purple/ } });
  await unchanged(t, before, 'unknown pool');

  const bad: Array<[string, { payload?: string | object; headers?: Record<string, string> }]> = [
    ['missing pool', { payload: {} }],
    ['empty pool', { payload: { pool: '' } }],
    ['wrong type', { payload: { pool: 5 } }],
    ['force not boolean', { payload: { pool: 'blue', force: 'yes' } }],
    ['unknown key', { payload: { pool: 'blue', extra: 1 } }],
    ['array body', { payload: '["blue"]', headers: json }],
    ['null body', { payload: 'null', headers: json }],
    ['malformed JSON', { payload: '{"pool": "blue"', headers: json }],
    ['empty JSON body', { payload: '', headers: json }],
    ['no body at all', {}],
  ];
  for (const [label, options] of bad) {
    const res = await call({ method: 'POST', url: '/flip', ...options });
    t.equal(res.status, 400, label);
    t.equal(res.body?.error?.code, 'INVALID_BODY', label);
    t.type(res.body?.error?.message, 'string', label);
    await unchanged(t, before, label);
  }
});

t.test('PUT /weights', async (t) => {
  const { call, snapshot, unchanged } = await setup(t);
  const res = await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 90, green: 10 }, reason: 'canary' } });
  t.equal(res.status, 200);
  t.equal(res.headers.etag, '"2"');
  t.match(res.body, { revision: 2, weights: { blue: 90, green: 10 }, reason: 'canary', previous: { revision: 1 } });

  const partial = await call({ method: 'PUT', url: '/weights', payload: { weights: { green: 100 } } });
  t.equal(partial.status, 200);
  t.same(partial.body.weights, { blue: 0, green: 100 }, 'pools left out get 0');

  const before = snapshot();
  const invalid: Array<[string, unknown]> = [
    ['sum 99', { blue: 90, green: 9 }],
    ['sum 101', { blue: 91, green: 10 }],
    ['non-integer', { blue: 89.5, green: 10.5 }],
    ['negative', { blue: 110, green: -10 }],
    ['string "90"', { blue: '90', green: 10 }],
    ['null weight', { blue: null, green: 100 }],
    ['empty weights', {}],
  ];
  for (const [label, weights] of invalid) {
    const res = await call({ method: 'PUT', url: '/weights', payload: { weights } });
    t.equal(res.status, 400, label);
    t.equal(res.body?.error?.code, 'INVALID_WEIGHTS', label);
    await unchanged(t, before, label);
  }

  const unknown = await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 90, purple: 10 } } });
  t.equal(unknown.status, 400);
  t.equal(unknown.body.error.code, 'UNKNOWN_POOL');
  await unchanged(t, before, 'unknown pool');

  for (const [label, payload] of [
    ['missing weights', { force: true }],
    ['weights not an object', { weights: 100 }],
    ['weights an array', { weights: [90, 10] }],
    ['unknown key', { weights: { blue: 100 }, extra: true }],
  ] as const) {
    const res = await call({ method: 'PUT', url: '/weights', payload });
    t.equal(res.status, 400, label);
    t.equal(res.body?.error?.code, 'INVALID_BODY', label);
    await unchanged(t, before, label);
  }
  const malformed = await call({ method: 'PUT', url: '/weights', payload: '{"weights": {"blue": 100,}}', headers: json });
  t.equal(malformed.status, 400);
  t.equal(malformed.body.error.code, 'INVALID_BODY');
  await unchanged(t, before, 'malformed JSON');
});

t.test('POST /rollback', async (t) => {
  const { call, snapshot, unchanged } = await setup(t);
  const before = snapshot();
  const none = await call({ method: 'POST', url: '/rollback' });
  t.equal(none.status, 409);
  t.equal(none.body.error.code, 'NO_PREVIOUS');
  t.type(none.body.error.message, 'string');
  await unchanged(t, before, 'nothing to roll back to');

  await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 80, green: 20 } } });
  const back = await call({ method: 'POST', url: '/rollback' });
  t.equal(back.status, 200, 'no body at all');
  t.match(back.body, { revision: 3, weights: { blue: 100, green: 0 }, previous: { revision: 2, weights: { blue: 80, green: 20 } } });

  const again = await call({ method: 'POST', url: '/rollback', payload: '', headers: json });
  t.equal(again.status, 200, 'empty JSON body (curl -H content-type)');
  t.same(again.body.weights, { blue: 80, green: 20 }, 'rolling back a rollback');

  const withBody = await call({ method: 'POST', url: '/rollback', payload: { reason: 'bad canary' } });
  t.equal(withBody.status, 200);
  t.match(withBody.body, { revision: 5, reason: 'bad canary', weights: { blue: 100, green: 0 } });

  const after = snapshot();
  const bad = await call({ method: 'POST', url: '/rollback', payload: { pool: 'blue' } });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'INVALID_BODY');
  await unchanged(t, after, 'rollback with an unknown key');
});

t.test('a repeated flip is not a change: rollback still goes back to blue', async (t) => {
  const { call, proxy } = await setup(t);
  const first = await call({ method: 'POST', url: '/flip', payload: { pool: 'green' } });
  t.equal(first.body.revision, 2);
  const second = await call({ method: 'POST', url: '/flip', payload: { pool: 'green' } });
  t.equal(second.status, 200);
  t.equal(second.headers.etag, '"2"');
  t.match(second.body, { revision: 2, previous: { revision: 1, weights: { blue: 100, green: 0 } } });
  const back = await call({ method: 'POST', url: '/rollback' });
  t.equal(back.status, 200);
  t.same(back.body.weights, { blue: 100, green: 0 });
  t.equal(proxy.logs.find({ kind: 'admin' }).length, 2);
});

t.test('If-Match', async (t) => {
  const { call, snapshot, unchanged } = await setup(t);
  await call({ method: 'POST', url: '/flip', payload: { pool: 'green' } });
  const before = snapshot();
  t.equal(before.revision, 2);

  for (const [label, ifMatch] of [['stale', '"1"'], ['future', '"3"'], ['garbage', '"abc"']] as const) {
    const res = await call({ method: 'POST', url: '/flip', payload: { pool: 'blue' }, headers: { 'if-match': ifMatch } });
    t.equal(res.status, 412, label);
    t.equal(res.body.error.code, 'REVISION_MISMATCH', label);
    t.type(res.body.error.message, 'string', label);
    await unchanged(t, before, `If-Match ${label}`);
  }
  const staleWeights = await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 50, green: 50 } }, headers: { 'if-match': '"1"' } });
  t.equal(staleWeights.status, 412);
  const staleRollback = await call({ method: 'POST', url: '/rollback', headers: { 'if-match': '"1"' } });
  t.equal(staleRollback.status, 412);
  await unchanged(t, before, 'stale weights and rollback');

  const status = await call({ method: 'GET', url: '/status' });
  const matching = await call({ method: 'POST', url: '/flip', payload: { pool: 'blue' }, headers: { 'if-match': status.headers.etag as string } });
  t.equal(matching.status, 200, 'the ETag from /status matches');
  t.equal(matching.body.revision, 3);
  const bare = await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 50, green: 50 } }, headers: { 'if-match': '3' } });
  t.equal(bare.status, 200, 'bare revision');
  const star = await call({ method: 'POST', url: '/rollback', headers: { 'if-match': '*' } });
  t.equal(star.status, 200, '* always matches');
  t.equal(star.body.revision, 5);
});

t.test('unknown routes and methods → 404 NOT_FOUND', async (t) => {
  const { call, snapshot, unchanged } = await setup(t);
  const before = snapshot();
  for (const [method, url] of [['GET', '/nope'], ['POST', '/flips'], ['GET', '/flip'], ['DELETE', '/weights'], ['POST', '/status']] as const) {
    const res = await call({ method, url });
    t.equal(res.status, 404, `${method} ${url}`);
    t.match(res.body, { error: { code: 'NOT_FOUND', message: String } }, `${method} ${url}`);
    t.same(Object.keys(res.body), ['error']);
  }
  await unchanged(t, before, 'unknown routes');
});

t.test('admin changes are logged with who and what', async (t) => {
  const { call, proxy } = await setup(t);
  await call({ method: 'POST', url: '/flip', payload: { pool: 'green', reason: 'release 2.0' }, headers: { 'x-switchyard-actor': 'alice' } });
  await call({ method: 'PUT', url: '/weights', payload: { weights: { blue: 50, green: 50 } }, headers: { 'x-switchyard-actor': 'not a valid name!' } });
  await call({ method: 'POST', url: '/rollback' });
  await call({ method: 'POST', url: '/flip', payload: { pool: 'purple' }, headers: { 'x-switchyard-actor': 'mallory' } });

  const lines = proxy.logs.find({ kind: 'admin' });
  t.equal(lines.length, 3, 'one line per change; refused changes are not changes');
  t.match(lines[0], {
    who: 'alice@127.0.0.1', change: { kind: 'flip', pool: 'green' }, from: { blue: 100, green: 0 }, to: { blue: 0, green: 100 },
    revision: 2, reason: 'release 2.0', force: false,
  });
  t.match(lines[1], { who: 'anonymous@127.0.0.1', change: { kind: 'weights', weights: { blue: 50, green: 50 } }, to: { blue: 50, green: 50 } });
  t.match(lines[2], { who: 'anonymous@127.0.0.1', change: { kind: 'rollback' }, from: { blue: 50, green: 50 }, to: { blue: 0, green: 100 }, revision: 4 });
  t.equal(proxy.logs.lines.filter((line) => JSON.stringify(line).includes('mallory')).length, 0);
});

t.test('POOL_UNHEALTHY: no ready target in green', async (t) => {
  const { call, proxy, snapshot, unchanged } = await setup(t);
  const greenPool = proxy.switchyard.pools.get('green')!;
  for (const target of greenPool.targets) target.health.set(Flag.FAILED_ACTIVE_CHECK, true);
  const status = await call({ method: 'GET', url: '/status' });
  t.match(status.body.pools.green.targets, [{ healthy: false, ejected: false }]);

  const before = snapshot();
  for (const [label, options] of [
    ['flip', { method: 'POST', url: '/flip', payload: { pool: 'green' } }],
    ['flip force:false', { method: 'POST', url: '/flip', payload: { pool: 'green', force: false } }],
    ['weights', { method: 'PUT', url: '/weights', payload: { weights: { blue: 99, green: 1 } } }],
  ] as const) {
    const res = await call(options);
    t.equal(res.status, 409, label);
    t.match(res.body, { error: { code: 'POOL_UNHEALTHY', message: /green/ } }, label);
    await unchanged(t, before, label);
  }

  // Ejected targets are not ready either.
  for (const target of greenPool.targets) {
    target.health.set(Flag.FAILED_ACTIVE_CHECK, false);
    target.health.set(Flag.EJECTED, true);
  }
  const ejected = await call({ method: 'POST', url: '/flip', payload: { pool: 'green' } });
  t.equal(ejected.status, 409);
  await unchanged(t, before, 'ejected');

  const forced = await call({ method: 'POST', url: '/flip', payload: { pool: 'green', force: true } });
  t.equal(forced.status, 200);
  t.same(forced.body.weights, { blue: 0, green: 100 });
  t.match(proxy.logs.find({ kind: 'admin' }), [{ force: true, to: { green: 100 } }]);

  // Moving traffic back off the unhealthy pool is never refused.
  const back = await call({ method: 'POST', url: '/rollback' });
  t.equal(back.status, 200);
  t.same(back.body.weights, { blue: 100, green: 0 });
});
