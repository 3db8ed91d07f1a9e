// WebSocket and other `Upgrade` requests (SPEC §4, §5): a byte tunnel from the client socket
// to a target of the chosen pool, counted as one of that pool's long-lived connections and
// closed by the drain timeout or at shutdown.
//
// A small tunnel of our own rather than http-proxy's ws(): that one leaves the upstream
// socket open when the client leaves during the handshake, only half-closes the client
// after a non-101 answer, relays a chunked answer with broken framing, and refuses any
// Upgrade other than websocket. Here:
//   connect → write the request head (forwarding headers, Connection/Upgrade kept) and pass
//   client bytes through → read the upstream's response head:
//     101          → relay it and pipe both ways until either side ends, errors or is closed;
//     other status → relay the answer (raw bytes, framing kept, `Connection: close`) and
//                    close both sockets once its body is complete.
// Whatever happens, both sockets are destroyed, every socket has an error listener, and the
// pool's long-lived count goes up once and down exactly once.
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { RequestRecord } from '../observe/request-record.js';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { requestIds } from './request-id.js';
import { clientAddress, incomingRequestId, upstreamRequestHeaders, type ForwardContext } from './headers.js';
import { bodyEnd, parseHead, type BodyEnd, type ParsedHead } from './upstream-answer.js';
import { CLIENT_CLOSED } from './exchange.js';
import { neverReachedUpstream } from './upstream-errors.js';

export interface UpgradeTunnelsOptions {
  /** Same routing as plain HTTP requests. */
  choosePool(req: IncomingMessage): UpstreamPool | undefined;
  /** Upstream connect timeout → 502. */
  connectMs: number;
  /** Time for the upstream to answer: a 101 head, or a whole non-101 answer → 504. Default 30 s. */
  handshakeMs?: number;
  /** How many other targets of the pool to try when a connection cannot be made. Default 0. */
  retryAttempts?(): number;
  /** One access record per tunnel, when it ends. */
  onFinished?(record: RequestRecord): void;
  /** A request header (lower-case) never forwarded: routing.overrideHeader. */
  dropHeader?: string | undefined;
  /** Preview listener: its tunnels are not the pool's long-lived connections (a drain neither waits for nor cuts them). */
  preview?: boolean;
}

/** A tunnel's access record: `bytes` went to the client, `bytesUp` to the upstream. */
export type TunnelRecord = RequestRecord & { bytesUp: number };

const DEFAULT_HANDSHAKE_MS = 30_000;
/** After one side ends, how long the other may take to flush before both are cut. */
const LINGER_MS = 2000;
const MAX_HEAD_BYTES = 64 * 1024;
const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** Hop-by-hop response headers not relayed on a non-101 answer (framing headers are kept: the body goes through as raw bytes). */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/** The forwarded request headers of plain HTTP, plus the two hop-by-hop headers an upgrade needs. */
export function upgradeRequestHeaders(raw: readonly string[], context: ForwardContext): string[] {
  const out = upstreamRequestHeaders(raw, context);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 7 && raw[i]!.toLowerCase() === 'upgrade') out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('Connection', 'Upgrade');
  return out;
}

export class UpgradeTunnels {
  private readonly options: UpgradeTunnelsOptions;
  private readonly byPool = new Map<UpstreamPool, Set<Tunnel>>();

  constructor(options: UpgradeTunnelsOptions) {
    this.options = options;
  }

  /** For `server.on('upgrade')`. Never throws; the socket is always answered or tunnelled. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const startedAt = performance.now();
    socket.on('error', noop); // errors are seen through 'close'; none may crash the process
    const requestId = incomingRequestId(req.rawHeaders) ?? requestIds.next();
    const pool = this.options.choosePool(req);
    const target = pool?.pick();
    if (pool === undefined || target === undefined) {
      const message = pool === undefined ? 'no pool has traffic weight\n' : `no ready target in pool ${pool.name}\n`;
      answerAndClose(socket, 503, 'Service Unavailable', requestId, message, ['Retry-After', '1']);
      this.options.onFinished?.({
        reqId: requestId, method: req.method ?? '', url: req.url ?? '', status: 503, ms: elapsed(startedAt),
        pool: pool?.name ?? null, version: pool?.version ?? null, target: null, retries: 0, bytes: 0, error: 'no ready target',
      });
      return;
    }
    let tunnels = this.byPool.get(pool);
    if (tunnels === undefined) this.byPool.set(pool, (tunnels = new Set()));
    const tunnel = new Tunnel(this, req, socket, head, pool, target, requestId, startedAt);
    tunnels.add(tunnel);
    if (this.options.preview !== true) pool.beginLongLived();
    tunnel.start();
  }

  /** Destroys every tunnel of the pool (drain timeout); returns how many there were. */
  closePool(pool: UpstreamPool): number {
    const tunnels = this.byPool.get(pool);
    if (tunnels === undefined) return 0;
    const count = tunnels.size;
    for (const tunnel of [...tunnels]) tunnel.close('closed by drain timeout');
    return count;
  }

