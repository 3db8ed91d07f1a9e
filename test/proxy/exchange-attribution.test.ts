// SPEC §10 attribution: only failures that originate at the upstream count as passive-health
// evidence. A request the proxy refuses or cannot send, a client that aborts or stalls, is
// answered by the proxy itself and never ejects a target; a real 5xx or reset still does.
import t, { type Test } from 'tap';
import { request as httpRequest } from 'node:http';
import { Flag } from '../../src/pool/health-flags.js';
import { REQUEST_BODY_BUFFER_BYTES } from '../../src/proxy/request-body-buffer.js';
import type { TestProxy } from '../helpers/proxy.js';
import { rawRequest, send, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessLines, assertServes, inflightTotal, proxyFor, upstreamFor } from '../helpers/data-plane.js';
import type { Handler } from '../helpers/upstream.js';

/** Two failures in a row eject: a handful of misattributed requests would show at once. */
const TOUCHY = { passive: { consecutiveFailures: 2, ejectMs: 60_000 }, limits: { requestBodyIdleMs: 300 } };

const handler: Handler = (req, res) => {
  if (req.url === '/fail') {
    req.resume();
    res.writeHead(503, { 'content-length': 4 });
    return void res.end('down');
  }
  if (req.url === '/reset') return void req.socket.destroy();
  // Uploads are read as they come; the answer waits for the whole body (which never comes).
  req.on('data', () => {});
  req.on('end', () => res.end('ok'));
};

function ejected(proxy: TestProxy): string[] {
  return proxy.switchyard.pools.get('blue')!.targets.filter((target) => target.health.has(Flag.EJECTED)).map((target) => target.url);
}

async function twoTargets(t: Test) {
  const a = await upstreamFor(t, 'a', handler);
  const b = await upstreamFor(t, 'b', handler);
  const proxy = await proxyFor(t, { blue: [a.url, b.url] }, TOUCHY);
  return { a, b, proxy };
}

/** A raw request; resolves with the status line's code once the proxy closes or answers. */
async function rawStatus(proxy: TestProxy, text: string): Promise<number> {
  const raw = rawRequest(proxy.url, text);
  await withDeadline(waitFor('an answer', () => /^HTTP\/1\.1 \d{3}/.test(raw.received().toString('latin1'))), 5000, 'the answer');
  raw.socket.destroy();
  return Number(raw.received().toString('latin1').slice(9, 12));
}

t.test('client mistakes, aborts and stalls (five per target) eject nothing; the proxy answers them itself', async (t) => {
  const { a, b, proxy } = await twoTargets(t);

  for (let i = 0; i < 10; i++) {
    // Two Host lines (issue #11's smallest input): undici refuses to send it.
    const status = await rawStatus(proxy, `GET /two-hosts-${i} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`);
    t.equal(status, 400, `two Host lines → 400 (${i})`);
  }
  for (let i = 0; i < 10; i++) {
    const status = await rawStatus(proxy, 'OPTIONS * HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
    t.ok(status < 500, `OPTIONS * answered by the proxy, not a 5xx (${status})`);
  }
  for (let i = 0; i < 10; i++) {
    const status = await rawStatus(proxy, `GET /bad-host-${i} HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n`);
    t.equal(status, 400, `an invalid Host → 400 (${i})`);
  }

  // Client aborts mid-upload, one after the other, so each lands on a target.
  for (let i = 0; i < 10; i++) {
    const seenBefore = a.seen.length + b.seen.length;
    const req = httpRequest(`${proxy.url}/abort-${i}`, { method: 'POST', agent: false, headers: { 'content-length': 1_000_000 } });
    req.on('error', () => {});
    req.write(Buffer.alloc(REQUEST_BODY_BUFFER_BYTES + 1, 1)); // past the read-ahead: dispatched, then aborted
    await waitFor('the upload to reach a target', () => a.seen.length + b.seen.length > seenBefore);
    req.destroy();
    await waitFor(`the abort of /abort-${i} to be logged`, () => accessLines(proxy).find((line) => line.url === `/abort-${i}`));
  }
  t.ok(accessLines(proxy).filter((line) => line.url.startsWith('/abort-')).every((line) => line.status === 499), 'aborts logged as 499');

  // Stalled uploads: a Content-Length promised, one byte sent, then silence → 408 each.
  const stalled = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    rawStatus(proxy, `POST /stalled-${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\nx`)));
  t.same(stalled, stalled.map(() => 408), 'every stalled upload got 408');

  t.same(ejected(proxy), [], 'no target was ejected');
  await waitFor('in-flight back to zero', () => inflightTotal(proxy) === 0);
  const records = accessLines(proxy);
  t.notOk(records.some((line) => line.status >= 500), 'none of them was answered or logged as a 5xx');

  // The check can fail: real upstream failures still eject (two 503s in a row on one target).
  for (let i = 0; i < 4 && ejected(proxy).length === 0; i++) await send(proxy.url, '/fail');
  t.equal(ejected(proxy).length, 1, 'upstream 5xx answers eject a target');
});

t.test('an upstream reset before answering still counts against the target', async (t) => {
  const { proxy } = await twoTargets(t);
  // POST is not retried, so each reset is one failed attempt on one target.
  for (let i = 0; i < 4 && ejected(proxy).length === 0; i++) {
    const answer = await send(proxy.url, '/reset', { method: 'POST', headers: { 'content-length': 0 } });
    t.equal(answer.status, 502);
  }
  t.equal(ejected(proxy).length, 1, 'resets eject a target');
  await assertServes(t, proxy, '/ok');
});

t.test('Expect: 100-continue uploads reach the upstream and eject nothing', async (t) => {
  const { proxy } = await twoTargets(t);
  for (let i = 0; i < 6; i++) {
    const raw = rawRequest(proxy.url, `POST /expect-${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    await withDeadline(waitFor('the 100 Continue', () => raw.received().toString('latin1').startsWith('HTTP/1.1 100')), 5000, '100 Continue');
    raw.socket.write('hello');
    await withDeadline(raw.ended, 5000, 'the answer');
    t.match(raw.received().toString('latin1'), /HTTP\/1\.1 200 OK[^]*\r\n\r\nok$/, `upload ${i} answered 200 by the upstream`);
  }
  t.same(ejected(proxy), []);
});
