// Request buffering (#11 fault 9): a request body is read, whole or up to
// REQUEST_BODY_BUFFER_BYTES, before the request is given a target's connection, as HAProxy's
// `option http-buffer-request` and nginx's `proxy_request_buffering on` do. A slow upload holds
// no upstream connection; a body that fits goes upstream as one Buffer with its length.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { REQUEST_BODY_BUFFER_BYTES } from '../../src/proxy/request-body-buffer.js';
import { Flag } from '../../src/pool/health-flags.js';
import { patternSha, patternStream, rawRequest, send, sha256Of, waitFor, withDeadline, type RawExchange } from '../helpers/http-client.js';
import { accessFor, accessLines, inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';
import type { Handler, Upstream } from '../helpers/upstream.js';

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  sha: string;
  bytes: number;
}

/** Hashes each request body and answers `{ sha, bytes }`; records what it received. */
function hashingUpstream(): { received: Received[]; handler: Handler } {
  const received: Received[] = [];
  const handler: Handler = (req, res) => {
    sha256Of(req).then(({ sha, bytes }) => {
      received.push({ url: req.url!, headers: req.headers, sha, bytes });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sha, bytes }));
    }, () => res.destroy());
  };
  return { received, handler };
}

function countConnections(upstream: Upstream): () => number {
  let accepted = 0;
  upstream.server.on('connection', () => accepted++);
  return () => accepted;
}

/** The status code of a raw exchange's answer, once its connection closed. */
async function statusOf(raw: RawExchange): Promise<string> {
  await withDeadline(raw.ended, 5000, 'the answer and the close');
  return raw.received().toString('latin1').slice(9, 12);
}

t.test('bodies being read hold no upstream connection: one connection per target still serves others at once', async (t) => {
  const sink = hashingUpstream();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  const accepted = countConnections(upstream);
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxConnectionsPerTarget: 1 } });
  const pool = proxy.switchyard.pools.get('blue')!;
  const target = pool.targets[0]!;

  // Five uploads, each sent in part: Content-Length and chunked, one byte and just short of the buffer.
  const short = REQUEST_BODY_BUFFER_BYTES - 1;
  const uploads = [
    { framing: 'Content-Length: 10', first: 'x', rest: 'y'.repeat(9) },
    { framing: 'Content-Length: 5000', first: 'x'.repeat(4000), rest: 'y'.repeat(1000) },
    { framing: `Content-Length: ${short + 1}`, first: 'x'.repeat(short), rest: 'y' },
    { framing: 'Transfer-Encoding: chunked', first: '1\r\nx\r\n', rest: '3\r\nyyy\r\n0\r\n\r\n' },
    { framing: 'Transfer-Encoding: chunked', first: `${short.toString(16)}\r\n${'x'.repeat(short)}\r\n`, rest: '1\r\ny\r\n0\r\n\r\n' },
  ];
  const raws = uploads.map(({ framing, first }, i) =>
    rawRequest(proxy.url, `PUT /upload-${i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${framing}\r\n\r\n${first}`));
  t.teardown(() => raws.forEach((raw) => raw.socket.destroy()));
  await waitFor('the five uploads to be read', () => pool.inflight === uploads.length);
  t.equal(target.inflight, 0, 'not in the target\'s in-flight');
  t.equal(target.client.waiting, 0, 'not waiting for a connection');
  t.equal(accepted(), 0, 'no upstream connection taken');

  const get = await withDeadline(send(proxy.url, '/meanwhile'), 2000, 'a GET while the uploads are read');
  t.equal(get.status, 200, 'a GET is answered at once on the only connection');
  t.equal(accepted(), 1, 'one upstream connection, the GET\'s');

  raws.forEach((raw, i) => raw.socket.write(uploads[i]!.rest));
  const statuses = await Promise.all(raws.map(statusOf));
  t.same(statuses, uploads.map(() => '200'), 'each upload answered once whole');
  const bodies = sink.received.filter((request) => request.url.startsWith('/upload-')).sort((x, y) => x.url.localeCompare(y.url));
  t.same(bodies.map((request) => request.bytes), [10, 5000, short + 1, 4, short + 1], 'every body arrived whole');
  for (const request of bodies) {
    // A body read whole goes with its length, whatever framing the client used.
    t.equal(request.headers['content-length'], String(request.bytes), `${request.url}: Content-Length ${request.bytes}`);
    t.equal(request.headers['transfer-encoding'], undefined);
  }
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
});

t.test('bodies around the buffer size and a 1 MiB POST arrive whole (Content-Length and chunked)', async (t) => {
  const sink = hashingUpstream();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const sizes = [1, REQUEST_BODY_BUFFER_BYTES - 1, REQUEST_BODY_BUFFER_BYTES, REQUEST_BODY_BUFFER_BYTES + 1, 1024 * 1024];
  for (const size of sizes) {
    for (const chunked of [false, true]) {
      const headers = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': size };
      const answer = await send(proxy.url, `/size-${size}`, { method: 'POST', headers, body: patternStream(size) });
      t.same(JSON.parse(answer.body.toString()), { sha: patternSha(size), bytes: size }, `${size} bytes${chunked ? ', chunked' : ''}`);
    }
  }
  // Up to the buffer size a body is read whole and goes with its length, whatever the client's framing.
  const whole = sink.received.filter((request) => request.bytes <= REQUEST_BODY_BUFFER_BYTES);
  t.equal(whole.length, 6);
  t.ok(whole.every((request) => request.headers['content-length'] === String(request.bytes) && request.headers['transfer-encoding'] === undefined),
    'bodies up to the buffer size went with their Content-Length');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
});

