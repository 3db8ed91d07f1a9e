import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { callEcho, echoClient, healthClient, readStream, spawnGrpcEcho, startGrpcEcho, type EchoReply } from '../helpers/grpc-echo.js';
import { testCa } from '../helpers/certs.js';
import { waitFor } from '../helpers/http-client.js';

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
  const reply = await callEcho(echoClient(t, green.url, { tls: { ca: ca.ca } }), { message: 'secure' });
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
