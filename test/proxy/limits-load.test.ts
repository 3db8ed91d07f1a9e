// Load: 300 stalled uploads (Content-Length 100000, one byte, then silence) against a
// two-target pool with 16 connections per target, while a normal client keeps asking. Without
// limits.requestBodyIdleMs the stalled uploads hold every upstream connection for good and
// the normal client starves; with it they get 408 and the normal client gets every answer.
import t from 'tap';
import { Agent } from 'node:http';
import { Flag } from '../../src/pool/health-flags.js';
import { rawRequest, send, waitFor, withDeadline, type RawExchange } from '../helpers/http-client.js';
import { inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';

const STALLED = 300;
const IDLE_MS = 1000;

t.test(`${STALLED} stalled uploads: the normal client keeps getting 200s, the stalled get 408`, async (t) => {
  const a = await upstreamFor(t, 'a');
  const b = await upstreamFor(t, 'b');
  const proxy = await proxyFor(t, { blue: [a.url, b.url] }, {
    limits: { requestBodyIdleMs: IDLE_MS, maxConnectionsPerTarget: 16 },
    passive: { consecutiveFailures: 3 },
    log: { level: 'info', access: false },
  });

  const stalled: RawExchange[] = [];
  for (let i = 0; i < STALLED; i++) {
    stalled.push(rawRequest(proxy.url, `POST /upload-${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\nx`));
  }
  t.teardown(() => stalled.forEach((raw) => raw.socket.destroy()));
  const stalledDone = Promise.all(stalled.map((raw) => raw.ended));
  // Every connection the pool may open is taken by a stalled upload before the normal client starts.
  await waitFor('the stalled uploads to hold the connections', () => a.seen.length + b.seen.length >= 32, { timeoutMs: 5000 });

  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const latencies: number[] = [];
  let failures = 0;
  let allStalledAnswered = false;
  void stalledDone.then(() => (allStalledAnswered = true));
  const client = async () => {
    // Until the stalled uploads are all answered, and a little longer: before, during and after.
    const until = () => allStalledAnswered && latencies.length >= 200;
    while (!until()) {
      const started = performance.now();
      try {
        const answer = await withDeadline(send(proxy.url, '/normal', { agent }), 5000, 'a normal answer');
        if (answer.status !== 200) failures++;
      } catch {
        failures++;
      }
      latencies.push(performance.now() - started);
    }
  };
  await withDeadline(Promise.all([client(), client(), client(), client()]), 20_000, 'the normal client');

  t.equal(failures, 0, `no failed normal request (${latencies.length} made)`);
  latencies.sort((x, y) => x - y);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
  t.comment(`normal client: ${latencies.length} requests, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms`);
  t.ok(Number(p(0.99)) < IDLE_MS * 1.25 + 1000, `p99 ${p(0.99)} ms is bounded by the idle timeout`);

  const statuses = stalled.map((raw) => raw.received().toString('latin1').slice(9, 12));
  t.equal(statuses.filter((status) => status === '408').length, STALLED, 'every stalled upload got 408');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0, { timeoutMs: 5000 });
  const targets = proxy.switchyard.pools.get('blue')!.targets;
  t.same(targets.map((target) => target.health.has(Flag.EJECTED)), [false, false], 'no target ejected');
  t.same(targets.map((target) => target.client.waiting), [0, 0], 'nothing left waiting for a connection');
});
