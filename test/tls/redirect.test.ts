// tls.redirectHttp (SPEC §13): the plain listener answers 308 to https://host[:port]/path?query
// with an access record and forwards nothing; the admin API and the HTTPS listener are
// unaffected; a reload turns it off. httpsLocation's host and port rules on their own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { httpsLocation } from '../../src/proxy/https-redirect.js';
import { testCa } from '../helpers/certs.js';
import { rawRequest, send } from '../helpers/http-client.js';
import { LogSink } from '../helpers/log-sink.js';
import { startUpstream } from '../helpers/upstream.js';
import { httpsGet } from './tls-client.js';

t.test('httpsLocation: host without its port, the HTTPS port unless 443, path and query kept', async (t) => {
  t.equal(httpsLocation('example.com', '/a?b=1', 443), 'https://example.com/a?b=1');
  t.equal(httpsLocation('example.com:8080', '/a?b=1', 8443), 'https://example.com:8443/a?b=1');
  t.equal(httpsLocation('example.com:', '/', 443), 'https://example.com/');
  t.equal(httpsLocation('[::1]:8080', '/x', 8443), 'https://[::1]:8443/x');
  t.equal(httpsLocation('[::1]', '/x', 443), 'https://[::1]/x');
  t.equal(httpsLocation('10.0.0.1:80', '/', 443), 'https://10.0.0.1/');
});

t.test('the plain listener redirects; admin API and HTTPS listener unaffected; reload turns it off', async (t) => {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const config = (redirectHttp: boolean) => JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 },
    pools: { blue: { targets: [upstream.url] } },
    tls: { host: '127.0.0.1', port: 0, redirectHttp, certificates: [{ cert: site.certFile, key: site.keyFile }] },
    log: { level: 'info', access: true },
  });
  const file = join(ca.dir, 'switchyard.json');
  writeFileSync(file, config(true));
  const logs = new LogSink();
  const switchyard = await Switchyard.start(loadConfigFile(file), { configPath: file, logDestination: logs });
  t.teardown(() => switchyard.close());
  const tlsPort = (switchyard.tls!.server.address() as AddressInfo).port;

  const answer = await send(switchyard.proxyUrl, '/some/path?q=1&r=%20', { headers: { host: 'site.test:8080' } });
  t.equal(answer.status, 308);
  t.equal(answer.headers.location, `https://site.test:${tlsPort}/some/path?q=1&r=%20`);
  t.ok(answer.headers['x-request-id'], 'with a request id');
  const posted = await send(switchyard.proxyUrl, '/upload', { method: 'POST', headers: { host: 'site.test' }, body: 'x'.repeat(10000) });
  t.equal(posted.status, 308, 'a request with a body too (its body discarded)');
  const raw = rawRequest(switchyard.proxyUrl, 'GET /chat HTTP/1.1\r\nHost: site.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  await raw.ended;
  t.match(raw.received().toString('latin1'), new RegExp(`^HTTP/1\\.1 308 Permanent Redirect\\r\\nLocation: https://site\\.test:${tlsPort}/chat\\r\\n`), 'an Upgrade request is redirected too');
  const redirected = ['/some/path?q=1&r=%20', '/upload', '/chat'];
  t.notOk(upstream.seen.some((req) => redirected.includes(req.url ?? '')), 'nothing redirected reached the upstream (health checks did)');

  const deadline = Date.now() + 2000;
  while (logs.find({ kind: 'access', status: 308 }).length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.match(logs.find({ kind: 'access', url: '/some/path?q=1&r=%20' })[0], { status: 308, pool: null, target: null });

  t.equal((await httpsGet(tlsPort, '/over-tls', 'site.test', ca.ca)).status, 200, 'the HTTPS listener proxies');
  t.equal((await fetch(`${switchyard.adminUrl}/healthz`)).status, 200, 'the admin API is not redirected');

  writeFileSync(file, config(false));
  const reloaded = await fetch(`${switchyard.adminUrl}/reload`, { method: 'POST' });
  t.equal(reloaded.status, 200);
  const after = await send(switchyard.proxyUrl, '/again', { headers: { host: 'site.test' } });
  t.equal(after.status, 200, 'after a reload with redirectHttp: false the plain listener proxies again');
});
