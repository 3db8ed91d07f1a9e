// SPEC §4 (Upgrade requests are tunnelled and counted as the pool's long-lived connections),
// §5 (draining closes them after drain.timeoutMs) and §10 (they go through the target's undici
// Pool), on real sockets: WebSocket echo both ways, non-101 answers relayed as normal responses
// that close the connection, 502/503/504, either side closing or resetting, handshakes cut
// short, drain on flip, and no leaked socket after many cycles.
import t from 'tap';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Flag } from '../../src/pool/health-flags.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { closedPort } from '../helpers/upstream.js';
import { waitFor, withDeadline } from '../helpers/http-client.js';
import { accessFor, assertServes } from '../helpers/data-plane.js';
import {
  bareTunnels, closed, connectionsOf, echo, flip, halfOpenClient, hungUp, openWs, parseAnswer, pool, refusingHandler,
  tcpSockets, tunnelProxyFor, upgradeHead, upgradeViaNode, wsUpstreamFor,
} from '../helpers/tunnel.js';

t.test('WebSocket echo through the proxy: text and binary both ways, counted as long-lived', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] });
  const blue = pool(proxy, 'blue');

  const ws = await openWs(t, proxy.url, '/chat?room=1', { 'x-request-id': 'tunnel-1' });
  t.equal(blue.longLived, 1, 'one long-lived connection on blue while open');
  t.equal(proxy.switchyard.proxy.tunnels.count(blue), 1);
  t.equal(blue.inflight, 0, 'a tunnel is not one of the pool\'s in-flight requests');
  t.equal(blue.targets[0]!.inflight, 1, "but it counts in its target's in-flight (least-in-flight picking sees it)");

  t.same(await echo(ws, 'hello'), { data: Buffer.from('blue:hello'), isBinary: false }, 'text echo');
  const binary = Buffer.from([0, 1, 2, 253, 254, 255]);
  t.same(await echo(ws, binary), { data: binary, isBinary: true }, 'binary echo');
  const large = Buffer.alloc(1024 * 1024, 7);
  large.writeUInt32BE(0xdeadbeef, large.length - 4);
  const back = await echo(ws, large);
  t.ok(back.data.equals(large), '1 MiB binary message intact both ways');

  const seen = upstream.seen[0]!;
  t.equal(seen.url, '/chat?room=1');
  t.equal(seen.headers.upgrade, 'websocket', 'Upgrade kept');
  t.match(seen.headers.connection, /upgrade/i, 'Connection: Upgrade kept');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.match(seen.headers['x-forwarded-host'], /^127\.0\.0\.1:\d+$/);
  t.match(seen.headers.via, /1\.1 switchyard/);
  t.equal(seen.headers['x-request-id'], 'tunnel-1', "the client's request id is kept");

  ws.close(1000, 'bye');
  t.equal(await closed(ws), 1000, 'clean close handshake relayed');
  await waitFor('blue longLived back to 0', () => blue.longLived === 0);
  t.equal(proxy.switchyard.proxy.tunnels.count(), 0);
  t.equal(blue.targets[0]!.inflight, 0, 'target in-flight back to 0');
  t.equal(blue.targets[0]!.tunnels.size, 0, 'no tunnel left on the target');
  const line = await accessFor(proxy, '/chat?room=1');
  t.match(line, { status: 101, method: 'GET', pool: 'blue', version: 'blue-v1', target: upstream.url, reqId: 'tunnel-1', retries: 0 });
  t.ok(line.bytes >= large.length, `access line counts the bytes relayed to the client (${line.bytes})`);
  t.ok((line.bytesUp as number) >= large.length, `and the bytes relayed to the upstream (${String(line.bytesUp)})`);
  await waitFor('upstream connection closed', async () => (await upstream.connections()) === 0);
});

