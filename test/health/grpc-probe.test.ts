import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { createServer as createH2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { ActiveHealthChecker, type HealthChange } from '../../src/health/active-checker.js';
import { decodeHealthResponse, encodeHealthRequest, grpcProbe, grpcTimeout } from '../../src/health/grpc-probe.js';
import type { ProbeResult, ProbeSettings } from '../../src/health/http-probe.js';
import { healthProbe } from '../../src/health/probe.js';
import type { HealthCheckConfig } from '../../src/config/schema.js';
import { Target } from '../../src/pool/target.js';
import type { TargetClient } from '../../src/proxy/upstream-client.js';
import { DEFAULT_UPSTREAM_TLS, loadUpstreamTls } from '../../src/tls/upstream-tls.js';
import { callEcho, echoClient, healthClient, readStream, spawnGrpcEcho, startGrpcEcho, type EchoReply } from '../helpers/grpc-echo.js';
import { testCa } from '../helpers/certs.js';
import { waitFor } from '../helpers/http-client.js';
import { startUpstream } from '../helpers/upstream.js';

const grpcSettings = (grpcService = '', timeoutMs = 1000): ProbeSettings => ({ type: 'grpc', path: '/', timeoutMs, expect: [[200, 399]], grpcService });

// The test stack (test/helpers/grpc-echo.ts) itself: other gRPC tests rely on what it answers.
t.test('the echo backend answers what a request asks for, and names itself', async (t) => {
  const blue = await startGrpcEcho(t, { name: 'blue', host: '127.0.0.2' });
  t.match(blue.url, /^http:\/\/127\.0\.0\.2:\d+$/);
  const client = echoClient(t, blue.url);
  const ok = await callEcho(client, { message: 'hi', trailers: { 'x-extra': 'yes', 'x-raw-bin': Buffer.from([0, 255]).toString('base64') } });
  t.same(ok.reply, { message: 'hi', server: 'blue' });
  t.equal(ok.status.code, 0);
  t.same(ok.status.metadata.get('x-served-by'), ['blue']);
  t.same(ok.status.metadata.get('x-extra'), ['yes']);
  t.same(ok.status.metadata.get('x-raw-bin'), [Buffer.from([0, 255])]);
  const failed = await callEcho(client, { status: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down', trailers: { 'x-why': 'quota' } });
  t.equal(failed.reply, null);
  t.match(failed.status, { code: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down' });
  t.same(failed.status.metadata.get('x-why'), ['quota']);
  const late = await callEcho(client, { message: 'late', delayMs: 2000 }, { deadlineMs: 50 });
  t.equal(late.status.code, grpc.status.DEADLINE_EXCEEDED);

  const streamed = await readStream(client.Stream({ message: 'tick', count: 3, intervalMs: 5, status: grpc.status.ABORTED, details: 'done' }));
  t.same(streamed.replies.map((reply) => reply.message), ['tick 1', 'tick 2', 'tick 3']);
  t.match(streamed.status, { code: grpc.status.ABORTED, details: 'done' });

  const collected = await new Promise<EchoReply | undefined>((resolve, reject) => {
    const call = client.Collect(new grpc.Metadata(), {}, (error, reply) => (error ? reject(error) : resolve(reply)));
    for (const message of ['a', 'b', 'c']) call.write({ message });
    call.end();
  });
  t.same(collected, { message: 'a b c', server: 'blue' });

  const chat = client.Chat();
  const chatted = readStream(chat);
  chat.write({ message: 'one' });
  chat.write({ message: 'two' });
  chat.write({ status: grpc.status.FAILED_PRECONDITION, details: 'bye' });
  const chatEnd = await chatted;
  t.same(chatEnd.replies.map((reply) => reply.message), ['one', 'two']);
  t.match(chatEnd.status, { code: grpc.status.FAILED_PRECONDITION, details: 'bye' });
  t.equal(blue.calls, 6);
});

t.test('health statuses are set per service; TLS serves with the given pair', async (t) => {
  const ca = testCa(t);
  const pair = ca.leaf('green', ['green.test', '127.0.0.3']);
  const green = await startGrpcEcho(t, { name: 'green', host: '127.0.0.3', tls: pair });
  t.match(green.url, /^https:\/\/127\.0\.0\.3:\d+$/);
  const health = healthClient(t, green.url, { tls: { ca: ca.ca, servername: 'green.test' } });
  const check = (service: string) => new Promise<string>((resolve) => {
    health.Check({ service }, new grpc.Metadata(), {}, (error, reply) => resolve(error ? `error ${error.code}` : reply!.status));
  });
  t.equal(await check(''), 'SERVING');
  t.equal(await check('svc'), `error ${grpc.status.NOT_FOUND}`);
  await green.setStatus('svc', 'NOT_SERVING');
  t.equal(await check('svc'), 'NOT_SERVING');
  const reply = await callEcho(echoClient(t, green.url, { tls: { ca: ca.ca, servername: 'green.test' } }), { message: 'secure' });
  t.same(reply.reply, { message: 'secure', server: 'green' });
  t.equal(green.calls, 1, 'health checks are not counted');
});

t.test('a child-process backend serves, reports, and can be killed', async (t) => {
  const child = await spawnGrpcEcho(t, { name: 'child' });
  const client = echoClient(t, child.url);
  t.same((await callEcho(client, { message: 'x' })).reply, { message: 'x', server: 'child' });
  await waitFor('the call count over IPC', () => (child.calls === 1 ? true : undefined), { timeoutMs: 3000 });
  await child.setStatus('', 'NOT_SERVING');
  const health = healthClient(t, child.url);
  const status = await new Promise<string>((resolve) => health.Check({ service: '' }, new grpc.Metadata(), {}, (_error, reply) => resolve(reply!.status)));
  t.equal(status, 'NOT_SERVING');
  await child.kill('SIGKILL');
  const dead = await callEcho(client, { message: 'y' }, { deadlineMs: 2000 });
  t.equal(dead.status.code, grpc.status.UNAVAILABLE);
  const graceful = await spawnGrpcEcho(t, { name: 'graceful' });
  await graceful.tryShutdown();
  t.pass('tryShutdown resolves once the child has exited');
});

t.test('the request and response are coded by the protobuf wire format inside gRPC framing', async (t) => {
  t.same(encodeHealthRequest(''), Buffer.from([0, 0, 0, 0, 0]), "'' is the empty message (proto3 leaves defaults out)");
  t.same(encodeHealthRequest('svc'), Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, 0x73, 0x76, 0x63]));
  t.equal(encodeHealthRequest('x'.repeat(200)).subarray(5, 8).toString('hex'), '0ac801', 'a two-byte varint length');
  const framed = (...bytes: number[]) => Buffer.from([0, 0, 0, 0, bytes.length, ...bytes]);
  t.same(decodeHealthResponse(framed(0x08, 1)), { status: 1 });
  t.same(decodeHealthResponse(framed()), { status: 0 }, 'an absent field is UNKNOWN (0)');
  t.same(decodeHealthResponse(framed(0x12, 2, 0x61, 0x62, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4, 0x08, 2, 0x18, 0x96, 0x01)),
    { status: 2 }, 'unknown fields of every wire type are skipped');
  t.same(decodeHealthResponse(Buffer.from([0, 0, 0])), { error: 'bad response: no gRPC message' });
  t.same(decodeHealthResponse(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), { error: 'bad response: compressed message' });
  t.same(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 9, 0x08, 1])), { error: 'bad response: truncated message' });
  t.same(decodeHealthResponse(framed(0x08, 0x81)), { error: 'bad response: truncated field' }, 'a varint cut short');
  t.same(decodeHealthResponse(framed(0x12, 5, 0x61)), { error: 'bad response: truncated field' }, 'a string longer than the message');
  t.same(decodeHealthResponse(framed(0x19, 1, 2)), { error: 'bad response: truncated field' }, 'a fixed64 cut short');
  t.same(decodeHealthResponse(framed(0x0b)), { error: 'bad response: wire type 3' });
  t.equal(grpcTimeout(250), '250m');
  t.equal(grpcTimeout(100_000_000), '100000S', 'at most 8 digits');
});

