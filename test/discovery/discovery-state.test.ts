import t from 'tap';
import type { DiscoveredAddress, DnsResult } from '../../src/discovery/dns.js';
import { INITIAL_DISCOVERY_STATE, nextDiscoveryState, type DiscoveryState } from '../../src/discovery/discovery-state.js';

const a = (host: string, port = 8000): DiscoveredAddress => ({ host, port, weight: 100, name: 'app.test' });
const ok = (ttlMs: number, ...hosts: string[]): DnsResult => ({ addresses: hosts.map((host) => a(host)), ttlMs });
const fail = (error: 'NXDOMAIN' | 'EMPTY' | 'SERVFAIL' | 'TIMEOUT'): DnsResult => ({ error, code: error, message: error });
const timing = (now: number, random = 0) => ({ now, refreshMs: 30_000, holdMs: 60_000, random: () => random });

/** A good answer at t=0 with two addresses. */
const good: DiscoveryState = nextDiscoveryState(INITIAL_DISCOVERY_STATE, ok(10_000, '10.0.0.1', '10.0.0.2'), timing(0)).state;

t.test('good answers replace the set and report what changed', async (t) => {
  const step = nextDiscoveryState(good, ok(10_000, '10.0.0.2', '10.0.0.3'), timing(1000));
  t.same(step.state.addresses.map((x) => x.host), ['10.0.0.2', '10.0.0.3']);
  t.same(step.added, ['10.0.0.3:8000']);
  t.same(step.removed, ['10.0.0.1:8000']);
  t.equal(step.state.stale, false);
  t.equal(step.state.lastGoodAt, 1000);
  t.equal(step.state.ttlMs, 10_000);
  t.equal(step.warn, false);
  const v6 = nextDiscoveryState(INITIAL_DISCOVERY_STATE, { addresses: [a('::1')], ttlMs: 1000 }, timing(0));
  t.same(v6.added, ['[::1]:8000'], 'IPv6 ids bracketed like targetId');
});

t.test('delay: min(TTL, refreshMs), floored, plus up to 10% jitter', async (t) => {
  const cases: Array<[string, number, number, number]> = [
    // name, ttlMs, random, expected delay
    ['TTL below refresh', 10_000, 0, 10_000],
    ['TTL above refresh', 120_000, 0, 30_000],
    ['TTL 0 floored to minDelayMs', 0, 0, 1000],
    ['max jitter is 10%', 10_000, 0.999999, 10_999],
    ['half jitter', 20_000, 0.5, 21_000],
  ];
  for (const [name, ttl, random, expected] of cases) {
    t.equal(nextDiscoveryState(good, ok(ttl, '10.0.0.1'), timing(1000, random)).delayMs, expected, name);
  }
});

t.test('failures within holdMs keep the last good set, stale', async (t) => {
  for (const kind of ['NXDOMAIN', 'EMPTY', 'SERVFAIL', 'TIMEOUT'] as const) {
    const step = nextDiscoveryState(good, fail(kind), timing(59_999));
    t.same(step.state.addresses, good.addresses, `${kind}: set kept`);
    t.equal(step.state.stale, true, `${kind}: stale`);
    t.equal(step.state.lastError, kind);
    t.equal(step.state.lastGoodAt, 0, `${kind}: lastGoodAt unchanged`);
    t.equal(step.state.resolvedAt, 59_999);
    t.same([step.added, step.removed], [[], []]);
    t.equal(step.warn, true, `${kind}: first failure warns`);
  }
});

t.test('after holdMs an empty answer or NXDOMAIN is honoured; SERVFAIL and TIMEOUT never empty the pool', async (t) => {
  const cases: Array<[string, 'NXDOMAIN' | 'EMPTY' | 'SERVFAIL' | 'TIMEOUT', boolean]> = [
    ['EMPTY', 'EMPTY', true], ['NXDOMAIN', 'NXDOMAIN', true], ['SERVFAIL', 'SERVFAIL', false], ['TIMEOUT', 'TIMEOUT', false],
  ];
  for (const [name, kind, emptied] of cases) {
    const stale = nextDiscoveryState(good, fail(kind), timing(10_000)).state;
    const step = nextDiscoveryState(stale, fail(kind), timing(60_000));
    t.equal(step.state.addresses.length, emptied ? 0 : 2, `${name}: ${emptied ? 'emptied' : 'kept'}`);
    t.equal(step.state.stale, !emptied);
    t.equal(step.warn, emptied, `${name}: warns only when it empties the pool (same kind again)`);
    t.same(step.removed, emptied ? ['10.0.0.1:8000', '10.0.0.2:8000'] : []);
  }
});

t.test('a changed failure kind warns again; a good answer clears stale', async (t) => {
  const nx = nextDiscoveryState(good, fail('NXDOMAIN'), timing(1000)).state;
  t.equal(nextDiscoveryState(nx, fail('NXDOMAIN'), timing(2000)).warn, false, 'same kind: quiet');
  const sf = nextDiscoveryState(nx, fail('SERVFAIL'), timing(2000));
  t.equal(sf.warn, true, 'new kind: warns');
  const back = nextDiscoveryState(sf.state, ok(5000, '10.0.0.1', '10.0.0.2'), timing(3000));
  t.equal(back.state.stale, false);
  t.equal(back.state.lastError, null);
  t.equal(back.state.lastGoodAt, 3000);
  t.same([back.added, back.removed], [[], []]);
});

t.test('failure delay: min(retryMs, refreshMs), shortened to the hold left for answers', async (t) => {
  t.equal(nextDiscoveryState(good, fail('SERVFAIL'), timing(1000)).delayMs, 5000, 'retryMs');
  t.equal(nextDiscoveryState(good, fail('SERVFAIL'), { ...timing(1000), refreshMs: 2000 }).delayMs, 2000, 'refreshMs caps');
  t.equal(nextDiscoveryState(good, fail('EMPTY'), timing(57_000)).delayMs, 3000, 'hold has 3 s left');
  t.equal(nextDiscoveryState(good, fail('SERVFAIL'), timing(57_000)).delayMs, 5000, 'non-answers do not end a hold');
  t.equal(nextDiscoveryState(good, fail('EMPTY'), timing(59_900)).delayMs, 1000, 'floored');
});

t.test('before the first good answer there is nothing to hold', async (t) => {
  for (const kind of ['NXDOMAIN', 'EMPTY', 'SERVFAIL', 'TIMEOUT'] as const) {
    const step = nextDiscoveryState(INITIAL_DISCOVERY_STATE, fail(kind), timing(0));
    t.same(step.state.addresses, []);
    t.equal(step.state.stale, false);
    t.equal(step.state.lastGoodAt, null);
    t.equal(step.warn, true);
  }
});