  /** Destroys every tunnel (shutdown); returns how many there were. */
  closeAll(): number {
    let count = 0;
    for (const tunnels of [...this.byPool.values()]) {
      count += tunnels.size;
      for (const tunnel of [...tunnels]) tunnel.close('closed by shutdown');
    }
    return count;
  }

  /** Open tunnels (handshakes in progress included), of one pool or of all. */
  count(pool?: UpstreamPool): number {
    if (pool !== undefined) return this.byPool.get(pool)?.size ?? 0;
    let count = 0;
    for (const tunnels of this.byPool.values()) count += tunnels.size;
    return count;
  }

  /** @internal */
  get handshakeMs(): number {
    return this.options.handshakeMs ?? DEFAULT_HANDSHAKE_MS;
  }

  /** @internal */
  get dropHeader(): string | undefined {
    return this.options.dropHeader;
  }

  /** @internal */
  get connectMs(): number {
    return this.options.connectMs;
  }

  /** @internal */
  get retryAttempts(): number {
    return this.options.retryAttempts?.() ?? 0;
  }

  /** @internal Called exactly once per tunnel. */
  ended(tunnel: Tunnel): void {
    const tunnels = this.byPool.get(tunnel.pool);
    tunnels?.delete(tunnel);
    if (tunnels?.size === 0) this.byPool.delete(tunnel.pool);
    if (this.options.preview !== true) tunnel.pool.endLongLived();
    const record: TunnelRecord = {
      reqId: tunnel.requestId, method: tunnel.req.method ?? '', url: tunnel.req.url ?? '', status: tunnel.status,
      ms: elapsed(tunnel.startedAt), pool: tunnel.pool.name, version: tunnel.pool.version, target: tunnel.target.url,
      retries: tunnel.retries, bytes: tunnel.bytesDown, bytesUp: tunnel.bytesUp,
    };
    if (tunnel.error !== undefined) record.error = tunnel.error;
    this.options.onFinished?.(record);
  }
}

const enum Phase {
  /** Connecting, or waiting for the upstream's response head. */
  Handshake,
  /** Relaying a non-101 answer; both sockets close when it is complete. */
  Answer,
  /** 101 sent: bytes flow both ways. */
  Open,
  /** One side ended; the other is flushing before both are cut. */
  Closing,
  Over,
}

class Tunnel {
  readonly req: IncomingMessage;
  readonly pool: UpstreamPool;
  readonly requestId: string;
  readonly startedAt: number;
  target: Target;
  status = 0;
  retries = 0;
  bytesDown = 0;
  bytesUp = 0;
  error: string | undefined;

  private readonly owner: UpgradeTunnels;
  private readonly client: Duplex;
  private readonly requestHead: Buffer;
  private upstream: Socket | null = null;
  private phase = Phase.Handshake;
  private connected = false;
  private timer: NodeJS.Timeout | null = null;
  private pendingHead: Buffer[] = [];
  private pendingHeadBytes = 0;
  private body: BodyEnd | null = null;
  private tried: Target[] | undefined;

