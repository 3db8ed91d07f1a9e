// SPEC §10 limits on what one client can hold: a request body that stalls (408), a streamed
// body past maxRequestBodyBytes (413), requests queued for one target past
// maxPendingPerTarget (503 + Retry-After). None is evidence against the target.
import t from 'tap';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { patternStream, rawRequest, send, sha256Of, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessFor, assertServes, inflightTotal, proxyFor, spyObservations, upstreamFor } from '../helpers/data-plane.js';
import { REQUEST_BODY_BUFFER_BYTES } from '../../src/proxy/request-body-buffer.js';


/** Counts the body; answers with its size once it is whole. Records how each upload ended. */
function uploadSink() {
  const outcomes: string[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(String(bytes)));
    req.on('close', () => outcomes.push(`${req.url} ${req.complete ? 'complete' : 'cut'}`));
  };
  return { outcomes, handler };
}

t.test('a stalled body → 408 with Connection: close; read before dispatch, it never reached the upstream; nothing counted', async (t) => {
  const sink = uploadSink();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  let accepted = 0;
  upstream.server.on('connection', () => accepted++);
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { requestBodyIdleMs: 300 } });
  const observed = spyObservations(proxy);

  for (const framing of ['Content-Length: 100000', 'Transfer-Encoding: chunked']) {
    const first = framing.startsWith('Content') ? 'x' : '1\r\nx\r\n';
    const started = Date.now();
    const raw = rawRequest(proxy.url, `POST /stall HTTP/1.1\r\nHost: a\r\n${framing}\r\n\r\n${first}`);
    await withDeadline(raw.ended, 5000, 'the 408 and the close');
    const took = Date.now() - started;
    const text = raw.received().toString('latin1');
    t.match(text, /^HTTP\/1\.1 408 /, `${framing}: 408`);
    t.match(text, /\r\ncontent-length: \d+\r\n/i, `${framing}: the 408 has its length, not chunked framing`);
    t.match(text, /\r\nconnection: close\r\n/i);
    t.ok(took >= 250 && took < 2000, `after about requestBodyIdleMs (${took} ms)`);
  }
  t.equal(accepted, 0, 'the upstream accepted no connection for them');
  t.same(sink.outcomes, [], 'and saw no request');
  t.match(await accessFor(proxy, '/stall'), { status: 408, error: /REQUEST_BODY_IDLE/, pool: 'blue', target: null });
  t.same(observed, [], 'no passive evidence either way');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('a body that stalls past the read-ahead buffer → 408, the upstream request (already under way) aborted', async (t) => {
  const sink = uploadSink();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { requestBodyIdleMs: 300 } });
  const observed = spyObservations(proxy);

  const sent = REQUEST_BODY_BUFFER_BYTES + 1000;
  for (const chunked of [false, true]) {
    const body = Buffer.alloc(sent, 'y');
    const head = `POST /stall-late HTTP/1.1\r\nHost: a\r\n${chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 1000000'}\r\n\r\n`;
    const raw = rawRequest(proxy.url, Buffer.concat([Buffer.from(head), chunked ? Buffer.from(`${sent.toString(16)}\r\n`) : Buffer.alloc(0), body]));
    await withDeadline(raw.ended, 5000, 'the 408 and the close');
    t.match(raw.received().toString('latin1'), /^HTTP\/1\.1 408 /, `${chunked ? 'chunked' : 'Content-Length'}: 408`);
  }
  await waitFor('both upstream requests to end', () => sink.outcomes.length === 2);
  t.same(sink.outcomes, ['/stall-late cut', '/stall-late cut'], 'the upstream got each one once the buffer was full, then saw it aborted');
  t.same(observed, [], 'no passive evidence either way');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('slow but steady uploads and bodies held back by a slow upstream are not idle', async (t) => {
  const gates: (() => void)[] = [];
  const upstream = await upstreamFor(t, 'slow-reader', (req, res) => {
    // Reads nothing until released: the proxy's writes back up, then the client's.
    gates.push(() => sha256Of(req).then(({ bytes }) => res.end(String(bytes))));
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { requestBodyIdleMs: 300 } });

  // A byte every 100 ms for a second: never 300 ms without one.
  const req = httpRequest(`${proxy.url}/trickle`, { method: 'POST', agent: false, headers: { 'content-length': 10 } });
  const answered = new Promise<IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
  for (let i = 0; i < 10; i++) {
    req.write('x');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  req.end();
  await waitFor('the trickle to reach the upstream', () => gates.length === 1);
  gates[0]!();
  t.equal((await answered).statusCode, 200, 'a trickling upload is answered');

  // 16 MiB into an upstream that does not read for 1.5 s: backpressure, not a stalled client.
  const size = 16 * 1024 * 1024;
  const big = send(proxy.url, '/held-back', { method: 'POST', headers: { 'content-length': size }, body: patternStream(size) });
  await waitFor('the upload to reach the upstream', () => gates.length === 2);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the condition under test is a span of time
  gates[1]!();
  const answer = await big;
  t.equal(answer.status, 200, 'not cut while the upstream held it back');
  t.equal(answer.body.toString(), String(size));
});

t.test('a chunked body past maxRequestBodyBytes → 413, the upstream request aborted; one within passes', async (t) => {
  const sink = uploadSink();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxRequestBodyBytes: 100_000 } });
  const observed = spyObservations(proxy);

  const within = await send(proxy.url, '/within', { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: patternStream(100_000) });
  t.equal(within.status, 200);
  t.equal(within.body.toString(), '100000', 'exactly the limit passes whole');

  // Past the read-ahead buffer first, so the upstream request is under way when the limit is passed.
  const req = httpRequest(`${proxy.url}/over`, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } });
  const over = new Promise<number>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', () => resolve(0));
  });
  req.write(Buffer.alloc(REQUEST_BODY_BUFFER_BYTES + 1, 'x'));
  await waitFor('the upload to reach the upstream', () => upstream.seen.some((seen) => seen.url === '/over'));
  req.end(Buffer.alloc(5_000_000, 'y'));
  // The client may still be sending when the 413 and the close come; either way never a 200.
  const status = await over;
  t.ok(status === 413 || status === 0, `413 or a closed connection (${status})`);
  t.match(await accessFor(proxy, '/over'), { status: 413, error: /REQUEST_BODY_TOO_LARGE/ });
  await waitFor('the upstream request to end', () => sink.outcomes.includes('/over cut'));
  t.same(observed, [true], 'only the good request was observed');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('a chunked body past maxRequestBodyBytes while it is read ahead → 413, no upstream connection taken', async (t) => {
  const sink = uploadSink();
  const upstream = await upstreamFor(t, 'sink', sink.handler);
  let accepted = 0;
  upstream.server.on('connection', () => accepted++);
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxRequestBodyBytes: 1000 } });
  const observed = spyObservations(proxy);

  // Over the limit in one chunk, and over it only with the last of several.
  for (const chunks of [['x'.repeat(1001)], ['x'.repeat(600), 'y'.repeat(400), 'z']]) {
    const body = chunks.map((chunk) => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
    const raw = rawRequest(proxy.url, `POST /over-early HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    await withDeadline(raw.ended, 5000, 'the 413 and the close');
    t.match(raw.received().toString('latin1'), /^HTTP\/1\.1 413 [^]*\r\nconnection: close\r\n/i, `${chunks.length} chunk(s): 413, connection closed`);
  }
  t.equal(accepted, 0, 'the upstream accepted no connection');
  t.match(await accessFor(proxy, '/over-early'), { status: 413, error: /REQUEST_BODY_TOO_LARGE/ });

  const within = await send(proxy.url, '/within', { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: patternStream(1000) });
  t.equal(within.body.toString(), '1000', 'exactly the limit passes whole');
  t.same(sink.outcomes, ['/within complete']);
  t.same(observed, [true], 'only the good request was observed');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
});

t.test('requests waiting for a connection past maxPendingPerTarget → 503 + Retry-After, not evidence', async (t) => {
  const held: ServerResponse[] = [];
  const upstream = await upstreamFor(t, 'held', (req, res) => {
    req.resume();
    if (req.url === '/ok') return void res.end('ok');
    held.push(res);
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { limits: { maxConnectionsPerTarget: 1, maxPendingPerTarget: 2 } });
  const observed = spyObservations(proxy);
  t.teardown(() => held.forEach((res) => res.destroy()));

  const first = send(proxy.url, '/held-0');
  await waitFor('the first request to hold the only connection', () => held.length === 1);
  const queued = [send(proxy.url, '/held-1'), send(proxy.url, '/held-2')];
  const target = proxy.switchyard.pools.get('blue')!.targets[0]!;
  await waitFor('two requests waiting', () => target.client.waiting === 2);

  const refused = await send(proxy.url, '/one-too-many');
  t.equal(refused.status, 503);
  t.equal(refused.headers['retry-after'], '1');
  t.match(await accessFor(proxy, '/one-too-many'), { status: 503, error: /maxPendingPerTarget/ });
  t.equal(upstream.seen.filter((req) => req.url === '/one-too-many').length, 0);

  // Release them one by one: the queue drains in order, every waiting request answered.
  for (let i = 0; i < 3; i++) {
    await waitFor(`request ${i} at the upstream`, () => held.length === i + 1);
    held[i]!.end(`done-${i}`);
  }
  const answers = await Promise.all([first, ...queued]);
  t.same(answers.map((answer) => answer.status), [200, 200, 200]);
  t.same(observed, [true, true, true], 'the 503 was not evidence');
  t.equal(target.client.waiting, 0, 'nothing left counted as waiting');
  await assertServes(t, proxy, '/ok');
});