t.test('flip: the open tunnel stays on blue, new ones go to green, closePool(blue) cuts it', async (t) => {
  const blueUp = await wsUpstreamFor(t, 'blue');
  const greenUp = await wsUpstreamFor(t, 'green');
  const proxy = await tunnelProxyFor(t, { blue: [blueUp.url], green: [greenUp.url] });
  const blue = pool(proxy, 'blue');
  const green = pool(proxy, 'green');
  const tunnels = proxy.switchyard.proxy.tunnels;

  const old = await openWs(t, proxy.url, '/old');
  t.equal((await echo(old, 'a')).data.toString(), 'blue:a');
  await flip(proxy, 'green');
  t.equal(blue.weight, 0);
  t.equal((await echo(old, 'b')).data.toString(), 'blue:b', 'the existing tunnel keeps echoing after the flip');
  t.equal(blue.phase, 'draining', 'blue drains while its tunnel is open');

  const fresh = await openWs(t, proxy.url, '/new');
  t.equal((await echo(fresh, 'c')).data.toString(), 'green:c', 'a new tunnel goes to green');
  t.equal(blue.longLived, 1);
  t.equal(green.longLived, 1);
  t.equal(tunnels.count(blue), 1);
  t.equal(tunnels.count(green), 1);

  const oldClosed = closed(old);
  t.equal(tunnels.closePool(blue), 1, 'closePool(blue) closes one tunnel');
  await oldClosed;
  t.pass('the client of the blue tunnel sees the close');
  t.equal(blue.longLived, 0, 'blue longLived back to 0');
  t.equal(blue.phase, 'drained', 'blue is drained once its tunnel is gone');
  await waitFor('the blue upstream WebSocket to close', () => blueUp.open.size === 0);
  t.equal((await echo(fresh, 'd')).data.toString(), 'green:d', 'the green tunnel is untouched');
  t.equal(tunnels.closePool(blue), 0, 'nothing left on blue');

  t.equal(tunnels.closeAll(), 1, 'closeAll (shutdown) closes the rest');
  await closed(fresh);
  t.equal(green.longLived, 0);
});

t.test('non-101 answers are relayed as they are, and both sockets are released', async (t) => {
  const upstream = await wsUpstreamFor(t, 'refuser', { refuseUpgrades: true, onRequest: refusingHandler });
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] });
  const blue = pool(proxy, 'blue');

  for (const [path, status, body] of [['/deny', 403, 'not allowed here'], ['/chunked', 200, 'no upgrade for you']] as const) {
    // A client that never closes its side: the proxy must release the connection itself.
    const client = halfOpenClient(proxy.url, upgradeHead(path));
    t.teardown(() => client.socket.destroy());
    await withDeadline(client.ended, 5000, `the answer to ${path}`);
    const answer = parseAnswer(client.received());
    t.equal(answer.status, status, `${path}: status ${status} relayed`);
    t.equal(answer.body.toString(), body, `${path}: body relayed with valid framing`);
    if (status === 403) t.same(answer.headers.get('x-why'), ['no-ticket'], 'end-to-end headers relayed');
    t.same(answer.headers.get('connection'), ['close'], `${path}: the client is told the connection closes`);
    t.notOk(answer.headers.has('keep-alive'), `${path}: the upstream's Keep-Alive is not relayed`);
    await waitFor(`${path}: proxy released the client socket`, async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
    await waitFor(`${path}: upstream connection released`, async () => (await upstream.connections()) === 0);
    t.equal(blue.longLived, 0, `${path}: longLived back to 0`);
    t.match(await accessFor(proxy, path), { status, pool: 'blue' });

    // node:http's strict client parser agrees.
    t.same(await upgradeViaNode(proxy.url, path), { status, body }, `${path}: node:http reads the same answer`);
  }
  await assertServes(t, proxy);
});

