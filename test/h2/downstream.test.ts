// Downstream HTTP/2 (SPEC §14): h2c with prior knowledge on the plain listener and ALPN h2 on
// the HTTPS one, beside HTTP/1.1 clients on the same ports. Every stream is routed like a
// request — a flip moves the very next stream of an open session — and reaches an HTTP/1.1
// upstream with the usual forwarding headers; its access line says `proto: "2"`.
import { execFile } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { testCa } from '../helpers/certs.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { send } from '../helpers/http-client.js';
import { inflightTotal } from '../helpers/data-plane.js';
import { h2Request, h2Session } from './h2-client.js';

async function accessLine(proxy: TestProxy, url: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 2000;
  while (proxy.logs.find({ kind: 'access', url }).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return proxy.logs.find({ kind: 'access', url })[0] ?? {};
}

function run(command: string, args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(command, args, (error, out, err) => resolve({ code: error === null ? 0 : (error as { code?: number }).code ?? 1, out, err }));
  });
}

t.test('h2c prior knowledge on the plain listener: routed, forwarded, trailers relayed; HTTP/1.1 on the same port unchanged', async (t) => {
  const upstream = await startUpstream('blue', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', trailer: 'x-checksum' });
      res.write(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
    });
  });
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] });
  t.teardown(() => proxy.close());
  const session = await h2Session(proxy.url);
  t.teardown(() => session.close());

  const get = await h2Request(session, { ':path': '/h2/get?q=1', cookie: 'a=1', 'x-custom': 'yes' });
  t.equal(get.status, 200);
  const seen = JSON.parse(get.body);
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/h2/get?q=1');
  t.equal(seen.headers.host, new URL(proxy.url).host, ':authority became Host');
  t.equal(seen.headers['x-custom'], 'yes');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.ok(seen.headers['x-request-id'], 'a request id');
  t.notOk(Object.keys(seen.headers).some((name) => name.startsWith(':')), 'no pseudo-header reaches an HTTP/1.1 upstream');
  t.equal(get.trailers['x-checksum'], 'abc', 'the upstream trailer reaches the HTTP/2 client');

  const post = await h2Request(session, { ':method': 'POST', ':path': '/h2/post', 'content-type': 'text/plain' }, 'hello over h2');
  t.equal(JSON.parse(post.body).body, 'hello over h2', 'a body without Content-Length is forwarded whole');

  // Split cookie fields (RFC 9113 §8.2.3) reach HTTP/1.1 as one line.
  const stream = session.request({ ':path': '/h2/cookies', cookie: ['a=1', 'b=2'] });
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => stream.on('end', resolve));
  t.equal(JSON.parse(Buffer.concat(chunks).toString()).headers.cookie, 'a=1; b=2');

  const line = await accessLine(proxy, '/h2/get?q=1');
  t.equal(line.proto, '2', 'the access line says HTTP/2');
  t.equal(line.status, 200);

  const plain = await send(proxy.url, '/h1/get');
  t.equal(plain.status, 200, 'an HTTP/1.1 client on the same port');
  t.equal((await accessLine(proxy, '/h1/get')).proto, '1.1');
  const metrics = (await send(proxy.admin, '/metrics')).body.toString();
  t.match(metrics, /switchyard_requests_by_proto_total\{pool="blue",proto="2"\} 3\b/, 'three HTTP/2 requests counted');
  t.match(metrics, /switchyard_requests_by_proto_total\{pool="blue",proto="1\.1"\} 1\b/, 'one HTTP/1.1 request counted');
});

t.test('a flip moves the very next stream of an open HTTP/2 session', async (t) => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] });
  t.teardown(() => proxy.close());
  const session = await h2Session(proxy.url);
  t.teardown(() => session.close());
  t.equal(JSON.parse((await h2Request(session, { ':path': '/before' })).body).name, 'blue');
  const flipped = await send(proxy.admin, '/flip', { method: 'POST', body: JSON.stringify({ pool: 'green' }), headers: { 'content-type': 'application/json' } });
  t.equal(flipped.status, 200);
  for (let i = 0; i < 20; i++) t.equal(JSON.parse((await h2Request(session, { ':path': `/after/${i}` })).body).name, 'green', `stream ${i} after the flip`);
});

