// The edge HTTPS listener (SPEC §13): each SNI name gets its own pair (exact and one-label
// wildcard names from the SAN list), an unknown name and a client without SNI get the first
// pair; clients that verify against the CA succeed (node and curl, as a user would); requests
// reach the upstream with X-Forwarded-Proto: https and are logged as the TLS listener's.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket, type ClientOptions } from 'ws';
import { testCa } from '../helpers/certs.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { send } from '../helpers/http-client.js';
import { echo, startWsUpstream } from '../helpers/tunnel.js';
import { handshake, httpsGet, serialOf } from './tls-client.js';

function tlsPort(proxy: { switchyard: { tls: { server: { address(): unknown } } | null } }): number {
  return (proxy.switchyard.tls!.server.address() as AddressInfo).port;
}

/** A proxy in front of `upstream` whose HTTPS listener serves one pair for site.test (`tls` and `overrides` added to its config). */
async function siteProxy(t: Test, upstream: string, tls: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const proxy = await startProxy({ blue: [upstream] }, {
    tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: site.certFile, key: site.keyFile }], ...tls }, ...overrides,
  });
  return { ca, proxy, port: tlsPort(proxy) };
}

/** The access line for `url`, once written (lines go out a loop turn after the response). */
async function accessLineOf(proxy: TestProxy, url: string): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + 2000;
  while (proxy.logs.find({ kind: 'access', url }).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return proxy.logs.find({ kind: 'access', url })[0];
}

t.test('SNI picks the pair; unknown names and no SNI get the default', async (t) => {
  const ca = testCa(t);
  const one = ca.leaf('one', ['one.test']);
  const two = ca.leaf('two', ['two.test', '*.wild.test']);
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, {
    tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: one.certFile, key: one.keyFile }, { cert: two.certFile, key: two.keyFile }] },
  });
  t.teardown(() => proxy.close());
  const port = tlsPort(proxy);
  t.match(proxy.switchyard.tlsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const listening = proxy.logs.find({ msg: 'switchyard listening' })[0]!;
  t.equal(listening.tls, proxy.switchyard.tlsUrl, 'the startup line names the TLS listener');

  const cases: Array<[string | undefined, string, boolean | null]> = [
    ['one.test', serialOf(one.cert), true],
    ['two.test', serialOf(two.cert), true],
    ['TWO.test', serialOf(two.cert), true], // names are case-insensitive
    ['a.wild.test', serialOf(two.cert), true], // the wildcard covers one label
    ['a.b.wild.test', serialOf(one.cert), false], // ... not two: the default
    ['wild.test', serialOf(one.cert), false], // ... nor none
    ['unknown.test', serialOf(one.cert), false],
    [undefined, serialOf(one.cert), null], // no SNI: the listener's own context
  ];
  for (const [servername, serial, verifies] of cases) {
    const served = await handshake(port, { servername, ca: ca.ca });
    t.equal(served.serial, serial, `${servername ?? 'no SNI'}: serial ${serial}`);
    // Without SNI node checks the certificate against the IP it dialled, which no leaf names.
    if (servername !== undefined) t.equal(served.authorized, verifies, `${servername}: ${verifies ? 'verifies' : 'name mismatch'} against the CA`);
    t.equal(served.alpn, false, 'no ALPN offered, none chosen');
  }
  const alpn = await handshake(port, { servername: 'one.test', ca: ca.ca, extra: { ALPNProtocols: ['h2', 'http/1.1'] } });
  t.equal(alpn.alpn, 'h2', 'ALPN: h2 first when the client offers it (tls.http2 defaults to true, SPEC §14)');
});