  constructor(owner: UpgradeTunnels, req: IncomingMessage, client: Duplex, head: Buffer, pool: UpstreamPool, target: Target,
    requestId: string, startedAt: number) {
    this.owner = owner;
    this.req = req;
    this.client = client;
    this.pool = pool;
    this.target = target;
    this.requestId = requestId;
    this.startedAt = startedAt;
    const headers = upgradeRequestHeaders(req.rawHeaders,
      { requestId, clientIp: clientAddress(req.socket.remoteAddress), proto: 'http', host: req.headers.host, drop: owner.dropHeader });
    let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.requestHead = head.length === 0 ? Buffer.from(`${text}\r\n`, 'latin1') : Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]);
  }

  start(): void {
    const client = this.client;
    client.on('close', () => this.close(this.phase === Phase.Handshake ? 'client closed the connection' : undefined));
    client.on('end', () => this.clientEnded());
    client.on('timeout', () => this.close('client socket timeout'));
    client.on('drain', () => this.upstream?.resume());
    const socket = client as Partial<Socket>;
    socket.setTimeout?.(0);
    socket.setNoDelay?.(true);
    if (client.destroyed) return this.close('client closed the connection');
    this.connect();
  }

  /** Destroys both sockets now and reports the tunnel once. */
  close(error?: string): void {
    if (this.phase === Phase.Over) return;
    if (this.phase === Phase.Handshake && this.status === 0) {
      // Nothing answered yet: the client left (499), or we cut it (drain timeout, shutdown: 502).
      error ??= 'client closed the connection';
      this.status = error.startsWith('client') ? CLIENT_CLOSED : 502;
    }
    this.phase = Phase.Over;
    if (error !== undefined && this.error === undefined) this.error = error;
    if (this.timer !== null) clearTimeout(this.timer);
    this.client.destroy();
    this.upstream?.destroy();
    this.owner.ended(this);
  }

  // --- upstream connection ---

  private connect(): void {
    const url = new URL(this.target.url);
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const upstream = url.protocol === 'https:'
      ? tlsConnect({ host, port, servername: isIP(host) === 0 ? host : undefined })
      : netConnect({ host, port });
    this.upstream = upstream;
    this.connected = false;
    upstream.setNoDelay(true);
    upstream.on('error', (err) => this.upstreamFailed(upstream, err));
    upstream.on('close', () => this.upstreamClosed(upstream));
    upstream.on('end', () => this.upstreamEnded(upstream));
    upstream.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    upstream.on('drain', () => this.client.resume());
    upstream.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => this.onConnected(upstream));
    this.arm(this.owner.connectMs, () => this.fail(502, 'Bad Gateway', 'upstream unavailable', 'UND_ERR_CONNECT_TIMEOUT: connect timeout'));
  }

  private onConnected(upstream: Socket): void {
    if (upstream !== this.upstream || this.phase === Phase.Over) return;
    this.connected = true;
    this.arm(this.owner.handshakeMs, () => this.fail(504, 'Gateway Timeout', 'upstream did not answer in time', 'upstream handshake timeout'));
    upstream.write(this.requestHead);
    // Client bytes pass through from now on (a WebSocket client waits for the 101; other
    // protocols may send a body). Backpressure: pause the side that writes too fast.
    this.client.on('data', (chunk: Buffer) => {
      this.bytesUp += chunk.length;
      if (this.upstream !== null && !this.upstream.write(chunk)) this.client.pause();
    });
  }

  private upstreamFailed(upstream: Socket, err: NodeJS.ErrnoException): void {
    if (upstream !== this.upstream || this.phase === Phase.Over) return;
    const code = err.code ?? 'UNKNOWN';
    if (!this.connected && neverReachedUpstream(err) && this.retries < this.owner.retryAttempts) {
      (this.tried ??= []).push(this.target);
      const next = this.pool.pick(this.tried);
      if (next !== undefined) {
        upstream.destroy();
        this.retries++;
        this.target = next;
        return this.connect();
      }
    }
    if (this.phase === Phase.Handshake) return this.fail(502, 'Bad Gateway', 'upstream unavailable', `${code}: ${err.message}`);
    this.close(`${code}: ${err.message}`);
  }

  private upstreamClosed(upstream: Socket): void {
    if (upstream !== this.upstream || this.phase === Phase.Over) return;
    if (this.phase === Phase.Handshake) return this.fail(502, 'Bad Gateway', 'upstream unavailable', 'upstream closed before answering');
    if (this.phase === Phase.Answer && this.body !== null && !this.body.delimitedByClose) {
      return this.close('upstream closed before the end of its answer');
    }
    this.close();
  }

  private upstreamEnded(upstream: Socket): void {
    if (upstream !== this.upstream || this.phase === Phase.Over) return;
    switch (this.phase) {
      case Phase.Handshake:
        return this.fail(502, 'Bad Gateway', 'upstream unavailable', 'upstream closed before answering');
      case Phase.Answer:
        // Only an answer delimited by the close ends well here.
        if (this.body?.delimitedByClose === true) return this.finishAnswer();
        return this.close('upstream closed before the end of its answer');
      case Phase.Open:
        return this.halfClosed(this.client);
      default:
        return; // Closing: the other side is flushing; 'close', its end callback or the linger timer finishes
    }
  }

  private clientEnded(): void {
    switch (this.phase) {
      case Phase.Handshake:
        return this.close('client closed the connection');
      case Phase.Open:
        if (this.upstream !== null) return this.halfClosed(this.upstream);
        return this.close();
      default:
        return; // Answer: still relayed, both close after it; Closing: already on the way out
    }
  }

  /** One side ended: end the other (its pending bytes flush), then cut both. */
  private halfClosed(other: Duplex): void {
    this.phase = Phase.Closing;
    other.end(() => this.close());
    this.arm(LINGER_MS, () => this.close());
  }

  // --- upstream → client ---

  private fromUpstream(chunk: Buffer): void {
    switch (this.phase) {
      case Phase.Handshake:
        return this.readHead(chunk);
      case Phase.Answer:
        return this.relayAnswer(chunk);
      case Phase.Open:
      case Phase.Closing:
        return this.toClient(chunk);
      default:
        return;
    }
  }

  private toClient(chunk: Buffer): void {
    this.bytesDown += chunk.length;
    if (!this.client.write(chunk)) this.upstream?.pause();
  }

  private readHead(chunk: Buffer): void {
    this.pendingHead.push(chunk);
    this.pendingHeadBytes += chunk.length;
    const buffered = this.pendingHead.length === 1 ? chunk : Buffer.concat(this.pendingHead, this.pendingHeadBytes);
    this.pendingHead = [buffered];
    const end = buffered.indexOf(CRLF_CRLF);
    if (end === -1) {
      if (this.pendingHeadBytes > MAX_HEAD_BYTES) this.fail(502, 'Bad Gateway', 'upstream unavailable', 'upstream response head too large');
      return;
    }
    this.pendingHead = [];
    this.pendingHeadBytes = 0;
    const head = buffered.subarray(0, end + 4);
    const rest = buffered.subarray(end + 4);
    const parsed = parseHead(head.toString('latin1'));
    if (parsed === null) return this.fail(502, 'Bad Gateway', 'upstream unavailable', 'invalid upstream response head');
    if (parsed.status === 101) return this.open(head, rest);
    if (parsed.status < 200) return rest.length > 0 ? this.readHead(rest) : undefined; // interim answer: not relayed, wait for the real one
    this.answer(parsed, rest);
  }

  private open(head: Buffer, rest: Buffer): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.status = 101;
    this.phase = Phase.Open;
    this.toClient(head);
    if (rest.length > 0) this.toClient(rest);
  }

  /** A non-101 answer: relayed as it came (framing included) with `Connection: close`, then both sockets close. */
  private answer(parsed: ParsedHead, rest: Buffer): void {
    this.status = parsed.status;
    this.phase = Phase.Answer;
    let text = `${parsed.statusLine}\r\n`;
    for (const [name, value] of parsed.headers) {
      if (!HOP_BY_HOP_RESPONSE.has(name.toLowerCase()) && !parsed.connectionTokens.has(name.toLowerCase())) text += `${name}: ${value}\r\n`;
    }
    text += 'Connection: close\r\n\r\n';
    this.toClient(Buffer.from(text, 'latin1'));
    this.body = bodyEnd(parsed, this.req.method === 'HEAD');
    this.relayAnswer(rest);
  }

  private relayAnswer(chunk: Buffer): void {
    const body = this.body!;
    if (!body.done && chunk.length > 0) {
      const used = body.feed(chunk);
      if (used < 0) return this.close('invalid upstream answer framing');
      if (used > 0) this.toClient(used === chunk.length ? chunk : chunk.subarray(0, used));
    }
    if (body.done) this.finishAnswer(); // bytes past the end of the answer are dropped with the upstream socket
  }

  private finishAnswer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.phase = Phase.Closing;
    this.dropUpstream();
    this.client.end(() => this.close());
    this.arm(LINGER_MS, () => this.close());
  }

  /** No answer was relayed yet: answer the client ourselves. */
  private fail(status: number, reason: string, message: string, error: string): void {
    if (this.phase !== Phase.Handshake) return this.close(error);
    this.status = status;
    this.error = error;
    this.phase = Phase.Closing;
    this.dropUpstream();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    answerAndClose(this.client, status, reason, this.requestId, `${message}\n`, null, () => this.close());
  }

  /** Destroys the upstream socket and stops listening to it: what it does next no longer matters. */
  private dropUpstream(): void {
    const upstream = this.upstream;
    this.upstream = null;
    upstream?.destroy();
  }

  private arm(ms: number, action: () => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(action, ms);
  }
}

// --- small helpers ---

/** Writes a whole HTTP/1.1 answer on a raw socket, then destroys it once written (or after a short linger). */
function answerAndClose(socket: Duplex, status: number, reason: string, requestId: string, body: string,
  extra: [string, string] | null, then?: () => void): void {
  let head = `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  if (extra !== null) head += `${extra[0]}: ${extra[1]}\r\n`;
  head += `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n`;
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.destroy();
    then?.();
  };
  const timer = setTimeout(done, LINGER_MS);
  socket.once('close', done);
  if (socket.writable) socket.end(head + body, done);
  else done();
}

function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}

function noop(): void {}
