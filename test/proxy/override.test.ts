// routing.overrideHeader on real sockets: a request may name its pool (even one at weight 0),
// unknown names are ignored, the header never reaches the upstream, routing.overrideAllow
// limits who may use it, and an overridden request leaves the sticky cookie alone.
import t, { type Test } from 'tap';
import { rawRequest, send, startRawUpstream, type Answer } from '../helpers/http-client.js';
import { proxyFor, upstreamFor } from '../helpers/data-plane.js';
import { Flag } from '../../src/pool/health-flags.js';

const HEADER = 'x-switchyard-pool';

const nameOf = (answer: Answer) => (JSON.parse(answer.body.toString()) as { name: string }).name;
const seenHeaders = (answer: Answer) => (JSON.parse(answer.body.toString()) as { headers: Record<string, string> }).headers;

async function setup(t: Test, routing: Record<string, unknown> = {}) {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, {
    routing: { initial: { blue: 100, green: 0 }, overrideHeader: 'X-Switchyard-Pool', ...routing },
  });
  return { proxy, blue, green };
}

t.test('the header names green while blue has 100: green answers; the upstream never sees the header', async (t) => {
  const { proxy } = await setup(t);
  const over = await send(proxy.url, '/over', { headers: { [HEADER]: 'green' } });
  t.equal(over.status, 200);
  t.equal(nameOf(over), 'green', 'green at weight 0 answers');
  t.notOk(HEADER in seenHeaders(over), 'the override header is stripped before forwarding');
  t.equal(seenHeaders(over)['x-forwarded-for'], '127.0.0.1', 'the other forwarding headers are still set');

  const explicit = await send(proxy.url, '/blue', { headers: { [HEADER]: 'blue' } });
  t.equal(nameOf(explicit), 'blue');

  for (const value of ['purple', 'GREEN', '']) {
    const ignored = await send(proxy.url, '/unknown', { headers: { [HEADER]: value } });
    t.equal(nameOf(ignored), 'blue', `${JSON.stringify(value)}: ignored, normal routing`);
    t.notOk(HEADER in seenHeaders(ignored), '... and still stripped');
  }

  const plain = await send(proxy.url, '/plain');
  t.equal(nameOf(plain), 'blue');
});

t.test('the override header is stripped whatever its casing, also when repeated', async (t) => {
  const green = await startRawUpstream(() => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ngreen');
  t.teardown(() => green.close());
  const blue = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, {
    routing: { initial: { blue: 100, green: 0 }, overrideHeader: HEADER },
  });
  const once = rawRequest(proxy.url, 'GET /once HTTP/1.1\r\nHost: x\r\nX-SWITCHYARD-POOL: green\r\nConnection: close\r\n\r\n');
  await once.ended;
  t.match(once.received().toString('latin1'), /^HTTP\/1\.1 200 [\s\S]*green$/, 'green answered');
  t.equal(green.heads.length, 1);
  t.notMatch(green.heads[0]!, /switchyard-pool/i, 'the upstream did not see the header');

  // Two values join to "green, green": no such pool, so blue answers; neither line is forwarded.
  const twice = rawRequest(proxy.url, 'GET /twice HTTP/1.1\r\nHost: x\r\nX-Switchyard-Pool: green\r\nx-switchyard-pool: green\r\nConnection: close\r\n\r\n');
  await twice.ended;
  t.match(twice.received().toString('latin1'), /^HTTP\/1\.1 200 /);
  const seen = blue.seen.find((req) => req.url === '/twice')!;
  t.ok(seen, 'blue answered the repeated header');
  t.notOk(seen.rawHeaders.some((name) => /switchyard-pool/i.test(name)), 'neither line reached blue');
});

t.test('overrideAllow: a loopback client outside the list is ignored (header still stripped); inside, honoured', async (t) => {
  const outside = await setup(t, { overrideAllow: ['10.0.0.0/8'] });
  const ignored = await send(outside.proxy.url, '/outside', { headers: { [HEADER]: 'green' } });
  t.equal(nameOf(ignored), 'blue', 'override from 127.0.0.1 ignored with ["10.0.0.0/8"]');
  t.notOk(HEADER in seenHeaders(ignored), 'and stripped all the same');

  const inside = await setup(t, { overrideAllow: ['10.0.0.0/8', '127.0.0.0/8'] });
  const honoured = await send(inside.proxy.url, '/inside', { headers: { [HEADER]: 'green' } });
  t.equal(nameOf(honoured), 'green', 'override from 127.0.0.1 honoured with ["127.0.0.0/8"]');
  t.notOk(HEADER in seenHeaders(honoured));
});

t.test('with a sticky cookie: the override wins and neither sets nor rewrites the cookie', async (t) => {
  const { proxy } = await setup(t, { stickyCookie: 'sp', initial: { blue: 50, green: 50 } });
  const over = await send(proxy.url, '/over', { headers: { [HEADER]: 'green', cookie: 'sp=blue; other=1' } });
  t.equal(nameOf(over), 'green', 'the header beats the cookie');
  t.equal(over.headers['set-cookie'], undefined, 'the cookie is not rewritten');
  t.equal(seenHeaders(over).cookie, 'sp=blue; other=1', 'cookies pass through');

  const fresh = await send(proxy.url, '/fresh', { headers: { [HEADER]: 'blue' } });
  t.equal(nameOf(fresh), 'blue');
  t.equal(fresh.headers['set-cookie'], undefined, 'no cookie is set on an overridden request');

  const unknown = await send(proxy.url, '/unknown', { headers: { [HEADER]: 'purple' } });
  t.strictSame(unknown.headers['set-cookie'], [`sp=${nameOf(unknown)}; Path=/; HttpOnly; SameSite=Lax`], 'an ignored header: normal routing, cookie set');
});

t.test('an overridden pool with no ready target answers 503', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [blue.url], green: ['http://127.0.0.1:1'] }, {
    routing: { initial: { blue: 100, green: 0 }, overrideHeader: HEADER },
  });
  for (const target of proxy.switchyard.pools.get('green')!.targets) target.health.set(Flag.FAILED_ACTIVE_CHECK, true);
  const answer = await send(proxy.url, '/down', { headers: { [HEADER]: 'green' } });
  t.equal(answer.status, 503);
  t.match(answer.body.toString(), /no ready target in pool green/);
});

t.test('Upgrade requests follow the override too, and the header is stripped from the tunnelled head', async (t) => {
  const green = await startRawUpstream(() => 'HTTP/1.1 426 Upgrade Required\r\nContent-Length: 5\r\nConnection: close\r\n\r\ngreen');
  t.teardown(() => green.close());
  const blue = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, {
    routing: { initial: { blue: 100, green: 0 }, overrideHeader: HEADER },
  });
  const exchange = rawRequest(proxy.url, [
    'GET /ws HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', `${HEADER}: green`, '', '',
  ].join('\r\n'));
  await exchange.ended;
  t.match(exchange.received().toString('latin1'), /^HTTP\/1\.1 426 [\s\S]*green$/, 'green answered the upgrade');
  t.equal(green.heads.length, 1);
  t.notMatch(green.heads[0]!, /switchyard-pool/i, 'the override header did not reach the upstream');
  t.match(green.heads[0]!, /\r\nUpgrade: websocket/i, 'the upgrade headers did');
});