t.test('a gRPC check is healthy only when the asked service is SERVING', async (t) => {
  const server = await startGrpcEcho(t, { name: 'blue', host: '127.0.0.2' });
  t.match(await grpcProbe(server.url, grpcSettings()), { ok: true, status: 200 }, "'' asks about the whole server");
  await server.setStatus('', 'NOT_SERVING');
  t.match(await grpcProbe(server.url, grpcSettings()), { ok: false, status: 200, error: 'NOT_SERVING' });
  await server.setStatus('shop.Cart', 'SERVING');
  t.match(await grpcProbe(server.url, grpcSettings('shop.Cart')), { ok: true, status: 200 }, 'a named service has its own status');
  await server.setStatus('shop.Cart', 'SERVICE_UNKNOWN');
  t.match(await grpcProbe(server.url, grpcSettings('shop.Cart')), { ok: false, error: 'SERVICE_UNKNOWN' });
  t.match(await grpcProbe(server.url, grpcSettings('shop.Other')), { ok: false, status: 200, error: 'grpc-status 5 (NOT_FOUND): unknown service' });
  t.equal(server.calls, 0, 'health checks only');
});

t.test('gRPC check failures say what happened', async (t) => {
  const noHealth = await startGrpcEcho(t, { name: 'bare', health: false });
  t.match(await grpcProbe(noHealth.url, grpcSettings()), { ok: false, status: 200, error: /^grpc-status 12 \(UNIMPLEMENTED\): .+/ });

  const http1 = await startUpstream('h1');
  t.teardown(() => http1.close());
  const spokeH1 = await grpcProbe(http1.url, grpcSettings());
  t.match(spokeH1, { ok: false, error: 'not HTTP/2' });
  t.equal(spokeH1.status, undefined);

  t.match(await grpcProbe('http://127.0.0.1:1', grpcSettings()), { ok: false, error: 'ECONNREFUSED' });

  // Accepts the connection and never says a word: no SETTINGS, no answer.
  const sockets = new Set<Socket>();
  const silent = createTcpServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const quiet = await grpcProbe(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, grpcSettings('', 200));
  t.match(quiet, { ok: false, error: 'timeout' });
  t.ok(quiet.ms >= 190 && quiet.ms < 1000, `gave up at the deadline (${quiet.ms} ms)`);
});

