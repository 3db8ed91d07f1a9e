// Retries (SPEC §4): to another target of the same pool, always when the connection could
// not be made, for idempotent methods also when the upstream closed before any response
// byte, and never replaying a body that was already streamed (a body read whole before
// dispatch, up to REQUEST_BODY_BUFFER_BYTES, is kept and may be sent again).
import t from 'tap';
import { closedPort } from '../helpers/upstream.js';
import { patternSha, patternStream, send, sha256Of, waitFor } from '../helpers/http-client.js';
import { accessFor, accessLines, assertServes, inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';
import type { Handler } from '../helpers/upstream.js';

// Passive ejection would take the dead target out after a few failures and hide the
// retries this file is about; keep it out of reach of the handful of requests made here.
const NO_EJECTION = { passive: { consecutiveFailures: 100 } };

/** Echoes `{ name, method, sha, bytes }` of the request body. */
function hashing(name: string): Handler {
  return (req, res) => {
    sha256Of(req).then(({ sha, bytes }) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, method: req.method, sha, bytes }));
    }, () => res.destroy());
  };
}

/** Closes the connection as soon as a request arrives on it: no response byte is ever sent. */
const slamming: Handler = (req) => {
  req.socket.destroy();
};

t.test('a dead target (connection refused) is skipped: every GET and POST succeeds, retries = 1', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const live = await upstreamFor(t, 'live', hashing('live'));
  const proxy = await proxyFor(t, { blue: [dead, live.url] }, NO_EJECTION);

  for (let i = 0; i < 4; i++) {
    const get = await send(proxy.url, `/get-${i}`);
    t.equal(get.status, 200, `GET ${i} succeeds`);
    const size = 512 * 1024 + i;
    const post = await send(proxy.url, `/post-${i}`, { method: 'POST', headers: { 'content-length': size }, body: patternStream(size) });
    t.equal(post.status, 200, `POST ${i} succeeds`);
    const seen = JSON.parse(post.body.toString());
    t.match(seen, { name: 'live', method: 'POST', bytes: size, sha: patternSha(size) }, `POST ${i} body arrived whole on the live target`);
  }
  const chunked = await send(proxy.url, '/post-chunked', { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: patternStream(300_000) });
  t.match(JSON.parse(chunked.body.toString()), { bytes: 300_000, sha: patternSha(300_000) }, 'chunked POST body arrived whole');

  const lines = accessLines(proxy);
  t.equal(lines.length, 9);
  for (const line of lines) {
    t.match(line, { status: 200, target: live.url }, `${line.method} ${line.url} served by the live target`);
  }
  // Round robin puts the dead target first for every request here (the retry advances the
  // cursor past the live one), so each request needed exactly one retry.
  t.same(lines.map((line) => line.retries), lines.map(() => 1), 'every request logged retries = 1');
  t.equal(inflightTotal(proxy), 0);
});

t.test('idempotent GET: an upstream closing before any response byte is retried elsewhere', async (t) => {
  const slammer = await upstreamFor(t, 'slammer', slamming);
  const live = await upstreamFor(t, 'live');
  const proxy = await proxyFor(t, { blue: [slammer.url, live.url] }, NO_EJECTION);

  const answer = await send(proxy.url, '/idempotent');
  t.equal(answer.status, 200);
  t.equal(JSON.parse(answer.body.toString()).name, 'live');
  t.equal(slammer.seen.length, 1, 'the first target did get the request');
  t.match(await accessFor(proxy, '/idempotent'), { status: 200, retries: 1, target: live.url });

  const put = await send(proxy.url, '/put-no-body', { method: 'PUT', headers: { 'content-length': 0 } });
  t.equal(put.status, 200, 'PUT without a body is idempotent and retried too');
});

t.test('POST: an upstream closing before any response byte is NOT retried → 502', async (t) => {
  const slammer = await upstreamFor(t, 'slammer', slamming);
  const live = await upstreamFor(t, 'live', hashing('live'));
  const proxy = await proxyFor(t, { blue: [slammer.url, live.url] }, NO_EJECTION);

  // No body at all: the method alone forbids the retry.
  const empty = await send(proxy.url, '/post-empty', { method: 'POST', headers: { 'content-length': 0 } });
  t.equal(empty.status, 502);
  t.match(await accessFor(proxy, '/post-empty'), { status: 502, retries: 0, target: slammer.url });
  t.equal(live.seen.length, 0, 'the other target never saw the POST');

  // The cursor now points at the live target; the next request goes there (a normal POST works)...
  t.equal((await send(proxy.url, '/post-ok', { method: 'POST', body: 'x', headers: { 'content-length': 1 } })).status, 200);
  // ...and the one after that to the slammer again, this time with a body.
  const withBody = await send(proxy.url, '/post-body', { method: 'POST', headers: { 'content-length': 100_000 }, body: patternStream(100_000) });
  t.equal(withBody.status, 502);
  t.match(await accessFor(proxy, '/post-body'), { status: 502, retries: 0, target: slammer.url });
  t.equal(live.seen.filter((req) => req.url === '/post-body').length, 0, 'the body was not replayed elsewhere');
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
});

