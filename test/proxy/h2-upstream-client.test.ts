// The upstream HTTP/2 client against real node:http2 servers (h2c and TLS) and a real grpc-js
// server, driven as the Exchange drives it: undici legacy dispatch-handler callbacks.
import * as grpc from '@grpc/grpc-js';
import http2, { type ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { PassThrough, type Duplex } from 'node:stream';
import { createSecureContext } from 'node:tls';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import type { Dispatcher } from 'undici';
import { H2_NOT_NEGOTIATED, H2_REFUSED_STREAM, H2_STREAM_RESET, H2UpstreamClient } from '../../src/proxy/h2-upstream-client.js';
import type { UpstreamTlsOptions } from '../../src/tls/upstream-tls.js';
import { testCa } from '../helpers/certs.js';
import { h2Upstream, RecordingHandler } from '../helpers/h2-upstream.js';
import { waitFor } from '../helpers/http-client.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

const OPTIONS = { connectMs: 2000, headersMs: 5000 };

function client(t: Test, origin: string, options: Partial<typeof OPTIONS & { connections: number }> = {}, servername: string | null = null,
  tlsSource: { current: UpstreamTlsOptions } | null = null): H2UpstreamClient {
  const made = new H2UpstreamClient(origin, { ...OPTIONS, ...options }, servername, tlsSource);
  t.teardown(() => made.destroy());
  return made;
}

function request(path: string, headers: string[] = [], extra: Partial<Dispatcher.DispatchOptions> = {}): Dispatcher.DispatchOptions {
  return { path, method: 'GET', headers: ['host', 'app.test', ...headers], body: null, ...extra };
}

/** Dispatches and waits for the outcome. */
async function send(upstream: H2UpstreamClient, options: Dispatcher.DispatchOptions, handler = new RecordingHandler(() => upstream.takeFreshConnection())): Promise<RecordingHandler> {
  upstream.dispatch(options, handler);
  await handler.done;
  return handler;
}

/** Answers `200` with the request's method, path, authority, scheme and headers as JSON, and its body. */
function echo(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, raw: string[]): void {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-dup': ['a', 'b'], 'set-cookie': ['c=1', 'd=2'] });
    stream.end(JSON.stringify({ headers, raw, body: Buffer.concat(chunks).toString() }));
  });
}

t.test('GET over h2c: pseudo-headers from the request, Host → :authority, connection-specific fields dropped, duplicates kept both ways', async (t) => {
  const upstream = await h2Upstream(t, echo);
  const h2 = client(t, upstream.origin);
  const first = await send(h2, request('/a?b=1', [
    'X-Multi', '1', 'x-multi', '2', 'Connection', 'keep-alive', 'keep-alive', 'timeout=5', 'transfer-encoding', 'chunked',
    'upgrade', 'foo', 'proxy-connection', 'x', 'te', 'trailers', 'Accept', 'text/plain',
  ]));
  t.same(first.events, ['connect', 'started', 'headers 200', 'data', 'complete']);
  t.equal(first.status, 200);
  t.same(first.header('x-dup'), ['a', 'b'], 'duplicate response fields arrive as separate pairs');
  t.same(first.header('set-cookie'), ['c=1', 'd=2']);
  t.notOk(first.headers.some((name, i) => i % 2 === 0 && name.toString().startsWith(':')), 'no pseudo-headers in the raw pairs');
  t.ok(first.headers.every((value) => Buffer.isBuffer(value)));
  t.same(first.trailers, null);
  const seen = JSON.parse(first.body) as { headers: Record<string, string>; raw: string[] };
  t.equal(seen.headers[':method'], 'GET');
  t.equal(seen.headers[':path'], '/a?b=1');
  t.equal(seen.headers[':scheme'], 'http');
  t.equal(seen.headers[':authority'], 'app.test');
  t.equal(seen.headers.host, undefined, 'Host is carried by :authority only');
  for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']) t.equal(seen.headers[name], undefined, name);
  t.equal(seen.headers.te, 'trailers');
  t.equal(seen.headers.accept, 'text/plain');
  const multi: string[] = [];
  for (let i = 0; i < seen.raw.length; i += 2) if (seen.raw[i] === 'x-multi') multi.push(seen.raw[i + 1]!);
  t.same(multi, ['1', '2'], 'repeated request fields are sent as repeated fields, lower-cased');
  t.equal(first.fresh, true, 'the first stream opened the session');
  const second = await send(h2, request('/b', ['te', 'gzip']));
  t.equal(second.fresh, false, 'the next one reuses it');
  t.equal((JSON.parse(second.body) as { headers: Record<string, string> }).headers.te, undefined, 'TE other than trailers is not sent (RFC 9113 §8.2.2)');
  t.equal(upstream.opened, 1);
  t.equal(h2.connected, 1);
});