t.test('a gRPC check sends the gRPC request headers and reads odd answers defensively', async (t) => {
  let answer: (stream: ServerHttp2Stream) => void = () => undefined;
  const seen: IncomingHttpHeaders[] = [];
  const server = createH2Server();
  server.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.on('error', () => undefined); // the probe ends the session of a check it gave up on
    stream.resume();
    answer(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const grpcAnswer = (body: Buffer, trailers: Record<string, string> = { 'grpc-status': '0' }) => (stream: ServerHttp2Stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.end(body);
  };

  answer = grpcAnswer(Buffer.from([0, 0, 0, 0, 4, 0x10, 7, 0x08, 1]));
  t.match(await grpcProbe(url, grpcSettings('pkg.Svc', 300)), { ok: true, status: 200 }, 'an unknown field before the status');
  t.match(seen[0], {
    ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers',
    'user-agent': 'switchyard-health-check', 'grpc-timeout': '300m',
  });

  answer = grpcAnswer(Buffer.from([0, 0, 0, 0, 9, 0x08]));
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, status: 200, error: 'bad response: truncated message' });
  answer = grpcAnswer(Buffer.alloc(0), { 'grpc-status': '14', 'grpc-message': 'draining%20now' });
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, error: 'grpc-status 14 (UNAVAILABLE): draining now' }, 'grpc-message percent-decoded');
  answer = grpcAnswer(Buffer.alloc(0), {});
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, error: 'no grpc-status' });
  answer = (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'no' }, { endStream: true });
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, status: 200, error: 'grpc-status 7 (PERMISSION_DENIED): no' }, 'trailers-only');
  answer = (stream) => void stream.respond({ ':status': 503 }, { endStream: true });
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, status: 503, error: 'HTTP 503, not a gRPC answer' });
  answer = (stream) => void stream.respond({ ':status': 200, 'content-type': 'text/html' }, { endStream: true });
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, status: 200, error: 'not gRPC (content-type text/html)' });
  answer = (stream) => stream.close(2);
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, error: 'stream reset (INTERNAL_ERROR)' });
  answer = (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.close(0); // NO_ERROR: the answer ends without trailers
  };
  // Node 22 may end the stream before it has emitted the response headers.
  t.match(await grpcProbe(url, grpcSettings()), { ok: false, error: /^(no grpc-status|stream closed without an answer)$/ });
  answer = () => undefined; // an HTTP/2 server that takes the stream and never answers
  t.match(await grpcProbe(url, grpcSettings('', 150)), { ok: false, error: 'timeout' });
});