t.test('a client that leaves while its body is read: 499 in the access log, nothing upstream, nothing left counted', async (t) => {
  const upstream = await upstreamFor(t, 'sink', hashingUpstream().handler);
  const accepted = countConnections(upstream);
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const pool = proxy.switchyard.pools.get('blue')!;

  for (const framing of ['Content-Length: 1000', 'Transfer-Encoding: chunked']) {
    const raw = rawRequest(proxy.url, `POST /leaving HTTP/1.1\r\nHost: a\r\n${framing}\r\n\r\n`);
    await waitFor('the upload to be read', () => pool.inflight === 1);
    raw.socket.destroy();
    await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
  }
  const lines = await waitFor('both access lines', () => {
    const found = accessLines(proxy).filter((line) => line.url === '/leaving');
    return found.length === 2 ? found : undefined;
  });
  for (const line of lines) t.match(line, { status: 499, pool: 'blue', target: null, error: /client closed/ });
  t.equal(accepted(), 0, 'the upstream accepted no connection');
});

t.test('a target that leaves service while a body is read is not used; with none left, 503 + Retry-After', async (t) => {
  const sinkA = hashingUpstream();
  const sinkB = hashingUpstream();
  const a = await upstreamFor(t, 'a', sinkA.handler);
  const b = await upstreamFor(t, 'b', sinkB.handler);
  const proxy = await proxyFor(t, { blue: [a.url, b.url] }, { passive: { consecutiveFailures: 100 } });
  const pool = proxy.switchyard.pools.get('blue')!;
  const [targetA, targetB] = pool.targets as [typeof pool.targets[0], typeof pool.targets[0]];

  // Four uploads, picked in turn at arrival: two of them for a.
  const raws = [0, 1, 2, 3].map((i) => rawRequest(proxy.url, `POST /moved-${i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 4\r\n\r\nxx`));
  t.teardown(() => raws.forEach((raw) => raw.socket.destroy()));
  await waitFor('the four uploads to be read', () => pool.inflight === 4);
  targetA.health.set(Flag.EJECTED, true);
  raws.forEach((raw) => raw.socket.write('yy'));
  t.same(await Promise.all(raws.map(statusOf)), ['200', '200', '200', '200']);
  t.equal(sinkA.received.length, 0, 'the ejected target got none');
  t.equal(sinkB.received.length, 4, 'the ready one got all four');

  const last = rawRequest(proxy.url, 'POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nxx');
  t.teardown(() => last.socket.destroy());
  await waitFor('the upload to be read', () => pool.inflight === 1);
  targetB.health.set(Flag.EJECTED, true);
  last.socket.write('yy');
  const text = await waitFor('an answer', () => {
    const received = last.received().toString('latin1');
    return received.includes('\r\n\r\n') ? received : undefined;
  });
  t.match(text, /^HTTP\/1\.1 503 [^]*\r\nretry-after: 1\r\n/i, '503 with Retry-After');
  t.match(await accessFor(proxy, '/nowhere'), { status: 503, pool: 'blue', target: null, error: 'no ready target' });
  t.ok(accessLines(proxy).filter((line) => line.url.startsWith('/moved-')).every((line) => line.target === b.url), 'the moved uploads name the target that served them');
  t.equal(sinkB.received.length, 4, 'nothing more reached an upstream');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
});

t.test('a drain and a graceful shutdown wait for a body being read; it is then answered', async (t) => {
  const sink = hashingUpstream();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [upstream.url], green: [green.url] }, { shutdown: { graceMs: 10_000 } });
  const pool = proxy.switchyard.pools.get('blue')!;

  const raw = rawRequest(proxy.url, 'POST /during-drain HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nxx');
  t.teardown(() => raw.socket.destroy());
  await waitFor('the upload to be read', () => pool.inflight === 1);
  const flipped = await fetch(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool: 'green' }) });
  t.equal(flipped.status, 200);
  await waitFor('blue to be draining', () => pool.state === 'draining');

  let closed = false;
  const closing = proxy.switchyard.close().then(() => (closed = true));
  await waitFor('shutdown to start', () => proxy.switchyard.proxy.closing);
  await new Promise((resolve) => setTimeout(resolve, 100)); // time for a shutdown that would not wait to end
  t.equal(closed, false, 'shutdown waits for the request whose body is being read');
  t.equal(pool.state, 'draining', 'the drain waits for it too');

  raw.socket.write('yy');
  const text = await waitFor('an answer', () => {
    const received = raw.received().toString('latin1');
    return received.includes('\r\n\r\n') ? received : undefined;
  });
  t.match(text, /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n/i, 'answered 200, with Connection: close');
  t.same(sink.received.map((request) => [request.url, request.bytes]), [['/during-drain', 4]]);
  await withDeadline(closing, 5000, 'shutdown to finish');
  t.equal(pool.state, 'drained');
});
