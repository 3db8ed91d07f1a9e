// SPEC §13 mTLS to upstreams: a real node:https upstream that demands a client certificate
// signed by the test CA (requestCert, rejectUnauthorized). Without `pools.NAME.tls.cert/key`
// (or with a certificate from another CA) the handshake is refused: 502 and a failing health
// check; with them every connection, health checks included, presents the pool's certificate.
import t from 'tap';
import { testCa } from '../helpers/certs.js';
import { send, waitFor } from '../helpers/http-client.js';
import { httpsUpstream } from '../helpers/https-upstream.js';
import { startProxy, trustingProbe } from '../helpers/proxy.js';

const FAST_CHECKS = { healthCheck: { intervalMs: 100, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 1 } };

t.test('an upstream demanding a client certificate', async (t) => {
  const ca = testCa(t);
  const stranger = testCa(t, 'Stranger CA');
  const client = ca.leaf('client', ['client.switchyard.test']);
  const foreign = stranger.leaf('foreign', ['foreign.switchyard.test']);
  const upstream = await httpsUpstream(t, { ...ca.leaf('upstream', ['127.0.0.1']), ca: ca.ca, requestCert: true, rejectUnauthorized: true });
  const target = `https://127.0.0.1:${upstream.port}`;

  t.test('no client certificate: 502, and the health check fails', async (t) => {
    const proxy = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile } } }, {}, { probe: trustingProbe });
    t.teardown(() => proxy.close());
    for (let i = 0; i < 3; i++) t.equal((await send(proxy.url, `/anonymous/${i}`)).status, 502);
    t.notOk(upstream.requests.some((request) => request.path.startsWith('/anonymous')), 'the upstream served nothing');
    t.equal((await send(proxy.admin, '/healthz')).status, 200, 'the process keeps serving');

    const checked = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile } } }, FAST_CHECKS);
    t.teardown(() => checked.close());
    const checkedTarget = checked.switchyard.pools.get('blue')!.targets[0]!;
    await waitFor('a check', () => checkedTarget.lastCheck);
    t.equal(checkedTarget.ready, false, `not ready (${checkedTarget.lastCheck!.error})`);
  });

  t.test('a client certificate from a CA the upstream does not trust: 502', async (t) => {
    const proxy = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile, cert: foreign.certFile, key: foreign.keyFile } } }, {},
      { probe: trustingProbe });
    t.teardown(() => proxy.close());
    t.equal((await send(proxy.url, '/foreign')).status, 502);
    t.notOk(upstream.requests.some((request) => request.path === '/foreign'));
  });

  t.test('cert and key: served, the upstream sees the client certificate on every connection', async (t) => {
    const before = upstream.connections.length;
    const proxy = await startProxy({ blue: { targets: [target], tls: { ca: ca.caFile, cert: client.certFile, key: client.keyFile } } }, FAST_CHECKS);
    t.teardown(() => proxy.close());
    const answer = await send(proxy.url, '/mtls');
    t.equal(answer.status, 200);
    t.equal(answer.body.toString(), 'client.switchyard.test', 'the upstream saw the client certificate\'s subject');
    const mine = upstream.connections.slice(before);
    t.ok(mine.length >= 2, 'the health check and the request each connected');
    t.same(new Set(mine.map((connection) => connection.clientCn)), new Set(['client.switchyard.test']), 'health checks present it too');
  });
});
