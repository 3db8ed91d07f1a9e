// The access log: one line per request, with the fields and values SPEC'd for it.
import t from 'tap';
import { send } from '../helpers/http-client.js';
import { accessFor, accessLines, proxyFor, upstreamFor } from '../helpers/data-plane.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('access log lines carry the request, where it went, and what came back', async (t) => {
  const upstream = await upstreamFor(t, 'logged', (req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url!.startsWith('/created')) {
        res.writeHead(201, { 'content-length': 1234, 'x-seen-id': String(req.headers['x-request-id']) });
        return res.end(Buffer.alloc(1234, 7));
      }
      if (req.url === '/chunked') {
        res.write('a'.repeat(1000));
        res.write('b'.repeat(1000));
        return res.end('c'.repeat(1000));
      }
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': 5000 });
        return res.end();
      }
      res.writeHead(404, { 'content-length': 2 });
      res.end('no');
    });
  });
  const proxy = await proxyFor(t, { blue: { version: 'v42', targets: [upstream.url] } });

  const started = performance.now();
  const created = await send(proxy.url, '/created?x=1&y=two');
  const elapsed = performance.now() - started;
  const line = await accessFor(proxy, '/created?x=1&y=two');
  t.match(line.reqId, UUID);
  t.equal(line.reqId, created.headers['x-seen-id'], 'reqId is the id the upstream saw');
  t.equal(line.method, 'GET');
  t.equal(line.url, '/created?x=1&y=two', 'url includes the query');
  t.equal(line.status, 201);
  t.equal(line.pool, 'blue');
  t.equal(line.version, 'v42');
  t.equal(line.target, upstream.url);
  t.equal(line.retries, 0);
  t.equal(line.bytes, 1234, 'bytes = response body bytes');
  t.type(line.ms, 'number');
  t.ok(line.ms > 0 && line.ms <= elapsed + 1, `ms (${line.ms}) within what the client measured (${elapsed.toFixed(3)})`);
  t.notOk('error' in line, 'no error on a clean exchange');

  await send(proxy.url, '/upload', { method: 'POST', headers: { 'content-length': 10_000, 'x-request-id': 'upload-1' }, body: Buffer.alloc(10_000) });
  t.match(await accessFor(proxy, '/upload'), { reqId: 'upload-1', method: 'POST', status: 404, bytes: 2 }, 'request body bytes are not counted');

  await send(proxy.url, '/chunked');
  t.match(await accessFor(proxy, '/chunked'), { status: 200, bytes: 3000 }, 'chunk framing is not counted');

  await send(proxy.url, '/head', { method: 'HEAD' });
  t.match(await accessFor(proxy, '/head'), { method: 'HEAD', status: 200, bytes: 0 }, 'HEAD moves no body bytes');

  t.equal(accessLines(proxy).length, 4, 'exactly one line per request');
  for (const entry of accessLines(proxy)) t.equal(entry.msg, 'request');
});

t.test('log.access: false writes no access lines', async (t) => {
  const upstream = await upstreamFor(t, 'quiet');
  const proxy = await proxyFor(t, { blue: [upstream.url] }, { log: { level: 'info', access: false } });
  t.equal((await send(proxy.url, '/quiet')).status, 200);
  t.equal(accessLines(proxy).length, 0);
});
