// SPEC §13 upstream TLS, against real node:https upstreams with certificates made by openssl at
// test time: a certificate the proxy does not trust is refused (502, never a crash; counted
// against the target; its health check fails) until `pools.NAME.tls.ca` names its CA;
// `servername` overrides the SNI and the name checked; `verify: false` accepts anything; a
// reload that changes the block reaches new connections.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { testCa } from '../helpers/certs.js';
import { send, waitFor } from '../helpers/http-client.js';
import { httpsUpstream } from '../helpers/https-upstream.js';
import { LogSink } from '../helpers/log-sink.js';
import { startProxy, trustingProbe } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

const FAST_CHECKS = { healthCheck: { intervalMs: 100, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 1 } };

t.test('a certificate from a CA the proxy does not know: 502 without `ca`, served with it', async (t) => {
  const ca = testCa(t);
  const upstream = await httpsUpstream(t, ca.leaf('upstream', ['localhost', '127.0.0.1']));
  const target = `https://127.0.0.1:${upstream.port}`;

  // A probe that passes: the requests themselves meet the certificate.
  const refused = await startProxy({ blue: [target] }, { passive: { consecutiveFailures: 100, ejectMs: 1000 } }, { probe: trustingProbe });
  t.teardown(() => refused.close());
  for (let i = 0; i < 5; i++) {
    const answer = await send(refused.url, `/refused/${i}`);
    t.equal(answer.status, 502, `request ${i}: 502`);
  }
  t.equal(upstream.requests.length, 0, 'no request reached the upstream');
  const access = refused.logs.find({ kind: 'access', status: 502 });
  t.equal(access.length, 5);
  t.match(String(access[0]!.error), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/, `the access log names the refusal (${String(access[0]!.error)})`);
  t.equal((await send(refused.admin, '/healthz')).status, 200, 'the process keeps serving');

  const trusted = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile } } }, {}, { probe: trustingProbe });
  t.teardown(() => trusted.close());
  const answer = await send(trusted.url, '/trusted');
  t.equal(answer.status, 200);
  t.same(upstream.requests.map((request) => request.path), ['/trusted']);
  t.equal(upstream.connections.at(-1)!.servername, null, 'an IP-only target sends no SNI (RFC 6066)');
});

t.test('a refused certificate counts against the target: retried on another, then ejected', async (t) => {
  const ca = testCa(t);
  const untrusted = await httpsUpstream(t, ca.leaf('upstream', ['127.0.0.1']));
  const plain = await startUpstream('plain');
  t.teardown(() => plain.close());
  const proxy = await startProxy({ blue: [`https://127.0.0.1:${untrusted.port}`, plain.url] },
    { passive: { consecutiveFailures: 2, ejectMs: 60_000 } }, { probe: trustingProbe });
  t.teardown(() => proxy.close());
  for (let i = 0; i < 8; i++) t.equal((await send(proxy.url, `/r${i}`)).status, 200, `request ${i}: 200 (a refused certificate is a connection never made: retried)`);
  const ejected = proxy.logs.find({ msg: 'target ejected after consecutive failures' });
  t.equal(ejected.length, 1, 'the https target was ejected on passive evidence');
  t.equal(ejected[0]!.target, `https://127.0.0.1:${untrusted.port}`);
});

t.test('health checks use the pool TLS: an untrusted target is unhealthy, a trusted one healthy', async (t) => {
  const ca = testCa(t);
  const pair = ca.leaf('upstream', ['127.0.0.1']);
  const [one, two] = [await httpsUpstream(t, pair), await httpsUpstream(t, pair)];
  const proxy = await startProxy({ without: [`https://127.0.0.1:${one.port}`], with: { targets: [`https://127.0.0.1:${two.port}`], tls: { ca: ca.caFile } } },
    { ...FAST_CHECKS, routing: { initial: { with: 100, without: 0 } } });
  t.teardown(() => proxy.close());
  const without = proxy.switchyard.pools.get('without')!.targets[0]!;
  const withCa = proxy.switchyard.pools.get('with')!.targets[0]!;
  await waitFor('both checked', () => without.lastCheck !== null && withCa.lastCheck !== null);
  t.equal(without.ready, false, 'no CA: not ready');
  t.match(without.lastCheck!.error, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/, `its check names the refusal (${without.lastCheck!.error})`);
  t.equal(withCa.ready, true, 'with the CA: ready');
  t.equal(withCa.lastCheck!.status, 200);
  t.equal((await send(proxy.url, '/')).status, 200);
});

t.test('servername: the SNI and the name checked, for requests and health checks', async (t) => {
  const ca = testCa(t);
  const upstream = await httpsUpstream(t, ca.leaf('api', ['api.internal']));
  const target = `https://127.0.0.1:${upstream.port}`;

  const named = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile, servername: 'api.internal' } } }, FAST_CHECKS);
  t.teardown(() => named.close());
  const answer = await send(named.url, '/named', { headers: { host: 'shop.example.com' } });
  t.equal(answer.status, 200);
  t.ok(upstream.connections.length >= 2, 'health checks and the request connected');
  t.same(new Set(upstream.connections.map((connection) => connection.servername)), new Set(['api.internal']), 'every connection sent SNI api.internal');
  t.equal(named.switchyard.pools.get('blue')!.targets[0]!.servername, 'api.internal', 'the target carries the one server name');

  // Without the override the certificate is checked against 127.0.0.1, which it does not name.
  const unnamed = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile } } }, {}, { probe: trustingProbe });
  t.teardown(() => unnamed.close());
  t.equal((await send(unnamed.url, '/unnamed')).status, 502);
  t.match(String(unnamed.logs.find({ kind: 'access', status: 502 })[0]!.error), /ERR_TLS_CERT_ALTNAME_INVALID/);
  t.notOk(upstream.requests.some((request) => request.path === '/unnamed'));
});

t.test('verify: false accepts an untrusted certificate', async (t) => {
  const ca = testCa(t);
  const upstream = await httpsUpstream(t, ca.leaf('upstream', ['elsewhere.example']));
  const proxy = await startProxy({ blue: { targets: [`https://127.0.0.1:${upstream.port}`], tls: { verify: false } } }, FAST_CHECKS);
  t.teardown(() => proxy.close());
  t.equal((await send(proxy.url, '/any')).status, 200, 'neither the CA nor the name checked');
  t.equal(proxy.switchyard.pools.get('blue')!.targets[0]!.lastCheck?.ok, true, 'the health check accepts it too');
});

t.test('a reload that adds `ca` reaches new connections', async (t) => {
  const ca = testCa(t);
  const upstream = await httpsUpstream(t, ca.leaf('upstream', ['127.0.0.1']));
  const file = join(ca.dir, 'switchyard.yaml');
  const config = (tls: string) => `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
healthCheck: { intervalMs: 100, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 1 }
pools:
  blue:
    targets: ["https://127.0.0.1:${upstream.port}"]
${tls}`;
  writeFileSync(file, config(''));
  const switchyard = await Switchyard.start(loadConfigFile(file), { configPath: file, logDestination: new LogSink(), probe: trustingProbe });
  t.teardown(() => switchyard.close());
  t.equal((await send(switchyard.proxyUrl, '/before')).status, 502);
  writeFileSync(file, config(`    tls: { ca: ${ca.caFile} }`));
  await switchyard.reload();
  t.equal((await send(switchyard.proxyUrl, '/after')).status, 200, 'the same target, now trusted');
});
