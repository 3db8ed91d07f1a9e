// gRPC calls through the proxy end to end (SPEC §14, issue 15): a grpc-js client → the proxy's
// h2c listener → a `protocol: h2c` pool → a grpc-js server, compared with the same call made
// directly. Unary, server-streaming, client-streaming and bidi calls carry the same messages,
// status codes, `grpc-message` details and trailing metadata (a `-bin` key included); a
// `grpc-timeout` reaches the server; the same over TLS (ALPN h2 downstream, `protocol: h2` up).
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { testCa } from '../helpers/certs.js';
import { proxyFor } from '../helpers/data-plane.js';
import { callEcho, echoClient, readStream, startGrpcEcho, type EchoClient, type EchoReply, type EchoRequest } from '../helpers/grpc-echo.js';
import { h2Request, h2Session } from '../h2/h2-client.js';

/** Bytes of a `-bin` trailer: includes a NUL and 0xff, which only base64 transport keeps. */
const BLOB = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xff]);
const TRAILERS = { 'x-note': 'kept as sent', 'x-blob-bin': BLOB.toString('base64') };

/** 10 codes (grpc/doc/statuscodes.md), details with a `%` and non-ASCII to exercise grpc-message's percent-encoding. */
const STATUSES: Array<[number, string]> = [
  [grpc.status.OK, ''],
  [grpc.status.UNKNOWN, 'unknown failure'],
  [grpc.status.INVALID_ARGUMENT, 'field "name" is 100% wrong'],
  [grpc.status.NOT_FOUND, 'no such user: zoë'],
  [grpc.status.ALREADY_EXISTS, 'already there'],
  [grpc.status.PERMISSION_DENIED, 'not yours'],
  [grpc.status.RESOURCE_EXHAUSTED, 'quota: 0 left'],
  [grpc.status.FAILED_PRECONDITION, 'precondition failed'],
  [grpc.status.UNAVAILABLE, 'backend says: try again later'],
  [grpc.status.UNAUTHENTICATED, 'who are you?'],
];

/** What a caller can see of an outcome: code, details, the reply and the trailing metadata the server set. */
function seen(outcome: { reply?: EchoReply | null; replies?: EchoReply[]; status: grpc.StatusObject }) {
  const metadata = outcome.status.metadata;
  return {
    code: outcome.status.code,
    details: outcome.status.details,
    ...('reply' in outcome ? { reply: outcome.reply } : {}),
    ...('replies' in outcome ? { replies: outcome.replies } : {}),
    servedBy: metadata.get('x-served-by'),
    note: metadata.get('x-note'),
    blob: metadata.get('x-blob-bin').map((value) => Buffer.from(value).toString('hex')),
  };
}

function collect(client: EchoClient, requests: EchoRequest[]): Promise<{ reply: EchoReply | null; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    let reply: EchoReply | null = null;
    const call = client.Collect(new grpc.Metadata(), {}, (_error, value) => {
      reply = value ?? null;
    });
    call.on('status', (status: grpc.StatusObject) => resolve({ reply, status }));
    for (const request of requests) call.write(request);
    call.end();
  });
}

/** Bidi in lock step: each request is written only after the previous reply came back (the proxy must stream both ways, not buffer). */
async function chat(client: EchoClient, messages: string[], last: EchoRequest): Promise<{ replies: EchoReply[]; status: grpc.StatusObject }> {
  const call = client.Chat();
  const ended = readStream<EchoReply>(call);
  for (const message of messages) {
    const reply = new Promise<EchoReply>((resolve) => call.once('data', resolve));
    call.write({ message });
    await reply;
  }
  call.write(last);
  call.end();
  return ended;
}

/** Every call shape and the status table, direct and proxied, compared. */
async function compareAll(t: Test, direct: EchoClient, proxied: EchoClient): Promise<void> {
  for (const [code, details] of STATUSES) {
    const request = { message: `code ${code}`, status: code, details, trailers: TRAILERS };
    const [viaDirect, viaProxy] = await Promise.all([callEcho(direct, request), callEcho(proxied, request)]);
    t.same(seen(viaProxy), seen(viaDirect), `unary ${grpc.status[code]}: same code, details, reply and trailers`);
    t.equal(viaProxy.status.code, code, `unary ${grpc.status[code]} proxied`);
    if (code !== grpc.status.OK) t.equal(viaProxy.status.details, details, 'grpc-message decoded to the same text');
    t.same(viaProxy.status.metadata.get('x-blob-bin'), [BLOB], 'the -bin trailer arrives as the same bytes');
  }

  for (const [code, details] of [STATUSES[0]!, STATUSES[8]!, STATUSES[3]!]) {
    const request = { message: 'tick', count: 5, intervalMs: 5, status: code, details, trailers: TRAILERS };
    const [viaDirect, viaProxy] = await Promise.all([readStream<EchoReply>(direct.Stream(request)), readStream<EchoReply>(proxied.Stream(request))]);
    t.same(seen(viaProxy), seen(viaDirect), `server streaming ending ${grpc.status[code]}`);
    t.equal(viaProxy.replies.length, 5, 'every streamed message before the status');
  }

  for (const [code, details] of [STATUSES[0]!, STATUSES[6]!]) {
    const requests = [{ message: 'one' }, { message: 'two' }, { message: 'three', status: code, details, trailers: TRAILERS }];
    const [viaDirect, viaProxy] = await Promise.all([collect(direct, requests), collect(proxied, requests)]);
    t.same(seen(viaProxy), seen(viaDirect), `client streaming ending ${grpc.status[code]}`);
  }
  t.same((await collect(proxied, [{ message: 'one' }, { message: 'two' }])).reply, { message: 'one two', server: 'blue' });

  const messages = ['ping 1', 'ping 2', 'ping 3'];
  for (const last of [{ message: 'last' }, { status: grpc.status.ABORTED, details: 'conversation over' }]) {
    const [viaDirect, viaProxy] = await Promise.all([chat(direct, messages, last), chat(proxied, messages, last)]);
    t.same(seen(viaProxy), seen(viaDirect), `bidi ending ${grpc.status[viaDirect.status.code]}`);
    t.same(viaProxy.replies.map((reply) => reply.message), [...messages, ...(last.message ? ['last'] : [])]);
  }
}