t.test('a request without Host gets the target as :authority', async (t) => {
  const upstream = await h2Upstream(t, echo);
  const h2 = client(t, upstream.origin);
  const done = await send(h2, { path: '/', method: 'GET', headers: [], body: null });
  t.equal((JSON.parse(done.body) as { headers: Record<string, string> }).headers[':authority'], new URL(upstream.origin).host);
});

t.test('POST with a Buffer body and with a streamed body', async (t) => {
  const upstream = await h2Upstream(t, echo);
  const h2 = client(t, upstream.origin);
  const buffered = await send(h2, request('/p', ['content-type', 'text/plain'], { method: 'POST', body: Buffer.from('hello buffer') }));
  t.equal((JSON.parse(buffered.body) as { body: string }).body, 'hello buffer');

  const body = new PassThrough();
  const handler = new RecordingHandler();
  h2.dispatch(request('/s', [], { method: 'POST', body }), handler);
  body.write('part one, ');
  setImmediate(() => body.end('part two'));
  await handler.done;
  t.equal(handler.status, 200);
  t.equal((JSON.parse(handler.body) as { body: string }).body, 'part one, part two');
});

t.test('trailers, trailers-only answers and 1xx heads', async (t) => {
  const upstream = await h2Upstream(t, (stream, headers) => {
    if (headers[':path'] === '/trailers') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine', 'x-meta': ['1', '2'] }));
      stream.end('message');
    } else if (headers[':path'] === '/only') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not found' }, { endStream: true });
    } else {
      stream.additionalHeaders({ ':status': 103, link: '</style.css>; rel=preload' });
      stream.respond({ ':status': 200 });
      stream.end('after hints');
    }
  });
  const h2 = client(t, upstream.origin);
  const trailed = await send(h2, request('/trailers', ['te', 'trailers']));
  t.equal(trailed.body, 'message');
  t.same(trailed.trailer('grpc-status'), ['0']);
  t.same(trailed.trailer('grpc-message'), ['fine']);
  t.same(trailed.trailer('x-meta'), ['1', '2'], 'repeated trailer fields stay separate');

  const only = await send(h2, request('/only'));
  t.same(only.events, ['connect', 'started', 'headers 200', 'complete'], 'a HEADERS with END_STREAM is a head then the end');
  t.same(only.header('grpc-status'), ['5']);
  t.equal(only.trailers, null);

  const hinted = await send(h2, request('/hints'));
  t.same(hinted.events, ['connect', 'started', 'headers 103', 'headers 200', 'data', 'complete']);
  t.same(pairs(hinted.interim[0]!.headers), [['link', '</style.css>; rel=preload']]);
  t.equal(hinted.body, 'after hints');
});

function pairs(raw: readonly Buffer[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!.toString(), raw[i + 1]!.toString()]);
  return out;
}

