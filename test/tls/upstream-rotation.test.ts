// SPEC §13 rotation of upstream TLS files under load: keep-alive load through the proxy to an
// mTLS upstream (which ends each connection after 50 requests, as nginx's keepalive_requests
// does, so new connections keep being made) while the client certificate is replaced — in
// place, then renamed over — and then broken (a key of another certificate: refused, the old
// pair stays). 0 failed requests; new connections present the new certificate, open ones
// finish on the old. A second run migrates the upstream to a new CA: the proxy's CA bundle is
// rotated to hold both, then the upstream switches its certificate.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { testCa, type LeafPair } from '../helpers/certs.js';
import { waitFor } from '../helpers/http-client.js';
import { httpsUpstream, type HttpsUpstream } from '../helpers/https-upstream.js';
import { startLoad } from '../helpers/load.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const LOADED = 'upstream TLS files loaded: new connections use them';
const REFUSED = 'upstream TLS files refused: the previous ones stay';
const CHECKS = { healthCheck: { intervalMs: 200, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 2 } };

function writeInPlace(path: string, content: string): void {
  writeFileSync(path, content);
}

function renameOver(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

/** Waits for the first connection after `since` presenting `cn`; returns the ms it took. */
async function firstConnectionWith(upstream: HttpsUpstream, cn: string, since: number): Promise<number> {
  const connection = await waitFor(`a connection presenting ${cn}`, () => upstream.connections.find((c) => c.at >= since && c.clientCn === cn),
    { timeoutMs: 10_000 });
  return connection.at - since;
}

/** Waits until `count` more requests were answered (the load runs until the test stops it: a slow machine only takes longer). */
async function moreRequests(load: { completed(): number }, count = 500): Promise<void> {
  const target = load.completed() + count;
  await waitFor(`${count} more requests`, () => load.completed() >= target, { timeoutMs: 20_000 });
}

/** Keep-alive load that runs until stopped (the 60 s are a bound, never reached). */
function loadUntilStopped(url: string, path: string) {
  return startLoad(url, { seconds: 60, connections: 16, path });
}

async function mtlsUpstream(t: Parameters<typeof httpsUpstream>[0], pair: LeafPair, ca: string): Promise<HttpsUpstream> {
  const upstream = await httpsUpstream(t, { ...pair, ca, requestCert: true, rejectUnauthorized: true });
  upstream.server.maxRequestsPerSocket = 50; // `Connection: close` on the 50th: new connections all along
  return upstream;
}

t.test('the client certificate rotated under load: in place, renamed over, then a broken pair', async (t) => {
  const ca = testCa(t);
  const pairs = ['v1', 'v2', 'v3'].map((version) => ca.leaf(`client-${version}`, [`client-${version}.switchyard.test`]));
  const upstream = await mtlsUpstream(t, ca.leaf('upstream', ['127.0.0.1']), ca.ca);
  const certFile = join(ca.dir, 'live-client.pem');
  const keyFile = join(ca.dir, 'live-client.key');
  writeFileSync(certFile, pairs[0]!.cert);
  writeFileSync(keyFile, pairs[0]!.key);
  const proxy: TestProxy = await startProxy({ blue: { targets: [`https://127.0.0.1:${upstream.port}`], tls: { ca: ca.caFile, cert: certFile, key: keyFile } } },
    { ...CHECKS, log: { level: 'info', access: false } });
  t.teardown(() => proxy.close());

  const load = loadUntilStopped(proxy.url, '/rotate');
  await moreRequests(load);

  const timings: Record<string, number> = {};
  const rotate = async (how: string, write: (path: string, content: string) => void, pair: LeafPair, cn: string) => {
    const since = Date.now();
    write(certFile, pair.cert);
    write(keyFile, pair.key);
    timings[how] = await firstConnectionWith(upstream, cn, since);
    // Open connections finish on the old pair; any made once the new one is in use present it.
    const switched = since + timings[how]! + 200;
    await moreRequests(load);
    const late = upstream.connections.filter((connection) => connection.at > switched && connection.clientCn !== cn);
    t.equal(late.length, 0, `${how}: every connection made after the switch presents ${cn}`);
  };
  await rotate('in place', writeInPlace, pairs[1]!, 'client-v2.switchyard.test');
  await rotate('renamed over', renameOver, pairs[2]!, 'client-v3.switchyard.test');

  // A broken rotation: v1's certificate with v3's key. Refused; v3 stays in use.
  const refusedBefore = proxy.logs.find({ msg: REFUSED }).length;
  const brokenAt = Date.now();
  renameOver(certFile, pairs[0]!.cert);
  await waitFor('the broken pair refused', () => proxy.logs.find({ msg: REFUSED }).length > refusedBefore, { timeoutMs: 10_000 });
  await moreRequests(load);
  const afterBroken = upstream.connections.filter((connection) => connection.at > brokenAt);
  t.ok(afterBroken.length > 0, `new connections were made after the broken pair (${afterBroken.length})`);
  t.same(new Set(afterBroken.map((connection) => connection.clientCn)), new Set(['client-v3.switchyard.test']), 'they still present v3');
  t.match(proxy.logs.find({ msg: REFUSED }).at(-1), { pool: 'blue', problems: [/key: does not match/] }, 'the log says why');

  load.stop();
  const result = await load.done;
  t.equal(result.errors, 0, 'no failed request');
  t.equal(result.timeouts, 0);
  t.equal(result.non2xx, 0, 'no 5xx');
  t.ok(proxy.logs.find({ msg: LOADED }).length >= 2, 'each rotation logged');
  t.comment(`client certificate rotation under load: ${result.requests} requests (${result.rps}/s), 0 failed; ` +
    `time to the first connection with the new certificate: in place ${timings['in place']} ms, renamed over ${timings['renamed over']} ms ` +
    `(watch interval 500 ms, a change reported once settled); ${upstream.connections.length} upstream connections`);
});

t.test('a CA migration under load: the bundle rotated to both CAs, then the upstream switches', async (t) => {
  const oldCa = testCa(t, 'Old CA');
  const newCa = testCa(t, 'New CA');
  const client = oldCa.leaf('client', ['client.switchyard.test']);
  const bundle = join(oldCa.dir, 'live-ca.pem');
  writeFileSync(bundle, oldCa.ca);
  const upstream = await mtlsUpstream(t, oldCa.leaf('upstream', ['127.0.0.1']), oldCa.ca);
  const proxy = await startProxy({ blue: { targets: [`https://127.0.0.1:${upstream.port}`], tls: { ca: bundle, cert: client.certFile, key: client.keyFile } } },
    { ...CHECKS, log: { level: 'info', access: false } });
  t.teardown(() => proxy.close());

  const load = loadUntilStopped(proxy.url, '/migrate');
  await moreRequests(load);
  const loadedBefore = proxy.logs.find({ msg: LOADED }).length;
  const since = Date.now();
  renameOver(bundle, `${oldCa.ca}${newCa.ca}`);
  await waitFor('the two-CA bundle loaded', () => proxy.logs.find({ msg: LOADED }).length > loadedBefore, { timeoutMs: 10_000 });
  const loadedMs = Date.now() - since;
  // A migration gives the new bundle time to reach every connection being made: a connect that
  // began before the reload still verifies against the old CA. Two health checks that started
  // after the reload, and an upstream connection accepted after it, before the upstream switches.
  const loadedAt = Date.now();
  const target = proxy.switchyard.pools.get('blue')!.targets[0]!;
  await waitFor('checks and connections after the reload', () => target.lastCheck !== null && Date.parse(target.lastCheck.at) > loadedAt + 400
    && upstream.connections.some((connection) => connection.at > loadedAt), { timeoutMs: 10_000 });
  // Now the upstream presents a certificate of the new CA to new handshakes.
  const newPair = newCa.leaf('upstream', ['127.0.0.1']);
  upstream.server.setSecureContext({ cert: newPair.cert, key: newPair.key, ca: oldCa.ca }); // still demands a client certificate of the old CA
  const switchedAt = Date.now();
  await waitFor('connections to the new upstream certificate', () => upstream.connections.some((connection) => connection.at > switchedAt + 100),
    { timeoutMs: 10_000 });
  await moreRequests(load);
  load.stop();
  const result = await load.done;
  t.equal(result.errors, 0, 'no failed request');
  t.equal(result.non2xx, 0, 'no 5xx');
  t.equal(proxy.switchyard.pools.get('blue')!.targets[0]!.ready, true, 'health checks trust the new certificate too');
  t.comment(`CA bundle rotation: loaded ${loadedMs} ms after the rename; ${result.requests} requests, 0 failed`);
});
