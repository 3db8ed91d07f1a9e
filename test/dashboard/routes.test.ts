// GET / and its assets are open (the page holds no data); GET /stats needs the token like
// every other data route and counts what the proxy served, per pool and second.
import t, { type Test } from 'tap';
import { Script } from 'node:vm';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { send } from '../helpers/http-client.js';
import { RATE_SLOTS } from '../../src/observe/pool-rates.js';
import { CLIENT_JS } from '../../src/admin/dashboard/index.js';

const TOKEN = 't0ken';

async function stack(t: Test, admin: Record<string, unknown>) {
  const blue = await startUpstream('blue', (req, res) => {
    req.resume();
    res.writeHead(req.url === '/boom' ? 500 : 200, { 'content-type': 'text/plain' });
    res.end('blue');
  });
  const green = await startUpstream('green');
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, { admin: { host: '127.0.0.1', port: 0, ...admin } });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all([blue.close(), green.close()]);
  });
  return proxy;
}

t.test('with a token: the page and its assets are open, /stats is not', async (t) => {
  const proxy = await stack(t, { token: TOKEN });
  const admin = proxy.switchyard.admin;

  const page = await admin.inject({ method: 'GET', url: '/' });
  t.equal(page.statusCode, 200, 'GET / without the token');
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<script src="dashboard\.js" defer><\/script>/);
  t.match(page.body, /<link rel="stylesheet" href="dashboard\.css">/);
  t.notMatch(page.body, /<script>/, 'no inline script (the CSP forbids it)');
  t.match(page.headers['content-security-policy'], /script-src 'self'/);
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.equal((await admin.inject({ method: 'GET', url: '/?x=1', headers: { authorization: 'Bearer wrong' } })).statusCode, 200, 'with a query and a wrong token too');

  const js = await admin.inject({ method: 'GET', url: '/dashboard.js' });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  t.equal(js.body, CLIENT_JS);
  t.doesNotThrow(() => new Script(js.body, { filename: 'dashboard.js' }), 'the script parses');
  const css = await admin.inject({ method: 'GET', url: '/dashboard.css' });
  t.equal(css.statusCode, 200);
  t.match(css.headers['content-type'], /^text\/css/);
  t.match(css.body, /\.card/);

  const refused = await admin.inject({ method: 'GET', url: '/stats' });
  t.equal(refused.statusCode, 401, 'GET /stats without the token');
  t.same(refused.json(), { error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
  t.equal((await admin.inject({ method: 'POST', url: '/' })).statusCode, 404, 'only GET is served at /');
  t.equal((await admin.inject({ method: 'GET', url: '/status' })).statusCode, 401, 'data routes still need the token');
  t.equal((await admin.inject({ method: 'GET', url: '/dashboard.js/x' })).statusCode, 401, 'only the exact asset paths are open');

  for (let i = 0; i < 4; i++) t.equal((await send(proxy.url, '/')).status, 200);
  t.equal((await send(proxy.url, '/boom')).status, 500);

  const stats = await admin.inject({ method: 'GET', url: '/stats', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(stats.statusCode, 200);
  const body = stats.json() as { pools: Record<string, { rps: number[]; errors: number[] }> };
  t.same(Object.keys(body), ['pools']);
  t.same(Object.keys(body.pools).sort(), ['blue', 'green'], 'every configured pool, traffic or not');
  const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
  for (const series of Object.values(body.pools)) {
    t.equal(series.rps.length, RATE_SLOTS);
    t.equal(series.errors.length, RATE_SLOTS);
  }
  t.equal(total(body.pools.blue!.rps), 5, 'five requests to blue in the last minute');
  t.equal(total(body.pools.blue!.errors), 1, 'one of them a 5xx');
  t.equal(total(body.pools.green!.rps), 0);
});

t.test('without a token everything is open', async (t) => {
  const proxy = await stack(t, {});
  const admin = proxy.switchyard.admin;
  t.equal((await admin.inject({ method: 'GET', url: '/' })).statusCode, 200);
  const stats = await admin.inject({ method: 'GET', url: '/stats' });
  t.equal(stats.statusCode, 200);
  t.same(stats.json().pools.green, { rps: new Array(RATE_SLOTS).fill(0), errors: new Array(RATE_SLOTS).fill(0) });
});
