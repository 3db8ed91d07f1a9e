// The upstream HTTP/2 client (SPEC §14 `pools.NAME.protocol: h2c | h2`): node:http2 sessions to
// one target, many streams on each. It drives the Exchange unchanged through undici's legacy
// dispatch-handler callbacks, so an HTTP/2 target looks like any other to the request path.
//
// Why node:http2 and not undici's H2CClient: on a backend's graceful GOAWAY(lastStreamId),
// node:http2 finishes the streams up to lastStreamId and ends the later ones with
// REFUSED_STREAM, which this client retries (test/h2/goaway-client-choice.test.ts).
//
// Per request one H2Request object; its stream and body listeners are module functions on a
// tagged stream or body (no closure per request or per chunk).
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { DEFAULT_UPSTREAM_TLS, type UpstreamTlsSource } from '../tls/upstream-tls.js';
import { UpstreamClient, connectOptions, type TargetClient, type UpstreamClientOptions } from './upstream-client.js';
import { H2_REFUSED_STREAM } from './upstream-errors.js';

/**
 * `H2_REFUSED_STREAM` (upstream-errors.ts, which classifies it): the upstream refused the stream
 * before processing it — RST_STREAM REFUSED_STREAM, a GOAWAY whose lastStreamId is below it, or a
 * session already going away when the stream was opened (RFC 9113 §8.7). Raised only when the
 * client's own one retry on another session was not possible (a streamed body, an answer begun)
 * or was refused too.
 */
export { H2_REFUSED_STREAM };
/** The upstream reset the stream (RST_STREAM other than REFUSED_STREAM, or an end before the response did): maybe processed, not retryable. */
export const H2_STREAM_RESET = 'H2_STREAM_RESET';
/** An `https:` target did not choose `h2` in ALPN (RFC 7301): it speaks HTTP/1.1 only, or the pool's protocol is wrong. No request was sent. */
export const H2_NOT_NEGOTIATED = 'H2_NOT_NEGOTIATED';

/** An error of this client, with the `code` upstream-errors.ts classifies by. */
export class H2ClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

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

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** RFC 9113 §8.2.2 connection-specific fields (never sent in HTTP/2), plus the h2c upgrade's own. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

const kRequest = Symbol('h2Request');
const kSession = Symbol('h2Session');
type TaggedStream = ClientHttp2Stream & { [kRequest]: H2Request };
type TaggedBody = Readable & { [kRequest]?: H2Request | undefined };
type TaggedSession = ClientHttp2Session & { [kSession]: Session };

type Handler = Dispatcher.DispatchHandler;

/** One session and what this client knows of it. */
class Session {
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

/**
 * One dispatched request, across its stream and (once) its refusal retry. Exactly one of
 * handler.onComplete / handler.onError is called (`done`), whatever calls abort and when.
 */
class H2Request {
  done = false;
  private readonly headers: OutgoingHttpHeaders;
  private readonly body: Buffer | Readable | null;
  private stream: TaggedStream | null = null;
  private session: Session | null = null;
  /** onConnect was called (once per dispatch, not again for the retry). */
  private connected = false;
  /** onResponseStarted / onHeaders were called: the answer began, no retry any more. */
  private answered = false;
  private retried = false;
  private bodyAttached = false;
  private trailers: Buffer[] | null = null;
  private headersTimer: NodeJS.Timeout | null = null;

  constructor(private readonly client: H2UpstreamClient, options: Dispatcher.DispatchOptions, private readonly handler: Handler) {
    this.headers = requestHeaders(options, client.requestScheme, client.defaultAuthority);
    this.body = requestBody(options.body);
  }