t.test('backpressure: a paused response stops the upstream within the flow-control window; other streams of the session go on', async (t) => {
  const total = 32 * 1024 * 1024;
  const block = Buffer.alloc(64 * 1024, 120);
  let written = 0;
  let waitingForDrain = false;
  const upstream = await h2Upstream(t, (stream, headers) => {
    if (headers[':path'] === '/small') {
      stream.respond({ ':status': 200 });
      stream.end('small');
      return;
    }
    stream.respond({ ':status': 200 });
    const pump = (): void => {
      while (written < total && !stream.destroyed) {
        written += block.length;
        if (!stream.write(block)) {
          waitingForDrain = true;
          stream.once('drain', () => { waitingForDrain = false; pump(); });
          return;
        }
      }
      stream.end();
    };
    pump();
  });
  const h2 = client(t, upstream.origin);
  const handler = new RecordingHandler();
  handler.pauseData = true;
  h2.dispatch(request('/big'), handler);
  await waitFor('the upstream blocked on flow control', () => waitingForDrain && handler.bytes > 0);
  // Blocked: a few more polls must not see it move (it waits for a WINDOW_UPDATE that never comes while paused).
  const blockedAt = written;
  await waitFor('a steady state', async () => {
    const before = written;
    await new Promise((resolve) => setTimeout(resolve, 50));
    return written === before;
  });
  t.ok(written < 8 * 1024 * 1024, `the upstream wrote ${written} bytes of ${total} while the client was paused`);
  t.ok(written - blockedAt < 2 * 1024 * 1024, 'and it stays blocked');
  t.ok(handler.bytes < 2 * 1024 * 1024, `the handler was given ${handler.bytes} bytes`);
  const other = await send(h2, request('/small'));
  t.equal(other.body, 'small', 'a paused stream does not stall its session');
  handler.pauseData = false;
  handler.resume!();
  await handler.done;
  t.equal(handler.bytes, total);
  t.equal(handler.events.at(-1), 'complete');
});

t.test('headers timeout: the stream is cancelled and the error is UND_ERR_HEADERS_TIMEOUT', async (t) => {
  let serverRst: number | undefined;
  const upstream = await h2Upstream(t, (stream) => {
    stream.on('close', () => { serverRst = stream.rstCode; });
  });
  const h2 = client(t, upstream.origin, { headersMs: 150 });
  const started = Date.now();
  const handler = await send(h2, request('/slow'));
  t.equal(handler.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
  t.ok(Date.now() - started >= 140);
  t.same(handler.events, ['connect', 'error']);
  await waitFor('the upstream saw the stream cancelled', () => serverRst !== undefined);
  t.equal(serverRst, NGHTTP2_CANCEL);
});

t.test('connect refused: the node error with its code, no onConnect', async (t) => {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const h2 = client(t, `http://127.0.0.1:${port}`);
  const handlers = [new RecordingHandler(), new RecordingHandler()];
  for (const handler of handlers) h2.dispatch(request('/'), handler);
  await Promise.all(handlers.map((handler) => handler.done));
  for (const handler of handlers) {
    t.equal(handler.error?.code, 'ECONNREFUSED');
    t.same(handler.events, ['error']);
  }
  t.equal(h2.connected, 0);
});

t.test('connect timeout: a peer that never sends its SETTINGS → UND_ERR_CONNECT_TIMEOUT', async (t) => {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { for (const socket of sockets) socket.destroy(); server.close(() => resolve()); }));
  const h2 = client(t, `http://127.0.0.1:${(server.address() as { port: number }).port}`, { connectMs: 150 });
  const handler = await send(h2, request('/'));
  t.equal(handler.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
  t.same(handler.events, ['error']);
});

/** Holds every stream until `release()`, then answers each with its session's index. */
function heldStreams() {
  const held: ServerHttp2Stream[] = [];
  const sessions: http2.Http2Session[] = [];
  const answer = (stream: ServerHttp2Stream): void => {
    if (stream.destroyed) return;
    let index = sessions.indexOf(stream.session!);
    if (index < 0) index = sessions.push(stream.session!) - 1;
    stream.respond({ ':status': 200 });
    stream.end(`session ${index} stream ${stream.id}`);
  };
  let releasing = false;
  return {
    held,
    onStream(stream: ServerHttp2Stream): void {
      stream.resume();
      if (releasing) answer(stream);
      else held.push(stream);
    },
    release(): void {
      releasing = true;
      for (const stream of held.splice(0)) answer(stream);
    },
  };
}

t.test('maxConcurrentStreams 2: more sessions open as each fills', async (t) => {
  const streams = heldStreams();
  const upstream = await h2Upstream(t, (stream) => streams.onStream(stream), { settings: { maxConcurrentStreams: 2 } });
  const h2 = client(t, upstream.origin);
  const handlers = Array.from({ length: 5 }, () => new RecordingHandler());
  for (const handler of handlers) h2.dispatch(request('/'), handler);
  await waitFor('5 streams held', () => streams.held.length === 5);
  t.equal(upstream.opened, 3, 'ceil(5 / 2) sessions');
  t.equal(upstream.peakStreams, 2, 'never more than the peer allows on one session');
  t.equal(h2.connected, 3);
  streams.release();
  await Promise.all(handlers.map((handler) => handler.done));
  t.ok(handlers.every((handler) => handler.status === 200));
});

