// Per-request routing as pure logic: override header → sticky cookie → weighted choice, the
// cookie parser, the override allowlist, and the preview listener's standby pool.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { RequestRouter, standbyPool, type RoutableRequest } from '../../src/routing/request-router.js';
import { cookieValue, stickyCookieHeader } from '../../src/routing/sticky.js';
import { addressAllowed, allowList, parseCidr } from '../../src/routing/override.js';

interface FakePool { name: string; weight: number }

function pools(weights: Record<string, number>): Map<string, FakePool> {
  return new Map(Object.entries(weights).map(([name, weight]) => [name, { name, weight }]));
}

function request(headers: IncomingHttpHeaders = {}, remoteAddress = '127.0.0.1'): RoutableRequest {
  return { headers, socket: { remoteAddress } };
}

/** A router over `byName` whose weighted choice always answers `weighted` (and counts its calls). */
function router(byName: Map<string, FakePool>, weighted: string | undefined, options: Record<string, unknown> = {}) {
  const calls = { weighted: 0 };
  const instance = new RequestRouter<FakePool>({
    weighted: () => {
      calls.weighted++;
      return weighted === undefined ? undefined : byName.get(weighted);
    },
    named: (name) => byName.get(name),
    ...options,
  });
  return { router: instance, calls };
}

t.test('cookieValue finds our cookie among others, exactly by name', async (t) => {
  t.equal(cookieValue('switchyard-pool=blue', 'switchyard-pool'), 'blue');
  t.equal(cookieValue('a=1; switchyard-pool=green; b=2', 'switchyard-pool'), 'green');
  t.equal(cookieValue('a=1;switchyard-pool=green', 'switchyard-pool'), 'green', 'no space after ;');
  t.equal(cookieValue('a=1;  \tsp=green  ', 'sp'), 'green', 'whitespace around the pair');
  t.equal(cookieValue('sp="blue"', 'sp'), 'blue', 'quoted value');
  t.equal(cookieValue('sp=', 'sp'), '', 'empty value');
  t.equal(cookieValue('sp=blue; sp=green', 'sp'), 'blue', 'the first one wins');
  t.equal(cookieValue('xsp=blue; spx=green; SP=red', 'sp'), undefined, 'prefixes, suffixes and other casings are other cookies');
  t.equal(cookieValue('a=sp=blue', 'sp'), undefined, 'not inside another value');
  t.equal(cookieValue('sp', 'sp'), undefined, 'a name without =');
  t.equal(cookieValue('', 'sp'), undefined);
  t.equal(cookieValue(';;; ;', 'sp'), undefined);
});

t.test('stickyCookieHeader', async (t) => {
  t.equal(stickyCookieHeader('switchyard-pool', 'green'), 'switchyard-pool=green; Path=/; HttpOnly; SameSite=Lax');
});