  /** Opens the stream on `session` (which has room). */
  start(session: Session): void {
    session.active++;
    const fresh = session.started++ === 0;
    this.client.clearIdle(session);
    if (!this.connected) {
      this.connected = true;
      this.client.setFresh(fresh);
      try {
        this.handler.onConnect?.(this.abort);
      } finally {
        this.client.clearFresh();
      }
    }
    if (this.done) return this.release(session); // aborted from onConnect
    let stream: TaggedStream;
    try {
      stream = session.h2.request(this.headers, { endStream: this.body === null }) as TaggedStream;
    } catch (err) {
      this.release(session);
      const code = (err as { code?: unknown }).code;
      // The session went away between our check and now (a GOAWAY or close in the same turn): never sent.
      if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') {
        session.draining = true;
        return this.refused(err);
      }
      // Node refused the request as given (a header it will not send): the same on every target.
      return this.fail(new H2ClientError('UND_ERR_INVALID_ARG', `request not sendable over HTTP/2: ${(err as Error).message}`, err));
    }
    this.stream = stream;
    this.session = session;
    stream[kRequest] = this;
    stream.on('response', onStreamResponse);
    stream.on('headers', onStreamInformational);
    stream.on('trailers', onStreamTrailers);
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('error', noop); // the outcome is read at 'close' (rstCode, the session's state)
    stream.on('close', onStreamClose);
    const body = this.body;
    if (body === null) this.armHeadersTimer();
    else if (Buffer.isBuffer(body)) {
      stream.end(body);
      this.armHeadersTimer();
    } else this.attachBody(body as TaggedBody, stream);
  }

  /** abort(err) from the handler: the stream is cancelled (RST_STREAM CANCEL) and onError gets err. */
  readonly abort = (err?: Error): void => {
    this.fail(err ?? new H2ClientError('UND_ERR_ABORTED', 'request aborted'));
  };

  /** undici's `resume` for a paused response body. */
  readonly resume = (): void => {
    if (!this.done) this.stream?.resume();
  };

  /** Ends the request with `err` (once): cancels its stream if open, calls onError. */
  fail(err: Error): void {
    if (this.done) return;
    this.finishUp();
    const stream = this.stream;
    if (stream !== null && !stream.closed) stream.close(NGHTTP2_CANCEL);
    this.handler.onError?.(err);
  }

  private finishUp(): void {
    this.done = true;
    if (this.headersTimer !== null) {
      clearTimeout(this.headersTimer);
      this.headersTimer = null;
    }
    if (this.bodyAttached) this.detachBody();
  }

  private release(session: Session): void {
    session.active--;
    this.client.afterStream(session);
  }

  // --- stream events ---