t.test('maxConcurrentStreams 2 with connections: 1 → the rest queue for a free stream; onConnect only when started', async (t) => {
  const streams = heldStreams();
  const upstream = await h2Upstream(t, (stream) => streams.onStream(stream), { settings: { maxConcurrentStreams: 2 } });
  const h2 = client(t, upstream.origin, { connections: 1 });
  const handlers = Array.from({ length: 5 }, () => new RecordingHandler());
  for (const handler of handlers) h2.dispatch(request('/'), handler);
  await waitFor('2 streams held', () => streams.held.length === 2);
  t.equal(handlers.filter((handler) => handler.events.includes('connect')).length, 2, 'the queued ones have no stream yet');
  t.equal(upstream.opened, 1);
  streams.release();
  await Promise.all(handlers.map((handler) => handler.done));
  t.ok(handlers.every((handler) => handler.status === 200 && handler.body.startsWith('session 0 ')));
  t.equal(upstream.opened, 1, 'one session throughout');
  t.equal(upstream.peakStreams, 2);
});

t.test('GOAWAY under 50 concurrent streams: those above lastStreamId are retried on a new session, none fails', async (t) => {
  let goawaySent = false;
  const upstream = await h2Upstream(t, (stream) => {
    stream.resume();
    // The 10th stream of the first session triggers GOAWAY naming it: later ones were never processed.
    if (!goawaySent && stream.id === 19) {
      goawaySent = true;
      stream.session!.goaway(NGHTTP2_NO_ERROR, stream.id);
    }
    setImmediate(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end(`stream ${stream.id}`);
    });
  });
  const h2 = client(t, upstream.origin);
  const handlers = Array.from({ length: 50 }, () => new RecordingHandler());
  for (const handler of handlers) h2.dispatch(request('/'), handler);
  await Promise.all(handlers.map((handler) => handler.done));
  t.same(handlers.filter((handler) => handler.error !== null).map((handler) => handler.error!.code), [], 'no request failed');
  t.ok(handlers.every((handler) => handler.status === 200 && handler.events.filter((event) => event === 'connect').length === 1));
  t.ok(goawaySent);
  t.equal(upstream.opened, 2, 'the refused streams went to a second session');
});

t.test('GOAWAY from a server shutting down with 50 streams in flight: all finish; the next request does not reuse the session', async (t) => {
  const streams = heldStreams();
  const upstream = await h2Upstream(t, (stream) => streams.onStream(stream));
  const h2 = client(t, upstream.origin);
  const handlers = Array.from({ length: 50 }, () => new RecordingHandler());
  for (const handler of handlers) h2.dispatch(request('/'), handler);
  await waitFor('50 streams held', () => streams.held.length === 50);
  // What a graceful server shutdown does (Node 24's server.close() and grpc-js tryShutdown):
  // GOAWAY on each session, no new connections. Node 20's server.close() sends no GOAWAY.
  for (const session of upstream.sessions) session.close();
  const closed = new Promise<void>((resolve) => upstream.server.close(() => resolve()));
  await waitFor('the client saw GOAWAY', async () => {
    const probe = await send(h2, request('/'));
    return probe.error?.code === 'ECONNREFUSED';
  });
  streams.release();
  await Promise.all(handlers.map((handler) => handler.done));
  t.same(handlers.filter((handler) => handler.status !== 200).length, 0, 'every in-flight stream finished');
  await closed;
  await waitFor('the old session closed once its streams ended', () => h2.connected === 0);
});

t.test('an idle session the upstream sent GOAWAY is not used again: the next request opens a new one', async (t) => {
  const upstream = await h2Upstream(t, (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(`stream ${stream.id}`);
  });
  const h2 = client(t, upstream.origin);
  t.equal((await send(h2, request('/'))).body, 'stream 1');
  for (const session of upstream.sessions) session.goaway(NGHTTP2_NO_ERROR, 1);
  await waitFor('the client let the session go', () => h2.connected === 0);
  const next = await send(h2, request('/'));
  t.equal(next.body, 'stream 1', 'the first stream of a new session');
  t.equal(next.fresh, true);
  t.equal(upstream.opened, 2);
});

