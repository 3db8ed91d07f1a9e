// Discovered targets in `switchyard targets` and `switchyard status` (SPEC §12): a real dnsmasq
// answers `app.switchyard.test` with 127.0.0.2 and 127.0.0.3, each a real upstream, and a real
// Switchyard discovers them beside a static pool. The dns pool's table gains TTL, RESOLVED and
// STALE, the static pool's stays as it was; status names the DNS state under the pool. Frozen
// DNS turns both into a stale warning, and thawing clears it.
import t from 'tap';
import { request } from 'undici';
import { cli } from '../helpers/cli.js';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/http-client.js';
import { formatTargets, type TargetView } from '../../src/cli/format-targets.js';
import { formatStatus } from '../../src/cli/format.js';
import type { StatusView } from '../../src/admin/status-view.js';

const TTL_S = 1;
const NAME = 'app.switchyard.test';
const HOSTS = ['127.0.0.2', '127.0.0.3'];
const STATIC_HEADER = /^POOL\s+TARGET\s+STATE\s+WEIGHT\s+EFFECTIVE\s+HEALTHY\s+EJECTED\s+INFLIGHT\s+DRAIN\s+SOURCE$/m;
const DNS_HEADER = /^POOL\s+TARGET\s+STATE\s+WEIGHT\s+EFFECTIVE\s+HEALTHY\s+EJECTED\s+INFLIGHT\s+DRAIN\s+SOURCE\s+TTL\s+RESOLVED\s+STALE$/m;