t.test('a gRPC check over TLS uses the pool TLS and verifies the servername', async (t) => {
  const ca = testCa(t);
  const pair = ca.leaf('grpc', ['grpc.test', '127.0.0.4']);
  const server = await startGrpcEcho(t, { name: 'secure', host: '127.0.0.4', tls: pair });
  const loaded = loadUpstreamTls({ ca: ca.caFile, verify: true });
  t.ok(loaded.ok);
  const trusting = loaded.ok ? loaded.options : DEFAULT_UPSTREAM_TLS;
  t.match(await grpcProbe(server.url, grpcSettings(), 'grpc.test', trusting), { ok: true, status: 200 });
  t.match(await grpcProbe(server.url, grpcSettings(), null, trusting), { ok: true, status: 200 }, 'no servername: the IP address is verified');
  t.match(await grpcProbe(server.url, grpcSettings(), 'other.test', trusting), { ok: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  t.match(await grpcProbe(server.url, grpcSettings(), 'grpc.test', DEFAULT_UPSTREAM_TLS), { ok: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    'without the pool CA the certificate is not trusted');

  const http1 = createHttpsServer({ key: pair.key, cert: pair.cert }, (_req, res) => res.end('h1'));
  await new Promise<void>((resolve) => http1.listen(0, '127.0.0.4', resolve));
  t.teardown(() => http1.close());
  const h1Url = `https://127.0.0.4:${(http1.address() as AddressInfo).port}`;
  t.match(await grpcProbe(h1Url, grpcSettings(), 'grpc.test', trusting), { ok: false, error: /^not HTTP\/2/ }, 'a TLS server without ALPN h2');
});

t.test('healthProbe picks the probe by type', async (t) => {
  const grpcServer = await startGrpcEcho(t, { name: 'g' });
  const http1 = await startUpstream('h');
  t.teardown(() => http1.close());
  const http = { path: '/healthz', timeoutMs: 1000, expect: [[200, 399]] as Array<[number, number]> };
  t.match(await healthProbe(http1.url, http), { ok: true, status: 200 }, 'no type: http');
  t.match(await healthProbe(http1.url, { ...http, type: 'http' }), { ok: true, status: 200 });
  t.match(await healthProbe(grpcServer.url, grpcSettings()), { ok: true, status: 200 });
  t.match(await healthProbe(http1.url, grpcSettings()), { ok: false, error: 'not HTTP/2' });
});

t.test('through the checker: NOT_SERVING takes a target out after unhealthyThreshold checks, SERVING brings it back after healthyThreshold', async (t) => {
  const server = await startGrpcEcho(t, { name: 'blue' });
  await server.setStatus('shop.Cart', 'SERVING');
  const results: ProbeResult[] = [];
  const recording = async (...args: Parameters<typeof healthProbe>) => {
    const result = await healthProbe(...args);
    results.push(result);
    return result;
  };
  // At each change, how many checks in a row agreed with it (the checker reports synchronously after recording).
  const streaks: Array<{ healthy: boolean; streak: number }> = [];
  const onChange = (change: HealthChange) => {
    const streak = results.length - 1 - results.findLastIndex((result) => result.ok !== change.healthy);
    streaks.push({ healthy: change.healthy, streak });
  };
  const checker = new ActiveHealthChecker(recording, onChange, () => 0);
  t.teardown(() => checker.stop());
  const target = new Target(server.url, 'blue', () => ({ closed: false }) as unknown as TargetClient);
  const config: HealthCheckConfig = {
    type: 'grpc', grpcService: 'shop.Cart', path: '/healthz', intervalMs: 20, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: '200-399',
  };
  checker.watch(target, config);
  await checker.start();
  t.ok(target.ready, 'ready after the first SERVING check');
  await server.setStatus('shop.Cart', 'NOT_SERVING');
  await waitFor('out of rotation', () => !target.ready, { timeoutMs: 5000 });
  t.same(streaks.at(-1), { healthy: false, streak: 3 }, 'after exactly unhealthyThreshold failed checks');
  t.match(target.lastCheck, { ok: false, status: 200, error: 'NOT_SERVING' });
  await server.setStatus('shop.Cart', 'SERVING');
  await waitFor('back in rotation', () => target.ready, { timeoutMs: 5000 });
  t.same(streaks.at(-1), { healthy: true, streak: 2 }, 'after exactly healthyThreshold passing checks');
  t.same(streaks.map((entry) => entry.healthy), [true, false, true]);
});