t.test('an Upgrade request goes over HTTP/1.1 to the same origin', async (t) => {
  const server = createHttpServer();
  server.on('upgrade', (req, socket: Socket) => {
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\nhello`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const h2 = client(t, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
  const upgraded = await new Promise<{ status: number; head: string }>((resolve, reject) => {
    h2.dispatch(request('/ws', [], { upgrade: 'websocket' }), {
      onConnect() {},
      onError: reject,
      onUpgrade(status: number, _headers: Buffer[] | string[] | null, socket: Duplex) {
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve({ status, head: Buffer.concat(chunks).toString() }));
      },
    } as Dispatcher.DispatchHandler);
  });
  t.equal(upgraded.status, 101);
  t.equal(upgraded.head, 'hello');
});

t.test('RST_STREAM REFUSED_STREAM: a Buffer body, or a streamed one within 64 KiB, is sent once more; a larger streamed one fails with H2_REFUSED_STREAM', async (t) => {
  let refusals = 0;
  const upstream = await h2Upstream(t, (stream, headers) => {
    if (headers['x-refuse'] !== undefined && refusals < Number(headers['x-refuse'])) {
      refusals++;
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    echo(stream, headers, []);
  });
  const h2 = client(t, upstream.origin);
  const retried = await send(h2, request('/', ['x-refuse', '1'], { method: 'POST', body: Buffer.from('again') }));
  t.equal(retried.status, 200);
  t.equal((JSON.parse(retried.body) as { body: string }).body, 'again', 'the body went again, whole');
  t.same(retried.events.filter((event) => event === 'connect'), ['connect'], 'onConnect once per dispatch');

  refusals = 0;
  const twice = await send(h2, request('/', ['x-refuse', '2']));
  t.equal(twice.error?.code, H2_REFUSED_STREAM, 'only one retry');

  // A streamed body (a gRPC call's) is kept up to 64 KiB until an answer begins: sent again whole.
  refusals = 0;
  const body = new PassThrough();
  const streamed = new RecordingHandler();
  h2.dispatch(request('/', ['x-refuse', '1'], { method: 'POST', body }), streamed);
  body.write('sent before the refusal, ');
  const deadline = Date.now() + 5000;
  while (refusals === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  body.end('and after it');
  await streamed.done;
  t.equal(streamed.status, 200, 'a refused streamed body is sent again');
  t.equal((JSON.parse(streamed.body) as { body: string }).body, 'sent before the refusal, and after it', 'whole and in order');

  // Past 64 KiB nothing is kept: the refusal reaches the caller.
  refusals = 0;
  const large = new PassThrough();
  const tooLarge = new RecordingHandler();
  h2.dispatch(request('/', ['x-refuse', '1'], { method: 'POST', body: large }), tooLarge);
  large.write(Buffer.alloc(70 * 1024, 0x61));
  await tooLarge.done;
  t.equal(tooLarge.error?.code, H2_REFUSED_STREAM, 'over the replay buffer: not sent again');
});

t.test('a peer killed mid-stream: its streams fail with UND_ERR_SOCKET, streams on other sessions finish', async (t) => {
  const upstream = await h2Upstream(t, (stream, headers) => {
    stream.resume();
    stream.respond({ ':status': 200 });
    stream.write('partial ');
    if (headers[':path'] === '/killed') setImmediate(() => upstream.kill(stream.session!));
    else setTimeout(() => { if (!stream.destroyed) stream.end('whole'); }, 100);
  }, { settings: { maxConcurrentStreams: 1 } });
  const h2 = client(t, upstream.origin);
  const survivor = new RecordingHandler();
  h2.dispatch(request('/survives'), survivor);
  await waitFor('the first session busy', () => survivor.status === 200);
  const killed = await send(h2, request('/killed'));
  t.equal(killed.error?.code, 'UND_ERR_SOCKET');
  t.same(killed.events, ['connect', 'started', 'headers 200', 'data', 'error']);
  await survivor.done;
  t.equal(survivor.body, 'partial whole');
  t.equal(upstream.opened, 2);
});

t.test('a stream reset by the peer after its head → H2_STREAM_RESET naming the code', async (t) => {
  const upstream = await h2Upstream(t, (stream) => {
    // Waiting for trailers: close() then sends RST_STREAM alone (without, node ends the stream cleanly first).
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.write('some', () => stream.close(NGHTTP2_INTERNAL_ERROR));
  });
  const h2 = client(t, upstream.origin);
  const handler = await send(h2, request('/'));
  t.equal(handler.error?.code, H2_STREAM_RESET);
  t.match(handler.error?.message, /INTERNAL_ERROR \(2\)/);
  t.notOk(handler.events.includes('complete'));
});

t.test('abort from onHeaders: one onError with that error, the stream cancelled upstream, the session still serves', async (t) => {
  let serverRst: number | undefined;
  const upstream = await h2Upstream(t, (stream, headers) => {
    stream.on('close', () => { if (headers[':path'] === '/abort') serverRst = stream.rstCode; });
    stream.respond({ ':status': 200 });
    if (headers[':path'] === '/abort') stream.write('never ending');
    else stream.end('ok');
  });
  const h2 = client(t, upstream.origin);
  const handler = new RecordingHandler();
  const reason = new Error('client went away');
  handler.onHeadersHook = (self) => self.abort!(reason);
  await send(h2, request('/abort'), handler);
  t.equal(handler.error, reason);
  t.same(handler.events, ['connect', 'started', 'headers 200', 'error']);
  await waitFor('the upstream saw CANCEL', () => serverRst !== undefined);
  t.equal(serverRst, NGHTTP2_CANCEL);
  handler.abort!(new Error('twice'));
  t.equal(handler.events.filter((event) => event === 'error').length, 1, 'a second abort changes nothing');
  const next = await send(h2, request('/next'));
  t.equal(next.body, 'ok');
  t.equal(upstream.opened, 1);
});

t.test('a throw from onHeaders ends the request in onError with it', async (t) => {
  const upstream = await h2Upstream(t, (stream) => { stream.respond({ ':status': 200 }); stream.end('x'); });
  const h2 = client(t, upstream.origin);
  const handler = new RecordingHandler();
  const thrown = Object.assign(new Error('bad coding'), { code: 'UPSTREAM_TRANSFER_CODING' });
  handler.onHeadersHook = () => { throw thrown; };
  await send(h2, request('/'), handler);
  t.equal(handler.error, thrown);
  t.notOk(handler.events.includes('complete'));
});

t.test('a client body stream error cancels the stream and onError gets that very error', async (t) => {
  let serverRst: number | undefined;
  const upstream = await h2Upstream(t, (stream) => {
    stream.resume();
    stream.on('close', () => { serverRst = stream.rstCode; });
  });
  const h2 = client(t, upstream.origin);
  const body = new PassThrough();
  const handler = new RecordingHandler();
  h2.dispatch(request('/', [], { method: 'POST', body }), handler);
  body.write('some');
  await waitFor('the stream open', () => handler.events.includes('connect'));
  const failure = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
  body.destroy(failure);
  await handler.done;
  t.equal(handler.error, failure);
  await waitFor('the upstream saw CANCEL', () => serverRst !== undefined);
  t.equal(serverRst, NGHTTP2_CANCEL);
});

t.test('close() is graceful: in-flight streams finish, then the sessions close; later dispatches fail with UND_ERR_CLOSED', async (t) => {
  const streams = heldStreams();
  const upstream = await h2Upstream(t, (stream) => streams.onStream(stream));
  const h2 = client(t, upstream.origin);
  const running = new RecordingHandler();
  h2.dispatch(request('/'), running);
  await waitFor('held', () => streams.held.length === 1);
  let closed = false;
  const closing = h2.close().then(() => { closed = true; });
  t.equal(h2.closed, true);
  const late = await send(h2, request('/'));
  t.equal(late.error?.code, 'UND_ERR_CLOSED');
  t.equal(closed, false, 'still waiting for the running stream');
  streams.release();
  await running.done;
  t.equal(running.status, 200);
  await closing;
  t.equal(h2.connected, 0);
  await waitFor('the upstream saw the session close', () => upstream.sessions.size === 0);
});

t.test('destroy() cuts running streams and queued requests', async (t) => {
  const streams = heldStreams();
  const upstream = await h2Upstream(t, (stream) => streams.onStream(stream), { settings: { maxConcurrentStreams: 1 } });
  const h2 = client(t, upstream.origin, { connections: 1 });
  const running = new RecordingHandler();
  const queued = new RecordingHandler();
  h2.dispatch(request('/'), running);
  h2.dispatch(request('/'), queued);
  await waitFor('held', () => streams.held.length === 1);
  await h2.destroy();
  await Promise.all([running.done, queued.done]);
  t.equal(running.error?.code, 'UND_ERR_DESTROYED', String(running.error?.message ?? running.events));
  t.equal(queued.error?.code, 'UND_ERR_DESTROYED');
  t.same(queued.events, ['error']);
  t.equal(h2.connected, 0);
});

t.test('dispatchFresh: a session of its own, closed after the request', async (t) => {
  const upstream = await h2Upstream(t, echo);
  const h2 = client(t, upstream.origin);
  await send(h2, request('/'));
  t.equal(upstream.opened, 1);
  const handler = new RecordingHandler(() => h2.takeFreshConnection());
  h2.dispatchFresh(request('/'), handler);
  await handler.done;
  t.equal(handler.status, 200);
  t.equal(handler.fresh, true);
  t.equal(upstream.opened, 2);
  await waitFor('the fresh session closed', () => h2.connected === 1);
});

t.test('h2 over TLS: ALPN h2, SNI and verification by the servername, TLS options read at each new session', async (t) => {
  const ca = testCa(t);
  const leaf = ca.leaf('upstream', ['upstream.test']);
  let sni: string | undefined;
  const upstream = await h2Upstream(t, (stream, headers) => {
    sni = (stream.session!.socket as tls.TLSSocket).servername || undefined;
    stream.respond({ ':status': 200 });
    stream.end(`scheme ${headers[':scheme']}`);
  }, { tls: leaf });
  const other = testCa(t, 'Another CA');
  const snapshot = (caPem: string): UpstreamTlsOptions => ({
    ca: Buffer.from(caPem), cert: undefined, key: undefined, rejectUnauthorized: true, secureContext: createSecureContext({ ca: caPem }), clientSerial: null,
  });
  const source = { current: snapshot(other.ca) };
  const h2 = client(t, upstream.origin, {}, 'upstream.test', source);
  const refused = await send(h2, request('/'));
  t.match(refused.error?.code, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/, `an untrusted certificate is refused (${refused.error?.code})`);
  source.current = snapshot(ca.ca);
  const ok = await send(h2, request('/'));
  t.equal(ok.body, 'scheme https');
  t.equal(sni, 'upstream.test');
});

t.test('https target that does not choose h2 in ALPN → H2_NOT_NEGOTIATED', async (t) => {
  const ca = testCa(t);
  const leaf = ca.leaf('h1only', ['h1.test']);
  const server = tls.createServer({ cert: leaf.cert, key: leaf.key, ALPNProtocols: ['http/1.1'] }, (socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const source = { current: { ca: Buffer.from(ca.ca), cert: undefined, key: undefined, rejectUnauthorized: true, secureContext: createSecureContext({ ca: ca.ca }), clientSerial: null } };
  const h2 = client(t, `https://127.0.0.1:${(server.address() as { port: number }).port}`, {}, 'h1.test', source);
  const handler = await send(h2, request('/'));
  t.match(handler.error?.code, new RegExp(`${H2_NOT_NEGOTIATED}|ERR_SSL_NO_APPLICATION_PROTOCOL|ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL`));
  t.same(handler.events, ['error']);
});

// --- against a real gRPC server (grpc-js), messages as raw bytes ---

const passThrough = { serialize: (value: Buffer): Buffer => value, deserialize: (bytes: Buffer): Buffer => bytes };

function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path, requestStream, responseStream, originalName: path.split('/').pop()!,
    requestSerialize: passThrough.serialize, requestDeserialize: passThrough.deserialize,
    responseSerialize: passThrough.serialize, responseDeserialize: passThrough.deserialize,
  };
}

