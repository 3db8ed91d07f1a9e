// Pure unit tests for the header rewriting functions (no sockets).
import t from 'tap';
import { VIA, clientAddress, downstreamResponseHeaders, incomingRequestId, upstreamRequestHeaders, type ForwardContext } from '../../src/proxy/headers.js';

const context: ForwardContext = { requestId: 'rid-1', clientIp: '192.0.2.10', proto: 'http', host: 'shop.example' };

/** Flat [name, value, ...] → list of [lower name, value] pairs. */
function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!.toLowerCase(), flat[i + 1]!]);
  return out;
}

function valuesOf(flat: readonly string[], name: string): string[] {
  return pairs(flat).filter(([n]) => n === name).map(([, v]) => v);
}

t.test('upstreamRequestHeaders strips hop-by-hop headers and Connection-listed names', async (t) => {
  const out = upstreamRequestHeaders([
    'Host', 'shop.example',
    'Connection', 'keep-alive, X-Custom-Hop',
    'connection', 'X-Second',
    'Keep-Alive', 'timeout=5',
    'TE', 'trailers',
    'Trailer', 'x-sum',
    'Transfer-Encoding', 'chunked',
    'Upgrade', 'websocket',
    'Proxy-Authorization', 'Basic x',
    'Proxy-Authenticate', 'Basic',
    'Proxy-Connection', 'keep-alive',
    'Expect', '100-continue',
    'X-Custom-Hop', 'gone',
    'x-second', 'gone too',
    'Accept', 'text/html',
    'Cookie', 'a=1',
    'Cookie', 'b=2',
  ], context);
  const names = pairs(out).map(([name]) => name);
  for (const hop of ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization',
    'proxy-authenticate', 'proxy-connection', 'expect', 'x-custom-hop', 'x-second']) {
    t.notOk(names.includes(hop), `${hop} stripped`);
  }
  t.same(valuesOf(out, 'accept'), ['text/html']);
  t.same(valuesOf(out, 'cookie'), ['a=1', 'b=2'], 'repeated end-to-end headers kept, in order');
  t.same(valuesOf(out, 'host'), ['shop.example'], 'Host passes');
  t.ok(out.includes('Accept'), "the sender's casing is kept");
});

t.test('upstreamRequestHeaders sets the forwarding headers', async (t) => {
  const fresh = upstreamRequestHeaders(['Host', 'shop.example'], context);
  t.same(valuesOf(fresh, 'x-forwarded-for'), ['192.0.2.10']);
  t.same(valuesOf(fresh, 'x-forwarded-proto'), ['http']);
  t.same(valuesOf(fresh, 'x-forwarded-host'), ['shop.example']);
  t.same(valuesOf(fresh, 'via'), [VIA]);
  t.equal(VIA, '1.1 switchyard');
  t.same(valuesOf(fresh, 'x-request-id'), ['rid-1']);

  const chained = upstreamRequestHeaders([
    'X-Forwarded-For', '203.0.113.1',
    'x-forwarded-for', '198.51.100.2, 198.51.100.3',
    'Via', '1.0 a',
    'VIA', '1.1 b',
    'X-Forwarded-Proto', 'https',
    'X-Forwarded-Host', 'spoof.example',
    'X-Request-Id', 'client-id',
  ], { ...context, requestId: 'client-id', proto: 'https', host: undefined });
  t.same(valuesOf(chained, 'x-forwarded-for'), ['203.0.113.1, 198.51.100.2, 198.51.100.3, 192.0.2.10'], 'one joined line, client appended');
  t.same(valuesOf(chained, 'via'), ['1.0 a, 1.1 b, 1.1 switchyard']);
  t.same(valuesOf(chained, 'x-forwarded-proto'), ['https'], 'replaced by the context, not duplicated');
  t.same(valuesOf(chained, 'x-forwarded-host'), [], 'no Host → no X-Forwarded-Host (and the spoofed one is dropped)');
  t.same(valuesOf(chained, 'x-request-id'), ['client-id'], 'exactly one request id');
});

t.test('downstreamResponseHeaders strips hop-by-hop, keeps repeats, appends extras', async (t) => {
  const raw = [
    'Connection', 'keep-alive, X-Internal',
    'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked',
    'Proxy-Authenticate', 'Basic',
    'Trailer', 'x-sum',
    'Upgrade', 'h2c',
    'X-Internal', 'secret',
    'Set-Cookie', 'a=1',
    'Set-Cookie', 'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT',
    'Content-Type', 'text/plain',
    'X-Latin1', 'caf\u00e9',
  ].map((text) => Buffer.from(text, 'latin1'));
  const out = downstreamResponseHeaders(raw, ['x-switchyard-pool', 'green']);
  t.same(pairs(out), [
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT'],
    ['content-type', 'text/plain'],
    ['x-latin1', 'caf\u00e9'],
    ['x-switchyard-pool', 'green'],
  ]);
  t.same(downstreamResponseHeaders([Buffer.from('A'), Buffer.from('1')], null), ['A', '1'], 'no extras when none configured');
});

