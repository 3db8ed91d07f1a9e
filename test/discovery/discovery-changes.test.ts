// Record changes under load (SPEC §12, issue 13): a real dnsmasq (TTL 1 s) answers
// `app.switchyard.test` with some of 127.0.0.2–127.0.0.9, each a real upstream on the same port;
// keep-alive clients send through a real Switchyard while the record set changes 10 times — one
// address at a time (add, remove, swap) and all at once (a disjoint set). Every request must
// succeed; an added address is served within TTL + 1 s; a removed one serves nothing after
// TTL + 1 s, leaves the target list and has its upstream sockets closed.
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { request } from 'undici';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { waitFor } from '../helpers/http-client.js';
import { startProxy } from '../helpers/proxy.js';
import { startStampedLoad } from '../helpers/stamped-load.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TTL_S = 1;
const BOUND_MS = TTL_S * 1000 + 1000;
const NAME = 'app.switchyard.test';
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];
const at = (...last: number[]) => last.map((n) => `127.0.0.${n}`);
const FIRST = at(2, 3, 4);
/** Each step's whole record set; every address leaves for at least one step before it returns. */
const CHANGES: Array<{ what: string; set: string[] }> = [
  { what: 'add one', set: at(2, 3, 4, 5) },
  { what: 'remove one', set: at(3, 4, 5) },
  { what: 'swap one', set: at(4, 5, 6) },
  { what: 'all at once', set: at(7, 8, 9) },
  { what: 'add one', set: at(2, 7, 8, 9) },
  { what: 'remove one', set: at(2, 8, 9) },
  { what: 'swap one', set: at(2, 3, 9) },
  { what: 'all at once', set: at(4, 5, 6) },
  { what: 'swap one', set: at(5, 6, 7) },
  { what: 'all at once', set: at(2, 3, 8, 9) },
];

/** An upstream that notes when each proxied request arrived (performance.now(), health probes apart). */
interface Recorded {
  host: string;
  upstream: Upstream;
  arrivals: number[];
}

async function recordedUpstream(host: string, port: number): Promise<Recorded> {
  const arrivals: number[] = [];
  const upstream = await startUpstream(host, (req, res) => {
    if (req.url !== '/healthz') arrivals.push(performance.now());
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(host) }).end(host);
  }, port, host);
  return { host, upstream, arrivals };
}