t.test('raw upstream answers: interim 1xx, close-delimited and chunked bodies with trailers, bad heads, early close', async (t) => {
  /** `reply` parts are written one event-loop turn apart, so a body may arrive after its head. */
  interface Case { path: string; reply: string | string[]; close?: boolean; status: number; body?: string; relayedHead?: RegExp }
  const cases: Case[] = [
    { path: '/early-hints', reply: 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nafter-101', status: 101, relayedHead: /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\nafter-101$/ },
    { path: '/until-close', reply: 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\r\nlog in first', close: true, status: 401, body: 'log in first' },
    { path: '/trailers', reply: 'HTTP/1.1 426 Upgrade Required\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n', status: 426, body: 'hello world' },
    { path: '/empty', reply: 'HTTP/1.1 204 No Content\r\nX-Empty: 1\r\n\r\n', status: 204, body: '' },
    { path: '/garbage', reply: 'SSH-2.0-OpenSSH\r\n\r\n', status: 502 },
    { path: '/silent-close', reply: '', close: true, status: 502 },
    { path: '/bad-chunk', reply: 'HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', status: -1 },
    { path: '/length-split', reply: ['HTTP/1.1 409 Conflict\r\nContent-Length: 11\r\nKeep-Alive: timeout=5\r\n\r\nhel', 'lo wo', 'rld'], status: 409, body: 'hello world' },
    { path: '/length-cut', reply: 'HTTP/1.1 409 Conflict\r\nContent-Length: 100\r\n\r\nonly this', close: true, status: -1 },
    { path: '/huge-head', reply: `HTTP/1.1 101 Switching Protocols\r\nX-Big: ${'x'.repeat(70 * 1024)}\r\n`, status: 502 },
  ];
  const sockets = new Set<Socket>();
  const upstream = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      if (!buffered.includes('\r\n\r\n')) return;
      const path = buffered.split(' ')[1];
      const found = cases.find((c) => c.path === path)!;
      const parts = typeof found.reply === 'string' ? [found.reply] : [...found.reply];
      const writeNext = () => {
        const part = parts.shift()!;
        if (parts.length > 0) return void socket.write(part, () => setImmediate(writeNext));
        if (found.close === true) socket.end(part);
        else socket.write(part);
      };
      writeNext();
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    upstream.close(() => resolve());
  }));
  const { url, server, pool: blue, records } = await bareTunnels(t, [`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`]);

  for (const c of cases) {
    const client = halfOpenClient(url, upgradeHead(c.path));
    t.teardown(() => client.socket.destroy());
    if (c.status === 101) {
      await waitFor(`${c.path}: the 101 and what follows`, () => c.relayedHead!.test(client.received().toString('latin1')));
      t.notMatch(client.received().toString('latin1'), /103/, `${c.path}: the interim answer is not relayed`);
      client.socket.destroy();
    } else {
      await withDeadline(client.ended, 5000, `${c.path}: the answer`);
      if (c.status === -1) {
        t.match(client.received().toString('latin1'), /^HTTP\/1\.1 4\d\d /, `${c.path}: head relayed, then the connection is cut`);
        t.throws(() => parseAnswer(client.received()), `${c.path}: the client can tell the answer is incomplete`);
      } else {
        const answer = parseAnswer(client.received());
        t.equal(answer.status, c.status, `${c.path}: status ${c.status}`);
        if (c.body !== undefined) t.equal(answer.body.toString(), c.body, `${c.path}: body`);
      }
    }
    await waitFor(`${c.path}: proxy side released`, async () => (await connectionsOf(server)) === 0);
  }
  await waitFor('upstream side released', () => sockets.size === 0);
  t.equal(blue.longLived, 0);
  t.match(records.map((record) => record.status), [101, 401, 426, 204, 502, 502, 400, 409, 409, 502]);
  // undici's parser reads these answers now (the same one plain requests get), so its words.
  t.match(records.find((record) => record.url === '/bad-chunk'), { error: /chunk size/ });
  t.match(records.find((record) => record.url === '/length-cut'), { error: /UND_ERR_SOCKET: other side closed/ });
  t.match(records.find((record) => record.url === '/huge-head'), { error: /UND_ERR_HEADERS_OVERFLOW/ });
});

