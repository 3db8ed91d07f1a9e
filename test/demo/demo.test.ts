import t from 'tap';
import { startDemo } from '../../src/demo/demo-stack.js';
import { createDemoApp } from '../../src/demo/demo-app.js';
import type { AddressInfo } from 'node:net';
import { LogSink } from '../helpers/log-sink.js';
import { cli } from '../helpers/cli.js';

t.test('the demo stack serves blue, flips to green and rolls back', async (t) => {
  const demo = await startDemo({ port: 0, adminPort: 0, logDestination: new LogSink() });
  t.teardown(() => demo.close());
  const proxy = demo.switchyard.proxyUrl;
  const env = { SWITCHYARD_ADMIN_URL: demo.switchyard.adminUrl };
  const answer = async () => (await (await fetch(`${proxy}/hello`)).json()) as { pool: string; version: string; instance: string; path: string };

  const first = await answer();
  const second = await answer();
  t.match(first, { pool: 'blue', version: '1.0.0', path: '/hello' });
  t.not(first.instance, second.instance, 'both blue instances serve');

  t.equal((await cli(['flip', 'green'], env)).code, 0);
  t.match(await answer(), { pool: 'green', version: '2.0.0', instance: 'green-1' });
  t.equal((await cli(['rollback'], env)).code, 0);
  t.match(await answer(), { pool: 'blue' });

  const response = await fetch(`${proxy}/`);
  t.equal(response.headers.get('x-switchyard-pool'), 'blue', 'the demo names the serving pool');
  await response.text();
});

t.test('the demo app answers health checks, delays and chosen statuses', async (t) => {
  const app = createDemoApp({ pool: 'green', version: '2.0.0', instance: 'g1' });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => app.close(() => resolve())));
  const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const health = await fetch(`${base}/healthz`);
  t.equal(health.status, 200);
  t.equal(await health.text(), 'ok\n');
  const failing = await fetch(`${base}/x?status=503`);
  t.equal(failing.status, 503);
  t.match(await failing.json(), { pool: 'green', version: '2.0.0', instance: 'g1', path: '/x' });
  const started = Date.now();
  const slow = await fetch(`${base}/?delay=150`);
  await slow.text();
  t.ok(Date.now() - started >= 140, 'delay is honoured');
});

t.test('demo refuses to start on a taken port and releases its apps', async (t) => {
  const first = await startDemo({ port: 0, adminPort: 0, logDestination: new LogSink() });
  t.teardown(() => first.close());
  await t.rejects(startDemo({ port: first.switchyard.proxyAddress.port, adminPort: 0, logDestination: new LogSink() }), { code: 'EADDRINUSE' });
});
