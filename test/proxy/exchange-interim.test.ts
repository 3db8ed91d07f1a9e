// SPEC §10: `103 Early Hints` is relayed (other 1xx are not); response trailers are relayed
// to an HTTP/1.1 client that sent `TE: trailers`, declared in `Trailer`, in a chunked body.
import t, { type Test } from 'tap';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { collect, rawRequest, startRawUpstream, waitFor, withDeadline } from '../helpers/http-client.js';
import { assertServes, proxyFor, upstreamFor } from '../helpers/data-plane.js';

t.test('103 Early Hints reaches an HTTP/1.1 client before the final answer', async (t) => {
  let pending: ServerResponse | undefined;
  const upstream = await upstreamFor(t, 'hints', (req, res) => {
    req.resume();
    res.writeEarlyHints({ link: ['</style.css>; rel=preload; as=style', '</app.js>; rel=preload; as=script'], 'x-hint': 'yes' });
    pending = res;
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const req = httpRequest(`${proxy.url}/page`, { agent: false });
  req.end();
  const [info] = (await withDeadline(once(req, 'information'), 3000, 'the 103')) as [{ statusCode: number; headers: Record<string, string> }];
  t.equal(info.statusCode, 103);
  t.equal(info.headers.link, '</style.css>; rel=preload; as=style, </app.js>; rel=preload; as=script');
  t.equal(info.headers['x-hint'], 'yes');
  await waitFor('the upstream to hold the request', () => pending);
  pending!.end('page');
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  t.equal(res.statusCode, 200);
  t.equal((await collect(res)).toString(), 'page');
});

t.test('other 1xx are not relayed, and an HTTP/1.0 client gets no 1xx at all', async (t) => {
  const upstream = await startRawUpstream(() =>
    'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const v11 = rawRequest(proxy.url, 'GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await withDeadline(v11.ended, 5000, 'the 1.1 answer');
  const text11 = v11.received().toString('latin1');
  t.notMatch(text11, /HTTP\/1\.1 102/, 'no 102');
  t.match(text11, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/);

  const v10 = rawRequest(proxy.url, 'GET /b HTTP/1.0\r\nHost: a\r\n\r\n');
  await withDeadline(v10.ended, 5000, 'the 1.0 answer');
  t.match(v10.received().toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/, 'an HTTP/1.0 client sees only the final answer');
});

/** Sends a chunked body with a trailer, declared; records whether it was asked for trailers. */
async function trailingUpstream(t: Test) {
  const askedForTrailers: (string | undefined)[] = [];
  const upstream = await upstreamFor(t, 'trailers', (req, res) => {
    req.resume();
    askedForTrailers.push(req.headers.te as string | undefined);
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'X-Checksum' });
    res.write('abc');
    res.addTrailers({ 'X-Checksum': 'sha-42' });
    res.end('def');
  });
  return { upstream, askedForTrailers };
}

t.test('trailers are relayed to a client that sent TE: trailers', async (t) => {
  const { upstream, askedForTrailers } = await trailingUpstream(t);
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const req = httpRequest(`${proxy.url}/with-trailers`, { agent: false, headers: { te: 'trailers' } });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  t.equal(res.headers.trailer, 'X-Checksum', 'declared in Trailer');
  t.equal(res.headers['transfer-encoding'], 'chunked');
  t.equal((await collect(res)).toString(), 'abcdef');
  t.same(res.trailers, { 'x-checksum': 'sha-42' }, 'the trailer arrived');
  t.same(askedForTrailers, ['trailers'], 'the upstream was told the client takes trailers');

  // Without TE: trailers, none is sent (nor declared), and the upstream is not asked for them.
  const raw = rawRequest(proxy.url, 'GET /without HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await withDeadline(raw.ended, 5000, 'the answer');
  const text = raw.received().toString('latin1');
  t.notMatch(text, /trailer|x-checksum/i);
  t.match(text, /\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n$/);
  t.equal(askedForTrailers[1], undefined);

  // An HTTP/1.0 client cannot take chunked: a plain body, no trailer, no failure.
  const old = rawRequest(proxy.url, 'GET /old HTTP/1.0\r\nHost: a\r\nTE: trailers\r\n\r\n');
  await withDeadline(old.ended, 5000, 'the 1.0 answer');
  t.match(old.received().toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nabcdef$/);
  t.notMatch(old.received().toString('latin1'), /x-checksum/i);
  await assertServes(t, proxy);
});
