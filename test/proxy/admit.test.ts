// SPEC §10 admission on real sockets: the client's own mistakes are answered by the proxy
// (400/413/414/431/501 with Connection: close, an X-Request-Id and an access record with no
// pool or target), never relayed, never counted against a target; absolute-form targets go
// upstream in origin-form with Host from their authority; a parse error never writes a status
// line into a connection whose response is owed or under way.
import t from 'tap';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Flag } from '../../src/pool/health-flags.js';
import { rawRequest, send, startRawUpstream, statusLines, waitFor, withDeadline, type RawExchange } from '../helpers/http-client.js';
import { accessLines, assertServes, inflightTotal, proxyFor, upstreamFor, type AccessLine } from '../helpers/data-plane.js';
import type { TestProxy } from '../helpers/proxy.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first response in a raw byte stream (Content-Length framed, as every refusal is). */
function firstAnswer(raw: Buffer): RawAnswer {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4, end + 4 + length) };
}

/** Sends raw bytes, waits for the server to close the connection, returns its first answer. */
async function refusedWith(proxy: TestProxy, text: string | Buffer): Promise<RawAnswer & { raw: Buffer }> {
  const exchange = rawRequest(proxy.url, text);
  await withDeadline(exchange.ended, 5000, 'the proxy to close the connection');
  const raw = exchange.received();
  return { ...firstAnswer(raw), raw };
}

function recordOf(proxy: TestProxy, requestId: string): Promise<AccessLine> {
  return waitFor(`the access record of ${requestId}`, () => accessLines(proxy).find((line) => line.reqId === requestId));
}

const head = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