t.test('ALPN h2 on the HTTPS listener; http/1.1 clients and tls.http2: false still get HTTP/1.1', async (t) => {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const tls = { host: '127.0.0.1', port: 0, certificates: [{ cert: site.certFile, key: site.keyFile }] };
  const proxy = await startProxy({ blue: [upstream.url] }, { tls });
  t.teardown(() => proxy.close());
  const port = (proxy.switchyard.tls!.server.address() as AddressInfo).port;
  const session = await h2Session(`https://site.test:${port}`, { ca: ca.ca, host: '127.0.0.1', servername: 'site.test' } as never);
  t.teardown(() => session.close());
  t.equal(session.alpnProtocol, 'h2');
  const answer = await h2Request(session, { ':path': '/over-tls', ':authority': `site.test:${port}` });
  t.equal(answer.status, 200);
  t.equal(JSON.parse(answer.body).headers['x-forwarded-proto'], 'https');
  const line = await accessLine(proxy, '/over-tls');
  t.equal(line.proto, '2');
  t.equal(line.listener, 'tls');

  const alpnOf = (host: number, protocols: string[]) => new Promise<string | false>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: host, servername: 'site.test', ca: ca.ca, ALPNProtocols: protocols }, () => {
      resolve(socket.alpnProtocol ?? false);
      socket.destroy();
    });
    socket.on('error', reject);
  });
  t.equal(await alpnOf(port, ['http/1.1']), 'http/1.1', 'an HTTP/1.1-only client is served HTTP/1.1');
  t.equal(await alpnOf(port, ['h2', 'http/1.1']), 'h2', 'h2 is preferred when offered');

  const h1Only = await startProxy({ blue: [upstream.url] }, { tls: { ...tls, http2: false } });
  t.teardown(() => h1Only.close());
  const h1Port = (h1Only.switchyard.tls!.server.address() as AddressInfo).port;
  t.equal(await alpnOf(h1Port, ['h2', 'http/1.1']), 'http/1.1', 'tls.http2: false offers only http/1.1');

  // curl as a user would: --http2 over TLS, --http2-prior-knowledge in clear.
  const overTls = await run('curl', ['-sS', '--http2', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_version}', '--resolve', `site.test:${port}:127.0.0.1`,
    '--cacert', ca.caFile, `https://site.test:${port}/curl-tls`]);
  t.equal(overTls.out, '2', `curl --http2 negotiates HTTP/2${overTls.err === '' ? '' : `: ${overTls.err}`}`);
  const clear = await run('curl', ['-sS', '--http2-prior-knowledge', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_version}', `${proxy.url}/curl-h2c`]);
  t.equal(clear.out, '2', `curl --http2-prior-knowledge speaks h2c${clear.err === '' ? '' : `: ${clear.err}`}`);
});

t.test('gRPC requests the proxy cannot serve get a gRPC status, not an HTTP error', async (t) => {
  const proxy = await startProxy({ blue: ['http://127.0.0.1:1'] }, { healthCheck: { intervalMs: 60000, timeoutMs: 200 } });
  t.teardown(() => proxy.close());
  const session = await h2Session(proxy.url);
  t.teardown(() => session.close());
  const answer = await h2Request(session, { ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' },
    Buffer.from([0, 0, 0, 0, 0]));
  t.equal(answer.status, 200, 'HTTP 200');
  t.equal(answer.headers['grpc-status'], '14', 'UNAVAILABLE in a trailers-only answer');
  t.match(String(answer.headers['grpc-message']), /no ready target/);
  t.same(answer.trailers, {}, 'no separate trailers frame');
  const line = await accessLine(proxy, '/pkg.Svc/Call');
  t.equal(line.grpcStatus, 14);
  t.equal(line.proto, '2');
  t.match((await send(proxy.admin, '/metrics')).body.toString(), /switchyard_grpc_responses_total\{pool="blue",grpc_status="14"\} 1\b/);

  // A non-gRPC HTTP/2 request keeps its HTTP answer.
  const plain = await h2Request(session, { ':path': '/plain' });
  t.equal(plain.status, 503);
});

t.test('an upstream that does not answer in time: DEADLINE_EXCEEDED for gRPC, 504 for HTTP', async (t) => {
  const upstream = await startUpstream('slow', () => undefined); // never answers
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, { timeouts: { headersMs: 300 } }, { probe: async () => ({ ok: true, status: 200, ms: 0 }) });
  t.teardown(() => proxy.close());
  const session = await h2Session(proxy.url);
  t.teardown(() => session.close());
  const grpc = await h2Request(session, { ':method': 'POST', ':path': '/pkg.Svc/Slow', 'content-type': 'application/grpc+proto' }, Buffer.from([0, 0, 0, 0, 0]));
  t.equal(grpc.headers['grpc-status'], '4');
  const http = await h2Request(session, { ':path': '/slow' });
  t.equal(http.status, 504);
});

