// The proxy's own failures as a grpc-js client sees them (SPEC §14, issue 15): a gRPC answer
// (HTTP 200, trailers-only `grpc-status`), never an HTTP error the client could only call
// UNKNOWN or INTERNAL. No ready target and an unreachable upstream → UNAVAILABLE (14); no
// response head within `timeouts.headersMs` → DEADLINE_EXCEEDED (4).
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { accessFor, proxyFor } from '../helpers/data-plane.js';
import { callEcho, echoClient, startGrpcEcho } from '../helpers/grpc-echo.js';
import { startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/http-client.js';

const ECHO = '/switchyard.test.Echo/Echo';

t.test('no ready target: UNAVAILABLE with the proxy\'s message', async (t) => {
  const blue = await startGrpcEcho(t, { name: 'blue' });
  await blue.setStatus('', 'NOT_SERVING');
  const proxy = await startProxy({ blue: { version: 'blue-v1', protocol: 'h2c', targets: [blue.url],
    healthCheck: { type: 'grpc', intervalMs: 100, timeoutMs: 500, unhealthyThreshold: 1 } } });
  t.teardown(() => proxy.close());
  const target = proxy.switchyard.pools.pools[0]!.targets[0]!;
  await waitFor('a NOT_SERVING check', () => target.lastCheck !== null && !target.lastCheck.ok, { timeoutMs: 5000 });
  t.notOk(target.ready, 'the only target is out of rotation');
  const { reply, status } = await callEcho(echoClient(t, proxy.url), { message: 'hello' });
  t.equal(reply, null);
  t.equal(status.code, grpc.status.UNAVAILABLE, `UNAVAILABLE (${grpc.status[status.code]}: ${status.details})`);
  t.match(status.details, /no ready target in pool blue/, 'the proxy says why');
  t.ok(status.metadata.get('x-request-id').length === 1, 'with the request id');
  t.match(await accessFor(proxy, ECHO), { status: 200, proto: '2', grpcStatus: grpc.status.UNAVAILABLE });
});

t.test('an unreachable upstream: UNAVAILABLE', async (t) => {
  const gone = await startGrpcEcho(t, { name: 'gone' });
  await gone.forceShutdown(); // its port now refuses connections
  const proxy = await proxyFor(t, { blue: { version: 'blue-v1', protocol: 'h2c', targets: [gone.url] } });
  const { status } = await callEcho(echoClient(t, proxy.url), { message: 'hello' });
  t.equal(status.code, grpc.status.UNAVAILABLE, `UNAVAILABLE (${grpc.status[status.code]}: ${status.details})`);
  t.match(await accessFor(proxy, ECHO), { proto: '2', grpcStatus: grpc.status.UNAVAILABLE });
});

t.test('no response head within timeouts.headersMs: DEADLINE_EXCEEDED', async (t) => {
  const slow = await startGrpcEcho(t, { name: 'slow' });
  const proxy = await proxyFor(t, { blue: { version: 'blue-v1', protocol: 'h2c', targets: [slow.url] } }, { timeouts: { headersMs: 300 } });
  const started = Date.now();
  // No client deadline: only the proxy's timeout can end the call before the 5 s answer.
  const { status } = await callEcho(echoClient(t, proxy.url), { message: 'late', delayMs: 5000 });
  const took = Date.now() - started;
  t.equal(status.code, grpc.status.DEADLINE_EXCEEDED, `DEADLINE_EXCEEDED (${grpc.status[status.code]}: ${status.details})`);
  t.ok(took < 3000, `ended by the proxy's 300 ms headers timeout (${took} ms)`);
  t.match(await accessFor(proxy, ECHO), { proto: '2', grpcStatus: grpc.status.DEADLINE_EXCEEDED });
});
