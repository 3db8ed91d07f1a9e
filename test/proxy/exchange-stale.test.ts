// SPEC §10 stale keep-alive: an upstream that closes an idle kept-alive connection as the next
// request arrives (gunicorn closes after 2 s and sends no Keep-Alive hint) must not cost that
// request a 502, even behind a one-target pool. The race is made deterministic: the raw
// upstream answers the first request on a connection and closes it when the second arrives.
import t from 'tap';
import { send, startRawUpstream, type RawArrival } from '../helpers/http-client.js';
import { accessFor, inflightTotal, proxyFor, spyObservations } from '../helpers/data-plane.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';


/** Answers a connection's first request; closes the connection, unanswered, when a second arrives on it. */
const closesWhenReused = (_head: string, at: RawArrival) => at.request === 0 ? OK : null;

t.test('a request on a kept-alive connection the upstream closes is retried once on a fresh one (one target, no retries configured)', async (t) => {
  const upstream = await startRawUpstream(closesWhenReused);
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { retries: { attempts: 0 }, passive: { consecutiveFailures: 1 } });
  const observed = spyObservations(proxy);

  for (let i = 0; i < 4; i++) {
    const answer = await send(proxy.url, `/req-${i}`, { method: i % 2 === 0 ? 'GET' : 'DELETE' });
    t.equal(answer.status, 200, `request ${i} answered`);
    const line = await accessFor(proxy, `/req-${i}`);
    t.match(line, { status: 200, retries: 0 }, 'not counted in retries.attempts');
    // Requests 1 and 3 land on a kept-alive connection (see below): the record says they went twice.
    t.equal(line.staleRetries, i % 2 === 1 ? 1 : undefined, i % 2 === 1 ? 'staleRetries: 1 in the access record' : 'no staleRetries field');
  }
  // 0: a new connection, kept alive. 1: sent on it, closed unanswered, sent again on a fresh
  // connection (closed after it). 2: a new connection again, kept alive. 3: as 1. So 6 heads.
  t.equal(upstream.heads.length, 6, 'requests 1 and 3 were sent twice: reused connection, then a fresh one');
  t.same(upstream.heads.map((head) => head.split(' ')[1]), ['/req-0', '/req-1', '/req-1', '/req-2', '/req-3', '/req-3']);
  t.same(observed, [true, true, true, true], 'the stale connections were not evidence against the target');
  t.equal(inflightTotal(proxy), 0);
});

t.test('not retried: a POST, or a failure on a fresh connection (that one counts)', async (t) => {
  let refuseFresh = false;
  const upstream = await startRawUpstream((head, at) => {
    if (at.request > 0) return null;
    return refuseFresh ? null : OK;
  });
  t.teardown(() => upstream.close());
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { retries: { attempts: 0 }, passive: { consecutiveFailures: 100 } });
  const observed = spyObservations(proxy);

  t.equal((await send(proxy.url, '/first')).status, 200);
  const post = await send(proxy.url, '/post', { method: 'POST', headers: { 'content-length': 0 } });
  t.equal(post.status, 502, 'a POST that raced the close is not replayed');
  t.equal(upstream.heads.filter((head) => head.startsWith('POST /post ')).length, 1);
  t.same(observed, [true, false], 'and the failure counts (the upstream may have acted on it)');

  t.equal((await send(proxy.url, '/second')).status, 200, 'a fresh connection again');
  refuseFresh = true;
  const get = await send(proxy.url, '/both-fail');
  t.equal(get.status, 502, 'the fresh connection failed too: 502');
  t.equal(upstream.heads.filter((head) => head.startsWith('GET /both-fail ')).length, 2, 'retried once, not more');
  t.same(observed, [true, false, true, false], 'only the failure on the fresh connection counted');
  t.match(await accessFor(proxy, '/both-fail'), { status: 502, retries: 0, staleRetries: 1 });
  t.equal((await accessFor(proxy, '/post')).staleRetries, undefined, 'the POST was sent once');
});
