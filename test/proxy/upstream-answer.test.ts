// Pure unit tests for reading an upstream's answer to an Upgrade request (no sockets): the head,
// and where a refused upgrade's body ends whatever way the bytes are split.
import t from 'tap';
import { bodyEnd, parseHead, type BodyEnd } from '../../src/proxy/upstream-answer.js';

const head = (text: string) => parseHead(`${text}\r\n\r\n`);

/** Feeds `bytes` split into pieces of `size`; answers the bytes taken, or -1 at the first bad framing. */
function feedSplit(end: BodyEnd, bytes: string, size: number): number {
  const buffer = Buffer.from(bytes, 'latin1');
  let taken = 0;
  for (let at = 0; at < buffer.length && !end.done; at += size) {
    const used = end.feed(buffer.subarray(at, at + size));
    if (used === -1) return -1;
    taken += used;
  }
  return taken;
}

t.test('parseHead: status, headers in order, Connection tokens lower-cased', async (t) => {
  const parsed = head('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Extra\r\nSec-WebSocket-Accept:  abc ');
  t.equal(parsed?.status, 101);
  t.equal(parsed?.statusLine, 'HTTP/1.1 101 Switching Protocols');
  t.same(parsed?.headers, [['Upgrade', 'websocket'], ['Connection', 'Upgrade, X-Extra'], ['Sec-WebSocket-Accept', 'abc']], 'values trimmed');
  t.same([...(parsed?.connectionTokens ?? [])], ['upgrade', 'x-extra']);
  t.equal(head('HTTP/1.0 403')?.status, 403, 'HTTP/1.0 and no reason phrase');
});

t.test('parseHead: anything but an HTTP/1.x status line with name: value headers is refused', async (t) => {
  t.equal(head('HTTP/2 101 Switching Protocols'), null);
  t.equal(head('SSH-2.0-OpenSSH_9.2'), null);
  t.equal(head('HTTP/1.1 1010 Too Long'), null);
  t.equal(head('HTTP/1.1 101 OK\r\nno colon here'), null);
  t.equal(head('HTTP/1.1 101 OK\r\n: empty name'), null);
});

t.test('bodyEnd: Content-Length counts bytes across pieces and takes no more', async (t) => {
  for (const size of [1, 3, 100]) {
    const end = bodyEnd(head('HTTP/1.1 403 Forbidden\r\nContent-Length: 5')!, false);
    t.equal(end.delimitedByClose, false);
    t.equal(feedSplit(end, 'hello, and the next answer', size), 5, `pieces of ${size}`);
    t.equal(end.done, true);
  }
});

t.test('bodyEnd: no body for HEAD, 204 and 304; the close delimits a body without length', async (t) => {
  t.equal(bodyEnd(head('HTTP/1.1 200 OK\r\nContent-Length: 10')!, true).done, true, 'HEAD');
  t.equal(bodyEnd(head('HTTP/1.1 204 No Content')!, false).done, true);
  t.equal(bodyEnd(head('HTTP/1.1 304 Not Modified\r\nContent-Length: 10')!, false).done, true);
  const untilClose = bodyEnd(head('HTTP/1.1 403 Forbidden')!, false);
  t.equal(untilClose.delimitedByClose, true);
  t.equal(untilClose.feed(Buffer.from('everything')), 10);
  t.equal(untilClose.done, false, 'only the close ends it');
  t.equal(bodyEnd(head('HTTP/1.1 403 Forbidden\r\nContent-Length: 1x')!, false).delimitedByClose, true, 'a malformed length is no length');
});

t.test('bodyEnd: chunked framing, with extensions and trailers, ends exactly after the last empty line', async (t) => {
  const body = '4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n';
  for (const size of [1, 2, 7, body.length]) {
    const end = bodyEnd(head('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: gzip, chunked')!, false);
    t.equal(feedSplit(end, `${body}NEXT`, size), body.length, `pieces of ${size}`);
    t.equal(end.done, true);
  }
  const bare = bodyEnd(head('HTTP/1.1 403 Forbidden\r\ntransfer-encoding: chunked\r\nContent-Length: 3')!, false);
  t.equal(feedSplit(bare, '0\n\n', 1), 3, 'chunked wins over Content-Length; bare LF line ends accepted');
});

t.test('bodyEnd: bad chunked framing is reported, not guessed', async (t) => {
  const chunked = () => bodyEnd(head('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked')!, false);
  t.equal(chunked().feed(Buffer.from('zz\r\n')), -1, 'a size that is not hex');
  t.equal(chunked().feed(Buffer.from('2\r\nabX\r\n')), -1, 'data longer than its size');
  t.equal(feedSplit(chunked(), 'f'.repeat(9000), 100), -1, 'a size line past 8 KiB');
});