  response(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.done) return;
    if (this.headersTimer !== null) {
      clearTimeout(this.headersTimer);
      this.headersTimer = null;
    }
    this.head(Number(headers[':status']), raw);
  }

  informational(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.done) return;
    const status = Number(headers[':status']);
    if (status >= 100 && status < 200) this.head(status, raw);
  }

  private head(status: number, raw: string[]): void {
    const handler = this.handler;
    try {
      if (!this.answered) {
        this.answered = true;
        handler.onResponseStarted?.();
        if (this.done) return;
      }
      const more = handler.onHeaders?.(status, responseHeaders(raw), this.resume, '');
      if (more === false && !this.done) this.stream!.pause();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  trailersArrived(raw: string[]): void {
    this.trailers = responseHeaders(raw);
  }

  data(chunk: Buffer): void {
    if (this.done) return;
    try {
      if (this.handler.onData?.(chunk) === false && !this.done) this.stream!.pause();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** The response ended (END_STREAM read): the answer is whole. */
  ended(): void {
    if (this.done) return;
    const stream = this.stream!;
    // node:http2 also ends the readable side of a stream cut short (its session lost, or destroyed
    // by us) after what arrived: not an answer. 'close' follows and says what it was.
    const rst = stream.rstCode;
    if ((rst !== undefined && rst !== NGHTTP2_NO_ERROR) || this.client.isDestroyed) return;
    this.finishUp();
    // The answer is whole while the request still uploads: stop it (RFC 9113 §8.1 lets either side end early without error).
    if (!stream.writableEnded && !stream.closed) stream.close(NGHTTP2_NO_ERROR);
    try {
      this.handler.onComplete?.(this.trailers as unknown as string[] | null);
    } catch (err) {
      // As undici does: a handler that throws from onComplete hears of it in onError.
      this.handler.onError?.(err as Error);
    }
  }

  /** The stream closed: free its slot; if the answer did not end, say why (or retry a refused one). */
  closed(): void {
    const stream = this.stream!;
    const session = this.session!;
    this.stream = null;
    this.session = null;
    this.release(session);
    if (this.done) return;
    if (this.client.isDestroyed) return this.fail(destroyedError());
    const rst = stream.rstCode ?? NGHTTP2_NO_ERROR;
    const id = stream.id;
    if (rst === NGHTTP2_REFUSED_STREAM || (session.goawayLast >= 0 && (id === undefined || id > session.goawayLast))) {
      return this.refused(new H2ClientError(H2_REFUSED_STREAM, `upstream refused stream ${id ?? '(unsent)'}`));
    }
    // No stream id: its HEADERS never left (the session closed first).
    if (id === undefined) return this.refused(new H2ClientError(H2_REFUSED_STREAM, 'the session closed before the stream was sent'));
    if (session.h2.destroyed) {
      const cause = session.error;
      return this.fail(new H2ClientError('UND_ERR_SOCKET',
        `upstream HTTP/2 session closed with stream ${id} open${cause === null ? '' : `: ${cause.message}`}`, cause ?? undefined));
    }
    this.fail(new H2ClientError(H2_STREAM_RESET, rst === NGHTTP2_NO_ERROR
      ? `upstream closed stream ${id} before the response ended`
      : `upstream reset stream ${id}: ${rstName(rst)}`));
  }

  /**
   * The stream was never processed upstream. Sent once more on another session (a new one if
   * none has room) when the body can be sent again and no answer began; else H2_REFUSED_STREAM.
   */
  private refused(cause: unknown): void {
    if (this.done) return;
    if (!this.retried && !this.answered && !this.client.isDestroyed && (this.body === null || Buffer.isBuffer(this.body)) && !this.bodyAttached) {
      this.retried = true;
      this.trailers = null;
      this.client.place(this, true);
      return;
    }
    this.fail(new H2ClientError(H2_REFUSED_STREAM, 'upstream refused the stream (not processed)', cause));
  }

  headersTimedOut(): void {
    this.headersTimer = null;
    this.fail(new H2ClientError('UND_ERR_HEADERS_TIMEOUT', `no response head within ${this.client.headersMs} ms`));
  }

  /** Counted from the end of the request (the whole request is sent), as a server answers after reading it. */
  private armHeadersTimer(): void {
    const ms = this.client.headersMs;
    if (ms > 0 && !this.answered && !this.done && this.headersTimer === null) this.headersTimer = setTimeout(onHeadersTimeout, ms, this);
  }

  // --- a streamed request body (a Readable): piped with backpressure ---

  private attachBody(body: TaggedBody, stream: TaggedStream): void {
    this.bodyAttached = true;
    body[kRequest] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
    stream.on('drain', onStreamDrain);
    if (body.readableEnded) this.bodyEnded();
    else body.resume();
  }

  private detachBody(): void {
    this.bodyAttached = false;
    const body = this.body as TaggedBody;
    body[kRequest] = undefined;
    body.off('data', onBodyData);
    body.off('end', onBodyEnd);
    body.off('error', onBodyError);
    this.stream?.off('drain', onStreamDrain);
  }

  bodyData(body: Readable, chunk: Buffer): void {
    const stream = this.stream;
    if (stream !== null && !stream.write(chunk)) body.pause();
  }

  bodyDrained(): void {
    if (this.bodyAttached) (this.body as Readable).resume();
  }

  bodyEnded(): void {
    this.stream?.end();
    this.armHeadersTimer();
  }
}

// --- header conversion (one pass each way) ---

/**
 * undici dispatch options → an HTTP/2 request head (RFC 9113 §8.3.1): `:method`, `:path`,
 * `:scheme` of the target, `:authority` from Host (else the target's host:port), Host dropped.
 * Connection-specific fields are dropped (§8.2.2), `te` kept only as `trailers`; names are
 * lower-cased (§8.2), repeated fields kept as arrays.
 */
export function requestHeaders(options: Dispatcher.DispatchOptions, scheme: string, defaultAuthority: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders;
  out[':method'] = options.method;
  out[':path'] = options.path;
  out[':scheme'] = scheme;
  let authority: string | undefined;
  const raw = options.headers;
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) authority = addHeader(out, raw[i] as string, raw[i + 1] as string, authority);
  } else if (raw !== null && raw !== undefined && typeof raw === 'object') {
    for (const [name, value] of Object.entries(raw as Record<string, string | string[] | undefined>)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const one of value) authority = addHeader(out, name, one, authority);
      else authority = addHeader(out, name, String(value), authority);
    }
  }
  out[':authority'] = authority ?? defaultAuthority;
  return out;
}