const openSockets = (upstream: Upstream) => new Promise<number>((resolve, reject) =>
  upstream.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

if (requireDnsmasq(t)) t.test('10 record changes under load: 0 failed, added within TTL + 1 s, removed quiet after it', async (t) => {
  const dns = await dnsmasqFor(t, { ttlSeconds: TTL_S });
  // Same port on every address: the record set, not the port, tells them apart.
  const first = await recordedUpstream(HOSTS[0]!, 0);
  const upstreams = [first, ...await Promise.all(HOSTS.slice(1).map((host) => recordedUpstream(host, first.upstream.port)))];
  t.teardown(() => Promise.all(upstreams.map(({ upstream }) => upstream.close())));
  const byHost = new Map(upstreams.map((recorded) => [recorded.host, recorded]));
  const id = (host: string) => `${host}:${first.upstream.port}`;

  await dns.setRecords({ [NAME]: FIRST });
  const proxy = await startProxy({ blue: { version: 'v1', discover: { dns: NAME, port: first.upstream.port, refreshMs: 1000 } } }, {
    resolver: { servers: [dns.server] },
    healthCheck: { intervalMs: 500, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
  });
  t.teardown(() => proxy.close());
  const listed = async () => ((await (await request(`${proxy.admin}/pools/blue/targets`)).body.json()) as Array<{ id: string }>).map((target) => target.id);
  t.same((await listed()).sort(), FIRST.map(id), 'the first answer is the pool');

  const load = startStampedLoad(proxy.url, { connections: 4 });
  let stopped = false;
  t.teardown(async () => { if (!stopped) await load.stop(); });

  /** Each change as applied: when setRecords resolved (performance.now() and epoch ms), what joined and what left. */
  const steps: Array<{ what: string; changedAt: number; changedEpoch: number; gone: string[]; joined: string[] }> = [];
  let current = FIRST;
  for (const [index, change] of CHANGES.entries()) {
    const joined = change.set.filter((host) => !current.includes(host));
    const gone = current.filter((host) => !change.set.includes(host));
    await dns.setRecords({ [NAME]: change.set });
    const changedAt = performance.now();
    steps.push({ what: change.what, changedAt, changedEpoch: Date.now(), gone, joined });
    // Settled: each added address served a request, each removed one left the list and its sockets closed.
    await waitFor(`change ${index + 1}: added ${joined.join(', ')} served`, () =>
      joined.every((host) => byHost.get(host)!.arrivals.some((time) => time >= changedAt)), { timeoutMs: BOUND_MS + 3000 });
    await waitFor(`change ${index + 1}: removed ${gone.join(', ')} left the target list`, async () => {
      const ids = await listed();
      return gone.every((host) => !ids.includes(id(host)));
    }, { timeoutMs: BOUND_MS + 3000, intervalMs: 50 });
    for (const host of gone) {
      await waitFor(`${host}: upstream sockets closed once drained`, async () => (await openSockets(byHost.get(host)!.upstream)) === 0, { timeoutMs: 3000 });
    }
    current = change.set;
  }
  stopped = true;
  const result = await load.stop();

  const added: number[] = [];
  const removed: number[] = [];
  for (const [index, step] of steps.entries()) {
    const lines: string[] = [];
    for (const host of step.joined) {
      const ms = Math.round(byHost.get(host)!.arrivals.find((time) => time >= step.changedAt)! - step.changedAt);
      added.push(ms);
      lines.push(`+${host} ${ms} ms`);
      t.ok(ms <= BOUND_MS, `change ${index + 1} (${step.what}): ${host} served ${ms} ms after the change (≤ ${BOUND_MS})`);
    }
    for (const host of step.gone) {
      // Its window ends when a later change brings it back (then it may serve again).
      const back = steps.slice(index + 1).find((later) => later.joined.includes(host))?.changedAt ?? Infinity;
      const inWindow = byHost.get(host)!.arrivals.filter((time) => time >= step.changedAt && time < back);
      const ms = inWindow.length === 0 ? 0 : Math.round(inWindow[inWindow.length - 1]! - step.changedAt);
      removed.push(ms);
      lines.push(`-${host} last ${ms} ms`);
      t.ok(ms <= BOUND_MS, `change ${index + 1} (${step.what}): ${host}'s last request ${ms} ms after the change (≤ ${BOUND_MS})`);
    }
    t.comment(`change ${index + 1} (${step.what}): ${lines.join(', ')}`);
  }
  // Where failures came from, for whoever reads a red run: the access log's non-200s, by the change before them.
  for (const line of proxy.logs.lines.filter((entry) => entry.kind === 'access' && entry.status !== 200).slice(0, 10)) {
    const time = Date.parse(String(line.time));
    const index = steps.findLastIndex((step) => step.changedEpoch <= time);
    t.comment(`failed: ${line.status} ${String(line.error)} ${index < 0 ? 'before the first change' : `${time - steps[index]!.changedEpoch} ms after change ${index + 1} (${steps[index]!.what})`}`);
  }
  const served = result.ok + result.failed.length;
  t.same(result.failed.slice(0, 10), [], `0 failed of ${served} requests (${result.failed.length} failed)`);
  t.ok(result.ok > 1000, `the load ran (${result.ok} requests)`);
  t.comment(`record change → traffic over ${CHANGES.length} changes (TTL ${TTL_S} s): added p50 ${percentile(added, 50)} ms / max ${Math.max(...added)} ms `
    + `(${added.length} addresses); removed p50 ${percentile(removed, 50)} ms / max ${Math.max(...removed)} ms (${removed.length} addresses); `
    + `${served} requests, ${result.failed.length} failed`);
});
