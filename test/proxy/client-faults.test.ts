// Client faults found by trying the proxy as a new user would (issue #11): requests pipelined
// before a parse error are all answered before the connection closes, and a slow or silent
// client cannot hold a connection past limits.requestHeadMs.
import t from 'tap';
import { rawRequest, statusLines, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessLines, assertServes, inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';

const head = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

t.test('requests read before a parse error are answered in order, then the connection closes; nothing else is dispatched', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const packet = head(['GET /p?n=1 HTTP/1.1', 'Host: a'])
    + head(['POST /p?n=2 HTTP/1.1', 'Host: a', 'Content-Length: 3']) + 'abc'
    + head(['POST /p?n=3 HTTP/1.1', 'Host: a', 'Content-Length: 3']) + 'abc'
    + 'GARBAGE\r\n\r\n'
    + head(['GET /p?n=4 HTTP/1.1', 'Host: a']);
  const exchange = rawRequest(proxy.url, packet);
  t.teardown(() => exchange.socket.destroy());
  await withDeadline(exchange.ended, 10_000, 'the connection to close');
  const raw = exchange.received().toString('latin1');
  t.equal(statusLines(exchange.received()), 3, 'three answers, no 400 among them');
  t.notMatch(raw, /HTTP\/1\.1 400/);
  for (const n of [1, 2, 3]) t.match(raw, new RegExp(`"url":"/p\\?n=${n}"`), `the answer to n=${n} arrived`);
  t.match(raw, /Connection: close\r\n/i, 'the last answer says the connection closes');
  t.same(upstream.seen.map((req) => req.url), ['/p?n=1', '/p?n=2', '/p?n=3'], 'nothing after the garbage reached the upstream');
  const served = await waitFor('the three records', () => {
    const lines = accessLines(proxy).filter((line) => line.url.startsWith('/p?n='));
    return lines.length === 3 ? lines : undefined;
  });
  t.same(served.map((line) => line.status), [200, 200, 200]);
  const refused = await waitFor('the record of the refused bytes', () => accessLines(proxy).find((line) => line.status === 400));
  t.match(refused, { url: '', pool: null, error: /not answered/ }, 'the garbage does not borrow the first request\'s line');
  t.equal(inflightTotal(proxy), 0);
  await assertServes(t, proxy);
});

t.test('a head that trickles or never comes is answered 408 after limits.requestHeadMs and the connection closed', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { requestHeadMs: 600 } });
  const started = Date.now();
  const trickle = rawRequest(proxy.url, 'GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  const silent = rawRequest(proxy.url, '');
  t.teardown(() => { trickle.socket.destroy(); silent.socket.destroy(); });
  // One byte every 100 ms: the head never completes, each byte is progress an idle timer would count.
  const drip = setInterval(() => { if (!trickle.socket.destroyed) trickle.socket.write('x'); }, 100);
  t.teardown(() => clearInterval(drip));
  await withDeadline(trickle.ended, 5000, 'the trickling client to be cut');
  await withDeadline(silent.ended, 5000, 'the silent client to be cut');
  clearInterval(drip);
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 500, `not cut before the deadline (${elapsed} ms)`);
  t.match(trickle.received().toString('latin1'), /^HTTP\/1\.1 408 /, 'the trickling client is told why');
  t.match(trickle.received().toString('latin1'), /\r\nContent-Length: \d+\r\n/i, 'a refusal has its length');
  t.equal(statusLines(trickle.received()), 1);
  t.equal(upstream.seen.length, 0, 'nothing reached the upstream');
  // A client that sends its head in time on a kept-alive connection is not affected.
  await assertServes(t, proxy);
});