t.test('a non-WebSocket Upgrade (any protocol) is tunnelled too', async (t) => {
  // A raw upstream speaking a made-up protocol after its 101: it answers each line in upper case.
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const upstream = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    let open = false;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      if (!open) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        heads.push(buffered.slice(0, end));
        buffered = buffered.slice(end + 4);
        open = true;
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
      }
      socket.write(buffered.toUpperCase());
      buffered = '';
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    upstream.close(() => resolve());
  }));
  const proxy = await tunnelProxyFor(t, { blue: [`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`] });

  const client = halfOpenClient(proxy.url, 'POST /shout HTTP/1.1\r\nHost: shout.example\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
  t.teardown(() => client.socket.destroy());
  await waitFor('the 101', () => client.received().toString('latin1').includes('\r\n\r\n'));
  t.match(client.received().toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.match(heads[0], /^POST \/shout HTTP\/1\.1\r\n/, 'method and path forwarded');
  t.match(heads[0], /\r\nUpgrade: shout\/1\r\n/i);
  client.socket.write('hello tunnel');
  await waitFor('the shouted answer', () => client.received().toString('latin1').endsWith('HELLO TUNNEL'));
  t.equal(pool(proxy, 'blue').longLived, 1);
  client.socket.destroy();
  await waitFor('longLived 0', () => pool(proxy, 'blue').longLived === 0);
  await waitFor('upstream released', () => sockets.size === 0);
});

t.test('upstream refusing connections → 502; no ready target → 503 with Retry-After', async (t) => {
  const port = await closedPort();
  const proxy = await tunnelProxyFor(t, { blue: [`http://127.0.0.1:${port}`] });
  const refused = halfOpenClient(proxy.url, upgradeHead('/refused'));
  t.teardown(() => refused.socket.destroy());
  await withDeadline(refused.ended, 5000, 'the 502');
  t.equal(parseAnswer(refused.received()).status, 502);
  t.match(await accessFor(proxy, '/refused'), { status: 502, pool: 'blue', error: /ECONNREFUSED/ });
  await waitFor('proxy released the refused client', async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
  t.equal(pool(proxy, 'blue').longLived, 0);

  pool(proxy, 'blue').targets[0]!.health.set(Flag.EJECTED, true);
  const unavailable = halfOpenClient(proxy.url, upgradeHead('/none'));
  t.teardown(() => unavailable.socket.destroy());
  await withDeadline(unavailable.ended, 5000, 'the 503');
  const answer = parseAnswer(unavailable.received());
  t.equal(answer.status, 503);
  t.same(answer.headers.get('retry-after'), ['1']);
  t.match(await accessFor(proxy, '/none'), { status: 503, pool: 'blue', target: null });
  await waitFor('proxy released the 503 client', async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
  t.equal(pool(proxy, 'blue').longLived, 0);
});

t.test('a target refusing connections is skipped for another target of the pool (retryAttempts)', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const { url, tunnels, records } = await bareTunnels(t, [dead, upstream.url], { retryAttempts: () => 1 });
  // Round-robin ties: of two tunnels in a row, at least one is first sent to the dead target.
  for (const path of ['/r1', '/r2']) {
    const ws = await openWs(t, url, path);
    t.equal((await echo(ws, path)).data.toString(), `blue:${path}`, `${path} tunnelled`);
    ws.close();
    await closed(ws);
  }
  await waitFor('both records', () => records.length === 2);
  t.same(records.map((record) => record.target), [upstream.url, upstream.url], 'both ended on the live target');
  t.ok(records.some((record) => record.retries === 1), 'the dead target was tried and skipped');
  t.ok(records.every((record) => record.retries <= 1), 'never more than the one retry allowed');
  t.equal(tunnels.count(), 0);

  // Without retries the same refusal is a 502.
  const single = await bareTunnels(t, [dead]);
  const client = halfOpenClient(single.url, upgradeHead('/dead'));
  t.teardown(() => client.socket.destroy());
  await withDeadline(client.ended, 5000, 'the 502');
  t.equal(parseAnswer(client.received()).status, 502);
});

t.test('client going away mid-tunnel (FIN or RST) closes the upstream socket', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] });
  const blue = pool(proxy, 'blue');

  const ws = await openWs(t, proxy.url, '/fin');
  await echo(ws, 'x');
  ws.terminate(); // destroys the TCP socket without a close frame
  await waitFor('upstream WebSocket to close after the client FIN', () => upstream.open.size === 0);
  await waitFor('upstream connections 0', async () => (await upstream.connections()) === 0);
  await waitFor('longLived 0', () => blue.longLived === 0);

  // RST: a raw handshake, then a reset.
  const raw = halfOpenClient(proxy.url, upgradeHead('/rst'));
  await waitFor('the 101 through the raw tunnel', () => raw.received().toString('latin1').startsWith('HTTP/1.1 101'));
  t.equal(upstream.open.size, 1);
  raw.socket.resetAndDestroy();
  await waitFor('upstream WebSocket to close after the client RST', () => upstream.open.size === 0);
  await waitFor('upstream connections 0', async () => (await upstream.connections()) === 0);
  await waitFor('proxy connections 0', async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
  t.equal(blue.longLived, 0);
  await assertServes(t, proxy);
});