function addHeader(out: OutgoingHttpHeaders, name: string, value: string, authority: string | undefined): string | undefined {
  const lower = name.toLowerCase();
  if (lower === 'host') return authority ?? value;
  if (CONNECTION_SPECIFIC.has(lower) || lower.charCodeAt(0) === 58 /* ':' */) return authority;
  if (lower === 'te' && value.trim().toLowerCase() !== 'trailers') return authority;
  const seen = out[lower];
  if (seen === undefined) out[lower] = value;
  else if (Array.isArray(seen)) seen.push(value);
  else out[lower] = [seen as string, value];
  return authority;
}

/** node:http2's raw header list (names lower-case) → undici's flat Buffer pairs, pseudo-headers left out. */
function responseHeaders(raw: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58) continue;
    out.push(Buffer.from(name, 'latin1'), Buffer.from(raw[i + 1]!, 'latin1'));
  }
  return out;
}

function requestBody(body: Dispatcher.DispatchOptions['body']): Buffer | Readable | null {
  if (body === null || body === undefined) return null;
  if (Buffer.isBuffer(body)) return body.length === 0 ? null : body;
  if (typeof body === 'string') return body.length === 0 ? null : Buffer.from(body);
  if (body instanceof Uint8Array) return body.length === 0 ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof (body as Readable).on === 'function' && typeof (body as Readable).resume === 'function') return body as Readable;
  throw new H2ClientError('UND_ERR_INVALID_ARG', 'unsupported request body type for HTTP/2');
}

/** RFC 9113 §7 error codes by value. */
const ERROR_CODE_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

/** The RST_STREAM code's name, e.g. `INTERNAL_ERROR (2)`. */
export function rstName(code: number): string {
  return `${ERROR_CODE_NAMES[code] ?? 'unknown error code'} (${code})`;
}

/** An H2Request, or null when the options cannot be sent (the handler was told with onError). */
function newRequest(client: H2UpstreamClient, options: Dispatcher.DispatchOptions, handler: Handler): H2Request | null {
  try {
    return new H2Request(client, options, handler);
  } catch (err) {
    handler.onError?.(err as Error);
    return null;
  }
}

function destroyedError(): H2ClientError {
  return new H2ClientError('UND_ERR_DESTROYED', 'the upstream client was destroyed');
}

/** A session that never connected: the node error itself (ECONNREFUSED, a certificate refusal...), code kept. */
function connectError(err: Error | null): Error {
  return err ?? new H2ClientError('UND_ERR_SOCKET', 'upstream closed the connection before HTTP/2 was set up');
}

function refuseClosed(handler: Handler, destroyed: boolean): boolean {
  handler.onError?.(destroyed ? destroyedError() : new H2ClientError('UND_ERR_CLOSED', 'the upstream client is closed'));
  return true;
}

function noop(): void {}

// --- module-level listeners (`this` is the tagged stream, body or session) ---

function onStreamResponse(this: TaggedStream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kRequest].response(headers, raw);
}

function onStreamInformational(this: TaggedStream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kRequest].informational(headers, raw);
}

function onStreamTrailers(this: TaggedStream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kRequest].trailersArrived(raw);
}

function onStreamData(this: TaggedStream, chunk: Buffer): void {
  this[kRequest].data(chunk);
}

function onStreamEnd(this: TaggedStream): void {
  this[kRequest].ended();
}

function onStreamClose(this: TaggedStream): void {
  this[kRequest].closed();
}

function onStreamDrain(this: TaggedStream): void {
  this[kRequest].bodyDrained();
}

function onBodyData(this: TaggedBody, chunk: Buffer): void {
  this[kRequest]?.bodyData(this, chunk);
}

function onBodyEnd(this: TaggedBody): void {
  this[kRequest]?.bodyEnded();
}

function onBodyError(this: TaggedBody, err: Error): void {
  // The body's own error object: the Exchange tells a client's failure by identity (err === req.errored).
  this[kRequest]?.fail(err);
}

function onHeadersTimeout(request: H2Request): void {
  request.headersTimedOut();
}

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
