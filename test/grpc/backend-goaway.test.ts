// A backend of a two-target gRPC pool going away under load (SPEC §14, issue 15). Graceful
// (grpc-js `tryShutdown`: GOAWAY, in-flight calls finish, the port closes): the proxy lets the
// streams below GOAWAY's last id finish and sends the rest elsewhere — 0 failed RPCs. Killed
// (SIGKILL, no GOAWAY): only the calls in flight on it can fail, and calls after it are fine.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { proxyFor } from '../helpers/data-plane.js';
import { spawnGrpcEcho, startGrpcEcho } from '../helpers/grpc-echo.js';
import type { TestProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/http-client.js';
import { describeFailures, failedOf, startGrpcLoad, type GrpcLoad } from './grpc-load.js';

const CHANNELS = 8;
/** Each call takes this long on the backend, so several are in flight on each target at any time. */
const CALL_MS = 20;

/** The proxy's pool of both targets; every target starts ready (trusting probe): the proxy alone must absorb the loss. */
function poolOf(t: Test, urls: string[]): Promise<TestProxy> {
  return proxyFor(t, { svc: { version: 'svc-v1', protocol: 'h2c', targets: urls } });
}

/** Waits until `count` calls sent after `since` have ended on every channel. */
function callsAfter(load: GrpcLoad, since: number, count: number): Promise<unknown> {
  return waitFor(`${count} calls per channel after the event`, () => {
    const perChannel = new Array<number>(CHANNELS).fill(0);
    for (const outcome of load.outcomes) if (outcome.sentAt > since) perChannel[outcome.channel]!++;
    return perChannel.every((calls) => calls >= count);
  }, { timeoutMs: 15_000 });
}

t.test('graceful shutdown (GOAWAY) of one of two backends under load: 0 failed RPCs', async (t) => {
  // Called as a receives each call: arms the shutdown to start while a call is being served.
  let onCallA: (() => void) | null = null;
  const a = await startGrpcEcho(t, { name: 'a', onCall: () => onCallA?.() });
  const b = await startGrpcEcho(t, { name: 'b' });
  const proxy = await poolOf(t, [a.url, b.url]);
  const load = startGrpcLoad(t, proxy.url, { channels: CHANNELS, request: { message: 'load', delayMs: CALL_MS } });
  await load.warmed(10);
  const target = proxy.switchyard.pools.pools[0]!.targets.find((one) => one.url === a.url)!;
  // Shut down just as a starts serving a call (it answers CALL_MS later): that call must finish, not fail.
  await new Promise<void>((resolve) => {
    onCallA = resolve;
  });
  onCallA = null;
  const inflightAtShutdown = target.inflight;
  const shutAt = performance.now();
  await a.tryShutdown();
  const goneAt = performance.now();
  await callsAfter(load, goneAt, 30);
  const outcomes = await load.stop();

  const failed = failedOf(outcomes);
  t.comment(`backend GOAWAY under load: ${outcomes.length} RPCs, ${inflightAtShutdown} in flight on it at tryShutdown, `
    + `shutdown took ${(goneAt - shutAt).toFixed(0)} ms, ${failed.length} failed`);
  if (failed.length > 0) t.comment(describeFailures(failed, shutAt));
  t.equal(failed.length, 0, '0 failed RPCs');
  t.ok(outcomes.some((o) => o.server === 'a' && o.endedAt > shutAt), 'calls open on a at its GOAWAY finished on a');
  const late = outcomes.filter((o) => o.sentAt > goneAt);
  t.ok(late.length >= CHANNELS * 30 && late.every((o) => o.server === 'b'), `every call after a closed went to b (${late.length})`);
});

t.test('a backend killed (SIGKILL) under load: failures only for calls in flight on it, calls after it fine', async (t) => {
  const a = await spawnGrpcEcho(t, { name: 'a' });
  const b = await startGrpcEcho(t, { name: 'b' });
  const proxy = await poolOf(t, [a.url, b.url]);
  const load = startGrpcLoad(t, proxy.url, { channels: CHANNELS, request: { message: 'load', delayMs: CALL_MS } });
  await load.warmed(10);
  const target = proxy.switchyard.pools.pools[0]!.targets.find((one) => one.url === a.url)!;
  await waitFor('calls in flight on a', () => target.inflight >= 2, { timeoutMs: 5000, intervalMs: 1 });
  // Read in the same turn as the signal: no call can be placed on a in between.
  const inflightAtKill = target.inflight;
  const killAt = performance.now();
  const killWall = Date.now();
  await a.kill('SIGKILL');
  const deadAt = performance.now();
  const deadWall = Date.now();
  await callsAfter(load, deadAt, 30);
  const outcomes = await load.stop();

  // Until the proxy sees a's connection break it may still place calls on it: "in flight on it"
  // is every call the proxy had open on a at some moment between the signal and the exit
  // (from the access lines: start = time − ms).
  const lines = proxy.logs.find({ kind: 'access', url: '/switchyard.test.Echo/Echo' });
  const openOnA = lines.filter((line) => line.target === a.url && Date.parse(String(line.time)) >= killWall
    && Date.parse(String(line.time)) - Number(line.ms) <= deadWall + 1);
  const failed = failedOf(outcomes);
  t.comment(`backend SIGKILL under load: ${outcomes.length} RPCs; in flight on it: ${inflightAtKill} at the signal, `
    + `${openOnA.length} between the signal and its exit (seen ${(deadAt - killAt).toFixed(1)} ms later); ${failed.length} failed`);
  if (failed.length > 0) t.comment(describeFailures(failed, killAt));
  t.ok(failed.length <= openOnA.length, `failures (${failed.length}) ≤ calls in flight on the killed backend (${openOnA.length})`);
  const failedLines = lines.filter((line) => line.grpcStatus !== grpc.status.OK);
  t.equal(failedLines.length, failed.length, 'the access log counts the same failures');
  t.ok(failedLines.every((line) => line.target === a.url), 'every failed call was on the killed backend');
  t.ok(failed.every((o) => o.sentAt < deadAt), 'every failed call was sent before the backend was gone');
  // The proxy's own status for an upstream lost mid-call (SPEC §14): UNAVAILABLE, which clients may retry.
  t.same(failed.filter((o) => o.code !== grpc.status.UNAVAILABLE).map((o) => `${grpc.status[o.code]}: ${o.details}`), [],
    'each failed call ended UNAVAILABLE');
  const late = outcomes.filter((o) => o.sentAt > deadAt);
  t.equal(failedOf(late).length, 0, `no call sent after the backend died failed (${late.length} calls)`);
  t.ok(late.every((o) => o.server === 'b'), 'they went to b');
});
