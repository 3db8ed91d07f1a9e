// SPEC §10, issue #11 fault 2: no client byte reaches the upstream before its 101. The
// smuggling packet (an Upgrade request with `GET /admin` + a forged X-Forwarded-For right
// behind it) against origins that are not Node: a raw TCP origin that answers the upgrade
// with 400 or 200 (as Go, nginx or any origin without WebSocket support does on that path),
// Python's http.server (keep-alive, ignores Upgrade), and, with a 101, the held bytes go
// through only after it. Also: Upgrade requests with a body are 400, and a 101 must name a
// protocol the client offered.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from '../helpers/upstream.js';
import { statusLines, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessFor, accessLines, assertServes } from '../helpers/data-plane.js';
import {
  acceptedSockets, clientTextFrame, closed, connectionsOf, echo, halfOpenClient, holdsFor, openWs, parseAnswer, pool,
  recordingUpstreamFor, smugglingPacket, tunnelProxyFor, upgradeHead, wsUpstreamFor,
} from '../helpers/tunnel.js';

const ADMIN_ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nADMIN SECRETS';

/** What a non-Node origin without WebSocket support says on each path; anything else (a smuggled /admin) gets the admin page. */
function nonNodeOrigin(head: string): string | null {
  const path = head.split(' ')[1];
  if (path === '/ws-400') return 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nno upgrade\n';
  if (path === '/ws-200') return 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
  if (path === '/ws-404-chunked') return 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n';
  if (path === '/ws-500') return 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops';
  return ADMIN_ANSWER;
}

t.test('the smuggling packet against a raw origin answering 400, 200, chunked 404 or 500: /admin never reaches it', async (t) => {
  const origin = await recordingUpstreamFor(t, nonNodeOrigin);
  const proxy = await tunnelProxyFor(t, { blue: [origin.url] });
  const cases = [
    { path: '/ws-400', status: 400, body: 'no upgrade\n' },
    { path: '/ws-200', status: 200, body: 'hello' },
    { path: '/ws-404-chunked', status: 404, body: 'nope' },
    { path: '/ws-500', status: 500, body: 'oops' },
  ];
  for (const c of cases) {
    const client = halfOpenClient(proxy.url, smugglingPacket(c.path, [`X-Request-Id: smuggle${c.path}`]));
    t.teardown(() => client.socket.destroy());
    await withDeadline(client.ended, 5000, `${c.path}: the answer and the close`);
    const received = client.received();
    t.equal(statusLines(received), 1, `${c.path}: one answer only (the smuggled request is not answered)`);
    const answer = parseAnswer(received);
    t.equal(answer.status, c.status, `${c.path}: the origin's status relayed`);
    t.equal(answer.body.toString(), c.body, `${c.path}: its body, framed`);
    t.same(answer.headers.get('connection'), ['close'], `${c.path}: and the connection closes`);
    t.notMatch(received.toString('latin1'), /ADMIN SECRETS/, `${c.path}: the client never gets the admin page`);
    t.match(await accessFor(proxy, c.path), { status: c.status, reqId: `smuggle${c.path}`, pool: 'blue', target: origin.url });
  }
  const seen = origin.received();
  t.equal((seen.match(/^GET \/ws-/gm) ?? []).length, cases.length, 'the origin got each upgrade request');
  t.notMatch(seen, /\/admin/, 'the origin never saw /admin');
  t.notMatch(seen, /10\.6\.6\.6/, 'nor the forged X-Forwarded-For');
  t.match(seen, /x-request-id: smuggle\/ws-400\r\n/i, 'the upgrade request carried its X-Request-Id');
  t.match(seen, /x-forwarded-for: 127\.0\.0\.1\r\n/i, 'and the X-Forwarded-For the proxy set');
  t.notOk(accessLines(proxy).some((line) => line.url === '/admin'), 'no access line for /admin: it was never a request');
  await waitFor('the origin connections closed (undici ends a connection an upgrade was tried on)', () => origin.open() === 0);
  t.equal(pool(proxy, 'blue').longLived, 0);
  t.equal(pool(proxy, 'blue').targets[0]!.inflight, 0);
});

t.test('smuggled bytes sent after the upgrade request, while the origin thinks: held, then dropped with the answer', async (t) => {
  const waiting: Socket[] = [];
  const origin = await recordingUpstreamFor(t, (head, socket) => {
    if (head.startsWith('GET /slow-400 ')) return void waiting.push(socket), null;
    return nonNodeOrigin(head);
  });
  const proxy = await tunnelProxyFor(t, { blue: [origin.url] });
  const accepted = acceptedSockets(proxy.switchyard.proxy.server);
  const first = upgradeHead('/slow-400');
  const client = halfOpenClient(proxy.url, first);
  t.teardown(() => client.socket.destroy());
  await waitFor('the upgrade request at the origin', () => waiting.length === 1);
  const smuggled = 'GET /admin HTTP/1.1\r\nHost: tunnel.example\r\nX-Forwarded-For: 10.6.6.6\r\n\r\n';
  client.socket.write(smuggled);
  await waitFor('the proxy to have read the smuggled bytes', () => accepted[0]!.bytesRead === first.length + smuggled.length);
  t.ok(await holdsFor(() => !origin.received().includes('/admin'), 150), 'held: not forwarded while the origin has not answered');
  waiting[0]!.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno\n');
  await withDeadline(client.ended, 5000, 'the answer and the close');
  t.equal(parseAnswer(client.received()).status, 400);
  await accessFor(proxy, '/slow-400');
  t.notMatch(origin.received(), /\/admin|10\.6\.6\.6/, 'and dropped with the answer: the origin never sees them');
});