t.test('Connection tokens are matched case-insensitively and trimmed; empty tokens ignored', async (t) => {
  const out = upstreamRequestHeaders(['CONNECTION', ' ,X-A ,  x-b,, ', 'x-a', '1', 'X-B', '2', 'x-c', '3'], context);
  t.same(valuesOf(out, 'x-a'), []);
  t.same(valuesOf(out, 'x-b'), []);
  t.same(valuesOf(out, 'x-c'), ['3']);
});

t.test('incomingRequestId keeps a sane client id only', async (t) => {
  t.equal(incomingRequestId(['Host', 'h', 'X-Request-ID', 'abc']), 'abc');
  t.equal(incomingRequestId(['x-request-id', 'first', 'x-request-id', 'second']), 'first');
  t.equal(incomingRequestId(['x-request-id', '']), undefined, 'empty is not an id');
  t.equal(incomingRequestId(['x-request-id', 'x'.repeat(200)]), 'x'.repeat(200), '200 characters is allowed');
  t.equal(incomingRequestId(['x-request-id', 'x'.repeat(201)]), undefined, 'longer is not');
  t.equal(incomingRequestId(['x-request-ids', 'nope', 'host', 'h']), undefined);
});

t.test('Connection-listed names: the rare second pass keeps order and drops listed forwarding headers', async (t) => {
  const out = upstreamRequestHeaders([
    'Host', 'shop.example',
    'X-Forwarded-For', '203.0.113.1',
    'Via', '1.0 edge',
    'close', 'a header literally named close',
    'Connection', 'close',
    'connection', 'X-Forwarded-For, Via',
    'A', '1',
    'B', '2',
  ], context);
  t.same(pairs(out).slice(0, 3), [['host', 'shop.example'], ['a', '1'], ['b', '2']], 'listed names gone, the rest in order');
  t.same(valuesOf(out, 'x-forwarded-for'), ['192.0.2.10'], 'a listed X-Forwarded-For is not chained');
  t.same(valuesOf(out, 'via'), [VIA], 'a listed Via is not chained');
  t.same(valuesOf(out, 'close'), [], 'Connection: close lists the name close');

  const plain = upstreamRequestHeaders(['Host', 'h', 'Connection', 'Keep-Alive', 'Keep-Alive', 'timeout=5', 'X-A', '1'], context);
  t.same(pairs(plain).slice(0, 2), [['host', 'h'], ['x-a', '1']], 'Connection: keep-alive needs no second pass');

  const response = downstreamResponseHeaders(['Connection', 'close, X-Internal', 'X-Internal', 'secret', 'Content-Type', 'text/plain', 'close', 'x']
    .map((item) => Buffer.from(item, 'latin1')), ['x-switchyard-pool', 'blue']);
  t.same(response, ['Content-Type', 'text/plain', 'x-switchyard-pool', 'blue'], 'response side: listed names dropped, extras appended');
});

t.test('clientAddress: the IPv4-mapped prefix of a dual-stack listener is dropped, other addresses kept', async (t) => {
  t.equal(clientAddress('::ffff:192.0.2.7'), '192.0.2.7');
  t.equal(clientAddress('192.0.2.7'), '192.0.2.7');
  t.equal(clientAddress('2001:db8::1'), '2001:db8::1');
  t.equal(clientAddress(undefined), '', 'a socket already closed has no address');
});

t.test('upstreamRequestHeaders: an absolute-form authority replaces Host (RFC 9112 §3.2.2), or becomes one', async (t) => {
  const replaced = upstreamRequestHeaders(['Accept', '*/*', 'Host', 'app.test', 'X-A', '1'], { ...context, host: 'other.test:8080', hostFromTarget: true });
  t.same(pairs(replaced).slice(0, 3), [['accept', '*/*'], ['host', 'other.test:8080'], ['x-a', '1']], 'in place, one Host');
  t.same(valuesOf(replaced, 'x-forwarded-host'), ['other.test:8080'], 'X-Forwarded-Host is the effective host');
  const added = upstreamRequestHeaders(['Accept', '*/*'], { ...context, host: 'legacy.test', hostFromTarget: true });
  t.same(valuesOf(added, 'host'), ['legacy.test'], 'an HTTP/1.0 request without Host gets one');
  const kept = upstreamRequestHeaders(['Host', 'app.test'], { ...context, host: 'app.test', hostFromTarget: false });
  t.same(valuesOf(kept, 'host'), ['app.test'], 'origin-form: the client\'s Host as sent');
});
