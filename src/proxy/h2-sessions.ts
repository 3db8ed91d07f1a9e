// Downstream HTTP/2 (SPEC §14): one non-listening node:http2 server per listener, handed the
// sockets of HTTP/2 clients by the listener that accepted them — an h2c client by its connection
// preface on the plain listener (RFC 9113 §3.3, prior knowledge), a TLS client by ALPN `h2` on
// the HTTPS listener (RFC 9113 §3.2). HTTP/1.1 sockets stay with node:http as before, so the
// HTTP/1.1 path (its parser limits, 100-continue, Upgrade, clientError answers) is untouched.
// Each stream arrives as a request through Node's compatibility API and takes the same path as
// an HTTP/1.1 request (ProxyServer.handle).
import { createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { sniffPreface } from './h2-preface.js';

export interface H2SessionsOptions {
  /** Each stream, as a compatibility request/response pair. */
  onRequest(req: Http2ServerRequest, res: Http2ServerResponse): void;
  /** limits.maxHeaderBytes: the largest header list a client may send (SETTINGS_MAX_HEADER_LIST_SIZE). */
  maxHeaderBytes: number;
  /** A session with no open stream for this long is closed with GOAWAY (timeouts.keepAliveMs, as HTTP/1.1's keep-alive). */
  idleMs: number;
  /**
   * limits.requestHeadMs: an h2c client must finish its 24-byte preface within it, and a session
   * sent GOAWAY for being idle must be gone within it (a half-sent HEADERS block holds it).
   */
  prefaceMs: number;
}

/**
 * Streams one client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). Node's default is
 * unbounded; RFC 9113 §6.5.2 recommends no less than 100; nginx (`http2_max_concurrent_streams`)
 * and Envoy's edge recommendation use 128 / 100. With the rapid-reset bound below it caps what
 * one connection can make the proxy hold.
 */
export const MAX_CONCURRENT_STREAMS = 128;

/**
 * Streams a client may open beyond the limit before its session is closed (Node's
 * `maxSessionRejectedStreams`), and invalid frames likewise (`maxSessionInvalidFrames`). The
 * HTTP/2 rapid reset attack (CVE-2023-44487) opens and cancels streams in a loop: nghttp2 in
 * Node 20.8.1+ bounds the RST_STREAM rate and ends such a session with GOAWAY (INTERNAL_ERROR,
 * as the break-in test saw after ~1000 streams); each reset stream still costs one upstream
 * attempt until then, within `limits.maxPendingPerTarget`.
 */
const MAX_REJECTED_STREAMS = 100;
const MAX_INVALID_FRAMES = 100;

type Counted = Http2Session & { [kOpen]?: number; [kIdle]?: NodeJS.Timeout | null };
const kOpen = Symbol('openStreams');
const kIdle = Symbol('idleTimer');

export class H2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Set<Http2Session>();
  /** Connections whose first bytes have not yet told HTTP/1.1 from HTTP/2. */
  private readonly sniffing = new Set<Socket>();
  private readonly options: H2SessionsOptions;
  private closing = false;

  constructor(options: H2SessionsOptions) {
    this.options = options;
    this.server = createServer({
      // The header list limit is enforced per stream by admitH2 (431, as HTTP/1.1); the SETTINGS
      // value, which HPACK counts with 32 bytes per field on top (RFC 7541 §4.1), is only the
      // protocol-level backstop.
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: 2 * options.maxHeaderBytes + 32 * 512 },
      maxSessionRejectedStreams: MAX_REJECTED_STREAMS,
      maxSessionInvalidFrames: MAX_INVALID_FRAMES,
      // Header pairs per block; Node's default (128) would refuse lists HTTP/1.1 accepts.
      maxHeaderListPairs: 512,
    }, (req, res) => options.onRequest(req, res));
    this.server.on('session', (session: Http2Session) => this.opened(session as Counted));
    // A broken session or stream concerns that client only; without listeners Node would throw.
    this.server.on('sessionError', ignore);
    this.server.on('streamError', ignore);
  }

  /** Open sessions (one per HTTP/2 client connection). */
  get size(): number {
    return this.sessions.size;
  }

  /** A connection whose client speaks HTTP/2 from its first byte (ALPN h2, or the preface sniffed): it becomes a session. */
  adopt(socket: Socket | TLSSocket): void {
    // node:http and node:https accept sockets half-open (they end them themselves); a session's
    // socket must close once the client's end arrives, or the session never closes — nor its
    // streams, whose requests would stay in flight for good.
    socket.allowHalfOpen = false;
    this.server.emit('connection', socket);
    // node:http2 reads what is buffered on the socket itself, on its next tick (the sniffed
    // preface). Then the socket must flow, or its end is never read (a sniffed one was paused).
    process.nextTick(resumeSocket, socket);
  }

  /**
   * Takes over the plain listener's connections: each is read until its first bytes tell an
   * h2c preface (→ a session) from anything else (→ node:http's own connection handler, as
   * before). The bytes read are put back, so neither side misses any.
   */
  sniffOn(server: HttpServer): void {
    const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => this.sniff(socket, (plain) => {
      for (const listener of http1) listener.call(server, plain);
    }));
  }

  /** Takes over the HTTPS listener's handshaken connections: ALPN `h2` → a session, the rest → node:https as before. */
  alpnOn(server: HttpsServer): void {
    const http1 = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
    server.removeAllListeners('secureConnection');
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') return this.adopt(socket);
      for (const listener of http1) listener.call(server, socket);
    });
  }

  /**
   * Shutdown begins: GOAWAY to every session (RFC 9113 §6.8); their open streams finish, new
   * ones are refused. Connections that have not yet said what they speak carry no request: closed.
   */
  goAway(): void {
    this.closing = true;
    for (const session of this.sessions) if (!session.closed) session.close();
    for (const socket of this.sniffing) socket.destroy();
  }

  /** Shutdown grace over: every session is cut. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sniffing) socket.destroy();
  }

  private sniff(socket: Socket, http1: (socket: Socket) => void): void {
    let seen: Buffer | null = null;
    const timer = setTimeout(() => socket.destroy(), this.options.prefaceMs);
    timer.unref();
    this.sniffing.add(socket);
    const decide = (to: 'h2' | 'http1'): void => {
      clearTimeout(timer);
      this.sniffing.delete(socket);
      socket.off('data', onData);
      socket.off('error', ignore);
      socket.off('close', onClose);
      socket.off('end', onEnd);
      socket.pause();
      if (seen !== null) socket.unshift(seen);
      if (to === 'h2') return this.adopt(socket);
      http1(socket);
      socket.resume();
    };
    const onData = (chunk: Buffer): void => {
      seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
      const verdict = sniffPreface(seen);
      if (verdict !== 'more') decide(verdict);
    };
    const onClose = (): void => {
      clearTimeout(timer);
      this.sniffing.delete(socket);
    };
    // The client stopped sending before its first bytes said HTTP/1.1 or HTTP/2 (nothing, or a
    // piece of the preface): nothing more will come. node:http accepts half-open sockets; left
    // alone this one would sit in CLOSE-WAIT until prefaceMs and hold a shutdown that long.
    const onEnd = (): void => void socket.destroy();
    socket.on('data', onData);
    socket.on('error', ignore);
    socket.on('close', onClose);
    socket.on('end', onEnd);
  }

  private opened(session: Counted): void {
    if (this.closing) {
      session.close();
      return;
    }
    this.sessions.add(session);
    session[kOpen] = 0;
    session[kIdle] = null;
    this.idle(session);
    session.on('error', ignore);
    session.on('stream', (stream: ServerHttp2Stream) => {
      session[kOpen]! += 1;
      if (session[kIdle] !== null) {
        clearTimeout(session[kIdle]!);
        session[kIdle] = null;
      }
      stream.on('error', ignore);
      stream.once('close', () => {
        session[kOpen]! -= 1;
        if (session[kOpen] === 0 && !session.closed) this.idle(session);
      });
    });
    session.once('close', () => {
      if (session[kIdle] !== null) clearTimeout(session[kIdle]!);
      this.sessions.delete(session);
    });
  }

  /** No stream open: GOAWAY after idleMs unless one opens (HTTP/1.1's keep-alive timeout, for sessions). */
  private idle(session: Counted): void {
    session[kIdle] = setTimeout(() => {
      session[kIdle] = null;
      if (session[kOpen] !== 0 || session.closed) return;
      session.close();
      // A graceful close waits for streams nghttp2 still holds open: a HEADERS block the client
      // never finished (slowloris over HTTP/2) is one, and no request of ours. Past the head
      // deadline the session is cut, as an HTTP/1.1 connection with a half-sent head is (408).
      setTimeout(destroySession, this.options.prefaceMs, session).unref();
    }, this.options.idleMs);
    session[kIdle].unref();
  }
}

function destroySession(session: Http2Session): void {
  if (!session.destroyed) session.destroy();
}

function resumeSocket(socket: Socket): void {
  if (!socket.destroyed) socket.resume();
}

function ignore(): void {}