t.test("Python's http.server (keep-alive, ignores Upgrade) never sees the smuggled request", async (t) => {
  const port = await closedPort();
  // A file named `ws`, so GET /ws is a 200 (python closes the connection after an error
  // answer), and HTTP/1.1, so it keeps the connection and serves a second request on it
  // (the default, HTTP/1.0, closes after one): the origin the smuggled request would reach.
  const root = mkdtempSync(join(tmpdir(), 'switchyard-py-'));
  writeFileSync(join(root, 'ws'), 'a file, not a WebSocket\n');
  const python = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--protocol', 'HTTP/1.1',
    '--directory', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  python.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  t.teardown(() => void python.kill('SIGKILL'));
  await waitFor('python http.server listening', () => new Promise<boolean>((resolve) => {
    const probe = connect(port, '127.0.0.1', () => (probe.destroy(), resolve(true)));
    probe.on('error', () => resolve(false));
  }), { timeoutMs: 10_000, intervalMs: 50 });

  const proxy = await tunnelProxyFor(t, { blue: [`http://127.0.0.1:${port}`] });
  const client = halfOpenClient(proxy.url, smugglingPacket('/ws'));
  t.teardown(() => client.socket.destroy());
  await withDeadline(client.ended, 5000, 'the answer and the close');
  const answer = parseAnswer(client.received());
  t.equal(answer.status, 200, "python's 200 for /ws relayed (it ignores Upgrade)");
  t.equal(answer.body.toString(), 'a file, not a WebSocket\n');
  t.equal(statusLines(client.received()), 1, 'one answer only');
  await waitFor('python logged /ws', () => log.includes('"GET /ws HTTP/1.1" 200'));
  t.ok(await holdsFor(() => !log.includes('/admin'), 300), 'python never logs /admin');
  t.match(await accessFor(proxy, '/ws'), { status: 200 });
});