const ECHO_SERVICE = {
  unary: method('/test.Echo/Unary', false, false),
  bidi: method('/test.Echo/Bidi', true, true),
};

/** A grpc-js server of ECHO_SERVICE: unary echoes (`fail` → NOT_FOUND, `hold` → waits for `release`), bidi echoes each message. */
async function grpcEcho(t: Test) {
  const server = new grpc.Server();
  const held: (() => void)[] = [];
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      if (text === 'fail') return callback({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
      const answer = (): void => callback(null, Buffer.from(`echo ${text}`), new grpc.Metadata());
      if (text === 'hold') held.push(answer);
      else answer();
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (message: Buffer) => call.write(Buffer.from(`echo ${message.toString()}`)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
  });
  t.teardown(() => server.forceShutdown());
  return { server, origin: `http://127.0.0.1:${port}`, held };
}

/** A gRPC message frame (gRPC over HTTP/2: 1-byte flag, 4-byte length, payload). */
function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

/** The payloads of the gRPC frames in `bytes`. */
function messages(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 5 <= bytes.length;) {
    const length = bytes.readUInt32BE(at + 1);
    out.push(bytes.subarray(at + 5, at + 5 + length).toString());
    at += 5 + length;
  }
  return out;
}

function grpcCall(path: string, body: Dispatcher.DispatchOptions['body']): Dispatcher.DispatchOptions {
  return request(path, ['content-type', 'application/grpc', 'te', 'trailers'], { method: 'POST', body });
}

