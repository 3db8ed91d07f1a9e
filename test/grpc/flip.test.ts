// A flip under gRPC load (SPEC §14, issue 15): every HTTP/2 stream is routed by the current
// weights, so the very next RPC on each long-lived channel lands on green and none fails; a
// server-streaming call open on blue keeps streaming through the drain and ends with
// UNAVAILABLE (trailers, not a stream reset) at `drain.timeoutMs`.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { proxyFor } from '../helpers/data-plane.js';
import { echoClient, readStream, startGrpcEcho, type EchoReply } from '../helpers/grpc-echo.js';
import { send, withDeadline } from '../helpers/http-client.js';
import { describeFailures, failedOf, startGrpcLoad } from './grpc-load.js';

const DRAIN_MS = 1500;
const CHANNELS = 8;

t.test('flip blue → green under gRPC load: 0 failed RPCs, the next RPC on every channel on green, a blue stream cut at the drain timeout', async (t) => {
  const blue = await startGrpcEcho(t, { name: 'blue' });
  const green = await startGrpcEcho(t, { name: 'green' });
  const proxy = await proxyFor(t, {
    blue: { version: 'blue-v1', protocol: 'h2c', targets: [blue.url] },
    green: { version: 'green-v1', protocol: 'h2c', targets: [green.url] },
  }, { drain: { timeoutMs: DRAIN_MS } });

  // A few ms per call: calls are in flight on blue when the flip lands.
  const load = startGrpcLoad(t, proxy.url, { channels: CHANNELS, request: { message: 'load', delayMs: 5 } });
  await load.warmed(3);

  const ticks: Array<{ at: number; reply: EchoReply }> = [];
  const stream = echoClient(t, proxy.url).Stream({ message: 'tick', count: 100_000, intervalMs: 20 });
  stream.on('data', (reply: EchoReply) => ticks.push({ at: performance.now(), reply }));
  const streamEnded = readStream<EchoReply>(stream).then((end) => ({ ...end, at: performance.now() }));
  await withDeadline(new Promise((resolve) => stream.once('data', resolve)), 5000, 'the first streamed message');
  t.equal(ticks[0]!.reply.server, 'blue', 'the stream is open on blue');

  const flipped = await send(proxy.admin, '/flip', { method: 'POST', body: JSON.stringify({ pool: 'green' }), headers: { 'content-type': 'application/json' } });
  const flipAt = performance.now();
  t.equal(flipped.status, 200, 'flip answered 200');

  const end = await withDeadline(streamEnded, DRAIN_MS + 8000, 'the blue stream to end');
  const afterFlip = ticks.filter((tick) => tick.at > flipAt);
  t.ok(afterFlip.length >= 10, `the blue stream kept streaming after the flip (${afterFlip.length} messages)`);
  t.ok(afterFlip.every((tick) => tick.reply.server === 'blue'), 'from blue');
  t.equal(end.status.code, grpc.status.UNAVAILABLE, `then ended UNAVAILABLE (${grpc.status[end.status.code]}: ${end.status.details})`);
  const endedAfter = end.at - flipAt;
  t.ok(endedAfter >= DRAIN_MS - 100 && endedAfter < DRAIN_MS + 3000, `at the drain timeout (${endedAfter.toFixed(0)} ms after the flip's 200, timeout ${DRAIN_MS} ms)`);

  // Each channel has made several calls since the flip before the load stops.
  const sentAfter = (channel: number) => load.outcomes.filter((o) => o.channel === channel && o.sentAt > flipAt);
  await withDeadline((async () => {
    while (Array.from({ length: CHANNELS }, (_, channel) => sentAfter(channel).length).some((count) => count < 3)) await new Promise((resolve) => setTimeout(resolve, 10));
  })(), 10_000, 'calls after the flip on every channel');
  const outcomes = await load.stop();

  const failed = failedOf(outcomes);
  const draining = proxy.logs.find({ kind: 'drain', pool: 'blue' })[0];
  t.comment(`flip under load: ${outcomes.length} RPCs on ${CHANNELS} channels (${String(draining?.inflight)} in flight on blue at the flip, `
    + `the stream included), ${failed.length} failed`);
  if (failed.length > 0) t.comment(describeFailures(failed, flipAt));
  t.equal(failed.length, 0, '0 failed RPCs');
  for (let channel = 0; channel < CHANNELS; channel++) {
    const after = sentAfter(channel);
    t.equal(after[0]?.server, 'green', `channel ${channel}: the next RPC after the flip's 200 on green`);
    t.equal(after.filter((o) => o.server !== 'green').length, 0, `channel ${channel}: every RPC sent after the flip on green (${after.length})`);
  }
  const onBlue = outcomes.filter((o) => o.server === 'blue' && o.sentAt < flipAt).length;
  t.ok(onBlue > 0, `blue served before the flip (${onBlue} RPCs)`);

  const unary = proxy.logs.find({ kind: 'access', url: '/switchyard.test.Echo/Echo' });
  t.ok(unary.length >= outcomes.length, 'an access line per RPC');
  t.ok(unary.every((line) => line.proto === '2' && line.grpcStatus === 0), 'access lines: proto "2", grpcStatus 0');
  const streamLine = proxy.logs.find({ kind: 'access', url: '/switchyard.test.Echo/Stream' })[0];
  t.match(streamLine, { proto: '2', pool: 'blue', grpcStatus: grpc.status.UNAVAILABLE }, 'the cut stream logged with grpcStatus 14');
});