t.test('with a 101 the bytes sent behind the upgrade request go through only after it', async (t) => {
  // Raw origin: holds its 101 until told, so what reaches it before the 101 can be read exactly.
  const waiting: Socket[] = [];
  const origin = await recordingUpstreamFor(t, (head, socket) => {
    if (head.startsWith('GET /held ')) waiting.push(socket);
    return null; // after the 101 the tunnel's bytes are recorded, never answered
  });
  const proxy = await tunnelProxyFor(t, { blue: [origin.url] });
  const accepted = acceptedSockets(proxy.switchyard.proxy.server);
  const packet = smugglingPacket('/held');
  const client = halfOpenClient(proxy.url, packet);
  t.teardown(() => client.socket.destroy());
  await waitFor('the upgrade request at the origin', () => waiting.length === 1);
  await waitFor('the proxy to have read the whole packet', () => accepted[0]!.bytesRead === packet.length);
  t.ok(await holdsFor(() => !origin.received().includes('/admin'), 150), 'nothing behind the request head before the 101');
  t.match(origin.received(), /^GET \/held HTTP\/1\.1\r\n[^]*\r\n\r\n$/, 'the origin has exactly one request head');
  waiting[0]!.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await waitFor('the held bytes after the 101', () => origin.received().endsWith('X-Forwarded-For: 10.6.6.6\r\n\r\n'));
  t.match(client.received().toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/, 'the client got the 101');
  // Past a 101 these are tunnel bytes of the protocol the origin agreed to: its business now.
  t.equal((origin.received().match(/GET \/admin/g) ?? []).length, 1, 'forwarded once, after the switch');
  client.socket.destroy();
  await waitFor('tunnel ended', () => pool(proxy, 'blue').longLived === 0);
  t.match(await accessFor(proxy, '/held'), { status: 101, bytesUp: packet.length - upgradeHead('/held').length });

  // A real `ws` origin: a frame the client sent before the 101 arrives as a message after it.
  let complete: ((head: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  const wsOrigin = await wsUpstreamFor(t, 'green', {
    onUpgrade: (_req, socket, head, finish) => {
      early.push(head);
      const record = (chunk: Buffer) => early.push(chunk);
      socket.on('data', record);
      complete = () => {
        socket.off('data', record); // ws takes the socket over in this same turn
        finish(Buffer.concat(early));
      };
      return true;
    },
  });
  const wsProxy = await tunnelProxyFor(t, { green: [wsOrigin.url] });
  const wsAccepted = acceptedSockets(wsProxy.switchyard.proxy.server);
  const wsPacket = Buffer.concat([Buffer.from(upgradeHead('/early')), clientTextFrame('sent early')]);
  const wsClient = halfOpenClient(wsProxy.url, wsPacket);
  t.teardown(() => wsClient.socket.destroy());
  await waitFor('the upgrade at the ws origin', () => complete !== undefined);
  await waitFor('the proxy to have read the frame', () => wsAccepted[0]!.bytesRead === wsPacket.length);
  t.ok(await holdsFor(() => Buffer.concat(early).length === 0, 150), 'the ws origin got no byte past the request head before its 101');
  complete!(Buffer.alloc(0));
  await waitFor('the echo of the early frame', () => wsClient.received().includes('green:sent early'));
  t.match(wsClient.received().toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.equal(wsOrigin.seen.length, 1);
});

t.test('an Upgrade request with a body is 400 (Content-Length or chunked): nothing reaches the upstream', async (t) => {
  const origin = await recordingUpstreamFor(t, nonNodeOrigin);
  const proxy = await tunnelProxyFor(t, { blue: [origin.url] });
  const bodies = [
    { path: '/with-length', extra: ['Content-Length: 5'], body: 'hello' },
    { path: '/with-chunks', extra: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n' },
    { path: '/length-smuggle', extra: ['Content-Length: 62'], body: 'GET /admin HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.6.6.6\r\n\r\n' },
  ];
  for (const c of bodies) {
    const client = halfOpenClient(proxy.url, upgradeHead(c.path, c.extra) + c.body);
    t.teardown(() => client.socket.destroy());
    await withDeadline(client.ended, 5000, `${c.path}: the 400`);
    const answer = parseAnswer(client.received());
    t.equal(answer.status, 400, `${c.path}: 400`);
    t.match(answer.body.toString(), /Upgrade request with a body/);
    t.same(answer.headers.get('connection'), ['close']);
    t.equal(statusLines(client.received()), 1, `${c.path}: one answer only`);
    t.match(await accessFor(proxy, c.path), { status: 400, target: null, pool: null });
  }
  // Two Host headers on an Upgrade: the same admission as plain requests.
  const twoHosts = halfOpenClient(proxy.url, upgradeHead('/two-hosts', ['Host: other.example']));
  t.teardown(() => twoHosts.socket.destroy());
  await withDeadline(twoHosts.ended, 5000, 'the 400');
  t.equal(parseAnswer(twoHosts.received()).status, 400);
  t.equal(origin.accepted(), 0, 'no connection was ever made to the upstream');
  await waitFor('proxy released every refused client', async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
  t.equal(pool(proxy, 'blue').longLived, 0);
  t.ok(pool(proxy, 'blue').targets[0]!.ready, 'client mistakes eject nothing');

  // Content-Length: 0 is no body: the upgrade goes through.
  const ws = await wsUpstreamFor(t, 'green');
  const wsProxy = await tunnelProxyFor(t, { green: [ws.url] });
  const socket = await openWs(t, wsProxy.url, '/zero', { 'content-length': '0' });
  t.equal((await echo(socket, 'zero')).data.toString(), 'green:zero');
  socket.close();
  await closed(socket);
  await assertServes(t, proxy);
});

t.test('the 101 must name a protocol the client offered: otherwise 502 and both sides closed', async (t) => {
  const switches: Record<string, string> = {
    '/h2c': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
    '/none': 'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    '/connection-only': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n',
    '/case': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n',
    '/second-offer': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo/2\r\n\r\n',
    '/more-than-offered': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n',
  };
  const origin = await recordingUpstreamFor(t, (head) => switches[head.split(' ')[1]!] ?? null);
  const proxy = await tunnelProxyFor(t, { blue: [origin.url] });
  const cases = [
    { path: '/h2c', status: 502 },
    { path: '/none', status: 502 },
    { path: '/connection-only', status: 502 },
    { path: '/more-than-offered', status: 502 },
    { path: '/case', status: 101 },
    { path: '/second-offer', status: 101, offer: 'websocket, foo/2' },
  ];
  for (const c of cases) {
    const text = upgradeHead(c.path).replace('Upgrade: websocket', `Upgrade: ${c.offer ?? 'websocket'}`);
    const client = halfOpenClient(proxy.url, text);
    t.teardown(() => client.socket.destroy());
    if (c.status === 502) {
      await withDeadline(client.ended, 5000, `${c.path}: the 502`);
      t.equal(parseAnswer(client.received()).status, 502, `${c.path}: 502`);
      t.match(await accessFor(proxy, c.path), { status: 502, error: /switched to|101 without/ }, `${c.path}: the record says why`);
    } else {
      await waitFor(`${c.path}: the 101`, () => client.received().toString('latin1').includes('\r\n\r\n'));
      t.match(client.received().toString('latin1'), /^HTTP\/1\.1 101 /, `${c.path}: relayed`);
      client.socket.destroy();
      t.match(await accessFor(proxy, c.path), { status: 101 });
    }
  }
  await waitFor('every origin connection closed', () => origin.open() === 0);
  await waitFor('every client released', async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
  t.equal(pool(proxy, 'blue').longLived, 0);
});
