// upgrade-head.ts: which 101 may be relayed (RFC 9110 §7.8), and the heads a client's raw
// socket gets, as pure functions.
import t from 'tap';
import { Framing, answerHead, ownAnswer, requestedUpgrade, switchingHead, upgradeMatches, upgradeProtocols } from '../../src/proxy/upgrade-head.js';

const raw = (...pairs: string[]) => pairs.map((item) => Buffer.from(item, 'latin1'));

t.test('upgradeMatches: every protocol switched to was offered, case-insensitive, at least one', async (t) => {
  t.ok(upgradeMatches('websocket', ['websocket']));
  t.ok(upgradeMatches('websocket', ['WebSocket']), 'case-insensitive');
  t.ok(upgradeMatches('websocket, foo/2', ['foo/2']), 'any offered one');
  t.ok(upgradeMatches('h2c, websocket', ['websocket', 'h2c']), 'several, each offered');
  t.notOk(upgradeMatches('websocket', ['h2c']), 'not offered');
  t.notOk(upgradeMatches('websocket', ['websocket, h2c']), 'one more than offered');
  t.notOk(upgradeMatches('websocket', []), 'none');
  t.notOk(upgradeMatches('websocket', [' , ']), 'empty tokens');
  t.notOk(upgradeMatches('foo/2', ['foo/3']), 'versions differ');
  t.same(upgradeProtocols(['a, B/1', 'c']), ['a', 'b/1', 'c']);
});

t.test('requestedUpgrade joins every Upgrade header', async (t) => {
  t.equal(requestedUpgrade(['Host', 'x', 'Upgrade', 'websocket']), 'websocket');
  t.equal(requestedUpgrade(['upgrade', 'a', 'X', 'y', 'UPGRADE', 'b']), 'a, b');
  t.equal(requestedUpgrade(['Host', 'x']), '');
});

t.test('switchingHead keeps end-to-end headers and the Upgrade, drops other hop-by-hop ones', async (t) => {
  const head = switchingHead('', raw('Upgrade', 'websocket', 'Connection', 'Upgrade, X-Hop', 'Sec-WebSocket-Accept', 'abc', 'Keep-Alive', 'timeout=5', 'X-Hop', '1'));
  t.equal(head, 'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
});

t.test('answerHead: framing by status, method and Content-Length; Connection: close', async (t) => {
  const length = answerHead(403, 'Forbidden', raw('Content-Length', '4', 'Connection', 'keep-alive', 'X-Why', 'no'), 'GET');
  t.equal(length.framing, Framing.Length);
  t.equal(length.head, 'HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nX-Why: no\r\nConnection: close\r\n\r\n');
  const chunked = answerHead(200, 'OK', raw('Transfer-Encoding', 'chunked'), 'GET');
  t.equal(chunked.framing, Framing.Chunked);
  t.equal(chunked.head, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', 'chunked again here');
  t.equal(answerHead(401, 'Unauthorized', raw(), 'GET').framing, Framing.Chunked, 'close-delimited upstream: chunked to the client');
  t.equal(answerHead(204, '', raw('Content-Length', '0'), 'GET').framing, Framing.None);
  t.equal(answerHead(304, '', raw(), 'GET').framing, Framing.None);
  t.equal(answerHead(200, '', raw('Content-Length', '10'), 'HEAD').framing, Framing.None);
  t.match(answerHead(418, 'bad\u0001reason', raw(), 'GET').head, /^HTTP\/1\.1 418 I'm a Teapot\r\n/, 'an unsafe reason phrase is replaced');
});

t.test('ownAnswer: length-framed, request id, Connection: close, extra headers', async (t) => {
  t.equal(ownAnswer(503, 'id-1', 'busy', ['Retry-After', '1']),
    'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nRetry-After: 1\r\nX-Request-Id: id-1\r\nConnection: close\r\n\r\nbusy\n');
});