/** Inputs the proxy must refuse: raw request, status, a word of the reason. */
const REFUSED: Array<{ name: string; text: string; status: number; reason: RegExp }> = [
  { name: 'two Host lines', text: head(['GET / HTTP/1.1', 'Host: a', 'Host: b']), status: 400, reason: /more than one Host/ },
  { name: 'two Host lines, other casing', text: head(['GET / HTTP/1.1', 'host: a', 'HOST: a']), status: 400, reason: /more than one Host/ },
  { name: 'Host with a space', text: head(['GET / HTTP/1.1', 'Host: a b']), status: 400, reason: /invalid Host/ },
  { name: 'Host with an unclosed IPv6 literal', text: head(['GET / HTTP/1.1', 'Host: [::1']), status: 400, reason: /invalid Host/ },
  { name: 'Host with a port above 65535', text: head(['GET / HTTP/1.1', 'Host: x:99999']), status: 400, reason: /invalid Host/ },
  { name: 'Host with a non-numeric port', text: head(['GET / HTTP/1.1', 'Host: x:8o']), status: 400, reason: /invalid Host/ },
  { name: 'Host with userinfo', text: head(['GET / HTTP/1.1', 'Host: u@x']), status: 400, reason: /invalid Host/ },
  { name: 'empty Host', text: head(['GET / HTTP/1.1', 'Host:']), status: 400, reason: /invalid Host/ },
  { name: 'HTTP/1.1 without Host', text: head(['GET / HTTP/1.1']), status: 400, reason: /without a Host/ },
  { name: 'absolute-form with two Host lines', text: head(['GET http://other.test/x HTTP/1.1', 'Host: a', 'Host: b']), status: 400, reason: /more than one Host/ },
  { name: 'absolute-form with userinfo', text: head(['GET http://user@other.test/x HTTP/1.1', 'Host: a']), status: 400, reason: /userinfo/ },
  { name: 'absolute-form with no host', text: head(['GET http:///x HTTP/1.1', 'Host: a']), status: 400, reason: /request-target/ },
  { name: 'absolute-form of another scheme', text: head(['GET ftp://other.test/x HTTP/1.1', 'Host: a']), status: 400, reason: /request-target/ },
  { name: 'asterisk-form on GET', text: head(['GET * HTTP/1.1', 'Host: a']), status: 400, reason: /asterisk/ },
  { name: 'authority-form outside CONNECT', text: head(['GET other.test:80 HTTP/1.1', 'Host: a']), status: 400, reason: /malformed/ },
  { name: 'garbage', text: 'THIS IS NOT HTTP\r\n\r\n', status: 400, reason: /malformed/ },
  { name: 'Transfer-Encoding with Content-Length', text: head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 5']) + '0\r\n\r\n', status: 400, reason: /malformed/ },
  { name: 'Content-Length then Transfer-Encoding chunked', text: head(['POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked']) + '5\r\nhello\r\n0\r\n\r\n', status: 400, reason: /Content-Length together with Transfer-Encoding/ },
  { name: 'two different Content-Lengths', text: head(['POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Content-Length: 4']) + 'abcd', status: 400, reason: /malformed/ },
  { name: 'Transfer-Encoding gzip, chunked', text: head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked']) + '0\r\n\r\n', status: 501, reason: /transfer coding/ },
  { name: 'Transfer-Encoding gzip then chunked on two lines', text: head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked']) + '0\r\n\r\n', status: 501, reason: /transfer coding/ },
  { name: 'Transfer-Encoding chunked, gzip', text: head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, gzip']) + '0\r\n\r\n', status: 501, reason: /transfer coding/ },
  { name: 'Transfer-Encoding identity', text: head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: identity']) + 'abc', status: 501, reason: /transfer coding/ },
  { name: 'Transfer-Encoding gzip alone', text: head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip']) + 'abc', status: 501, reason: /transfer coding/ },
  { name: 'Expect other than 100-continue', text: head(['GET / HTTP/1.1', 'Host: a', 'Expect: teapot']), status: 417, reason: /Expect/ },
  { name: 'CONNECT', text: head(['CONNECT other.test:443 HTTP/1.1', 'Host: other.test:443']), status: 501, reason: /CONNECT/ },
];

t.test('each client mistake gets its own status, Connection: close, an X-Request-Id and an access record, and reaches no upstream', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  for (const input of REFUSED) {
    const answer = await refusedWith(proxy, input.text);
    t.equal(answer.status, input.status, `${input.name} → ${input.status}`);
    t.equal(statusLines(answer.raw), 1, `${input.name}: one status line`);
    t.equal(answer.headers.connection, 'close', `${input.name}: Connection: close`);
    t.match(answer.body, input.reason, `${input.name}: the body says why`);
    const requestId = answer.headers['x-request-id']!;
    t.match(requestId, /^[0-9a-f-]{36}$/, `${input.name}: X-Request-Id`);
    const record = await recordOf(proxy, requestId);
    t.match(record, { status: input.status, pool: null, version: null, target: null, retries: 0, bytes: 0 }, `${input.name}: access record`);
    t.match(record.error, input.reason);
  }
  t.equal(upstream.seen.length, 0, 'nothing reached the upstream');
  t.equal(inflightTotal(proxy), 0);
  await assertServes(t, proxy);
});

t.test('a refused request keeps the client\'s X-Request-Id, and the access record names its method and target', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await refusedWith(proxy, head(['DELETE /thing?x=1 HTTP/1.1', 'Host: a', 'Host: b', 'X-Request-Id: mine-7']));
  t.equal(answer.status, 400);
  t.equal(answer.headers['x-request-id'], 'mine-7');
  t.match(await recordOf(proxy, 'mine-7'), { method: 'DELETE', url: '/thing?x=1', status: 400, pool: null });
  // A HEAD refusal has no body (but says how long it would be).
  const headAnswer = await refusedWith(proxy, head(['HEAD / HTTP/1.1', 'Host: a b']));
  t.equal(headAnswer.status, 400);
  t.equal(headAnswer.raw.toString('latin1').split('\r\n\r\n')[1], '', 'no body after a HEAD');
});

t.test('refused requests never count against a target: none is ejected, and the pool keeps serving', async (t) => {
  const a = await upstreamFor(t, 'a');
  const b = await upstreamFor(t, 'b');
  // consecutiveFailures 2: two refusals counted as failures would eject a target.
  const proxy = await proxyFor(t, { blue: [a.url, b.url] }, { passive: { consecutiveFailures: 2, ejectMs: 60000 } });
  const pool = proxy.switchyard.pools.get('blue')!;
  const bursts = [
    head(['GET / HTTP/1.1', 'Host: a', 'Host: b']),
    head(['GET / HTTP/1.1', 'Host: a b']),
    head(['GET / HTTP/1.1', 'Host: [::1']),
    head(['GET / HTTP/1.1', 'Host: x:99999']),
    head(['GET / HTTP/1.1']),
    head(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked']) + '0\r\n\r\n',
    head(['GET ftp://x/ HTTP/1.1', 'Host: a']),
    head(['CONNECT x:443 HTTP/1.1', 'Host: x:443']),
    `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`,
  ];
  for (const text of bursts) {
    for (let i = 0; i < 6; i++) t.ok((await refusedWith(proxy, text)).status >= 400);
  }
  // OPTIONS * (answered by the proxy) and absolute-form to another host (forwarded) are no failures either.
  for (let i = 0; i < 6; i++) {
    t.equal((await refusedWith(proxy, head(['OPTIONS * HTTP/1.1', 'Host: a', 'Connection: close']))).status, 200);
    t.equal((await refusedWith(proxy, head(['GET http://other.test/abs HTTP/1.1', 'Host: a', 'Connection: close']))).status, 200);
  }
  for (const target of pool.targets) {
    t.notOk(target.health.has(Flag.EJECTED), `${target.url} not ejected`);
    t.ok(target.ready, `${target.url} ready`);
  }
  const seen = [...a.seen, ...b.seen].map((req) => req.url);
  t.same(seen, Array(6).fill('/abs'), 'the upstreams received the absolute-form requests and nothing refused');
  t.equal(inflightTotal(proxy), 0);
  for (let i = 0; i < 4; i++) await assertServes(t, proxy);
});

t.test('absolute-form: the upstream gets origin-form and Host from the authority (RFC 9112 §3.2.2)', async (t) => {
  const upstream = await startRawUpstream(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const cases = [
    { target: 'http://other.test/x', line: 'GET /x HTTP/1.1', host: 'other.test' },
    { target: 'http://other.test:8080/a/b?q=1&r', line: 'GET /a/b?q=1&r HTTP/1.1', host: 'other.test:8080' },
    { target: 'HTTPS://Other.Test', line: 'GET / HTTP/1.1', host: 'Other.Test' },
    { target: 'http://other.test?only=query', line: 'GET /?only=query HTTP/1.1', host: 'other.test' },
    { target: 'http://[::1]:81/v6', line: 'GET /v6 HTTP/1.1', host: '[::1]:81' },
  ];
  for (const { target, line, host } of cases) {
    const before = upstream.heads.length;
    const answer = await refusedWith(proxy, head([`GET ${target} HTTP/1.1`, 'Host: app.test', 'Connection: close']));
    t.equal(answer.status, 200, `${target} forwarded`);
    t.equal(upstream.heads.length, before + 1);
    const seen = upstream.heads.at(-1)!.split('\r\n');
    t.equal(seen[0], line, `${target}: origin-form request line`);
    const hosts = seen.filter((header) => /^host:/i.test(header));
    t.same(hosts.map((header) => header.slice(5).trim()), [host], `${target}: one Host, the authority`);
    t.ok(seen.some((header) => header.toLowerCase() === `x-forwarded-host: ${host.toLowerCase()}`), `${target}: X-Forwarded-Host is the effective host`);
  }
  // HTTP/1.0 may omit Host; the authority still becomes one.
  const old = await refusedWith(proxy, 'GET http://legacy.test/old HTTP/1.0\r\n\r\n');
  t.equal(old.status, 200);
  const seen = upstream.heads.at(-1)!.split('\r\n');
  t.equal(seen[0], 'GET /old HTTP/1.1');
  t.same(seen.filter((header) => /^host:/i.test(header)).map((header) => header.slice(5).trim()), ['legacy.test']);
  // The access log shows the origin-form target, as nginx's $request_uri does.
  const record = await waitFor('the access record of /old', () => accessLines(proxy).find((entry) => entry.url === '/old'));
  t.match(record, { status: 200, pool: 'blue' });
});

t.test('an origin-form request keeps its Host and gets X-Forwarded-Host from it', async (t) => {
  const upstream = await startRawUpstream(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  for (const host of ['app.test', 'App.Test:8080', '127.0.0.1', '[::1]', 'xn--bcher-kva.example', 'a_b.test:', 'x%41y.test']) {
    const answer = await refusedWith(proxy, head(['GET /o HTTP/1.1', `Host: ${host}`, 'Connection: close']));
    t.equal(answer.status, 200, `Host: ${host} admitted`);
    const seen = upstream.heads.at(-1)!.split('\r\n');
    t.same(seen.filter((header) => /^host:/i.test(header)).map((header) => header.slice(5).trim()), [host]);
    t.ok(seen.includes(`x-forwarded-host: ${host}`));
  }
});

t.test('OPTIONS * is answered by the proxy: 200, no body, the connection kept for the next request', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const exchange = rawRequest(proxy.url, head(['OPTIONS * HTTP/1.1', 'Host: a']) + head(['GET /after HTTP/1.1', 'Host: a', 'Connection: close']));
  await withDeadline(exchange.ended, 5000, 'both answers');
  const raw = exchange.received();
  const first = firstAnswer(raw);
  t.equal(first.status, 200);
  t.equal(first.headers['content-length'], '0');
  t.not(first.headers.connection, 'close', 'not a mistake: the connection stays open');
  t.equal(statusLines(raw), 2, 'the pipelined request was answered too');
  t.match(raw.toString('latin1'), /"url":"\/after"/);
  t.match(await recordOf(proxy, first.headers['x-request-id']!), { method: 'OPTIONS', url: '*', status: 200, pool: null, target: null });
  t.notOk('error' in (await recordOf(proxy, first.headers['x-request-id']!)), 'no error on a 200');
  // OPTIONS with an absolute-form target and no path means the same (RFC 9112 §3.2.4).
  t.equal((await refusedWith(proxy, head(['OPTIONS http://other.test HTTP/1.1', 'Host: a', 'Connection: close']))).status, 200);
  t.same(upstream.seen.map((req) => req.url), ['/after'], 'no OPTIONS reached the upstream');
});

t.test('request-target and head size limits: 414 and 431 at the boundary of limits.maxHeaderBytes', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const limit = 1024;
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxHeaderBytes: limit } });
  // Node's measure, which the limit uses: the request-target plus every header name and value.
  const request = (url: string, extra: string[] = []): string => head([`GET ${url} HTTP/1.1`, 'Host: h', 'Connection: close', ...extra]);
  const fixed = 'Host'.length + 'h'.length + 'Connection'.length + 'close'.length;

  const fits = `/${'u'.repeat(limit - fixed - 1)}`;
  t.equal((await refusedWith(proxy, request(fits))).status, 200, 'a head of exactly maxHeaderBytes is forwarded');
  t.equal((await refusedWith(proxy, request(`${fits}u`))).status, 431, 'one byte more, in the last header → 431');
  const longTarget = `/${'u'.repeat(limit)}`;
  const answer = await refusedWith(proxy, request(longTarget));
  t.equal(answer.status, 414, 'a request-target longer than the limit → 414');
  t.equal(answer.headers.connection, 'close');
  const record = await recordOf(proxy, answer.headers['x-request-id']!);
  t.match(record, { status: 414, method: 'GET', pool: null, target: null });
  t.ok(record.url.length <= 1025, 'the access record holds a cut target');

  const half = 'v'.repeat(limit / 2);
  t.equal((await refusedWith(proxy, request('/s', [`X-A: ${half}`, `X-B: ${'v'.repeat(limit / 2 - fixed - 2 - 6)}`]))).status, 200, 'many headers at the limit');
  t.equal((await refusedWith(proxy, request('/s', [`X-A: ${half}`, `X-B: ${half}`]))).status, 431, 'many headers over it');
  t.equal(upstream.seen.length, 2, 'only the heads within the limit were forwarded');
  t.same(upstream.seen.map((req) => req.url?.length), [fits.length, 2]);
});

t.test('the default limit: a 20,000-byte request-target → 414, a 20,000-byte header → 431', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  t.equal((await refusedWith(proxy, `GET /${'a'.repeat(19_999)} HTTP/1.1\r\nHost: a\r\n\r\n`)).status, 414);
  t.equal((await refusedWith(proxy, head(['GET / HTTP/1.1', 'Host: a', `Cookie: ${'c'.repeat(20_000)}`]))).status, 431);
  t.equal((await refusedWith(proxy, head(['GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'v'.repeat(40)}`)]))).status, 431, 'many small headers');
  t.equal(upstream.seen.length, 0);
  await assertServes(t, proxy);
});

t.test('414 vs 431 when the head arrives in several reads: told from the chunk Node was parsing', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const limit = 1024;
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxHeaderBytes: limit } });
  const accepted: Socket[] = [];
  proxy.switchyard.proxy.server.on('connection', (socket: Socket) => accepted.push(socket));

  /** Writes each piece only once the proxy has read the one before: each is its own chunk for Node's parser. */
  async function inPieces(pieces: string[]): Promise<RawAnswer> {
    const before = accepted.length;
    const exchange = rawRequest(proxy.url, pieces[0]!);
    t.teardown(() => exchange.socket.destroy());
    const server = await waitFor('the proxy to accept', () => accepted[before]);
    let sent = pieces[0]!.length;
    for (const piece of pieces.slice(1)) {
      await waitFor('the proxy to read the piece', () => server.bytesRead >= sent || exchange.received().length > 0);
      if (exchange.received().length > 0) break; // refused already
      exchange.socket.write(piece);
      sent += piece.length;
    }
    await withDeadline(exchange.ended, 5000, 'the answer');
    return firstAnswer(exchange.received());
  }

  const a = (n: number): string => 'a'.repeat(n);
  t.equal((await inPieces([`GET /${a(600)}`, `${a(600)} HTTP/1.1\r\nHost: h\r\n\r\n`])).status, 414, 'target split in two, the overflow at its end');
  t.equal((await inPieces([`GET /${a(400)}`, a(800), ` HTTP/1.1\r\nHost: h\r\n\r\n`])).status, 414, 'the overflow at the end of a chunk of target bytes');
  t.equal((await inPieces(['GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; ', `${a(600)}; b=${a(600)}\r\n\r\n`])).status, 431, 'a cookie split in two');
  t.equal((await inPieces(['GET / HTTP/1.1\r\nHost: h\r\nX-Token: ', `${a(1200)}\r\n\r\n`])).status, 431, 'a token value split in two, the overflow at its CR');
  t.equal((await inPieces(['GET / HTTP/1.1\r\nHost: h\r\n', `X-Long-${a(1100)}: 1\r\n\r\n`])).status, 431, 'a long header name');
  t.equal(upstream.seen.length, 0);
});

t.test('Content-Length above limits.maxRequestBodyBytes → 413 before dispatch, without eliciting the body', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxRequestBodyBytes: 100 } });
  const post = (length: number, extra: string[] = []): string => head(['POST /up HTTP/1.1', 'Host: a', `Content-Length: ${length}`, 'Connection: close', ...extra]);
  t.equal((await refusedWith(proxy, post(100) + 'x'.repeat(100))).status, 200, 'at the limit: forwarded');
  const over = await refusedWith(proxy, post(101) + 'x'.repeat(101));
  t.equal(over.status, 413, 'one byte over: 413');
  t.equal(over.headers.connection, 'close');
  t.match(await recordOf(proxy, over.headers['x-request-id']!), { status: 413, pool: null, target: null });

  // Expect: 100-continue: no 100 before a refusal, so the client never sends the body.
  const refused = await refusedWith(proxy, post(5000, ['Expect: 100-continue']));
  t.equal(refused.status, 413);
  t.notMatch(refused.raw.toString('latin1'), /100 Continue/);
  // An admitted one gets its 100, then the body goes through.
  const admitted = rawRequest(proxy.url, post(10, ['Expect: 100-continue']));
  t.teardown(() => admitted.socket.destroy());
  await waitFor('100 Continue', () => admitted.received().toString('latin1').startsWith('HTTP/1.1 100 Continue'));
  admitted.socket.write('0123456789');
  await withDeadline(admitted.ended, 5000, 'the answer');
  t.match(admitted.received().toString('latin1'), /HTTP\/1\.1 200 OK/);
  t.same(upstream.seen.map((req) => req.headers['content-length']), ['100', '10'], 'only the admitted uploads reached the upstream');
});