t.test('upstream closing (cleanly or by reset) closes the client socket', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] });
  const blue = pool(proxy, 'blue');

  const a = await openWs(t, proxy.url, '/a');
  await echo(a, 'x');
  [...upstream.open][0]!.close(4001, 'going away');
  t.equal(await closed(a), 4001, 'the close frame reached the client');

  const b = await openWs(t, proxy.url, '/b');
  await echo(b, 'x');
  [...upstream.open][0]!.terminate();
  t.equal(await closed(b), 1006, 'the client sees an abnormal close when the upstream just goes');

  await waitFor('proxy connections 0', async () => (await connectionsOf(proxy.switchyard.proxy.server)) === 0);
  await waitFor('longLived 0', () => blue.longLived === 0);
});

t.test('client leaving during the handshake closes the upstream connection', async (t) => {
  const pending: Promise<string>[] = [];
  const upstream = await wsUpstreamFor(t, 'slow', { onUpgrade: (_req, socket) => (pending.push(hungUp(socket)), true) });
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] });
  const client = halfOpenClient(proxy.url, upgradeHead('/slow'));
  await waitFor('the upgrade to reach the upstream', () => pending.length === 1);
  t.equal(pool(proxy, 'blue').longLived, 1, 'a tunnel being set up already counts');
  client.socket.destroy();
  t.ok(await withDeadline(pending[0]!, 5000, 'the proxy to hang up on the upstream'), 'the proxy hung up on the upstream');
  await waitFor('longLived 0', () => pool(proxy, 'blue').longLived === 0);
  t.match(await accessFor(proxy, '/slow'), { status: 499 });
});

t.test('an upstream that accepts but never answers the handshake → 504 after the pool\'s headers timeout', async (t) => {
  const pending: Promise<string>[] = [];
  const upstream = await wsUpstreamFor(t, 'mute', { onUpgrade: (_req, socket) => (pending.push(hungUp(socket)), true) });
  const { url, server, tunnels, records, pool: blue } = await bareTunnels(t, [upstream.url], {}, 150);

  const client = halfOpenClient(url, upgradeHead('/mute'));
  t.teardown(() => client.socket.destroy());
  await withDeadline(client.ended, 5000, 'the 504');
  t.equal(parseAnswer(client.received()).status, 504);
  t.ok(await withDeadline(pending[0]!, 5000, 'the proxy to hang up on the upstream'), 'the proxy hung up on the upstream');
  await waitFor('proxy-side socket released', async () => (await connectionsOf(server)) === 0);
  t.equal(blue.longLived, 0);
  t.equal(tunnels.count(), 0);
  t.match(records, [{ status: 504, pool: 'blue', url: '/mute' }]);
});

