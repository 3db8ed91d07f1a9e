import t from 'tap';
import { addressUrl, DnsResolver, isFailure, minTtlMs, srvScale, type DnsResult } from '../../src/discovery/dns.js';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';

const hosts = (result: DnsResult) => (isFailure(result) ? result.error : result.addresses.map((a) => `${a.host}:${a.port}/${a.weight}`));

t.test('pure helpers', async (t) => {
  t.equal(addressUrl('http', { host: '::1', port: 80 }), 'http://[::1]:80');
  t.equal(addressUrl('https', { host: '10.0.0.1', port: 8443 }), 'https://10.0.0.1:8443');
  t.same([3, 1, 0].map(srvScale([3, 1, 0])), [3, 1, 1], 'kept, 0 → 1');
  t.same([65535, 6553].map(srvScale([65535, 6553])), [1000, 100], 'scaled into 1..1000');
  t.throws(() => new DnsResolver({ servers: ['not-an-ip'] }), 'a server that is not an IP is refused at once');
  t.equal(minTtlMs([{ ttl: 30 }, { ttl: 5 }, {}]), 5000, 'records without a TTL (c-ares past the 256th) are left out');
  t.equal(minTtlMs([{}, {}]), Number.MAX_SAFE_INTEGER, 'none at all: no TTL bound (refreshMs decides)');
});

if (requireDnsmasq(t)) {
  t.test('against a real dnsmasq', async (t) => {
    const dns = await dnsmasqFor(t, { ttlSeconds: 3 });
    const zone = dns.zone;
    await dns.setRecords({
      [`v4.${zone}`]: ['127.0.0.3', '127.0.0.2'],
      [`v6.${zone}`]: ['::1'],
      [`both.${zone}`]: ['127.0.0.4', '::1'],
      [`srv1.${zone}`]: ['127.0.0.5'],
    });
    await dns.setSrv([
      { name: `_http._tcp.app.${zone}`, target: `srv1.${zone}`, port: 8001, weight: 3 },
      { name: `_http._tcp.app.${zone}`, target: `srv1.${zone}`, port: 8002, weight: 1 },
      { name: `_http._tcp.app.${zone}`, target: `srv1.${zone}`, port: 8009, priority: 10, weight: 5 },
    ]);
    const resolver = new DnsResolver({ servers: [dns.server], timeoutMs: 500 });
    const query = (name: string, type: 'A' | 'AAAA' | 'A+AAAA' | 'SRV', port = 8000) => resolver.resolve({ name: `${name}.${zone}`, type, port });

    t.test('A, AAAA, A+AAAA: every address at the configured port, sorted, TTL from --local-ttl', async (t) => {
      const v4 = await query('v4', 'A');
      t.same(hosts(v4), ['127.0.0.2:8000/100', '127.0.0.3:8000/100']);
      t.equal(isFailure(v4) ? -1 : v4.ttlMs, 3000);
      t.same(hosts(await query('v6', 'AAAA')), ['::1:8000/100']);
      t.same(hosts(await query('both', 'A+AAAA')), ['127.0.0.4:8000/100', '::1:8000/100']);
      t.same(hosts(await query('v4', 'A+AAAA')), ['127.0.0.2:8000/100', '127.0.0.3:8000/100'], 'no AAAA (NODATA) is fine in A+AAAA');
    });

    t.test('SRV: lowest priority only, ports and weights 3:1 from the records, targets resolved to addresses', async (t) => {
      const srv = await query('_http._tcp.app', 'SRV');
      t.same(hosts(srv), ['127.0.0.5:8001/3', '127.0.0.5:8002/1']);
      t.equal(isFailure(srv) ? -1 : srv.ttlMs, 3000, 'TTL of the targets\' A records (node gives none for SRV)');
      t.equal(isFailure(srv) ? '' : srv.addresses[0]!.name, `srv1.${zone}`);
    });

    t.test('NXDOMAIN and an empty answer are typed', async (t) => {
      t.same(await query('missing', 'A').then((r) => [hosts(r), isFailure(r) && r.code]), ['NXDOMAIN', 'ENOTFOUND']);
      t.same(await query('v4', 'AAAA').then((r) => [hosts(r), isFailure(r) && r.code]), ['EMPTY', 'ENODATA']);
      t.same(hosts(await query('_http._tcp.missing', 'SRV')), 'NXDOMAIN');
    });

    t.test('SRV: a record whose target has no address is skipped; all of them: EMPTY', async (t) => {
      await dns.setSrv([
        { name: `_http._tcp.app.${zone}`, target: `srv1.${zone}`, port: 8001, weight: 3 },
        { name: `_http._tcp.app.${zone}`, target: `ghost.${zone}`, port: 8004, weight: 1 },
        { name: `_http._tcp.ghosts.${zone}`, target: `ghost.${zone}`, port: 8004, weight: 1 },
        { name: `_http._tcp.ghosts.${zone}`, target: `v6.${zone}`, port: 8005, weight: 1 },
      ]);
      t.same(hosts(await query('_http._tcp.app', 'SRV')), ['127.0.0.5:8001/3'], 'the resolvable target serves');
      t.same(hosts(await query('_http._tcp.ghosts', 'SRV')), 'EMPTY', 'NXDOMAIN and NODATA targets: no address at all');
    });

    t.test('a large answer (300 addresses, over TCP) keeps its TTL', async (t) => {
      const many = Array.from({ length: 300 }, (_, i) => `127.1.${Math.floor(i / 200)}.${(i % 200) + 1}`);
      await dns.setRecords({ [`many.${zone}`]: many });
      const answer = await query('many', 'A');
      t.equal(isFailure(answer) ? answer.error : answer.addresses.length, 300);
      t.equal(isFailure(answer) ? -1 : answer.ttlMs, 3000, 'not 0: c-ares gives no ttl past the 256th record');
    });

    t.test('a record change is picked up after SIGHUP; an SRV change after a restart', async (t) => {
      await dns.setRecords({ [`v4.${zone}`]: ['127.0.0.6'], [`srv1.${zone}`]: ['127.0.0.5'] });
      t.same(hosts(await query('v4', 'A')), ['127.0.0.6:8000/100']);
      await dns.setSrv([{ name: `_http._tcp.app.${zone}`, target: `srv1.${zone}`, port: 8003, weight: 1 }]);
      t.same(hosts(await query('_http._tcp.app', 'SRV')), ['127.0.0.5:8003/1']);
    });

    t.test('a frozen server times out within the deadline; a stopped one is SERVFAIL; it comes back', async (t) => {
      dns.freeze();
      const started = Date.now();
      const frozen = await query('v4', 'A');
      const took = Date.now() - started;
      dns.thaw();
      t.equal(hosts(frozen), 'TIMEOUT');
      t.ok(took >= 400 && took < 1500, `deadline kept (${took} ms)`);
      await dns.stop();
      const stopped = await query('v4', 'A');
      t.equal(hosts(stopped), 'SERVFAIL');
      t.equal(isFailure(stopped) && stopped.code, 'ECONNREFUSED');
      await dns.start();
      t.same(hosts(await query('v4', 'A')), ['127.0.0.6:8000/100']);
    });
  });
}