t.test('shutdown sends GOAWAY: the open stream finishes, the session takes no new one', async (t) => {
  let release: (() => void) | null = null;
  const upstream = await startUpstream('blue', (req, res) => {
    req.resume();
    if (req.url === '/slow') release = () => res.end('slow done');
    else res.end('fast');
  });
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, { shutdown: { graceMs: 10000 } });
  const session = await h2Session(proxy.url);
  t.teardown(() => session.destroy());
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const slow = h2Request(session, { ':path': '/slow' });
  const deadline = Date.now() + 5000;
  while (release === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  t.ok(release, 'the slow request reached the upstream');
  const closed = proxy.close();
  t.equal(await goaway, 0, 'GOAWAY with NO_ERROR');
  await t.rejects(h2Request(session, { ':path': '/after' }), 'no new stream on a session that got GOAWAY');
  release!();
  const answer = await slow;
  t.equal(answer.body, 'slow done', 'the in-flight stream finished');
  await closed;
});

t.test('malformed HTTP/2 and a rapid-reset flood do not take the listener down or starve others', async (t) => {
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] });
  t.teardown(() => proxy.close());
  const { hostname, port } = new URL(proxy.url);

  // A preface followed by garbage: that connection is closed, nothing else happens.
  const { connect } = await import('node:net');
  const garbage = connect(Number(port), hostname);
  garbage.on('error', () => undefined);
  garbage.resume(); // read to the end: 'close' follows the proxy's GOAWAY and FIN
  await new Promise((resolve) => garbage.once('connect', resolve));
  garbage.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 4, 0xff, 0, 0, 0, 0, 0]), Buffer.alloc(64, 0xee)]));
  await new Promise((resolve) => garbage.once('close', resolve));
  t.pass('the malformed connection was closed');

  // Rapid reset: open streams and cancel each at once, in a loop.
  const attacker = await h2Session(proxy.url);
  const closedBy = new Promise<string>((resolve) => {
    attacker.once('goaway', (code: number) => resolve(`goaway ${code}`));
    attacker.once('close', () => resolve('close'));
  });
  for (let i = 0; i < 2000 && !attacker.closed && !attacker.destroyed; i++) {
    try {
      const stream = attacker.request({ ':path': `/reset/${i}` });
      stream.on('error', () => undefined);
      stream.close(0x8); // CANCEL
    } catch {
      break; // the session is going away
    }
  }
  const outcome = await Promise.race([closedBy, new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 3000))]);
  attacker.destroy();
  t.comment(`rapid reset outcome: ${outcome}`);

  // Another client is served meanwhile and after.
  const other = await h2Session(proxy.url);
  t.teardown(() => other.close());
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => h2Request(other, { ':path': `/other/${i}` })));
  t.ok(answers.every((answer) => answer.status === 200), 'another HTTP/2 client is served');
  t.equal((await send(proxy.url, '/h1-after')).status, 200, 'and an HTTP/1.1 one');
  const deadline = Date.now() + 5000;
  while (inflightTotal(proxy) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(inflightTotal(proxy), 0, 'every reset stream left the in-flight count');
});

t.test('an h2c preface that never completes is closed within limits.requestHeadMs', async (t) => {
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, { limits: { requestHeadMs: 300 } });
  t.teardown(() => proxy.close());
  const { hostname, port } = new URL(proxy.url);
  const { connect } = await import('node:net');
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  socket.resume();
  await new Promise((resolve) => socket.once('connect', resolve));
  const started = Date.now();
  socket.write('PRI * HTTP/2.0\r\n'); // a prefix of the preface, then silence
  await new Promise((resolve) => socket.once('close', resolve));
  const waited = Date.now() - started;
  t.ok(waited >= 250 && waited < 5000, `closed after ${waited} ms`);
});