t.test('a parse error behind a request whose response is owed: one complete response, then the connection closes, no 400', async (t) => {
  const held: ServerResponse[] = [];
  const upstream = await upstreamFor(t, 'slow', (req, res) => {
    req.resume();
    if (req.url === '/ok') return void res.end('ok');
    held.push(res);
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  // 1. The garbage arrives before the response head.
  const early = rawRequest(proxy.url, head(['GET /slow HTTP/1.1', 'Host: a']) + 'GARBAGE GARBAGE\r\n\r\n');
  t.teardown(() => early.socket.destroy());
  await waitFor('the upstream to hold /slow', () => held.length === 1);
  // The refused bytes get their access record at once; nothing was written for them.
  const noted = await waitFor('the record of the refused bytes', () => accessLines(proxy).find((line) => line.status === 400));
  t.match(noted, { pool: null, target: null, error: /not answered/ });
  t.equal(early.received().length, 0, 'nothing written while the response is owed');
  held[0]!.end('slow body');
  await withDeadline(early.ended, 5000, 'the connection to close after the response');
  const raw = early.received().toString('latin1');
  t.equal(statusLines(early.received()), 1, 'exactly one status line');
  t.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  t.ok(raw.endsWith('slow body'), 'the response is complete and nothing follows it');
  t.notMatch(raw, /400/);

  // 2. The garbage arrives after the response head went out (keep-alive, chunked body under way).
  const late = rawRequest(proxy.url, head(['GET /slow2 HTTP/1.1', 'Host: a']));
  t.teardown(() => late.socket.destroy());
  await waitFor('the upstream to hold /slow2', () => held.length === 2);
  held[1]!.writeHead(200, { 'content-type': 'text/plain' });
  held[1]!.write('part one;');
  await waitFor('the head and first chunk', () => late.received().toString('latin1').includes('part one;'));
  late.socket.write('\x01\x02 not http\r\n\r\n');
  await waitFor('the refused bytes to be noted', () => accessLines(proxy).filter((line) => line.status === 400).length === 2);
  held[1]!.end('part two');
  await withDeadline(late.ended, 5000, 'the connection to close after the response');
  const lateRaw = late.received().toString('latin1');
  t.equal(statusLines(late.received()), 1, 'exactly one status line');
  t.ok(lateRaw.endsWith('part two\r\n0\r\n\r\n'), 'the chunked response ended properly, nothing after it');

  // 3. After a complete response, the connection is idle again: a refusal there is an answer.
  const idle = rawRequest(proxy.url, head(['GET /ok HTTP/1.1', 'Host: a']));
  t.teardown(() => idle.socket.destroy());
  await waitFor('the first answer', () => idle.received().toString('latin1').endsWith('ok'));
  idle.socket.write('GARBAGE\r\n\r\n');
  await withDeadline(idle.ended, 5000, 'the refusal');
  t.equal(statusLines(idle.received()), 2);
  t.match(idle.received().toString('latin1'), /ok(HTTP\/1\.1 400 Bad Request\r\n)/);
  t.equal(inflightTotal(proxy), 0);
  await assertServes(t, proxy);
});

t.test('a broken chunked body before any response byte: the client gets a 400, no target is blamed', async (t) => {
  const a = await upstreamFor(t, 'a');
  const b = await upstreamFor(t, 'b');
  // Two targets (a pool's last ready one is never ejected); one failure would eject.
  const proxy = await proxyFor(t, { blue: [a.url, b.url] }, { passive: { consecutiveFailures: 1, ejectMs: 60000 } });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const exchange = rawRequest(proxy.url, head(['POST /up HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked']) + '5\r\nhello\r\n');
    // The body is read before dispatch (request buffering) or streamed: either way the proxy owes the answer.
    await waitFor('the proxy to take the head', () => inflightTotal(proxy) > 0);
    exchange.socket.write('zz\r\nnot a chunk\r\n');
    await withDeadline(exchange.ended, 5000, 'the proxy to close the connection');
    t.match(exchange.received().toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n/);
    t.equal(statusLines(exchange.received()), 1);
    ids.push(/x-request-id: ([^\r]+)/i.exec(exchange.received().toString('latin1'))?.[1] ?? 'none');
    await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  }
  for (const target of proxy.switchyard.pools.get('blue')!.targets) t.notOk(target.health.has(Flag.EJECTED), `${target.url} not ejected`);
  t.equal([...a.seen, ...b.seen].filter((req) => req.url === '/up' && req.complete).length, 0, 'no upstream got a whole upload');
  const records = await waitFor('the uploads\' records', (): AccessLine[] | undefined => {
    const lines = accessLines(proxy).filter((line) => line.url === '/up');
    return lines.length === 3 ? lines : undefined;
  });
  t.ok(records.every((line) => line.status < 500), 'recorded as the client\'s doing, not an upstream failure');
  // One record per upload, under the id its 400 carried, with the 400 it got (not a 499).
  t.same(records.map((line) => line.status), [400, 400, 400]);
  t.same(records.map((line) => line.reqId).sort(), [...ids].sort());
  t.ok(records.every((line) => /malformed/.test(line.error ?? '')), 'the reason says the body was malformed');
  await assertServes(t, proxy);
});

t.test('a normal request still costs one Host scan: many headers, one Host, forwarded as sent', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const headers: Record<string, string> = {};
  for (let i = 0; i < 40; i++) headers[`x-h${i}`] = String(i);
  const answer = await send(proxy.url, '/many', { headers: { ...headers, 'transfer-encoding': 'chunked' }, method: 'POST', body: 'abc' });
  t.equal(answer.status, 200);
  const seen = JSON.parse(answer.body.toString()) as { url: string; headers: Record<string, string> };
  t.equal(seen.url, '/many');
  t.equal(seen.headers['x-h39'], '39');
});

t.test('Upgrade requests are admitted the same way: Host and target mistakes are refused before any upstream sees them', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const upgrade = ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
  const cases: Array<[string[], number]> = [
    [['GET /ws HTTP/1.1', 'Host: a', 'Host: b', ...upgrade], 400],
    [['GET /ws HTTP/1.1', 'Host: a b', ...upgrade], 400],
    [['GET /ws HTTP/1.1', ...upgrade], 400],
    [['GET ftp://x/ws HTTP/1.1', 'Host: a', ...upgrade], 400],
    [['GET /ws HTTP/1.1', 'Host: a', 'Content-Length: 3', ...upgrade], 400],
    [['GET /ws HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked', ...upgrade], 501],
  ];
  for (const [lines, status] of cases) {
    const answer = await refusedWith(proxy, head(lines) + (lines.some((line) => line.startsWith('Content-Length')) ? 'abc' : ''));
    t.equal(answer.status, status, `${lines.slice(0, 3).join(' | ')} → ${status}`);
    t.equal(answer.headers.connection, 'close');
    t.match(answer.headers['x-request-id'], /.+/);
  }
  t.equal(upstream.seen.length, 0, 'no upstream saw any of them');
  await assertServes(t, proxy);
});
