// Shared by the Upgrade (WebSocket) tests: a WebSocket echo upstream, raw clients that see
// exactly what the proxy sends, a strict HTTP/1.1 answer parser, a recording raw upstream,
// and UpgradeTunnels on a bare node:http server.
import type { Test } from 'tap';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { DEFAULT_LIMITS } from '../../src/config/schema.js';
import { UpstreamPool } from '../../src/pool/upstream-pool.js';
import { Target } from '../../src/pool/target.js';
import { UpstreamClient } from '../../src/proxy/upstream-client.js';
import { UpgradeTunnels, type UpgradeTunnelsOptions } from '../../src/proxy/upgrade-tunnel.js';
import type { RequestRecord } from '../../src/observe/request-record.js';
import { send, withDeadline } from './http-client.js';
import { proxyFor } from './data-plane.js';
import type { TestProxy } from './proxy.js';
export interface WsUpstream {
  url: string;
  server: Server;
  /** Server-side WebSockets currently open. */
  open: Set<WebSocket>;
  /** Upgrade requests seen, in order. */
  seen: IncomingMessage[];
  /** The open server-side WebSocket for a request URL. */
  peer(url: string): WebSocket | undefined;
  connections(): Promise<number>;
  close(): Promise<void>;
}

export interface WsUpstreamOptions {
  /** Answers plain requests, and Upgrade requests too when `refuseUpgrades` is set. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /** No upgrade handler: Node hands Upgrade requests to `onRequest` like any other request. */
  refuseUpgrades?: boolean;
  /** Called instead of completing the handshake (e.g. to never answer). */
  /**
   * Called first with each Upgrade request; returning true leaves its socket to the hook,
   * which may finish the WebSocket handshake later with `complete(head)`.
   */
  onUpgrade?: (req: IncomingMessage, socket: Socket, head: Buffer, complete: (head: Buffer) => void) => boolean;
}

/** An HTTP server whose WebSockets echo: text as `name:text`, binary as is. */
export async function startWsUpstream(name: string, options: WsUpstreamOptions = {}): Promise<WsUpstream> {
  const server = createServer(options.onRequest ?? ((_req, res) => res.end('plain')));
  const open = new Set<WebSocket>();
  const seen: IncomingMessage[] = [];
  const upgraded = new Set<Socket>(); // upgraded sockets are no longer the http server's to close
  const wss = new WebSocketServer({ noServer: true });
  if (options.refuseUpgrades !== true) {
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      seen.push(req);
      upgraded.add(socket);
      socket.on('close', () => upgraded.delete(socket));
      socket.on('error', () => {});
      const complete = (rest: Buffer) => wss.handleUpgrade(req, socket, rest, (ws) => wss.emit('connection', ws, req));
      if (options.onUpgrade?.(req, socket, head, complete) === true) return;
      complete(head);
    });
  }
  const byUrl = new Map<string, WebSocket>();
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    open.add(ws);
    byUrl.set(req.url!, ws);
    ws.on('close', () => {
      open.delete(ws);
      byUrl.delete(req.url!);
    });
    ws.on('error', () => {});
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) ws.send(data as Buffer, { binary: true });
      else ws.send(`${name}:${(data as Buffer).toString()}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    open,
    seen,
    peer: (url) => byUrl.get(url),
    connections: () => connectionsOf(server),
    close: () => new Promise<void>((resolve) => {
      for (const ws of open) ws.terminate();
      for (const socket of upgraded) socket.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export async function wsUpstreamFor(t: Test, name: string, options?: WsUpstreamOptions): Promise<WsUpstream> {
  const upstream = await startWsUpstream(name, options);
  t.teardown(() => upstream.close());
  return upstream;
}

/** A proxy whose open tunnels are closed at teardown, before the proxy itself closes (it waits for its connections). */
export async function tunnelProxyFor(t: Test, pools: Record<string, string[]>, overrides: Record<string, unknown> = {}): Promise<TestProxy> {
  const proxy = await proxyFor(t, pools, overrides);
  t.teardown(() => void proxy.switchyard.proxy.tunnels.closeAll());
  return proxy;
}

export function connectionsOf(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));
}

/** Opens a WebSocket; resolves once open, rejects on error or an unexpected answer. */
export async function openWs(t: Test | null, base: string, path = '/ws', headers?: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, { headers });
  if (t !== null) t.teardown(() => ws.terminate());
  await withDeadline(once(ws, 'open'), 5000, `WebSocket ${path} to open`);
  ws.on('error', () => {});
  return ws;
}

/** Sends one message and resolves with the next one received. */
export function echo(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = new Promise<{ data: Buffer; isBinary: boolean }>((resolve, reject) => {
    const onClose = () => reject(new Error('closed before the echo'));
    ws.once('close', onClose);
    ws.once('message', (message: RawData, isBinary: boolean) => {
      ws.off('close', onClose);
      resolve({ data: message as Buffer, isBinary });
    });
  });
  ws.send(data, { binary: typeof data !== 'string' });
  return withDeadline(reply, 5000, 'echo');
}

/** Resolves with the close code once the WebSocket and its TCP socket are closed. */
export function closed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return withDeadline(once(ws, 'close').then(([code]) => code as number), 5000, 'WebSocket close');
}

/** Connected TCP sockets in this process (client and server ends alike). */
export function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
}

export function upgradeHead(path: string, extra: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`, 'Host: tunnel.example', 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...extra, '', '',
  ].join('\r\n');
}

/** Resolves when the peer of a server-side socket hangs up (FIN or RST); the socket is read so EOF is seen. */
export function hungUp(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('close'));
    socket.resume();
  });
}