t.test('h2c: every call shape and 10 status codes match a direct call', async (t) => {
  const blue = await startGrpcEcho(t, { name: 'blue' });
  const proxy = await proxyFor(t, { blue: { version: 'blue-v1', protocol: 'h2c', targets: [blue.url] } });
  await compareAll(t, echoClient(t, blue.url), echoClient(t, proxy.url));

  const lines = proxy.logs.find({ kind: 'access', url: '/switchyard.test.Echo/Echo' });
  t.equal(lines.length, STATUSES.length, 'one access line per unary call');
  t.same(lines.map((line) => line.grpcStatus).sort((a, b) => Number(a) - Number(b)), STATUSES.map(([code]) => code).sort((a, b) => a - b),
    'access lines carry each grpcStatus');
  t.ok(lines.every((line) => line.proto === '2' && line.status === 200), 'proto "2", HTTP 200');
});

t.test('a deadline: grpc-timeout reaches the server, DEADLINE_EXCEEDED direct and proxied', async (t) => {
  const blue = await startGrpcEcho(t, { name: 'blue' });
  const proxy = await proxyFor(t, { blue: { version: 'blue-v1', protocol: 'h2c', targets: [blue.url] } });
  const slow = { message: 'late', delayMs: 5000 };
  const [direct, proxied] = await Promise.all([
    callEcho(echoClient(t, blue.url), slow, { deadlineMs: 300 }),
    callEcho(echoClient(t, proxy.url), slow, { deadlineMs: 300 }),
  ]);
  t.equal(direct.status.code, grpc.status.DEADLINE_EXCEEDED, 'direct');
  t.equal(proxied.status.code, grpc.status.DEADLINE_EXCEEDED, 'proxied');

  // grpc-js clients time out on their own; a client that does not (a bare HTTP/2 stream with a
  // grpc-timeout header) shows the header itself reached the server, whose deadline ends the call.
  const session = await h2Session(proxy.url);
  t.teardown(() => session.close());
  // EchoRequest{delay_ms: 5000}: field 5 varint (tag 0x28), 5000 = 0x88 0x27; one uncompressed gRPC frame.
  const message = Buffer.from([0x28, 0x88, 0x27]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
  const started = Date.now();
  const answer = await h2Request(session, {
    ':method': 'POST', ':path': '/switchyard.test.Echo/Echo', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m',
  }, frame);
  const status = answer.trailers['grpc-status'] ?? answer.headers['grpc-status'];
  t.equal(status, String(grpc.status.DEADLINE_EXCEEDED), 'the server ended the call at its deadline');
  t.ok(Date.now() - started < 4000, `ended by the 300 ms deadline, not the 5 s delay (${Date.now() - started} ms)`);
});

t.test('TLS: ALPN h2 on the proxy, `protocol: h2` to a TLS backend, same answers as direct', async (t) => {
  const ca = testCa(t);
  const site = ca.leaf('site', ['site.test']);
  const backendPair = ca.leaf('backend', ['backend.test', '127.0.0.1']);
  const blue = await startGrpcEcho(t, { name: 'blue', tls: { key: backendPair.key, cert: backendPair.cert } });
  t.match(blue.url, /^https:/);
  const proxy = await proxyFor(t, { blue: { version: 'blue-v1', protocol: 'h2', targets: [blue.url], tls: { ca: ca.caFile } } },
    { tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: site.certFile, key: site.keyFile }] } });
  const tlsUrl = proxy.switchyard.tlsUrl;
  t.ok(tlsUrl, 'the proxy has a TLS listener');
  const direct = echoClient(t, blue.url, { tls: { ca: ca.ca, servername: 'backend.test' } });
  const proxied = echoClient(t, tlsUrl!, { tls: { ca: ca.ca, servername: 'site.test' } });
  await compareAll(t, direct, proxied);
  const line = proxy.logs.find({ kind: 'access', url: '/switchyard.test.Echo/Stream' })[0];
  t.match(line, { proto: '2', listener: 'tls', grpcStatus: grpc.status.OK }, 'the access line: HTTP/2 on the TLS listener');
});