t.test('HTTPS requests: verified by the CA, X-Forwarded-Proto https, access line with listener tls, curl as a user', async (t) => {
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const { ca, proxy, port } = await siteProxy(t, upstream.url, {}, { log: { level: 'info', access: true } });
  t.teardown(() => proxy.close());

  const answer = await httpsGet(port, '/hello?x=1', 'site.test', ca.ca);
  t.equal(answer.status, 200);
  const seen = JSON.parse(answer.body) as { url: string; headers: Record<string, string> };
  t.equal(seen.url, '/hello?x=1');
  t.equal(seen.headers['x-forwarded-proto'], 'https', 'the upstream is told the client used https');
  t.equal(seen.headers['x-forwarded-host'], `site.test:${port}`);
  const plain = await send(proxy.url, '/plain');
  t.equal((JSON.parse(plain.body.toString()) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http', 'the plain listener still says http');

  const curl = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', '--resolve', `site.test:${port}:127.0.0.1`, '--cacert', ca.caFile, `https://site.test:${port}/from-curl`],
      (error, out, err) => resolve({ code: error === null ? 0 : (error as { code?: number }).code ?? -1, out, err }));
  });
  t.equal(curl.code, 0, `curl verifies the certificate and gets an answer${curl.err === '' ? '' : `: ${curl.err}`}`);
  t.match(JSON.parse(curl.out), { name: 'blue', url: '/from-curl', headers: { 'x-forwarded-proto': 'https' } });

  t.match(await accessLineOf(proxy, '/from-curl'), { status: 200, pool: 'blue', listener: 'tls' });
  t.notOk('listener' in (await accessLineOf(proxy, '/plain'))!, 'the plain listener\'s lines carry no listener field');
});

t.test('minVersion TLSv1.3 refuses a TLS 1.2 client and keeps serving', async (t) => {
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const { ca, proxy, port } = await siteProxy(t, upstream.url, { minVersion: 'TLSv1.3' });
  t.teardown(() => proxy.close());
  await t.rejects(handshake(port, { servername: 'site.test', ca: ca.ca, extra: { maxVersion: 'TLSv1.2' } }), 'a TLS 1.2 client is refused');
  t.equal((await handshake(port, { servername: 'site.test', ca: ca.ca })).protocol, 'TLSv1.3');
  t.equal((await httpsGet(port, '/', 'site.test', ca.ca)).status, 200);
});

t.test('WebSocket over TLS: tunnelled with X-Forwarded-Proto https, logged as the TLS listener\'s', async (t) => {
  const upstream = await startWsUpstream('blue');
  t.teardown(() => upstream.close());
  const { ca, proxy, port } = await siteProxy(t, upstream.url, {}, { log: { level: 'info', access: true } });
  t.teardown(() => proxy.close());
  // ws hands its options on to tls.connect (its types leave out servername).
  const options: ClientOptions & { servername: string } = { ca: ca.ca, servername: 'site.test', headers: { host: `site.test:${port}` } };
  const ws = new WebSocket(`wss://127.0.0.1:${port}/chat`, options);
  await once(ws, 'open');
  t.equal((await echo(ws, 'hi')).data.toString(), 'blue:hi');
  const seen = upstream.seen.find((req) => req.url === '/chat')!;
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  ws.close();
  await once(ws, 'close');
  t.match(await accessLineOf(proxy, '/chat'), { status: 101, listener: 'tls' });
});

t.test('shutdown: an HTTPS request in flight finishes, then the TLS listener is gone', async (t) => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const upstream = await startUpstream('blue', (req, res) => {
    if (req.url !== '/slow') return void res.end('ok');
    void held.then(() => res.end('slow done'));
  });
  t.teardown(() => upstream.close());
  const { ca, proxy, port } = await siteProxy(t, upstream.url, {}, { shutdown: { graceMs: 5000 } });
  const slow = httpsGet(port, '/slow', 'site.test', ca.ca);
  while (!upstream.seen.some((req) => req.url === '/slow')) await new Promise((resolve) => setTimeout(resolve, 5));
  const closed = proxy.close();
  // Not accepting any more, while the request runs.
  while (proxy.switchyard.tls!.server.listening) await new Promise((resolve) => setTimeout(resolve, 5));
  await t.rejects(handshake(port, { servername: 'site.test', ca: ca.ca }), 'no new handshake once shutdown started');
  release();
  const answer = await slow;
  t.equal(answer.status, 200);
  t.equal(answer.body, 'slow done', 'the request in flight got its whole answer');
  await closed;
});
