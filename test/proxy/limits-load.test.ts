// Load: 300 stalled uploads (Content-Length 100000, one byte, then silence) against a
// two-target pool with 16 connections per target, while a normal client keeps asking. A body
// is read before its request takes an upstream connection (request-body-buffer.ts), so the
// stalled uploads hold none: the upstreams never see them, the normal client never queues
// behind them, and limits.requestBodyIdleMs answers each of them 408.
import t from 'tap';
import { Agent } from 'node:http';
import { Flag } from '../../src/pool/health-flags.js';
import { rawRequest, send, waitFor, withDeadline, type RawExchange } from '../helpers/http-client.js';
import { inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';

const STALLED = 300;
const IDLE_MS = 2000;

t.test(`${STALLED} stalled uploads take no upstream connection: the normal client is answered at once, the stalled get 408`, async (t) => {
  const a = await upstreamFor(t, 'a');
  const b = await upstreamFor(t, 'b');
  let accepted = 0;
  for (const upstream of [a, b]) upstream.server.on('connection', () => accepted++);
  const proxy = await proxyFor(t, { blue: [a.url, b.url] }, {
    limits: { requestBodyIdleMs: IDLE_MS, maxConnectionsPerTarget: 16 },
    passive: { consecutiveFailures: 3 },
    log: { level: 'info', access: false },
  });
  const pool = proxy.switchyard.pools.get('blue')!;

  const stalled: RawExchange[] = [];
  for (let i = 0; i < STALLED; i++) {
    stalled.push(rawRequest(proxy.url, `POST /upload-${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\nx`));
  }
  t.teardown(() => stalled.forEach((raw) => raw.socket.destroy()));
  const stalledDone = Promise.all(stalled.map((raw) => raw.ended));
  // Every stalled upload is in (its head parsed, its first byte read): counted in the pool's
  // in-flight, so a drain and shutdown wait for it, but on no target and no connection.
  await waitFor('every stalled upload to be read', () => pool.inflight === STALLED, { timeoutMs: 10_000 });
  t.same(pool.targets.map((target) => target.inflight), [0, 0], 'no target counts them in flight');
  t.same(pool.targets.map((target) => target.client.waiting), [0, 0], 'none waits for a connection');
  t.equal(accepted, 0, 'the upstreams accepted no connection for them');

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
  await withDeadline(Promise.all([client(), client(), client(), client()]), 30_000, 'the normal client');

  t.equal(failures, 0, `no failed normal request (${latencies.length} made)`);
  latencies.sort((x, y) => x - y);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
  t.comment(`normal client: ${latencies.length} requests, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms`);
  // Queued behind the stalled uploads, a normal request would wait for their idle timeout
  // (p99 ≈ IDLE_MS and more); not held by them, it waits for nothing but a loaded box.
  t.ok(Number(p(0.99)) < IDLE_MS / 2, `p99 ${p(0.99)} ms is far below the ${IDLE_MS} ms the stalled uploads are held`);

  const statuses = stalled.map((raw) => raw.received().toString('latin1').slice(9, 12));
  t.equal(statuses.filter((status) => status === '408').length, STALLED, 'every stalled upload got 408');
  t.equal([...a.seen, ...b.seen].filter((req) => req.url!.startsWith('/upload-')).length, 0, 'no stalled upload reached an upstream');
  t.ok(accepted <= 8, `the upstreams accepted only the normal client's connections (${accepted})`);
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0, { timeoutMs: 5000 });
  const targets = pool.targets;
  t.same(targets.map((target) => target.health.has(Flag.EJECTED)), [false, false], 'no target ejected');
  t.same(targets.map((target) => target.client.waiting), [0, 0], 'nothing left waiting for a connection');
});
