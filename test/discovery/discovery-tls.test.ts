// SPEC §12: "The client's Host is passed upstream unchanged; https targets use the DNS name as
// SNI." A real dnsmasq names an https upstream on 127.0.0.5 whose certificate (from a test CA
// made with openssl) is valid only for that name, and a file target `https://localhost:PORT`
// sits in the same pool. Switchyard runs as a child trusting the CA through
// NODE_EXTRA_CA_CERTS, as a user with a private CA would. Clients send other Host headers:
// the SNI and the name checked must be the target's own, the Host the client's, and changing
// Host must not churn upstream connections (undici closes a connection whose SNI changes).
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { request } from 'undici';
import { testCa } from '../helpers/certs.js';
import { spawnCli } from '../helpers/cli.js';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { waitFor } from '../helpers/http-client.js';
import { closedPort } from '../helpers/upstream.js';

const NAME = 'secure.switchyard.test';

interface Seen { name: string; servername: string | false | null; host: string | undefined; path: string | undefined; socket: number }

async function httpsUpstream(name: string, host: string, pair: { cert: string; key: string }, port = 0) {
  const seen: Seen[] = [];
  const sockets = new WeakMap<object, number>();
  const server: Server = createServer({ ...pair }, (req, res) => {
    seen.push({ name, servername: (req.socket as TLSSocket).servername, host: req.headers.host, path: req.url, socket: sockets.get(req.socket) ?? -1 });
    res.setHeader('content-type', 'text/plain');
    res.end(name);
  });
  let connections = 0;
  server.on('secureConnection', (socket) => sockets.set(socket, connections++));
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return {
    port: address.port, seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

if (requireDnsmasq(t)) t.test('https targets: SNI is the target\'s own name, Host the client\'s', async (t) => {
  const ca = testCa(t);
  const pair = ca.leaf('upstream', [NAME, 'localhost']);
  const dns = await dnsmasqFor(t, { ttlSeconds: 1 });
  await dns.setRecords({ [NAME]: ['127.0.0.5'] });
  const discovered = await httpsUpstream('discovered', '127.0.0.5', pair);
  const named = await httpsUpstream('named', '127.0.0.1', pair);
  t.teardown(() => Promise.all([discovered.close(), named.close()]));

  const [port, adminPort] = [await closedPort(), await closedPort()];
  const file = join(ca.dir, 'switchyard.yaml');
  writeFileSync(file, `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
resolver: { servers: ["${dns.server}"] }
healthCheck: { intervalMs: 200, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 2 }
log: { access: false }
pools:
  blue:
    version: v1
    targets: ["https://localhost:${named.port}"]
    discover: { dns: ${NAME}, port: ${discovered.port}, scheme: https }
`);
  const proc = spawnCli(['start', '--config', file], { NODE_EXTRA_CA_CERTS: ca.caFile });
  t.teardown(() => void proc.child.kill('SIGKILL'));
  await proc.waitFor(/switchyard listening/);

  // Both targets pass their (TLS) health checks: the probe, too, names the target.
  const targets = await waitFor('both https targets ready', async () => {
    const list = await (await request(`http://127.0.0.1:${adminPort}/pools/blue/targets`)).body.json() as Array<{ id: string; ready: boolean; source: string }>;
    return list.length === 2 && list.every((target) => target.ready) ? list : null;
  }, { timeoutMs: 10_000 });
  t.same(targets.map((target) => target.source).sort(), ['config', 'dns']);
  const checks = [...discovered.seen, ...named.seen].filter((seen) => seen.path === '/healthz');
  t.ok(checks.length >= 2, 'health checks went over TLS');
  t.same(new Set(discovered.seen.filter((seen) => seen.path === '/healthz').map((seen) => seen.servername)), new Set([NAME]), 'checks of the discovered target: SNI = DNS name');
  t.same(new Set(named.seen.filter((seen) => seen.path === '/healthz').map((seen) => seen.servername)), new Set(['localhost']), 'checks of the file target: SNI = its URL host');

  const hosts = ['shop.example.com', 'api.example.org:8443', 'shop.example.com'];
  const answers: Record<string, number> = {};
  for (let i = 0; i < 60; i++) {
    const res = await request(`http://127.0.0.1:${port}/item/${i}`, { headers: { host: hosts[i % hosts.length]! } });
    const body = await res.body.text();
    answers[`${res.statusCode} ${body}`] = (answers[`${res.statusCode} ${body}`] ?? 0) + 1;
  }
  t.same(Object.keys(answers).sort(), ['200 discovered', '200 named'], `every request 200, both targets served (${JSON.stringify(answers)})`);

  const proxied = [...discovered.seen, ...named.seen].filter((seen) => seen.path?.startsWith('/item/'));
  t.equal(proxied.length, 60);
  t.same(new Set(discovered.seen.filter((seen) => seen.path?.startsWith('/item/')).map((seen) => seen.servername)), new Set([NAME]), 'proxied requests to the discovered target: SNI = DNS name');
  t.same(new Set(named.seen.filter((seen) => seen.path?.startsWith('/item/')).map((seen) => seen.servername)), new Set(['localhost']), 'proxied requests to the file target: SNI = its URL host');
  const sentHosts = proxied.sort((a, b) => Number(a.path!.slice(6)) - Number(b.path!.slice(6))).map((seen) => seen.host);
  t.same(sentHosts, Array.from({ length: 60 }, (_, i) => hosts[i % hosts.length]), 'each client Host went upstream unchanged');
  // Sequential requests over keep-alive: one connection per target, not one per Host change
  // (health checks open their own connections: not counted).
  const used = new Set(proxied.map((seen) => `${seen.name}#${seen.socket}`));
  t.ok(used.size <= 2, `alternating Host headers reuse the upstream connections (${used.size} TLS connections for 60 requests)`);
});
