// A request undici refuses to send (a header it rejects, `Expect`, a duplicate Host, an
// asterisk-form target) is the client's fault: the Exchange answers 400/417 itself, retries
// nowhere and reports nothing to passive health. Tested on the Exchange alone (real sockets,
// a real undici pool and upstream), since the listener's admission refuses most such heads
// before they get this far.
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_LIMITS } from '../../src/config/schema.js';
import { Target } from '../../src/pool/target.js';
import { UpstreamPool } from '../../src/pool/upstream-pool.js';
import { Exchange, type ExchangeOwner } from '../../src/proxy/exchange.js';
import { UpstreamClient } from '../../src/proxy/upstream-client.js';
import { rawRequest, send, withDeadline } from '../helpers/http-client.js';
import { upstreamFor } from '../helpers/data-plane.js';

t.test('requests undici refuses get the proxy\'s own 4xx and are never evidence', async (t) => {
  const a = await upstreamFor(t, 'a');
  const b = await upstreamFor(t, 'b');
  const targets = [a.url, b.url].map((url) => new Target(url, 'blue', () => new UpstreamClient(url, { connectMs: 1000, headersMs: 5000 })));
  t.teardown(() => Promise.all(targets.map((target) => target.destroyConnections())));
  const pool = new UpstreamPool('blue', 'v1', targets);
  const observed: boolean[] = [];
  const finished: Exchange[] = [];
  const owner: ExchangeOwner = {
    retryAttempts: 2, closing: false, preview: false, limits: DEFAULT_LIMITS,
    finished: (exchange) => void finished.push(exchange),
    observed: (_target, ok) => void observed.push(ok),
  };
  /** The headers each test request is forwarded with, by its URL (what a rewriting bug or a lax admission could hand undici). */
  const forwarded: Record<string, string[]> = {
    '/two-hosts': ['host', 'a', 'host', 'b'],
    '/expect': ['host', 'a', 'expect', '100-continue'],
    '/bad-value': ['host', 'a', 'x-bad', 'a\u0001b'],
    '/bad-connection': ['host', 'a', 'connection', 'close, no good'],
    '/fine': ['host', 'a'],
  };
  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = forwarded[req.url ?? ''] ?? ['host', 'a'];
    new Exchange(owner, req, res, pool, pool.pick()!, 'id-1', [...headers], performance.now()).start();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    proxy.close(() => resolve());
    proxy.closeAllConnections();
  }));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const expected: Record<string, number> = { '/two-hosts': 400, '/expect': 417, '/bad-value': 400, '/bad-connection': 400 };
  for (const [path, status] of Object.entries(expected)) {
    for (let i = 0; i < 2; i++) {
      const answer = await send(url, path);
      t.equal(answer.status, status, `${path} → ${status}`);
      t.equal(answer.headers.connection, 'close', 'and the connection closes after it');
    }
  }
  const raw = rawRequest(url, 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
  await withDeadline(raw.ended, 5000, 'the answer to OPTIONS *');
  t.match(raw.received().toString('latin1'), /^HTTP\/1\.1 400 /, 'an asterisk-form target undici cannot send → 400');

  t.same(observed, [], 'nothing reported to passive health');
  t.equal(a.seen.length + b.seen.length, 0, 'nothing reached an upstream (no retry elsewhere either)');
  t.ok(finished.every((exchange) => exchange.retries === 0 && exchange.status >= 400 && exchange.status < 500));
  t.same(targets.map((target) => target.inflight), [0, 0]);

  t.equal((await send(url, '/fine')).status, 200, 'a good request still goes through');
  t.same(observed, [true]);
});