t.test('with upgrades disabled the data plane answers 501 and closes', async (t) => {
  const proxyServer = new ProxyServer({ choosePool: () => undefined, retryAttempts: 0, keepAliveMs: 1000, observers: [], upgrades: false });
  await new Promise<void>((resolve) => proxyServer.server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => proxyServer.server.close(() => resolve())));
  const client = halfOpenClient(`http://127.0.0.1:${(proxyServer.server.address() as AddressInfo).port}`, upgradeHead('/x'));
  t.teardown(() => client.socket.destroy());
  await withDeadline(client.ended, 5000, 'the 501');
  t.equal(parseAnswer(client.received()).status, 501);
  await waitFor('socket released', async () => (await connectionsOf(proxyServer.server)) === 0);
});

t.test('once shutdown has begun, new Upgrade requests get 503 (open tunnels are closed by closeAll)', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] });
  const open = await openWs(t, proxy.url, '/before');
  proxy.switchyard.proxy.closing = true;
  t.teardown(() => void (proxy.switchyard.proxy.closing = false));
  const late = halfOpenClient(proxy.url, upgradeHead('/late'));
  t.teardown(() => late.socket.destroy());
  await withDeadline(late.ended, 5000, 'the 503');
  const answer = parseAnswer(late.received());
  t.equal(answer.status, 503);
  t.same(answer.headers.get('retry-after'), ['1']);
  t.equal(upstream.seen.length, 1, 'the late upgrade never reached the upstream');
  const gone = closed(open);
  t.equal(proxy.switchyard.proxy.tunnels.closeAll(), 1);
  await gone;
  t.equal(pool(proxy, 'blue').longLived, 0);
});

t.test('no leak: 1,000 tunnels opened and closed, then 100 non-101 answers', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const refuser = await wsUpstreamFor(t, 'green', { refuseUpgrades: true, onRequest: refusingHandler });
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url], green: [refuser.url] }, { log: { access: false } });
  const blue = pool(proxy, 'blue');
  const green = pool(proxy, 'green');
  const server = proxy.switchyard.proxy.server;
  const baseline = tcpSockets();
  t.equal(await connectionsOf(server), 0);

  // Three ways a tunnel ends, in turn: client close handshake, client drop, upstream close.
  const CYCLES = 1000;
  const PARALLEL = 20;
  let next = 0;
  let echoed = 0;
  const worker = async () => {
    while (next < CYCLES) {
      const n = next++;
      const ws = await openWs(null, proxy.url, `/cycle/${n}`);
      if ((await echo(ws, `m${n}`)).data.toString() === `blue:m${n}`) echoed++;
      const done = closed(ws);
      if (n % 3 === 0) ws.close();
      else if (n % 3 === 1) ws.terminate();
      else upstream.peer(`/cycle/${n}`)!.close();
      await done;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  t.equal(echoed, CYCLES, 'every tunnel echoed');

  await flip(proxy, 'green');
  for (let n = 0; n < 100; n++) {
    const path = n % 2 === 0 ? `/deny/${n}` : `/chunked/${n}`;
    const client = halfOpenClient(proxy.url, upgradeHead(path));
    await withDeadline(client.ended, 5000, `answer ${n}`);
    const answer = parseAnswer(client.received());
    if (answer.status !== (n % 2 === 0 ? 403 : 200)) t.fail(`answer ${n}: ${answer.status}`);
    client.socket.destroy();
  }

  await waitFor('proxy connections 0', async () => (await connectionsOf(server)) === 0);
  await waitFor('upstream connections 0', async () => (await upstream.connections()) === 0);
  await waitFor('refusing upstream connections 0', async () => (await refuser.connections()) === 0);
  await waitFor(`TCP sockets back to the baseline (${baseline})`, () => tcpSockets() <= baseline);
  t.equal(tcpSockets(), baseline, 'no TCP socket left behind');
  t.equal(blue.longLived, 0, 'blue longLived 0');
  t.equal(green.longLived, 0, 'green longLived 0');
  t.equal(proxy.switchyard.proxy.tunnels.count(), 0, 'no tunnel tracked');
  await assertServes(t, proxy);
});