t.test('an HTTP/2 client that goes away: its streams end (499), nothing stays in flight, the upstream request is aborted', async (t) => {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const aborted: string[] = [];
  const upstream = await startUpstream('slow', (req, res) => {
    req.resume();
    res.on('close', () => {
      if (!res.writableFinished) aborted.push(req.url ?? '');
    });
    setTimeout(() => res.end('late'), 20_000).unref();
  });
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, { tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: site.certFile, key: site.keyFile }] } },
    { probe: async () => ({ ok: true, status: 200, ms: 0 }) });
  t.teardown(() => proxy.close());
  const tlsPort = (proxy.switchyard.tls!.server.address() as AddressInfo).port;
  const { connect: netConnect } = await import('node:net');
  const { connect: h2Connect } = await import('node:http2');
  for (const [listener, open] of [
    ['plain (h2c)', () => netConnect(Number(new URL(proxy.url).port), '127.0.0.1')],
    ['tls (h2)', () => tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'site.test', ca: ca.ca, ALPNProtocols: ['h2'] })],
  ] as const) {
    let socket: ReturnType<typeof open> | null = null;
    const slug = listener.startsWith('tls') ? 'tls' : 'plain';
    const authority = listener.startsWith('tls') ? `https://site.test:${tlsPort}` : proxy.url;
    const session = h2Connect(authority, { createConnection: () => (socket = open()) });
    session.on('error', () => undefined);
    for (let i = 0; i < 3; i++) session.request({ ':path': `/gone/${slug}/${i}` }).on('error', () => undefined);
    const deadline = Date.now() + 5000;
    while (upstream.seen.filter((req) => req.url?.startsWith(`/gone/${slug}`)).length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(inflightTotal(proxy) > 0, true, `${listener}: three streams in flight`);
    socket!.destroy(); // the client vanishes: no RST_STREAM, no GOAWAY
    while (inflightTotal(proxy) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(inflightTotal(proxy), 0, `${listener}: nothing left in flight`);
    for (let i = 0; i < 3; i++) t.equal((await accessLine(proxy, `/gone/${slug}/${i}`)).status, 499, `${listener}: stream ${i} logged 499`);
    while (aborted.filter((url) => url.startsWith(`/gone/${slug}`)).length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(aborted.filter((url) => url.startsWith(`/gone/${slug}`)).length, 3, `${listener}: the upstream requests were aborted`);
  }
});

t.test('a HEADERS block never finished (slowloris over HTTP/2) does not hold its connection for good', async (t) => {
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, { timeouts: { keepAliveMs: 300 }, limits: { requestHeadMs: 300 } });
  t.teardown(() => proxy.close());
  const { connect } = await import('node:net');
  const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  await new Promise((resolve) => socket.once('connect', resolve));
  const started = Date.now();
  socket.write(Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), // SETTINGS, empty
    // HEADERS on stream 1: :method GET, :path /, :scheme http (HPACK indexed), END_STREAM but no END_HEADERS.
    Buffer.from([0, 0, 3, 1, 0x01, 0, 0, 0, 1, 0x82, 0x84, 0x86]),
  ]));
  await new Promise((resolve) => socket.once('close', resolve));
  const waited = Date.now() - started;
  t.ok(waited < 5000, `closed after ${waited} ms (keepAliveMs 300 + requestHeadMs 300)`);
  t.equal(inflightTotal(proxy), 0);
});

t.test('limits.maxHeaderBytes holds for HTTP/2 as for HTTP/1.1: larger header lists get 431, smaller ones pass, above 16 KiB too', async (t) => {
  // An upstream that takes large heads itself (Node's default is 16 KiB).
  const { createServer } = await import('node:http');
  const server = createServer({ maxHeaderSize: 65536 }, (req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  const upstream = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  for (const limit of [8192, 32768]) {
    const proxy = await startProxy({ blue: [upstream.url] }, { limits: { maxHeaderBytes: limit } });
    t.teardown(() => proxy.close());
    const session = await h2Session(proxy.url);
    t.teardown(() => session.close());
    const h1Under = await send(proxy.url, '/h1-under', { headers: { 'x-big': 'a'.repeat(limit - 200) } });
    const h1Over = await send(proxy.url, '/h1-over', { headers: { 'x-big': 'a'.repeat(limit + 100) } }).catch(() => ({ status: 0 }));
    const under = await h2Request(session, { ':path': '/h2-under', 'x-big': 'a'.repeat(limit - 200) });
    const over = await h2Request(session, { ':path': '/h2-over', 'x-big': 'a'.repeat(limit + 100) });
    t.equal(h1Under.status, 200, `${limit}: HTTP/1.1 under the limit`);
    t.equal(h1Over.status, 431, `${limit}: HTTP/1.1 over the limit`);
    t.equal(under.status, 200, `${limit}: HTTP/2 under the limit`);
    t.equal(over.status, 431, `${limit}: HTTP/2 over the limit`);
    t.equal((await h2Request(session, { ':path': '/h2-after' })).status, 200, `${limit}: the session serves on`);
  }
});
