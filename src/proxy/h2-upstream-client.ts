// The upstream HTTP/2 client (SPEC §14 `pools.NAME.protocol: h2c | h2`): node:http2 sessions to
// one target, many streams on each. It drives the Exchange unchanged through undici's legacy
// dispatch-handler callbacks, so an HTTP/2 target looks like any other to the request path.
//
// Why node:http2 and not undici's H2CClient: on a backend's graceful GOAWAY(lastStreamId),
// node:http2 finishes the streams up to lastStreamId and ends the later ones with
// REFUSED_STREAM, which this client retries (test/h2/goaway-client-choice.test.ts).
//
// Each request is an H2Request (h2-upstream-request.ts); header conversion and error codes are
// in h2-protocol.ts. This file owns the sessions: opening, sharing, GOAWAY, idle, close.
import http2, { type ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { DEFAULT_UPSTREAM_TLS, type UpstreamTlsSource } from '../tls/upstream-tls.js';
import { H2ClientError, H2_NOT_NEGOTIATED, destroyedError } from './h2-protocol.js';
import { H2Request, newRequest } from './h2-upstream-request.js';
import { UpstreamClient, connectOptions, type TargetClient, type UpstreamClientOptions } from './upstream-client.js';

/** The client's error codes and error class (h2-protocol.ts), for those who meet them. */
export { H2ClientError, H2_NOT_NEGOTIATED, H2_REFUSED_STREAM, H2_STREAM_RESET } from './h2-protocol.js';

const DEFAULT_CONNECTIONS = 256;
/**
 * An idle session (no stream) closes after this long. Longer than the HTTP/1.1 client's 4 s: an
 * HTTP/2 server closing an idle session says so first with GOAWAY (RFC 9113 §6.8), so reusing one
 * it is closing costs at most a refused stream, retried here; a minute keeps sessions warm across
 * bursts (nginx's upstream `keepalive_timeout` default) while the sessions of a target no longer
 * picked (after a flip) go away on their own. The timer is unref'd: it never holds the process.
 */
export const SESSION_IDLE_MS = 60_000;
/**
 * Streams assumed to fit on a session still connecting (the peer's SETTINGS not yet read): RFC
 * 9113 §6.5.2 recommends a limit of at least 100. More requests than that open another session.
 */
const ASSUMED_STREAMS = 100;
/**
 * Flow-control windows we grant. A paused stream (a slow client) holds at most STREAM_WINDOW
 * bytes here before the upstream must stop sending (RFC 9113 §5.2); the session window is large
 * enough that many paused streams do not stall the other streams of their session.
 */
const STREAM_WINDOW = 256 * 1024;
const SESSION_WINDOW = 32 * 1024 * 1024;
const SESSION_SETTINGS: http2.Settings = { enablePush: false, initialWindowSize: STREAM_WINDOW };
/** Node's credit limit (MB) for a session's outbound queue and header tables; past it new streams are refused locally. */
const MAX_SESSION_MEMORY_MB = 64;



const kSession = Symbol('h2Session');
type TaggedSession = ClientHttp2Session & { [kSession]: Session };

type Handler = Dispatcher.DispatchHandler;

/** One session and what this client knows of it. */
export class Session {
  /** Our streams open on it (counted until each stream's 'close'). */
  active = 0;
  /** Streams ever started on it: the first one is on a fresh connection. */
  started = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, once read. */
  max = ASSUMED_STREAMS;
  /** The peer's SETTINGS arrived: streams may start. */
  ready = false;
  /** GOAWAY received (or we are closing it): no new streams. */
  draining = false;
  /** The GOAWAY's lastStreamId: streams above it were never processed. -1 before any GOAWAY. */
  goawayLast = -1;
  /** Requests waiting for this session to connect. */
  readonly pending: H2Request[] = [];
  connectTimer: NodeJS.Timeout | null = null;
  idleTimer: NodeJS.Timeout | null = null;
  /** What ended it (a socket error, a connect timeout), for the requests still waiting on it. */
  error: Error | null = null;
  constructor(readonly h2: ClientHttp2Session, readonly client: H2UpstreamClient, readonly dedicated: boolean) {}

  get usable(): boolean {
    return this.ready && !this.draining && this.active < this.max && !this.h2.closed && !this.h2.destroyed;
  }
}

export class H2UpstreamClient implements TargetClient {
  readonly origin: string;
  waiting = 0;
  private readonly options: UpstreamClientOptions;
  private readonly connections: number;
  private readonly scheme: 'http' | 'https';
  /** `host:port` of the origin, the `:authority` of a request without a Host. */
  private readonly authority: string;
  private readonly host: string;
  private readonly port: number;
  /** Sessions shared by requests (at most `connections`), oldest first: streams fill the oldest with room. */
  private readonly sessions: Session[] = [];
  /** Sessions opened for one request each (dispatchFresh), closed after it. */
  private readonly dedicated = new Set<Session>();
  /** Requests waiting for room once `connections` sessions are all full. */
  private queue: H2Request[] = [];
  private connectedCount = 0;
  /** Set just before a handler's onConnect when its stream is the first of a new session. */
  private freshStream = false;
  private closing = false;
  private destroyed = false;
  private whenClosed: (() => void) | null = null;
  /** HTTP/1.1 client for Upgrade requests (WebSocket), made on first use. */
  private h1: UpstreamClient | null = null;

  /**
   * `origin`: `http://host:port` (h2c, prior knowledge: RFC 9113 §3.3) or `https://host:port` (TLS,
   * ALPN `h2`). `options`: connectMs (connect + TLS + the peer's SETTINGS), headersMs (request sent →
   * response head), connections (cap on sessions, default 256). `servername`: SNI and verify name
   * (see upstreamServerName), null for none. `tls`: the pool's upstream TLS, read at each new session.
   */
  constructor(origin: string, options: UpstreamClientOptions, private readonly servername: string | null = null,
    private readonly tls: UpstreamTlsSource | null = null) {
    this.origin = origin;
    this.options = options;
    this.connections = Math.max(1, options.connections ?? DEFAULT_CONNECTIONS);
    const url = new URL(origin);
    this.scheme = url.protocol === 'https:' ? 'https' : 'http';
    this.authority = url.host;
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = url.port === '' ? (this.scheme === 'https' ? 443 : 80) : Number(url.port);
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    if ((options as { upgrade?: unknown }).upgrade) return this.http1().dispatch(options, handler);
    if (this.closing) return refuseClosed(handler, this.destroyed);
    const request = newRequest(this, options, handler);
    if (request !== null) this.place(request, true);
    return true;
  }

  /** On a session opened for this request alone, closed after it (the stale-connection retry). */
  dispatchFresh(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    if ((options as { upgrade?: unknown }).upgrade) return this.http1().dispatchFresh(options, handler);
    if (this.closing) return refuseClosed(handler, this.destroyed);
    const request = newRequest(this, options, handler);
    if (request !== null) this.openSession(true).pending.push(request);
    return true;
  }

  takeFreshConnection(): boolean {
    if (this.freshStream) {
      this.freshStream = false;
      return true;
    }
    return this.h1?.takeFreshConnection() ?? false;
  }

  /** Connected sessions (connecting ones not counted), plus the Upgrade client's idle connections. */
  get connected(): number {
    return this.connectedCount + (this.h1?.connected ?? 0);
  }

  get closed(): boolean {
    return this.closing;
  }

  /** Graceful: requests already dispatched (queued ones too) finish, then every session closes; new dispatches fail with UND_ERR_CLOSED. */
  async close(): Promise<void> {
    const h1 = this.h1?.close();
    if (!this.closing) {
      this.closing = true;
      for (const session of this.allSessions()) this.closeIfIdle(session);
    }
    await Promise.all([h1, this.settled()]);
  }

  /** Immediate: every session is destroyed; open and queued requests fail with UND_ERR_DESTROYED. */
  async destroy(): Promise<void> {
    const h1 = this.h1?.destroy();
    if (!this.destroyed) {
      this.closing = true;
      this.destroyed = true;
      const err = destroyedError();
      const queue = this.queue;
      this.queue = [];
      for (const request of queue) request.fail(err);
      for (const session of this.allSessions()) {
        session.error = err;
        const pending = session.pending.splice(0);
        for (const request of pending) request.fail(err);
        session.h2.destroy();
      }
    }
    await Promise.all([h1, this.settled()]);
  }

  // --- placing requests on sessions ---

  /**
   * Starts `request` on the oldest session with room; else waits for a connecting one with room
   * assumed; else opens a session (up to `connections`); else queues it (queued: true) or
   * returns false. Sessions going away (GOAWAY) take nothing new.
   */
  place(request: H2Request, queue: boolean): boolean {
    const sessions = this.sessions;
    for (let i = 0; i < sessions.length; i++) {
      if (sessions[i]!.usable) {
        request.start(sessions[i]!);
        return true;
      }
    }
    for (let i = 0; i < sessions.length; i++) {
      const session = sessions[i]!;
      if (!session.ready && !session.draining && !session.h2.destroyed && session.pending.length < ASSUMED_STREAMS) {
        session.pending.push(request);
        return true;
      }
    }
    if (sessions.length < this.connections && !this.destroyed) {
      this.openSession(false).pending.push(request);
      return true;
    }
    if (queue) this.queue.push(request);
    return false;
  }

  /** Queued requests go where there is room now (a slot freed, a session closed or raised its limit). */
  private pump(): void {
    while (this.queue.length > 0) {
      const request = this.queue[0]!;
      if (request.done) {
        this.queue.shift();
        continue;
      }
      if (!this.place(request, false)) return;
      this.queue.shift();
    }
  }

  private openSession(dedicated: boolean): Session {
    const h2 = http2.connect(this.origin, this.sessionOptions()) as TaggedSession;
    const session = new Session(h2, this, dedicated);
    h2[kSession] = session;
    h2.on('connect', onSessionConnect);
    h2.on('remoteSettings', onRemoteSettings);
    h2.on('goaway', onGoaway);
    h2.on('error', onSessionError);
    h2.on('close', onSessionClose);
    session.connectTimer = setTimeout(onConnectTimeout, this.options.connectMs, session);
    if (dedicated) this.dedicated.add(session);
    else this.sessions.push(session);
    return session;
  }

  /** TLS options are read here, per new session: a rotated CA or client certificate reaches new sessions only. */
  private sessionOptions(): http2.SecureClientSessionOptions {
    const base: http2.SecureClientSessionOptions = { settings: SESSION_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB };
    if (this.scheme === 'http') return base;
    const options: tls.ConnectionOptions = {
      ...(connectOptions(this.tls?.current ?? DEFAULT_UPSTREAM_TLS) as tls.ConnectionOptions),
      host: this.host,
      port: this.port,
      ALPNProtocols: ['h2'],
    };
    if (this.servername !== null) options.servername = this.servername;
    base.createConnection = () => {
      const socket = tls.connect(options);
      // Before node:http2's own listener: a server that did not pick h2 never gets our preface.
      socket.once('secureConnect', checkAlpn);
      return socket;
    };
    return base;
  }

  /** The peer's SETTINGS arrived: streams may start, up to its limit; waiting requests beyond it go elsewhere. */
  sessionReady(session: Session, max: number): void {
    if (session.connectTimer !== null) {
      clearTimeout(session.connectTimer);
      session.connectTimer = null;
    }
    session.ready = true;
    this.connectedCount++;
    session.max = max;
    const pending = session.pending.splice(0);
    for (let i = 0; i < pending.length; i++) {
      const request = pending[i]!;
      if (request.done) continue;
      if (session.dedicated || session.usable) request.start(session);
      else this.place(request, true);
    }
    this.afterStream(session);
  }

  /** The peer changed its stream limit on a connected session. */
  sessionLimit(session: Session, max: number): void {
    const raised = max > session.max;
    session.max = max;
    if (raised) this.pump();
  }

  /** GOAWAY: no new streams here; requests still waiting for it to connect go elsewhere. */
  sessionGoaway(session: Session, lastStreamId: number): void {
    session.draining = true;
    session.goawayLast = lastStreamId;
    this.clearIdle(session);
    const pending = session.pending.splice(0);
    for (const request of pending) this.replace(request, session);
  }

  /** A request that was waiting for `from` goes to another session (a dedicated one opens anew). */
  private replace(request: H2Request, from: Session): void {
    if (request.done) return;
    if (from.dedicated && !this.destroyed) this.openSession(true).pending.push(request);
    else this.place(request, true);
  }

  sessionClosed(session: Session): void {
    if (session.connectTimer !== null) clearTimeout(session.connectTimer);
    this.clearIdle(session);
    if (session.ready) this.connectedCount--;
    if (session.dedicated) this.dedicated.delete(session);
    else {
      const index = this.sessions.indexOf(session);
      if (index >= 0) this.sessions.splice(index, 1);
    }
    // Waiting for a session that never connected: its error is theirs (the Exchange retries elsewhere).
    const pending = session.pending.splice(0);
    if (pending.length > 0) {
      const err = this.destroyed ? destroyedError() : connectError(session.error);
      for (const request of pending) request.fail(err);
    }
    this.pump();
    this.checkSettled();
  }

  /** A stream of `session` ended (or never started): its slot goes to a queued request, or the session idles. */
  afterStream(session: Session): void {
    if (session.dedicated) {
      // Its one request ended (or was aborted while it connected): it serves no other.
      if (session.active === 0 && session.pending.length === 0 && session.ready && !session.h2.closed) session.h2.close();
      return;
    }
    if (this.queue.length > 0 && session.usable) this.pump();
    if (session.active === 0 && session.pending.length === 0) {
      if (this.closing) this.closeIfIdle(session);
      else if (session.ready && !session.draining && session.idleTimer === null) {
        session.idleTimer = setTimeout(onIdle, SESSION_IDLE_MS, session);
        session.idleTimer.unref();
      }
    } else this.clearIdle(session);
  }

  clearIdle(session: Session): void {
    if (session.idleTimer !== null) {
      clearTimeout(session.idleTimer);
      session.idleTimer = null;
    }
  }

  /** Closes a session with nothing running or waiting (node:http2 `close()`: streams still open finish first). */
  closeIfIdle(session: Session): void {
    if (session.active > 0 || session.pending.length > 0) return;
    if (this.queue.length > 0) {
      this.queue = this.queue.filter((request) => !request.done); // aborted ones wait for nothing
      if (this.queue.length > 0) return;
    }
    this.clearIdle(session);
    session.draining = true;
    if (!session.h2.closed) session.h2.close();
  }

  /** Tells the next takeFreshConnection (from the handler's onConnect) whether its stream opened the session. */
  setFresh(fresh: boolean): void {
    this.freshStream = fresh;
  }

  clearFresh(): void {
    this.freshStream = false;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private allSessions(): Session[] {
    return [...this.sessions, ...this.dedicated];
  }

  private settled(): Promise<void> {
    if (this.sessions.length === 0 && this.dedicated.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const before = this.whenClosed;
      this.whenClosed = () => {
        before?.();
        resolve();
      };
    });
  }

  private checkSettled(): void {
    if (!this.closing || this.sessions.length > 0 || this.dedicated.size > 0 || this.whenClosed === null) return;
    const done = this.whenClosed;
    this.whenClosed = null;
    done();
  }

  private http1(): UpstreamClient {
    return this.h1 ??= new UpstreamClient(this.origin, this.options, this.servername, this.tls);
  }

  /** The `:scheme` and default `:authority` of requests to this target. */
  get requestScheme(): 'http' | 'https' {
    return this.scheme;
  }

  get defaultAuthority(): string {
    return this.authority;
  }

  get headersMs(): number {
    return this.options.headersMs;
  }
}

/** A session that never connected: the node error itself (ECONNREFUSED, a certificate refusal...), code kept. */
function connectError(err: Error | null): Error {
  return err ?? new H2ClientError('UND_ERR_SOCKET', 'upstream closed the connection before HTTP/2 was set up');
}

function refuseClosed(handler: Handler, destroyed: boolean): boolean {
  handler.onError?.(destroyed ? destroyedError() : new H2ClientError('UND_ERR_CLOSED', 'the upstream client is closed'));
  return true;
}


// --- module-level session listeners (`this` is the tagged session) ---

function onSessionConnect(this: TaggedSession, _session: ClientHttp2Session, socket: Socket): void {
  // node:http2 ends a finished session's socket and then waits for the peer to close its side
  // (a node:http2 server may never), holding the session's 'close' and our count of it: once our
  // side is flushed (GOAWAY sent, every stream over) the socket is done.
  socket.once('finish', destroySocket);
  // Our receive window for the whole session (the per-stream one is in SETTINGS).
  try {
    this.setLocalWindowSize(SESSION_WINDOW);
  } catch {
    // destroyed in the same turn: its 'close' follows
  }
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function onRemoteSettings(this: TaggedSession, settings: http2.Settings): void {
  const session = this[kSession];
  const max = settings.maxConcurrentStreams ?? ASSUMED_STREAMS;
  if (!session.ready) session.client.sessionReady(session, max);
  else if (max !== session.max) session.client.sessionLimit(session, max);
}

function onGoaway(this: TaggedSession, _code: number, lastStreamId: number): void {
  const session = this[kSession];
  session.client.sessionGoaway(session, lastStreamId);
}

function onSessionError(this: TaggedSession, err: Error): void {
  this[kSession].error ??= err;
}

function onSessionClose(this: TaggedSession): void {
  const session = this[kSession];
  session.client.sessionClosed(session);
}

function onConnectTimeout(session: Session): void {
  session.connectTimer = null;
  if (session.ready) return;
  session.error ??= new H2ClientError('UND_ERR_CONNECT_TIMEOUT', 'connect timeout (upstream HTTP/2 session not set up in time)');
  session.h2.destroy();
}

function onIdle(session: Session): void {
  session.idleTimer = null;
  session.client.closeIfIdle(session);
}

function checkAlpn(this: TLSSocket): void {
  if (this.alpnProtocol === 'h2') return;
  this.destroy(new H2ClientError(H2_NOT_NEGOTIATED, `upstream did not agree to HTTP/2 in ALPN (chose ${this.alpnProtocol || 'none'})`));
}