t.test('parseCidr', async (t) => {
  t.strictSame(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.strictSame(parseCidr('127.0.0.1/32'), { address: '127.0.0.1', prefix: 32, family: 'ipv4' });
  t.strictSame(parseCidr('::1/128'), { address: '::1', prefix: 128, family: 'ipv6' });
  t.strictSame(parseCidr('fd00::/8'), { address: 'fd00::', prefix: 8, family: 'ipv6' });
  t.strictSame(parseCidr('0.0.0.0/0'), { address: '0.0.0.0', prefix: 0, family: 'ipv4' });
  t.strictSame(parseCidr('192.168.1.7'), { address: '192.168.1.7', prefix: 32, family: 'ipv4' }, 'a bare address is one host');
  t.strictSame(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  for (const bad of ['x', '', '10.0.0.0/33', '::1/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0/8', '10.0.0.0/ 8',
    '10.0.0.0/0x8', 'localhost/8', '/8', '10.0.0.0/1000']) {
    t.equal(parseCidr(bad), null, `${JSON.stringify(bad)} is not a CIDR`);
  }
});

t.test('addressAllowed: IPv4, IPv6, IPv4-mapped IPv6', async (t) => {
  const list = allowList(['10.0.0.0/8', '127.0.0.1/32', '::1/128', 'bogus']);
  t.ok(addressAllowed(list, '10.1.2.3'));
  t.ok(addressAllowed(list, '127.0.0.1'));
  t.ok(addressAllowed(list, '::ffff:127.0.0.1'), 'mapped form of an allowed IPv4 address');
  t.ok(addressAllowed(list, '::1'));
  t.notOk(addressAllowed(list, '127.0.0.2'));
  t.notOk(addressAllowed(list, '11.0.0.1'));
  t.notOk(addressAllowed(list, '::2'));
  t.notOk(addressAllowed(list, undefined), 'no address (socket gone): not allowed');
  t.notOk(addressAllowed(list, ''));
  t.notOk(addressAllowed(allowList([]), '127.0.0.1'), 'an empty list allows nobody');
});

t.test('nothing configured: the weighted choice, no cookie', async (t) => {
  const byName = pools({ blue: 100, green: 0 });
  const { router: r } = router(byName, 'blue');
  t.equal(r.sticky, false);
  const route = r.route(request({ cookie: 'switchyard-pool=green', 'x-switchyard-pool': 'green' }));
  t.equal(route?.pool.name, 'blue');
  t.equal(route?.setCookie, null);
  t.equal(router(byName, undefined).router.route(request()), undefined, 'no pool has weight');
});

t.test('sticky cookie', async (t) => {
  const byName = pools({ blue: 50, green: 50, red: 0 });
  const { router: r, calls } = router(byName, 'blue', { stickyCookie: 'sp' });
  t.equal(r.sticky, true);

  const fresh = r.route(request())!;
  t.equal(fresh.pool.name, 'blue', 'no cookie: weighted choice');
  t.equal(fresh.setCookie, 'sp=blue; Path=/; HttpOnly; SameSite=Lax', '... and the cookie is set');
  t.equal(calls.weighted, 1);

  const kept = r.route(request({ cookie: 'a=1; sp=green' }))!;
  t.equal(kept.pool.name, 'green', 'a valid cookie keeps its pool');
  t.equal(kept.setCookie, null, 'and is not set again');
  t.equal(calls.weighted, 1, 'the weighted choice is not consulted');

  for (const cookie of ['sp=purple', 'sp=', 'sp=BLUE', 'sp=red', 'other=green', 'sp=blue%00']) {
    const route = r.route(request({ cookie }))!;
    t.equal(route.pool.name, 'blue', `${cookie}: weighted choice`);
    t.equal(route.setCookie, 'sp=blue; Path=/; HttpOnly; SameSite=Lax', `${cookie}: cookie (re)written`);
  }

  byName.get('green')!.weight = 0; // a flip away from green
  const moved = r.route(request({ cookie: 'sp=green' }))!;
  t.equal(moved.pool.name, 'blue', 'a pool at weight 0 no longer holds its clients');
  t.equal(moved.setCookie, 'sp=blue; Path=/; HttpOnly; SameSite=Lax');

  t.equal(fresh, r.route(request()), 'routes are made once per pool, not per request');
  t.equal(router(byName, undefined, { stickyCookie: 'sp' }).router.route(request()), undefined, 'no pool has weight and no valid cookie');
});

t.test('override header', async (t) => {
  const byName = pools({ blue: 100, green: 0 });
  const { router: r, calls } = router(byName, 'blue', { overrideHeader: 'X-Switchyard-Pool', stickyCookie: 'sp' });

  const over = r.route(request({ 'x-switchyard-pool': 'green' }))!;
  t.equal(over.pool.name, 'green', 'a pool at weight 0 is reachable by the header (configured name in any casing)');
  t.equal(over.setCookie, null, 'an overridden request never sets the cookie');
  t.equal(calls.weighted, 0);

  const overCookie = r.route(request({ 'x-switchyard-pool': 'green', cookie: 'sp=blue' }))!;
  t.equal(overCookie.pool.name, 'green', 'the header beats the cookie');
  t.equal(overCookie.setCookie, null, 'and does not rewrite it');

  for (const value of ['purple', '', 'GREEN', 'green, green']) {
    const route = r.route(request({ 'x-switchyard-pool': value }))!;
    t.equal(route.pool.name, 'blue', `${JSON.stringify(value)}: ignored, normal routing`);
    t.equal(route.setCookie, 'sp=blue; Path=/; HttpOnly; SameSite=Lax', '... including the sticky cookie');
  }
  t.equal(r.route(request({ 'x-switchyard-pool': 'purple', cookie: 'sp=blue' }))!.setCookie, null, 'unknown name, valid cookie: sticky');
});

t.test('override allowlist', async (t) => {
  const byName = pools({ blue: 100, green: 0 });
  const { router: r } = router(byName, 'blue', { overrideHeader: 'x-pool', overrideAllow: ['10.0.0.0/8', '::1/128'] });
  const header = { 'x-pool': 'green' };
  t.equal(r.route(request(header, '10.9.8.7'))!.pool.name, 'green');
  t.equal(r.route(request(header, '::ffff:10.9.8.7'))!.pool.name, 'green');
  t.equal(r.route(request(header, '::1'))!.pool.name, 'green');
  t.equal(r.route(request(header, '127.0.0.1'))!.pool.name, 'blue', 'outside the list: header ignored');
  t.equal(r.route(request(header, '192.168.0.1'))!.pool.name, 'blue');
  const nobody = router(byName, 'blue', { overrideHeader: 'x-pool', overrideAllow: [] }).router;
  t.equal(nobody.route(request(header, '127.0.0.1'))!.pool.name, 'blue', 'an empty list: nobody');
});

t.test('standbyPool: weight 0, else the lowest weight, ties in config order', async (t) => {
  const order = (weights: Record<string, number>) => standbyPool([...pools(weights).values()])?.name;
  t.equal(order({ blue: 100, green: 0 }), 'green');
  t.equal(order({ blue: 0, green: 100 }), 'blue');
  t.equal(order({ blue: 90, green: 10 }), 'green');
  t.equal(order({ blue: 10, green: 90 }), 'blue');
  t.equal(order({ blue: 50, green: 50 }), 'blue', 'a tie: the first in config order');
  t.equal(order({ blue: 100, green: 0, red: 0 }), 'green');
  t.equal(order({ red: 0, blue: 100, green: 0 }), 'red');
  t.equal(order({ blue: 60, green: 20, red: 20 }), 'green');
  t.equal(order({ blue: 100 }), 'blue', 'a single pool is its own standby');
  t.equal(order({}), undefined);
});
