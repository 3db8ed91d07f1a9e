// Request and response bodies pass through the proxy byte for byte, in both framings
// (content-length and chunked), and the bodiless answers (HEAD, 204, 304) stay bodiless.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { patternSha, patternStream, send, sha256Of } from '../helpers/http-client.js';
import { proxyFor, upstreamFor } from '../helpers/data-plane.js';
import type { Handler } from '../helpers/upstream.js';

const BIG = 50 * 1024 * 1024;

/** Hashes whatever body it receives and answers `{ sha, bytes, contentLength, transferEncoding, contentType, expect }`. */
const hashingUpstream: Handler = (req, res) => {
  sha256Of(req).then(({ sha, bytes }) => {
    const body = JSON.stringify({
      sha, bytes,
      contentLength: req.headers['content-length'] ?? null,
      transferEncoding: req.headers['transfer-encoding'] ?? null,
      contentType: req.headers['content-type'] ?? null,
      expect: req.headers.expect ?? null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, () => res.destroy());
};

/** Sends the deterministic BIG body, with a content-length unless the path says `chunked`. */
const downloadUpstream: Handler = (req, res) => {
  req.resume();
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
  if (!req.url!.includes('chunked')) headers['content-length'] = BIG;
  res.writeHead(200, headers);
  pipeline(patternStream(BIG), res).catch(() => {});
};

t.test('50 MB upload with content-length arrives unchanged', async (t) => {
  const upstream = await upstreamFor(t, 'hash', hashingUpstream);
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await send(proxy.url, '/upload', {
    method: 'POST',
    headers: { 'content-length': BIG, 'content-type': 'application/octet-stream' },
    body: patternStream(BIG),
  });
  t.equal(answer.status, 200);
  const seen = JSON.parse(answer.body.toString());
  t.equal(seen.bytes, BIG);
  t.equal(seen.sha, patternSha(BIG), 'upstream hashed exactly the bytes the client sent');
  t.equal(seen.contentLength, String(BIG), 'content-length framing kept');
});

t.test('50 MB chunked upload arrives unchanged', async (t) => {
  const upstream = await upstreamFor(t, 'hash', hashingUpstream);
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await send(proxy.url, '/upload', {
    method: 'PUT',
    headers: { 'transfer-encoding': 'chunked', 'content-type': 'application/octet-stream' },
    body: patternStream(BIG),
  });
  t.equal(answer.status, 200);
  const seen = JSON.parse(answer.body.toString());
  t.equal(seen.bytes, BIG);
  t.equal(seen.sha, patternSha(BIG));
  t.equal(seen.contentLength, null, 'no content-length invented');
  t.equal(seen.transferEncoding, 'chunked', 'sent upstream chunked');
});

for (const framing of ['fixed', 'chunked'] as const) {
  t.test(`50 MB ${framing} download arrives unchanged`, async (t) => {
    const upstream = await upstreamFor(t, 'download', downloadUpstream);
    const proxy = await proxyFor(t, { blue: [upstream.url] });
    const req = httpRequest(`${proxy.url}/download/${framing}`, { agent: false });
    req.end();
    const [res] = await once(req, 'response');
    t.equal(res.statusCode, 200);
    if (framing === 'fixed') {
      t.equal(res.headers['content-length'], String(BIG), 'content-length passed through');
      t.notOk(res.headers['transfer-encoding']);
    } else {
      t.equal(res.headers['transfer-encoding'], 'chunked');
      t.notOk(res.headers['content-length']);
    }
    t.equal(res.headers['content-type'], 'application/octet-stream');
    const { sha, bytes } = await sha256Of(res);
    t.equal(bytes, BIG);
    t.equal(sha, patternSha(BIG), 'client hashed exactly the bytes the upstream sent');
  });
}

/** A keep-alive agent, so the follow-up request proves the bodiless answer left the connection clean. */
function agentFor(t: Test): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  return agent;
}

t.test('HEAD: no body, content-length kept, connection reusable', async (t) => {
  const upstream = await upstreamFor(t, 'head', (req, res) => {
    req.resume();
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': 12345, 'content-type': 'text/plain' });
      return res.end();
    }
    res.end('after-head');
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const agent = agentFor(t);
  const head = await send(proxy.url, '/thing', { method: 'HEAD', agent });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], '12345');
  t.equal(head.body.length, 0);
  t.equal(upstream.seen[0]!.method, 'HEAD', 'HEAD went upstream as HEAD');
  const next = await send(proxy.url, '/next', { agent });
  t.equal(next.body.toString(), 'after-head', 'the same connection carries the next answer intact');
});

t.test('204 and 304 pass through without a body', async (t) => {
  const upstream = await upstreamFor(t, 'empty', (req, res) => {
    req.resume();
    if (req.url === '/204') {
      res.writeHead(204, { 'x-kind': 'no-content' });
      return res.end();
    }
    if (req.url === '/304') {
      t.equal(req.headers['if-none-match'], '"v1"', 'conditional header forwarded');
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60' });
      return res.end();
    }
    res.end('plain');
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const agent = agentFor(t);
  const noContent = await send(proxy.url, '/204', { method: 'DELETE', agent });
  t.equal(noContent.status, 204);
  t.equal(noContent.headers['x-kind'], 'no-content');
  t.equal(noContent.body.length, 0);
  t.notOk(noContent.headers['transfer-encoding'], '204 is not chunked');
  const notModified = await send(proxy.url, '/304', { headers: { 'if-none-match': '"v1"' }, agent });
  t.equal(notModified.status, 304);
  t.equal(notModified.headers.etag, '"v1"');
  t.equal(notModified.headers['cache-control'], 'max-age=60');
  t.equal(notModified.body.length, 0);
  const after = await send(proxy.url, '/plain', { agent });
  t.equal(after.body.toString(), 'plain', 'connection still in sync after bodiless answers');
});

t.test('Expect: 100-continue: the client gets 100, then its body reaches the upstream', async (t) => {
  const upstream = await upstreamFor(t, 'hash', hashingUpstream);
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const size = 3 * 1024 * 1024 + 17;
  const req = httpRequest(`${proxy.url}/continue`, {
    method: 'POST',
    agent: false,
    headers: { expect: '100-continue', 'content-length': size, 'content-type': 'application/octet-stream' },
  });
  req.flushHeaders();
  let continued = false;
  req.on('continue', () => {
    continued = true;
    pipeline(patternStream(size), req).catch(() => {});
  });
  const [res] = await once(req, 'response');
  t.ok(continued, 'the client saw 100 Continue before sending its body');
  t.equal(res.statusCode, 200);
  const body = JSON.parse((await collectText(res)));
  t.equal(body.bytes, size);
  t.equal(body.sha, patternSha(size));
  t.equal(body.expect, null, 'the proxy answered the expectation itself');
});

t.test('binary bodies and content types pass unchanged in both directions', async (t) => {
  const every = Buffer.alloc(256 * 4);
  for (let i = 0; i < every.length; i++) every[i] = i & 0xff; // includes NUL, CR, LF, 0xff
  const upstream = await upstreamFor(t, 'binary', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const got = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'image/png', 'x-upload-type': req.headers['content-type'] ?? '', 'x-upload-sha': sha(got) });
      res.end(every);
    });
  });
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const answer = await send(proxy.url, '/bin', {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-length': every.length },
    body: every,
  });
  t.equal(answer.headers['content-type'], 'image/png');
  t.equal(answer.headers['x-upload-type'], 'application/x-protobuf');
  t.equal(answer.headers['x-upload-sha'], sha(every), 'binary upload intact');
  t.same(answer.body, every, 'binary download intact');
});

t.test('path and query string pass through exactly', async (t) => {
  const upstream = await upstreamFor(t, 'echo');
  const proxy = await proxyFor(t, { blue: [upstream.url] });
  const path = '/a%20b/c;p=1/?x=1&y=%2F%3F&z&x=2&empty=#frag';
  const answer = await send(proxy.url, path);
  t.equal(answer.status, 200);
  // node:http does not send the fragment; everything else must arrive untouched.
  t.equal(JSON.parse(answer.body.toString()).url, '/a%20b/c;p=1/?x=1&y=%2F%3F&z&x=2&empty=');
});

function sha(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

async function collectText(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}