t.test('grpc-js: a unary call (message, then grpc-status in trailers) and a failed one (trailers-only)', async (t) => {
  const echo = await grpcEcho(t);
  const h2 = client(t, echo.origin);
  const ok = await send(h2, grpcCall('/test.Echo/Unary', frame('hi')));
  t.equal(ok.status, 200);
  t.same(messages(Buffer.concat(ok.chunks)), ['echo hi']);
  t.same(ok.trailer('grpc-status'), ['0']);

  const failed = await send(h2, grpcCall('/test.Echo/Unary', frame('fail')));
  t.same(failed.events, ['connect', 'started', 'headers 200', 'complete']);
  t.same(failed.header('grpc-status'), ['5']);
  t.same(failed.header('grpc-message'), ['no%20such%20thing'], 'percent-encoded as the gRPC spec says, relayed as is');
});

t.test('grpc-js: a bidi stream — each request message is answered while the request body still streams', async (t) => {
  const echo = await grpcEcho(t);
  const h2 = client(t, echo.origin);
  const body = new PassThrough();
  const handler = new RecordingHandler();
  const seen: string[] = [];
  let next: (() => void) | null = null;
  handler.onDataHook = (self) => {
    const now = messages(Buffer.concat(self.chunks));
    if (now.length > seen.length) {
      seen.splice(0, seen.length, ...now);
      next?.();
    }
  };
  const answered = (count: number): Promise<void> => new Promise((resolve) => {
    next = () => { if (seen.length >= count) resolve(); };
    next();
  });
  h2.dispatch(grpcCall('/test.Echo/Bidi', body), handler);
  body.write(frame('one'));
  await answered(1);
  t.same(seen, ['echo one'], 'the first answer came before the second message was sent');
  body.write(frame('two'));
  await answered(2);
  body.end();
  await handler.done;
  t.same(messages(Buffer.concat(handler.chunks)), ['echo one', 'echo two']);
  t.same(handler.trailer('grpc-status'), ['0']);
});

t.test('grpc-js tryShutdown with 50 calls in flight: all finish with grpc-status 0; the next call does not reuse the session', async (t) => {
  const echo = await grpcEcho(t);
  const h2 = client(t, echo.origin);
  const handlers = Array.from({ length: 50 }, () => new RecordingHandler());
  for (const handler of handlers) h2.dispatch(grpcCall('/test.Echo/Unary', frame('hold')), handler);
  await waitFor('50 calls held', () => echo.held.length === 50);
  const shutdown = new Promise<void>((resolve) => echo.server.tryShutdown(() => resolve()));
  await waitFor('the client saw GOAWAY', async () => {
    const probe = await send(h2, grpcCall('/test.Echo/Unary', frame('probe')));
    return probe.error?.code === 'ECONNREFUSED';
  });
  for (const answer of echo.held.splice(0)) answer();
  await Promise.all(handlers.map((handler) => handler.done));
  t.same(handlers.filter((handler) => handler.error !== null).map((handler) => handler.error!.code), []);
  t.ok(handlers.every((handler) => handler.trailer('grpc-status')[0] === '0' && messages(Buffer.concat(handler.chunks))[0] === 'echo hold'));
  await shutdown;
});
