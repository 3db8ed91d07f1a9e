// SPEC §4 errors on real sockets: 503 when nothing can serve, 502 when targets refuse, 504
// when they do not answer in time, a cut connection when a started response fails, and
// client aborts that reach the upstream. After each, the proxy still serves.
import t from 'tap';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Flag } from '../../src/pool/health-flags.js';
import { closedPort } from '../helpers/upstream.js';
import { patternStream, rawRequest, send, startRawUpstream, statusLines, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessFor, accessLines, assertServes, inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';

t.test('no pool has weight → 503 with Retry-After', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const control = proxy.switchyard.control;
  const before = control.current;
  // Weights that sum to 0 cannot come from the admin API; adopt() is the routing state's
  // entry point, so this is the data plane's view of "no pool has weight".
  control.adopt({ ...before, revision: before.revision + 1, weights: { blue: 0 } });

  const answer = await send(proxy.url, '/nothing?q=1', { method: 'POST', headers: { 'content-length': 5 }, body: 'hello' });
  t.equal(answer.status, 503);
  t.equal(answer.headers['retry-after'], '1');
  t.match(answer.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(upstream.seen.length, 0, 'nothing reached the upstream');
  const line = await accessFor(proxy, '/nothing?q=1');
  t.match(line, { status: 503, pool: null, target: null, retries: 0, bytes: 0, method: 'POST' });
  t.equal(line.reqId, answer.headers['x-request-id']);

  control.adopt({ ...before, revision: before.revision + 2 });
  await assertServes(t, proxy);
});

t.test('no ready target in the chosen pool → 503 with Retry-After', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const target = proxy.switchyard.pools.get('blue')!.targets[0]!;
  target.health.set(Flag.EJECTED, true);

  const answer = await send(proxy.url, '/unready', { headers: { 'x-request-id': 'mine-1' } });
  t.equal(answer.status, 503);
  t.equal(answer.headers['retry-after'], '1');
  t.equal(answer.headers['x-request-id'], 'mine-1', 'the client id is echoed on the error');
  t.match(answer.body.toString(), /blue/);
  t.match(await accessFor(proxy, '/unready'), { status: 503, pool: 'blue', version: 'blue-v1', target: null });
  t.equal(upstream.seen.length, 0);

  target.health.set(Flag.EJECTED, false);
  await assertServes(t, proxy);
});

t.test('every target refuses connections → 502 after retrying the others', async (t) => {
  const ports = [await closedPort(), await closedPort(), await closedPort()];
  const proxy = await proxyFor(t, { blue: ports.map((port) => `http://127.0.0.1:${port}`) });
  const answer = await send(proxy.url, '/refused');
  t.equal(answer.status, 502);
  t.match(answer.body.toString(), /upstream unavailable/);
  const line = await accessFor(proxy, '/refused');
  t.equal(line.status, 502);
  t.equal(line.retries, 2, 'tried all three targets (default retries.attempts = 2)');
  t.match(line.error, /ECONNREFUSED/);

  // Once a target comes up on its port, the same proxy serves through it.
  await upstreamFor(t, 'late', (req, res) => {
    req.resume();
    res.end('up now');
  }, ports[0]);
  await waitFor('the late target to serve', async () => (await send(proxy.url, '/ok')).status === 200, { timeoutMs: 5000 });
  t.pass('proxy serves again once a target is up');
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
});