t.test('an idempotent PUT whose body was already streamed is not replayed', async (t) => {
  let slammerGotBody = false;
  const slammer = await upstreamFor(t, 'slammer', (req) => {
    req.once('data', () => {
      slammerGotBody = true;
      req.socket.destroy();
    });
  });
  const live = await upstreamFor(t, 'live', hashing('live'));
  const proxy = await proxyFor(t, { blue: [slammer.url, live.url] }, NO_EJECTION);

  const size = 4 * 1024 * 1024;
  const answer = await send(proxy.url, '/put-body', { method: 'PUT', headers: { 'content-length': size }, body: patternStream(size) })
    .catch((err: Error) => ({ status: 0, error: err }));
  t.ok(slammerGotBody, 'the first target received part of the body');
  // Either the client gets a 502, or (if the proxy answered while the client was still
  // uploading) its connection is closed; what must never happen is a replay to another target.
  t.not(answer.status, 200);
  t.equal(live.seen.length, 0, 'the live target never saw the PUT');
  t.match(await accessFor(proxy, '/put-body'), { status: 502, retries: 0 });
  await waitFor('in-flight counters back to zero', () => inflightTotal(proxy) === 0);
  await assertServes(t, proxy);
});

t.test('a body read whole before dispatch is replayable: POST after a refused connect, PUT after a close before any byte', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const slammer = await upstreamFor(t, 'slammer', slamming);
  const live = await upstreamFor(t, 'live', hashing('live'));
  const size = 1000;

  // Connection refused: the upstream saw nothing, so even a POST goes to the next target, body and all.
  const refused = await proxyFor(t, { blue: [dead, live.url] }, NO_EJECTION);
  for (const headers of [{ 'content-length': size }, { 'transfer-encoding': 'chunked' }]) {
    const answer = await send(refused.url, '/post-small', { method: 'POST', headers, body: patternStream(size) });
    t.match(JSON.parse(answer.body.toString()), { name: 'live', bytes: size, sha: patternSha(size) }, `POST (${Object.keys(headers)[0]}) retried whole`);
  }
  t.match(accessLines(refused).map((line) => [line.status, line.retries]), [[200, 1], [200, 1]]);

  // Closed before any response byte: an idempotent PUT is sent again with its body; a POST is not (SPEC §4).
  const slammed = await proxyFor(t, { blue: [slammer.url, live.url] }, NO_EJECTION);
  const put = await send(slammed.url, '/put-small', { method: 'PUT', headers: { 'content-length': size }, body: patternStream(size) });
  t.match(JSON.parse(put.body.toString()), { name: 'live', method: 'PUT', bytes: size, sha: patternSha(size) }, 'PUT replayed whole on the next target');
  t.equal(slammer.seen.filter((req) => req.url === '/put-small').length, 1, 'after the first target got it');
  await send(slammed.url, '/to-live'); // the cursor back on the slammer
  const post = await send(slammed.url, '/post-small', { method: 'POST', headers: { 'content-length': size }, body: patternStream(size) });
  t.equal(post.status, 502, 'POST not replayed');
  t.equal(slammer.seen.filter((req) => req.url === '/post-small').length, 1, 'the POST went to the slammer');
  t.equal(live.seen.filter((req) => req.url === '/post-small' && req.method === 'POST').length, 2, 'the live target saw only the two refused-connect POSTs');
  await waitFor('in-flight back to zero', () => inflightTotal(slammed) === 0 && inflightTotal(refused) === 0);
});

t.test('retries.attempts = 0 disables retries', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const live = await upstreamFor(t, 'live');
  const proxy = await proxyFor(t, { blue: [dead, live.url] }, { ...NO_EJECTION, retries: { attempts: 0 } });

  const first = await send(proxy.url, '/first');
  t.equal(first.status, 502, 'the dead target is not retried');
  t.match(await accessFor(proxy, '/first'), { status: 502, retries: 0, target: dead });
  const second = await send(proxy.url, '/second');
  t.equal(second.status, 200, 'round robin moves on to the live target');
  t.match(await accessFor(proxy, '/second'), { status: 200, retries: 0, target: live.url });
});

t.test('retries stop at retries.attempts', async (t) => {
  const deadTargets = [await closedPort(), await closedPort(), await closedPort()].map((port) => `http://127.0.0.1:${port}`);
  const live = await upstreamFor(t, 'live');
  const proxy = await proxyFor(t, { blue: [...deadTargets, live.url] }, { ...NO_EJECTION, retries: { attempts: 1 } });
  const answer = await send(proxy.url, '/limited');
  t.equal(answer.status, 502, 'two dead targets tried, the live one never reached');
  t.match(await accessFor(proxy, '/limited'), { retries: 1, status: 502 });
  t.equal(live.seen.length, 0);
});
