// gRPC health checks through the proxy (SPEC §14, issue 15): `healthCheck.type: grpc` asks
// `grpc.health.v1.Health/Check` for `grpcService` on each target. A target answering
// NOT_SERVING for that service leaves rotation after `unhealthyThreshold` checks — every new
// call then goes to the other target, none fails — and comes back after `healthyThreshold`
// SERVING answers. A target that does not know the service (NOT_FOUND) never enters.
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { callEcho, echoClient, startGrpcEcho, type EchoClient } from '../helpers/grpc-echo.js';
import { startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/http-client.js';
import { describeFailures, failedOf, startGrpcLoad } from './grpc-load.js';

const SERVICE = 'switchyard.test.Echo';
const CHECK = { type: 'grpc', grpcService: SERVICE, intervalMs: 100, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 };

/** Who served each of `count` sequential calls. */
async function servers(client: EchoClient, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const { reply, status } = await callEcho(client, { message: `probe ${i}` });
    names.push(reply?.server ?? `failed ${status.code}`);
  }
  return names;
}

t.test('a backend NOT_SERVING for grpcService leaves rotation within the thresholds, SERVING brings it back', async (t) => {
  const a = await startGrpcEcho(t, { name: 'a' });
  const b = await startGrpcEcho(t, { name: 'b' });
  // c answers SERVING for the server as a whole ('') but does not know SERVICE.
  const c = await startGrpcEcho(t, { name: 'c' });
  await a.setStatus(SERVICE, 'SERVING');
  await b.setStatus(SERVICE, 'SERVING');
  const proxy = await startProxy({ svc: { version: 'svc-v1', protocol: 'h2c', targets: [a.url, b.url, c.url], healthCheck: CHECK } });
  t.teardown(() => proxy.close());
  const [targetA, targetB, targetC] = proxy.switchyard.pools.pools[0]!.targets;
  await waitFor('a and b in rotation', () => targetA!.ready && targetB!.ready, { timeoutMs: 5000 });
  t.notOk(targetC!.ready, 'c, which does not know the service, is not');
  t.match(targetC!.lastCheck?.error ?? '', /NOT_FOUND|grpc-status 5/, `c's check says why (${targetC!.lastCheck?.error})`);

  const client = echoClient(t, proxy.url);
  t.same(new Set(await servers(client, 10)), new Set(['a', 'b']), 'calls go to a and b');
  // Background load across the whole change: health moves traffic without failing calls.
  const load = startGrpcLoad(t, proxy.url, { channels: 4 });
  await load.warmed(3);

  const changedAt = performance.now();
  await a.setStatus(SERVICE, 'NOT_SERVING');
  await waitFor('a out of rotation', () => !targetA!.ready, { timeoutMs: 5000, intervalMs: 5 });
  const leftAfter = performance.now() - changedAt;
  const bound = (CHECK.unhealthyThreshold + 1) * CHECK.intervalMs + 400;
  t.ok(leftAfter <= bound, `a left rotation ${leftAfter.toFixed(0)} ms after NOT_SERVING (≤ ${bound} ms: ${CHECK.unhealthyThreshold} checks ${CHECK.intervalMs} ms apart)`);
  t.match(targetA!.lastCheck?.error ?? '', /NOT_SERVING/, 'its last check says NOT_SERVING');
  const leftAt = performance.now();
  t.same(new Set(await servers(client, 20)), new Set(['b']), 'every new call goes to b');

  const backAt = performance.now();
  await a.setStatus(SERVICE, 'SERVING');
  await waitFor('a back in rotation', () => targetA!.ready, { timeoutMs: 5000, intervalMs: 5 });
  const backAfter = performance.now() - backAt;
  const backBound = (CHECK.healthyThreshold + 1) * CHECK.intervalMs + 400;
  t.ok(backAfter <= backBound, `a back ${backAfter.toFixed(0)} ms after SERVING (≤ ${backBound} ms)`);
  const reached = await waitFor('a call served by a', async () => (await servers(client, 1))[0] === 'a', { timeoutMs: 5000, intervalMs: 0 });
  t.ok(reached, 'calls reach a again');

  const outcomes = await load.stop();
  const failed = failedOf(outcomes);
  t.comment(`health change under load: ${outcomes.length} RPCs, ${failed.length} failed`);
  if (failed.length > 0) t.comment(describeFailures(failed, changedAt));
  t.equal(failed.length, 0, '0 failed RPCs while a left and came back');
  const whileOut = outcomes.filter((o) => o.sentAt > leftAt && o.endedAt < backAt);
  t.ok(whileOut.length > 0 && whileOut.every((o) => o.server === 'b'), `load calls while a was out all went to b (${whileOut.length})`);
});
