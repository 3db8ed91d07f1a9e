// End to end over real sockets: the admin API answers, and the very next proxied request follows.
import t from 'tap';
import { request } from 'undici';
import { setup } from './fixtures/admin-setup.js';

async function proxied(url: string): Promise<string> {
  const res = await request(url);
  const body = await res.body.json() as { name: string };
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return body.name;
}

async function admin(base: string, method: 'POST' | 'PUT', path: string, body?: unknown) {
  const res = await request(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.statusCode, body: await res.body.json() as { revision: number; weights: Record<string, number> } };
}

t.test('after POST /flip answers 200 the very next request goes to green; rollback moves it back', async (t) => {
  const { proxy } = await setup(t);
  t.match(await proxied(proxy.url), /^blue-/);

  const flip = await admin(proxy.admin, 'POST', '/flip', { pool: 'green' });
  t.equal(flip.status, 200);
  t.same(flip.body.weights, { blue: 0, green: 100 });
  t.equal(await proxied(proxy.url), 'green-1', 'the very next request');
  for (let i = 0; i < 10; i++) t.equal(await proxied(`${proxy.url}/${i}`), 'green-1');

  const back = await admin(proxy.admin, 'POST', '/rollback');
  t.equal(back.status, 200);
  t.same(back.body.weights, { blue: 100, green: 0 });
  t.match(await proxied(proxy.url), /^blue-/, 'the very next request after rollback');
  for (let i = 0; i < 10; i++) t.match(await proxied(`${proxy.url}/${i}`), /^blue-/);
});

t.test('PUT /weights 90/10 splits the next 100 requests exactly', async (t) => {
  const { proxy } = await setup(t);
  const res = await admin(proxy.admin, 'PUT', '/weights', { weights: { blue: 90, green: 10 } });
  t.equal(res.status, 200);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    const pool = (await proxied(proxy.url)).split('-')[0]!;
    counts[pool] = (counts[pool] ?? 0) + 1;
  }
  t.same(counts, { blue: 90, green: 10 });
});

t.test('a refused change leaves proxying as it was', async (t) => {
  const { proxy } = await setup(t);
  const refused = await admin(proxy.admin, 'PUT', '/weights', { weights: { blue: 90, green: 9 } });
  t.equal(refused.status, 400);
  for (let i = 0; i < 5; i++) t.match(await proxied(proxy.url), /^blue-/);
});