if (requireDnsmasq(t)) t.test('targets and status against a real dnsmasq', async (t) => {
  const dns = await dnsmasqFor(t, { ttlSeconds: TTL_S });
  const first = await startUpstream(HOSTS[0]!, undefined, 0, HOSTS[0]);
  const upstreams: Upstream[] = [first, await startUpstream(HOSTS[1]!, undefined, first.port, HOSTS[1])];
  const fixed = await startUpstream('green');
  upstreams.push(fixed);
  t.teardown(() => Promise.all(upstreams.map((upstream) => upstream.close())));
  await dns.setRecords({ [NAME]: HOSTS });
  const proxy = await startProxy({
    blue: { version: 'v1', discover: { dns: NAME, port: first.port } },
    green: { version: 'v2', targets: [fixed.url] },
  }, {
    resolver: { servers: [dns.server] },
    healthCheck: { intervalMs: 200, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
  });
  t.teardown(() => proxy.close());
  const env = { SWITCHYARD_ADMIN_URL: proxy.admin };
  const ids = HOSTS.map((host) => `${host}:${first.port}`);
  const greenId = new URL(fixed.url).host;
  const blueTargets = async () => (await request(`${proxy.admin}/pools/blue/targets`)).body.json() as Promise<TargetView[]>;

  t.test('a dns pool shows TTL, RESOLVED and STALE; a static pool\'s table is unchanged', async (t) => {
    const blue = await cli(['targets', 'blue'], env);
    t.equal(blue.code, 0, blue.err);
    t.match(blue.out, DNS_HEADER);
    for (const id of ids) t.match(blue.out, new RegExp(`^blue\\s+${id}\\s+ready\\s+100\\s+100\\s+yes\\s+no\\s+0\\s+-\\s+dns\\s+1s\\s+\\d+s ago\\s+no$`, 'm'));

    const green = await cli(['targets', 'green'], env);
    t.equal(green.code, 0, green.err);
    t.match(green.out, STATIC_HEADER, 'no DNS columns for a pool without dns targets');
    t.notMatch(green.out, /TTL|RESOLVED|STALE/);
    t.match(green.out, new RegExp(`^green\\s+${greenId}\\s+ready\\s+100\\s+100\\s+yes\\s+no\\s+0\\s+-\\s+config$`, 'm'));

    const all = await cli(['targets'], env);
    t.match(all.out, DNS_HEADER, 'every pool at once: the columns appear because blue has dns targets');
    t.match(all.out, new RegExp(`^green\\s+${greenId}\\s+.*config\\s+-\\s+-\\s+-$`, 'm'), 'a config target has - in them');

    const json = JSON.parse((await cli(['targets', 'blue', '--json'], env)).out) as TargetView[];
    t.same(json.map((view) => view.id).sort(), ids);
    t.match(json[0], { source: 'dns', ttlMs: TTL_S * 1000, resolvedAt: /^\d{4}-\d\d-\d\dT/, stale: false }, '--json passes the DNS fields through');
    const staticJson = JSON.parse((await cli(['targets', 'green', '--json'], env)).out) as TargetView[];
    t.notOk('ttlMs' in staticJson[0]! || 'stale' in staticJson[0]!, 'no DNS fields on a config target');

    const status = await cli(['status'], env);
    t.equal(status.code, 0, status.err);
    t.match(status.out, /^blue\s+v1\s.*\n {2}DNS app\.switchyard\.test ok, ttl 1s, resolved \d+s ago$/m, 'the DNS state on the line under the pool');
    t.match(status.out, /^green\s+v2\s.*\n\n/m, 'nothing under a static pool');
    t.equal(status.out.match(/DNS/g)?.length, 1);
  });

  t.test('frozen DNS: STALE on the targets and a warning in status, gone once it answers', async (t) => {
    dns.freeze();
    let thawed = false;
    t.teardown(() => { if (!thawed) dns.thaw(); });
    await waitFor('the discovered targets to turn stale', async () => (await blueTargets()).every((view) => view.stale === true),
      { timeoutMs: 10_000, intervalMs: 100 });

    const blue = await cli(['targets', 'blue'], env);
    t.match(blue.out, DNS_HEADER);
    for (const id of ids) t.match(blue.out, new RegExp(`^blue\\s+${id}\\s+ready\\s.*dns\\s+1s\\s+\\d+s ago\\s+yes$`, 'm'), `${id} marked stale, still ready`);
    const green = await cli(['targets', 'green'], env);
    t.match(green.out, STATIC_HEADER, 'the static pool is untouched by the DNS fault');

    const status = await cli(['status'], env);
    t.match(status.out, /^blue\s+v1\s.*\n {2}DNS app\.switchyard\.test STALE \(TIMEOUT, last query \d+s ago\), holding the last good set from \d+s ago$/m);
    t.match(status.out, /^blue\s+v1\s+100\s+active\s+2\/2/m, 'the pool keeps both targets');

    dns.thaw();
    thawed = true;
    await waitFor('the targets to be fresh again', async () => (await blueTargets()).every((view) => view.stale === false),
      { timeoutMs: 10_000, intervalMs: 100 });
    t.match((await cli(['targets', 'blue'], env)).out, new RegExp(`^blue\\s+${ids[0]}\\s.*\\s+no$`, 'm'));
    t.match((await cli(['status'], env)).out, /\n {2}DNS app\.switchyard\.test ok, ttl 1s, resolved \d+s ago$/m);
  });
});

t.test('pure: the DNS cells and the status line for each discovery state', async (t) => {
  const now = new Date('2026-01-01T00:01:00.000Z');
  const base = { url: 'http://a:1', state: 'ready', weight: 100, effectiveWeight: 100, healthy: true, ejected: false, ready: true, inflight: 0, drainedAt: null, lastCheck: null };
  const table = formatTargets({
    blue: [
      { ...base, id: '10.0.0.1:80', source: 'dns', ttlMs: 30_000, resolvedAt: '2026-01-01T00:00:48.000Z', stale: false },
      { ...base, id: '10.0.0.2:80', source: 'dns', ttlMs: 90_000, resolvedAt: '2026-01-01T00:00:00.000Z', stale: true },
      { ...base, id: '10.0.0.3:80', source: 'dns', ttlMs: null, resolvedAt: null, stale: false },
      { ...base, id: '10.0.0.9:80', source: 'api' },
    ],
  }, { now });
  t.match(table, DNS_HEADER);
  t.match(table, /^blue\s+10\.0\.0\.1:80\s.*dns\s+30s\s+12s ago\s+no$/m);
  t.match(table, /^blue\s+10\.0\.0\.2:80\s.*dns\s+1m30s\s+1m00s ago\s+yes$/m);
  t.match(table, /^blue\s+10\.0\.0\.3:80\s.*dns\s+-\s+-\s+no$/m, 'not resolved yet');
  t.match(table, /^blue\s+10\.0\.0\.9:80\s.*api\s+-\s+-\s+-$/m);
  t.match(formatTargets({ blue: [{ ...base, id: 'x:1', source: 'dns', ttlMs: 1000, resolvedAt: null, stale: true }] }, { now, color: true }),
    '\x1b[33myes\x1b[0m', 'stale in yellow on a terminal');
  t.match(formatTargets({ blue: [{ ...base, id: 'x:1', source: 'config' }] }, { now }), STATIC_HEADER);

  const pool = (discovery?: Record<string, unknown>) => ({
    ...(discovery === undefined ? {} : { discovery }), version: 'v1', weight: 100, state: 'active', inflight: 0, longLived: 0,
    drainingSince: null, drainedAt: null, readyTargets: 0, targets: [],
  });
  const status = (discovery: Record<string, unknown>) => ({
    revision: 1, weights: {}, previous: null, updatedAt: '', updatedBy: 'x', store: { kind: 'memory', up: true }, instance: { id: 'i', startedAt: '' },
    pools: { blue: pool(discovery), green: pool() },
  }) as unknown as StatusView;
  const ok = { stale: false, lastError: null, resolvedAt: '2026-01-01T00:00:57.000Z', lastGoodAt: '2026-01-01T00:00:57.000Z', ttlMs: 30_000 };
  t.match(formatStatus(status(ok), { now }), /^blue\s+v1\s.*\n {2}DNS ok, ttl 30s, resolved 3s ago\ngreen\s+v1/m);
  t.match(formatStatus(status({ ...ok, dns: 'app.svc' }), { now }), /\n {2}DNS app\.svc ok, ttl 30s/, 'the name, when a server sends it');
  const stale = { ...ok, stale: true, lastError: 'SERVFAIL', resolvedAt: '2026-01-01T00:00:58.000Z', lastGoodAt: '2026-01-01T00:00:15.000Z' };
  t.match(formatStatus(status(stale), { now }), /\n {2}DNS STALE \(SERVFAIL, last query 2s ago\), holding the last good set from 45s ago\n/);
  t.match(formatStatus(status(stale), { now, color: true }), '\x1b[31mSTALE (SERVFAIL, last query 2s ago)\x1b[0m', 'red on a terminal');
  const failing = { ...ok, lastError: 'NXDOMAIN', lastGoodAt: null, ttlMs: null };
  t.match(formatStatus(status(failing), { now }), /\n {2}DNS FAILING \(NXDOMAIN\), no targets from DNS; last good never\n/);
});
