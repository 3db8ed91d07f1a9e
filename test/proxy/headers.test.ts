// Header handling on real sockets: hop-by-hop headers stripped both ways, forwarding headers
// set, the request id generated or kept, Host passed, repeated headers kept, pool header added.
import t, { type Test } from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { rawRequest, send, startRawUpstream } from '../helpers/http-client.js';
import { accessFor, proxyFor, upstreamFor } from '../helpers/data-plane.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The headers the upstream saw, from the default JSON-echo upstream. */
function seenHeaders(body: Buffer): IncomingHttpHeaders {
  return JSON.parse(body.toString()).headers as IncomingHttpHeaders;
}

/** Raw header pairs as lower-cased names → values, keeping repeats. */
function rawPairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

/** Sends a raw request (so any header can be sent) and returns the status code, header pairs and body. */
async function rawAnswer(t: Test, base: string, lines: string[]): Promise<{ status: number; headers: Array<[string, string]>; body: string }> {
  const exchange = rawRequest(base, [...lines, '', ''].join('\r\n'));
  t.teardown(() => exchange.socket.destroy());
  await exchange.ended; // every request here says Connection: close
  const text = exchange.received().toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
  const headers = headerLines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as [string, string];
  });
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4) };
}

t.test('hop-by-hop request headers, and those named in Connection, do not reach the upstream', async (t) => {
  const upstream = await upstreamFor(t, 'echo');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await rawAnswer(t, proxy.url, [
    'GET /hop HTTP/1.1',
    'Host: hop.example',
    'Connection: close, X-Foo, x-bar',
    'Keep-Alive: timeout=99, max=7',
    'TE: deflate;q=0.5, trailers',
    'Trailer: x-checksum',
    'Upgrade: h2c',
    'Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==',
    'Proxy-Connection: keep-alive',
    'X-Foo: only-for-this-hop',
    'X-Bar: also-hop',
    'X-End-To-End: kept',
  ]);
  t.equal(answer.status, 200);
  const seen = JSON.parse(answer.body).headers as IncomingHttpHeaders;
  for (const name of ['keep-alive', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection', 'x-foo', 'x-bar']) {
    t.notOk(name in seen, `${name} stripped`);
  }
  // TE is hop-by-hop: the client's value never passes; the proxy asks for trailers on its own hop when it can relay them.
  t.ok(seen.te === undefined || seen.te === 'trailers', `the client's TE is not forwarded (upstream saw ${String(seen.te)})`);
  t.notMatch(seen.connection ?? '', /close|foo|bar/i, "the client's Connection value is not forwarded");
  t.equal(seen['x-end-to-end'], 'kept', 'end-to-end headers pass');
});

t.test('hop-by-hop response headers, and those named in Connection, do not reach the client', async (t) => {
  const upstream = await startRawUpstream(() => [
    'HTTP/1.1 200 OK',
    'Connection: keep-alive, X-Secret-Hop',
    'Keep-Alive: timeout=99, max=7',
    'X-Secret-Hop: internal',
    'Proxy-Authenticate: Basic realm="upstream"',
    'Proxy-Authorization: Basic c2VjcmV0',
    'TE: deflate;q=0.5, trailers',
    'Trailer: x-checksum',
    'Upgrade: h2c',
    'X-End-To-End: kept',
    'Content-Length: 2',
    '',
    'ok',
  ].join('\r\n'));
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await rawAnswer(t, proxy.url, ['GET /hop HTTP/1.1', 'Host: hop.example', 'Connection: close']);
  t.equal(answer.status, 200);
  t.equal(answer.body, 'ok');
  const names = answer.headers.map(([name]) => name);
  for (const name of ['x-secret-hop', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']) {
    t.notOk(names.includes(name), `${name} stripped`);
  }
  const values = (name: string) => answer.headers.filter(([n]) => n === name).map(([, v]) => v).join('\n');
  t.notMatch(values('connection'), /secret|keep-alive/i, "the upstream's Connection value is not forwarded");
  t.notMatch(values('keep-alive'), /max=7|timeout=99/, "the upstream's Keep-Alive is not forwarded");
  t.equal(values('x-end-to-end'), 'kept');
  t.equal(values('content-length'), '2');
});

t.test('X-Forwarded-*, Via and the original Host', async (t) => {
  const upstream = await upstreamFor(t, 'echo');
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const fresh = seenHeaders((await send(proxy.url, '/fwd', { headers: { host: 'shop.example.com:8443' } })).body);
  t.equal(fresh.host, 'shop.example.com:8443', 'the client Host header passes unchanged');
  t.equal(fresh['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For is the client address');
  t.equal(fresh['x-forwarded-proto'], 'http');
  t.equal(fresh['x-forwarded-host'], 'shop.example.com:8443', 'X-Forwarded-Host is the Host');
  t.equal(fresh.via, '1.1 switchyard');

  const chained = seenHeaders((await send(proxy.url, '/fwd', {
    headers: {
      host: 'api.example.org',
      'x-forwarded-for': '203.0.113.7, 198.51.100.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'spoofed.example',
      via: '1.0 fred',
    },
  })).body);
  t.equal(chained['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1', 'the client address is appended');
  t.equal(chained['x-forwarded-proto'], 'http', 'the scheme is what this listener speaks');
  t.equal(chained['x-forwarded-host'], 'api.example.org', 'X-Forwarded-Host replaced by the Host');
  t.equal(chained.via, '1.0 fred, 1.1 switchyard', 'Via appended');
  t.equal(chained.host, 'api.example.org');
});

t.test('repeated X-Forwarded-For and Via lines are joined, then appended to', async (t) => {
  const upstream = await upstreamFor(t, 'echo');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const exchange = rawRequest(proxy.url, [
    'GET /multi HTTP/1.1', 'Host: multi.example', 'X-Forwarded-For: 10.0.0.1', 'X-Forwarded-For: 10.0.0.2',
    'Via: 1.0 a', 'Via: 1.1 b', 'Connection: close', '', '',
  ].join('\r\n'));
  t.teardown(() => exchange.socket.destroy());
  await exchange.ended;
  const text = exchange.received().toString();
  const seen = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).headers as IncomingHttpHeaders;
  t.equal(seen['x-forwarded-for'], '10.0.0.1, 10.0.0.2, 127.0.0.1');
  t.equal(seen.via, '1.0 a, 1.1 b, 1.1 switchyard');
});

t.test('X-Request-Id: generated as a uuid, or kept when the client sent one', async (t) => {
  const upstream = await upstreamFor(t, 'echo');
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const generated = seenHeaders((await send(proxy.url, '/rid-new')).body)['x-request-id'] as string;
  t.match(generated, UUID, 'a v4 uuid is generated');
  t.equal((await accessFor(proxy, '/rid-new')).reqId, generated, 'the access log uses the same id');

  const other = seenHeaders((await send(proxy.url, '/rid-new2')).body)['x-request-id'];
  t.not(other, generated, 'each request gets its own id');

  const kept = seenHeaders((await send(proxy.url, '/rid-kept', { headers: { 'x-request-id': 'client-chose-this-1' } })).body);
  t.equal(kept['x-request-id'], 'client-chose-this-1', 'the client id is kept');
  t.equal((await accessFor(proxy, '/rid-kept')).reqId, 'client-chose-this-1');

  const tooLong = seenHeaders((await send(proxy.url, '/rid-long', { headers: { 'x-request-id': 'x'.repeat(500) } })).body);
  t.match(tooLong['x-request-id'], UUID, 'an absurdly long client id is replaced');
});

t.test('repeated Set-Cookie response headers are all delivered', async (t) => {
  const upstream = await upstreamFor(t, 'cookies', (req, res) => {
    req.resume();
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    res.end('cookies');
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await send(proxy.url, '/cookies');
  const cookies = rawPairs(answer.rawHeaders).filter(([name]) => name === 'set-cookie').map(([, value]) => value);
  t.same(cookies, ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT'], 'three separate lines, in order, commas intact');
});

t.test('routing.poolHeader names the pool that served each response', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, {
    routing: { poolHeader: 'x-switchyard-pool', initial: { blue: 50, green: 50 } },
  });
  const served = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const answer = await send(proxy.url, `/pool-${i}`);
    const servedBy = JSON.parse(answer.body.toString()).name as string;
    t.equal(answer.headers['x-switchyard-pool'], servedBy, `response ${i} names its pool (${servedBy})`);
    served.add(servedBy);
  }
  t.same([...served].sort(), ['blue', 'green'], 'both pools served, each labelled correctly');

  const plain = await proxyFor(t, { blue: [blue.url] });
  const unlabelled = await send(plain.url, '/plain');
  t.notOk('x-switchyard-pool' in unlabelled.headers, 'no pool header unless configured');
});