export interface HalfOpenClient {
  socket: Socket;
  received(): Buffer;
  /** The server finished sending (FIN): the whole answer is in. */
  ended: Promise<void>;
  closed: Promise<void>;
}

/**
 * A raw client that never closes its side by itself (allowHalfOpen): if the proxy only
 * half-closed instead of releasing its socket, the connection would stay up.
 */
export function halfOpenClient(base: string, text: string | Buffer): HalfOpenClient {
  const url = new URL(base);
  const socket = connect({ port: Number(url.port), host: url.hostname, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  const closedP = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(text);
  return { socket, received: () => Buffer.concat(chunks), ended, closed: closedP };
}

export interface RawAnswer { status: number; headers: Map<string, string[]>; body: Buffer }

/** Parses one HTTP/1.1 response strictly: Content-Length, chunked, or delimited by the close. */
export function parseAnswer(raw: Buffer): RawAnswer {
  const split = raw.indexOf('\r\n\r\n');
  if (split === -1) throw new Error(`no response head in ${JSON.stringify(raw.toString('latin1'))}`);
  const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  let rest = raw.subarray(split + 4);
  let body: Buffer;
  if (headers.get('transfer-encoding')?.some((v) => /chunked/i.test(v))) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (eol === -1 || Number.isNaN(size)) throw new Error(`bad chunked framing: ${JSON.stringify(rest.toString('latin1'))}`);
      if (size === 0) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 4 + size);
    }
    body = Buffer.concat(parts);
  } else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length')![0]);
    if (rest.length !== length) throw new Error(`content-length ${length} but ${rest.length} body bytes`);
    body = rest;
  } else body = rest;
  return { status: Number(statusLine!.split(' ')[1]), headers, body };
}

/** What node:http's own client parser makes of an Upgrade request answered without 101. */
export function upgradeViaNode(base: string, path: string): Promise<{ status: number; body: string }> {
  return send(base, path, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    .then((answer) => ({ status: answer.status, body: answer.body.toString() }));
}

/** Upgrade requests to /deny get 403 with a Content-Length body; /chunked gets a chunked 200. */
export function refusingHandler(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  if (req.url === '/ok') return void res.end('ok');
  if (req.url?.startsWith('/deny')) {
    res.writeHead(403, 'Forbidden', { 'content-type': 'text/plain', 'x-why': 'no-ticket' });
    return void res.end('not allowed here');
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('no ');
  setImmediate(() => res.end('upgrade for you'));
}

/** UpgradeTunnels on a plain node:http server, without the rest of Switchyard (one pool, no health checks). */
export async function bareTunnels(t: Test, targets: string[], options: Partial<UpgradeTunnelsOptions> = {}, headersMs = 1000) {
  const blue = new UpstreamPool('blue', 'v1', []);
  blue.targets = targets.map((url) => new Target(url, 'blue', () => new UpstreamClient(url, { connectMs: 1000, headersMs })));
  t.teardown(() => Promise.all(blue.targets.map((target) => target.destroyConnections())));
  const records: RequestRecord[] = [];
  const tunnels = new UpgradeTunnels({ choosePool: () => blue, limits: DEFAULT_LIMITS, onFinished: (record) => records.push(record), ...options });
  const server = createServer((_req, res) => res.end());
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => tunnels.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    tunnels.closeAll();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, tunnels, records, pool: blue };
}

export function pool(proxy: TestProxy, name: string): UpstreamPool {
  return proxy.switchyard.pools.get(name)!;
}

export async function flip(proxy: TestProxy, to: string): Promise<void> {
  const response = await fetch(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool: to }) });
  await response.text();
  if (response.status !== 200) throw new Error(`flip to ${to}: ${response.status}`);
}

export interface RecordingUpstream {
  url: string;
  /** Every byte received, over all connections, in arrival order per connection. */
  received(): string;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections open now. */
  open(): number;
  close(): Promise<void>;
}

/**
 * A non-Node origin in miniature: a raw TCP server that records every byte it receives and
 * answers each request head with `answer(head)` (a string to write, `null` to say nothing
 * yet). It parses nothing but the blank line after a head, so a request smuggled behind
 * another one is seen and answered like any other, as Go, nginx or Python would.
 */
export async function startRecordingUpstream(answer: (head: string, socket: Socket) => string | null, host = '127.0.0.1'): Promise<RecordingUpstream> {
  let received = '';
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const reply = answer(head, socket);
        if (reply !== null) socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    received: () => received,
    accepted: () => accepted,
    open: () => sockets.size,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

export async function recordingUpstreamFor(t: Test, answer: (head: string, socket: Socket) => string | null, host?: string): Promise<RecordingUpstream> {
  const upstream = await startRecordingUpstream(answer, host);
  t.teardown(() => upstream.close());
  return upstream;
}

/** A masked WebSocket text frame as a client sends it (RFC 6455 §5.2), for raw clients. */
export function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('short frames only');
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** The server-side sockets a server accepts from now on (their `bytesRead` tells what the server has read). */
export function acceptedSockets(server: Server): Socket[] {
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  return sockets;
}

/**
 * For a "nothing happens" assertion: polls `check` for `ms` and resolves false as soon as it
 * fails, true if it held throughout. There is no event for something that must not happen;
 * `ms` is how long it was given to happen.
 */
export async function holdsFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!check()) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

/** The smuggling packet of issue #11: an Upgrade request with a second request right behind it. */
export function smugglingPacket(path: string, extra: string[] = []): string {
  return upgradeHead(path, extra) + 'GET /admin HTTP/1.1\r\nHost: tunnel.example\r\nX-Forwarded-For: 10.6.6.6\r\n\r\n';
}
