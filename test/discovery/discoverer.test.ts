// The discovery loop (SPEC §12) with a scripted resolver and a recording sink: what reaches the
// target set, what is logged and counted, and that reload and stop leave no timer behind.
import t from 'tap';
import { Discoverer, type DiscoverySink } from '../../src/discovery/discoverer.js';
import type { DnsResult } from '../../src/discovery/dns.js';
import type { PoolConfig } from '../../src/config/schema.js';
import type { DiscoveredTarget, DiscoveryInfo } from '../../src/pool/target-set.js';
import { createLogger } from '../../src/observe/logger.js';
import { LogSink } from '../helpers/log-sink.js';

const HEALTH = { path: '/healthz', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1, expectStatus: '200-399' };
const SLOW = { windowMs: 0, aggression: 1, minWeightPercent: 10 };
const pool = (name: string, discover: Partial<NonNullable<PoolConfig['discover']>> | null): PoolConfig => ({
  name, version: '1', targets: [], healthCheck: HEALTH, slowStart: SLOW,
  ...(discover === null ? {} : { discover: { dns: 'app.test', port: 8000, scheme: 'http', type: 'A', refreshMs: 30000, holdMs: 300000, ...discover } }),
});
const answer = (...hosts: string[]): DnsResult => ({ addresses: hosts.map((host) => ({ host, port: 8000, weight: 100, name: 'app.test' })), ttlMs: 20 });

function harness(script: DnsResult[]) {
  const applied: Array<{ pool: string; urls: string[]; info: DiscoveryInfo }> = [];
  const sink: DiscoverySink = {
    applyDiscovered: (name: string, targets: readonly DiscoveredTarget[], info: DiscoveryInfo) => {
      applied.push({ pool: name, urls: targets.map((target) => target.url), info });
      return { addedTargets: [], removedTargets: [] };
    },
  };
  const logs = new LogSink();
  const queries: string[] = [];
  const servers: string[][] = [];
  const discoverer = new Discoverer({
    sink, logger: createLogger('info', logs), random: () => 0, minDelayMs: 10, retryMs: 10,
    resolverFor: (list) => {
      servers.push([...list]);
      return async (query) => {
        queries.push(`${query.name} ${query.type} ${query.port}`);
        return script.length > 1 ? script.shift()! : script[0]!;
      };
    },
  });
  return { discoverer, applied, logs, queries, servers };
}

t.test('runOnce applies the answer; failures hold, count, and warn once', async (t) => {
  const fail: DnsResult = { error: 'SERVFAIL', code: 'ESERVFAIL', message: 'x' };
  const { discoverer, applied, logs, queries } = harness([answer('10.0.0.1', '10.0.0.2'), fail, fail, answer('10.0.0.1')]);
  discoverer.configure([pool('blue', {}), pool('green', null)], []);
  await discoverer.runOnce();
  t.same(queries, ['app.test A 8000'], 'only the discovering pool');
  t.same(applied[0]!.urls, ['http://10.0.0.1:8000', 'http://10.0.0.2:8000']);
  t.equal(applied[0]!.info.stale, false);
  await discoverer.runOnce();
  await discoverer.runOnce();
  t.same(applied[2]!.urls, applied[0]!.urls, 'SERVFAIL keeps the last good set');
  t.equal(applied[2]!.info.stale, true);
  t.equal(applied[2]!.info.lastError, 'SERVFAIL');
  t.equal(discoverer.errors.get('blue'), 2);
  t.equal(logs.lines.filter((line) => line.level === 40).length, 1, 'one warning for a run of the same failure');
  await discoverer.runOnce();
  t.same(applied[3]!.urls, ['http://10.0.0.1:8000']);
  t.ok(logs.lines.some((line) => line.msg === 'DNS discovery answering again'));
});

t.test('start loops on the delay; stop clears the timers', async (t) => {
  const { discoverer, applied } = harness([answer('10.0.0.1')]);
  discoverer.configure([pool('blue', { refreshMs: 20 })], []);
  await discoverer.runOnce();
  discoverer.start();
  await new Promise((resolve) => setTimeout(resolve, 150));
  const count = applied.length;
  t.ok(count >= 3, `re-queried (${count})`);
  discoverer.stop();
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.equal(applied.length, count, 'nothing after stop');
});

t.test('configure: new servers make a new resolver; a changed query starts over; a dropped pool stops', async (t) => {
  const { discoverer, queries, servers } = harness([answer('10.0.0.1')]);
  discoverer.configure([pool('blue', {})], []);
  await discoverer.runOnce();
  t.ok(discoverer.state('blue')!.lastGoodAt !== null);
  discoverer.configure([pool('blue', { refreshMs: 1000 })], []);
  t.ok(discoverer.state('blue')!.lastGoodAt !== null, 'timing change keeps the state');
  discoverer.configure([pool('blue', { port: 9000 })], ['127.0.0.1:5353']);
  t.equal(discoverer.state('blue')!.lastGoodAt, null, 'another query starts over');
  t.same(servers, [[], ['127.0.0.1:5353']]);
  await discoverer.runOnce();
  t.equal(queries.at(-1), 'app.test A 9000');
  discoverer.configure([pool('blue', null)], ['127.0.0.1:5353']);
  t.equal(discoverer.state('blue'), undefined);
  discoverer.stop();
});