t.test('an upstream that does not answer within timeouts.headersMs → 504, and its connection is closed', async (t) => {
  const hung: ServerResponse[] = [];
  let upstreamSocketClosed = false;
  const upstream = await upstreamFor(t, 'slow', (req, res) => {
    req.resume();
    if (req.url === '/ok') return void res.end('ok');
    hung.push(res);
    req.socket.once('close', () => (upstreamSocketClosed = true));
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { timeouts: { headersMs: 200 } });
  t.teardown(() => hung.forEach((res) => res.destroy()));

  const started = Date.now();
  const answer = await send(proxy.url, '/hang');
  const took = Date.now() - started;
  t.equal(answer.status, 504);
  t.match(answer.body.toString(), /did not answer in time/);
  t.ok(took >= 150 && took < 3000, `answered after the headers timeout (${took} ms)`);
  t.match(await accessFor(proxy, '/hang'), { status: 504, retries: 0, error: /UND_ERR_HEADERS_TIMEOUT/ });
  t.equal(upstream.seen.filter((req) => req.url === '/hang').length, 1, 'a timed-out request is not replayed');
  await waitFor('the timed-out upstream connection to close', () => upstreamSocketClosed);
  await assertServes(t, proxy);
});

/** An upstream that starts a response, sends part of it, then resets the connection. */
function resettingUpstream(chunked: boolean) {
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (req.url === '/ok') return void res.end('ok');
    res.writeHead(200, chunked ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', 'content-length': 1_000_000 });
    res.write('x'.repeat(10_000), () => req.socket.destroy());
  };
}

for (const chunked of [false, true]) {
  const framing = chunked ? 'chunked' : 'content-length';
  t.test(`upstream reset mid-body (${framing}) → the client connection is cut, never a second status line`, async (t) => {
    const upstream = await upstreamFor(t, 'reset', resettingUpstream(chunked));
    const proxy = await proxyFor(t, { blue: [upstream.url] });

    // Raw socket: see exactly what went on the wire.
    const raw = rawRequest(proxy.url, 'GET /reset HTTP/1.1\r\nHost: reset.example\r\n\r\n');
    t.teardown(() => raw.socket.destroy());
    // The proxy must close the connection (a keep-alive connection would stay open).
    await withDeadline(raw.ended, 5000, 'the proxy to close the client connection');
    const bytes = raw.received();
    const text = bytes.toString('latin1');
    t.equal(statusLines(bytes), 1, 'exactly one status line');
    t.match(text, /^HTTP\/1\.1 200 /);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    if (chunked) t.notMatch(body, /\r\n0\r\n\r\n$/, 'no terminating chunk: the body is visibly incomplete');
    else t.ok(body.length < 1_000_000, `fewer bytes than the content-length (${body.length})`);

    // node:http client: the cut surfaces as an error, not a clean end.
    const req = httpRequest(`${proxy.url}/reset`, { agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    t.equal(res.statusCode, 200);
    const outcome = await withDeadline(new Promise<string>((resolve) => {
      res.on('end', () => resolve('end'));
      res.on('aborted', () => resolve('aborted'));
      res.on('error', () => resolve('error'));
      req.on('error', () => resolve('error'));
      res.resume();
    }), 5000, 'the response to end or fail');
    t.not(outcome, 'end', `the client sees the body cut short (${outcome})`);

    const line = await accessFor(proxy, '/reset');
    t.equal(line.status, 200, 'logged with the status that was sent');
    t.match(line.error, /./, 'and the upstream failure');
    await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
    await assertServes(t, proxy);
  });
}

t.test('client aborting mid-upload aborts the upstream request', async (t) => {
  let upstreamOutcome: 'complete' | 'cut' | undefined;
  let upstreamGotBytes = 0;
  const upstream = await upstreamFor(t, 'upload', (req, res) => {
    if (req.url === '/ok') {
      req.resume();
      return void res.end('ok');
    }
    req.on('data', (chunk: Buffer) => (upstreamGotBytes += chunk.length));
    req.on('end', () => (upstreamOutcome ??= 'complete'));
    req.on('close', () => {
      upstreamOutcome ??= req.complete ? 'complete' : 'cut';
      res.destroy();
    });
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });

  const req = httpRequest(`${proxy.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': 10_000_000 } });
  req.on('error', () => {});
  req.write(Buffer.alloc(256 * 1024, 1));
  await waitFor('the upstream to receive part of the body', () => upstreamGotBytes > 0);
  req.destroy(); // the client goes away with most of the body unsent

  await waitFor('the upstream request to end', () => upstreamOutcome);
  t.equal(upstreamOutcome, 'cut', 'the upstream saw the request aborted, not completed');
  t.ok(upstreamGotBytes < 10_000_000);
  const line = await accessFor(proxy, '/upload');
  t.equal(line.status, 499, 'logged as client closed');
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('client aborting while the upstream is slow closes the upstream socket', async (t) => {
  let slowSocket: Socket | undefined;
  let slowSocketClosed = false;
  const upstream = await upstreamFor(t, 'slow', (req, res) => {
    req.resume();
    if (req.url === '/ok') return void res.end('ok');
    slowSocket = req.socket;
    req.socket.once('close', () => (slowSocketClosed = true));
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  t.teardown(() => slowSocket?.destroy());

  const req = httpRequest(`${proxy.url}/slow`, { agent: false });
  req.on('error', () => {});
  req.end();
  await waitFor('the upstream to receive the request', () => slowSocket);
  req.destroy();

  await waitFor('the upstream socket to close', () => slowSocketClosed);
  t.ok(slowSocketClosed, 'the proxy closed its upstream connection');
  t.equal((await accessFor(proxy, '/slow')).status, 499);
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('garbage from a client gets a 400 and the proxy keeps serving', async (t) => {
  const upstream = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const raw = rawRequest(proxy.url, 'THIS IS NOT HTTP\r\n\r\n');
  t.teardown(() => raw.socket.destroy());
  await raw.ended;
  t.match(raw.received().toString(), /^HTTP\/1\.1 400 /);
  t.equal(upstream.seen.length, 0);
  // The refusal may be logged (the proxy's own 400), never as anything a target did.
  for (const line of accessLines(proxy)) t.match(line, { status: 400, target: null }, 'logged as the proxy\'s own 400');
  await assertServes(t, proxy);
});

t.test('a chunked upload the client abandons mid-stream does not crash the proxy', async (t) => {
  let upstreamCut = false;
  const upstream = await upstreamFor(t, 'upload', (req, res) => {
    if (req.url === '/ok') {
      req.resume();
      return void res.end('ok');
    }
    req.resume();
    req.on('close', () => {
      if (!req.complete) upstreamCut = true;
      res.destroy();
    });
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const req = httpRequest(`${proxy.url}/chunked-upload`, { method: 'PUT', agent: false, headers: { 'transfer-encoding': 'chunked' } });
  req.on('error', () => {});
  const source = patternStream(64 * 1024 * 1024);
  let sent = 0;
  source.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    if (!req.write(chunk)) source.pause();
    if (sent >= 1024 * 1024) {
      source.destroy();
      req.destroy();
    }
  });
  req.on('drain', () => source.resume());
  await waitFor('the upstream request to be cut', () => upstreamCut);
  t.equal((await accessFor(proxy, '/chunked-upload')).status, 499);
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('an upstream head node:http cannot relay (control character in the reason phrase) → a clean 502', async (t) => {
  // undici's parser accepts any byte in the reason phrase; Node's writeHead rejects control
  // characters. Nothing has gone to the client at that point, so it must get a proper 502.
  const upstream = await startRawUpstream((head) => head.startsWith('GET /ok ')
    ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
    : 'HTTP/1.1 200 O\x01K\r\nContent-Length: 5\r\nX-Upstream: yes\r\n\r\nhello');
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await send(proxy.url, '/bad-reason');
  t.equal(answer.status, 502);
  t.equal(answer.body.toString(), 'upstream unavailable\n', 'the error body, framed correctly');
  t.notOk('x-upstream' in answer.headers, 'no half-relayed upstream headers');
  t.match(await accessFor(proxy, '/bad-reason'), { status: 502, bytes: 0, error: /ERR_INVALID_CHAR/ });
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});
