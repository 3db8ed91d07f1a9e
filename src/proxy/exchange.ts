// One proxied request: it reads a request body (up to a bound) before taking an upstream
// connection, dispatches to a target through undici, streams the response back
// with backpressure, retries on another target when that is safe (or once on a fresh
// connection when a kept-alive one was stale), and answers failures by whose fault they were:
// the upstream's → 502/504 (and passive-health evidence), the client's → the proxy's own 4xx,
// never evidence (SPEC §4, §10). Once a response head is out, a failure cuts the connection.
// It is its own undici handler, so a request costs one object and no closures.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import type { Dispatcher } from 'undici';
import type { LimitsConfig } from '../config/schema.js';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { downstreamResponseHeaders } from './headers.js';
import { REQUEST_BODY_BUFFER_BYTES, joinBody, readBody, stopReadingBody, type BodyReader } from './request-body-buffer.js';
import { bodyWatchFor, type WatchedBody } from './request-body-watch.js';
import type { TargetClient } from './upstream-client.js';
import { answerTrailersOnly, grpcErrorHeaders, grpcStatusForHttp, grpcStatusOf, isGrpcRequest, encodeGrpcMessage } from './grpc-errors.js';
import {
  CLIENT_GONE, ExchangeError, REQUEST_BODY_IDLE, REQUEST_BODY_MALFORMED, REQUEST_BODY_TOO_LARGE, UPSTREAM_TRANSFER_CODING, acceptsTrailers,
  badTransferCoding, declaredTrailer, errorCode, faultOf, isStaleConnection, mayRetry, statusForUpstreamError,
} from './upstream-errors.js';

export interface ExchangeOwner {
  /** How many more targets a failed request may try. */
  readonly retryAttempts: number;
  /** True once shutdown started: answers close their connection after them. */
  readonly closing: boolean;
  /** True for the preview listener: its requests count in flight but do not hold up a drain. */
  readonly preview: boolean;
  /** SPEC §10 limits: requestBodyIdleMs, maxRequestBodyBytes and maxPendingPerTarget are read here. */
  readonly limits: Readonly<LimitsConfig>;
  /** Called once, when the exchange is over (answered, failed or abandoned). */
  finished(exchange: Exchange): void;
  /** Called at most once per attempt with what the target did, for passive health; only upstream-origin failures are `false`. */
  observed(target: Target, ok: boolean): void;
}

/** Status recorded when the client went away before the answer (nginx's convention). */
export const CLIENT_CLOSED = 499;

const RETRY_AFTER_SECONDS = '1';

const kExchange = Symbol('exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };
type TaggedRequest = IncomingMessage & { [kExchange]?: Exchange };

export class Exchange implements Dispatcher.DispatchHandler, WatchedBody, BodyReader {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly pool: UpstreamPool;
  readonly startedAt: number;
  target: Target;
  status = 0;
  bytes = 0;
  /** Retries counted against `retries.attempts` (the stale-connection retry is not one). */
  retries = 0;
  /** 1 when the request was sent again on a fresh connection after a stale keep-alive one (access record `staleRetries`). */
  staleRetries = 0;
  /** False while the request was answered before it was given a target (while its body was read): its record names none. */
  targetChosen = true;
  error: string | undefined;
  /** SPEC §14: a gRPC call's status — from the upstream's trailers (or trailers-only head), or the proxy's own. */
  grpcStatus: number | undefined;
  /** The client's HTTP/2 stream when it speaks HTTP/2 (null: HTTP/1.x). */
  readonly stream: ServerHttp2Stream | null;
  /** A gRPC request (`content-type: application/grpc*`): the proxy's own failures answer with a grpc-status. */
  readonly grpc: boolean;
  // WatchedBody (request-body-watch.ts)
  bodyMark = 0;
  bodyProgressAt = 0;

  private readonly owner: ExchangeOwner;
  private readonly options: Dispatcher.DispatchOptions;
  /** Extra response header pairs (pool header, sticky cookie), or null. */
  private readonly extras: readonly string[] | null;
  /** The client is HTTP/1.1 and sent `TE: trailers`: trailers are relayed (chunked). */
  private readonly trailers: boolean;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private tried: Target[] | undefined;
  /** The dispatcher of the current attempt, while the attempt counts in its `waiting`. */
  private queuedOn: TargetClient | null = null;
  /** The current attempt is counted in its target's and pool's in-flight. */
  private attemptOpen = false;
  /** The current attempt was already reported to passive health. */
  private attemptObserved = false;
  /** The current attempt runs on a connection that served an earlier request. */
  private reusedConnection = false;
  /** The current attempt went to a connection opened for it (the stale-connection retry). */
  private onFreshConnection = false;
  /** Some byte of an answer (a 1xx included) arrived on the current attempt. */
  private answered = false;
  /** The final response head, held until a body byte, the end, or the end of this turn (see flushHeads). */
  private head: string[] | null = null;
  private statusText = '';
  /** writeHead was called: from here a failure can only cut the connection. */
  private headSent = false;
  /** A no-body answer (HEAD, 204, 304) was relayed whole; what undici says next concerns only the upstream. */
  private answeredWhole = false;
  /** A client fault found while the attempt waits for a connection: onConnect aborts with it. */
  private abandon: Error | null = null;
  private bodyBytes = 0;
  private bodyCounted = false;
  /** The request body read so far, while it is read before dispatch (request-body-buffer.ts); null otherwise. */
  private chunks: Buffer[] | null = null;
  private buffered = 0;
  /** Counted in the pool's in-flight without a target (reading its body, not dispatched yet). */
  private unassigned = false;
  /** undici was given the connection for a streamed body: from here it may have read some of it. */
  private bodyStarted = false;
  private watched = false;
  private clientGone = false;
  private over = false;

  constructor(owner: ExchangeOwner, req: IncomingMessage, res: ServerResponse, pool: UpstreamPool, target: Target,
    requestId: string, headers: string[], startedAt: number, extras: readonly string[] | null = null, body = hasBody(req)) {
    this.owner = owner;
    this.extras = extras;
    this.req = req;
    this.res = res;
    this.pool = pool;
    this.target = target;
    this.requestId = requestId;
    this.startedAt = startedAt;
    this.stream = req.httpVersionMajor === 2 ? (req as unknown as Http2ServerRequest).stream : null;
    this.grpc = isGrpcRequest(req.headers);
    const te = req.headers.te;
    // HTTP/2 always carries trailers (RFC 9113 §8.1); a 1.0 client cannot take chunked (Node would refuse a Trailer header there).
    this.trailers = this.stream !== null
      || (typeof te === 'string' && req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && acceptsTrailers(te));
    // TE is hop-by-hop: ask the upstream for trailers only when they can be passed on.
    if (this.trailers) headers.push('te', 'trailers');
    this.options = {
      path: req.url ?? '/',
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: body ? req : null,
    };
    (res as TaggedResponse)[kExchange] = this;
    // A response emits 'close' once: a plain listener does what `once` would, without its wrapper.
    res.on('close', onResponseClose);
    // A gRPC stream may be quiet for as long as the call lasts (a bidi call waiting on its peer): no body idle limit.
    if (body && owner.limits.requestBodyIdleMs > 0 && !req.complete && !this.grpc) {
      this.watched = true;
      bodyWatchFor(owner.limits.requestBodyIdleMs).add(this, startedAt);
    }
  }

  start(): void {
    if (this.options.body === null) return this.dispatch(false);
    // A body is read first (all of it, or until it passes REQUEST_BODY_BUFFER_BYTES): a client slow
    // to send it holds no upstream connection and no place in a target's queue meanwhile.
    this.chunks = [];
    this.targetChosen = false;
    this.unassigned = true;
    this.pool.beginUnassigned(this.owner.preview);
    readBody(this.req, this);
    // A gRPC call's messages may depend on answers (bidi, or a server that speaks first): what
    // has not ended by the next turn streams from there. A unary call's one message and its end
    // arrive with the head, so it is still sent whole (replayable on a refused stream).
    if (this.grpc && this.chunks !== null) setImmediate(streamRestOf, this);
  }

  /** A gRPC body still open a turn after its head: dispatch now, the rest streams (see start). */
  streamRest(): void {
    if (this.chunks === null || this.over) return;
    this.dispatchStreaming();
  }

  /** Dispatches what was read so far with the rest of the body streaming behind it (not replayable). */
  private dispatchStreaming(): void {
    const chunks = this.chunks!;
    this.chunks = null;
    stopReadingBody(this.req, chunks);
    this.bodyBytes -= this.buffered; // counted again as undici reads them back (onRequestData)
    this.dispatchRead();
  }

  /** A chunk of the body read before dispatch (BodyReader). */
  bodyChunk(chunk: Buffer): void {
    const chunks = this.chunks;
    if (chunks === null || this.over) return;
    chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.owner.limits.maxRequestBodyBytes > 0) {
      this.requestData(chunk.length);
      if (this.over) return; // 413: finish() dropped the chunks
    }
    if (this.buffered <= REQUEST_BODY_BUFFER_BYTES) return;
    // Past the buffer: dispatch now and stream the rest behind what was read.
    this.dispatchStreaming();
  }

  /** The body ended within the buffer: it goes as one Buffer, its length known (BodyReader). */
  bodyEnd(): void {
    const chunks = this.chunks;
    if (chunks === null || this.over) return;
    this.chunks = null;
    stopReadingBody(this.req, null);
    this.options.body = joinBody(chunks, this.buffered);
    this.dispatchRead();
  }

  /**
   * First dispatch of a request whose body was read: to the target picked when it arrived,
   * unless that one left service meanwhile (ejected, unhealthy, removed by a reload). Not
   * picked again otherwise: a second pick per request would skew the round robin.
   */
  private dispatchRead(): void {
    const target = this.target;
    if (!target.ready || !this.pool.targets.includes(target)) {
      const next = this.pool.pick();
      if (next === undefined) return this.unavailable(`no ready target in pool ${this.pool.name}`, 'no ready target');
      this.target = next;
    }
    this.targetChosen = true;
    this.dispatch(false);
  }

  private dispatch(fresh: boolean): void {
    const client = this.target.client;
    if (!fresh && client.waiting >= this.owner.limits.maxPendingPerTarget) return this.overloaded();
    this.pool.begin(this.target, this.owner.preview);
    if (this.unassigned) {
      // After begin: the pool's in-flight never dips to 0 in between (a drain would see it drained).
      this.unassigned = false;
      this.pool.endUnassigned(this.owner.preview);
    }
    this.attemptOpen = true;
    this.attemptObserved = false;
    this.answered = false;
    this.reusedConnection = false;
    this.onFreshConnection = fresh;
    this.abortUpstream = null;
    this.queuedOn = client;
    client.waiting++;
    if (fresh) client.dispatchFresh(this.options, this);
    else client.dispatch(this.options, this);
  }

  // --- undici handler (legacy form: raw headers, no conversion work; see the report in #11 for the A/B) ---

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    const client = this.queuedOn;
    if (client !== null) {
      this.queuedOn = null;
      client.waiting--;
      this.reusedConnection = !this.onFreshConnection && !client.takeFreshConnection();
    }
    if (this.clientGone) return abort(new ExchangeError(CLIENT_GONE, 'the client closed the connection'));
    if (this.abandon !== null) return abort(this.abandon);
    if (this.options.body !== this.req) return; // none, or a Buffer read whole before dispatch
    this.bodyStarted = true;
    if (!this.bodyCounted && this.owner.limits.maxRequestBodyBytes > 0 && this.req.headers['content-length'] === undefined) {
      // Only a body without a declared length can run past the limit (a declared one over it is
      // refused before dispatch). Counted from here, when undici starts reading it too: a 'data'
      // listener added earlier would let chunks flow before undici listens.
      this.bodyCounted = true;
      (this.req as TaggedRequest)[kExchange] = this;
      this.req.on('data', onRequestData);
    }
  }

  onResponseStarted(): void {
    this.answered = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      if (statusCode === 103) this.earlyHints(rawHeaders);
      return true; // other 1xx interim answers are not relayed (SPEC §10)
    }
    if (this.clientGone || this.over) return false;
    const coding = badTransferCoding(rawHeaders);
    if (coding !== null) {
      // Thrown: undici aborts the attempt and onError answers 502 (the upstream's fault).
      throw new ExchangeError(UPSTREAM_TRANSFER_CODING, `upstream answered with Transfer-Encoding: ${coding}`);
    }
    const headers = downstreamResponseHeaders(rawHeaders, this.extras);
    if (this.owner.closing) this.res.shouldKeepAlive = false;
    this.status = statusCode;
    // HTTP/2 has no reason phrase (RFC 9113 §8.3.2); Node warns when given one.
    this.statusText = this.stream === null ? statusText : '';
    if (this.grpc) {
      const status = grpcStatusOf(rawHeaders);
      if (status !== undefined) {
        // Trailers-only (PROTOCOL-HTTP2.md): the call's status is in its only HEADERS frame, so
        // it must reach the client as one frame ending the stream, not as a head and trailers.
        this.grpcStatus = status;
        this.resumeUpstream = resume;
        this.attemptObserved = true;
        this.owner.observed(this.target, true);
        this.headSent = true;
        this.answeredWhole = true;
        answerTrailersOnly(this.res, this.stream, pairsToObject(headers), statusCode);
        return true;
      }
    }
    if (statusCode >= 500) {
      this.attemptObserved = true;
      this.owner.observed(this.target, false);
    } // a good answer counts once its head is accepted for relaying (sendHead)
    this.resumeUpstream = resume;
    if (statusCode === 204 || statusCode === 304 || this.options.method === 'HEAD') {
      // No body, whatever Content-Length says (RFC 9110 §6.4.1). undici then reports a length
      // mismatch for a 204/304 that declared one; the client has its whole answer by then.
      if (statusCode === 204) dropContentLength(headers);
      this.head = headers;
      this.sendHead();
      this.res.end();
      this.answeredWhole = true;
      return true;
    }
    if (this.trailers) {
      const trailer = declaredTrailer(rawHeaders);
      if (trailer !== null) headers.push('trailer', trailer);
    }
    this.head = headers;
    // Sent with the first body byte or the end when they come in this same turn (one write);
    // otherwise at the end of the turn on its own, so a quiet stream (SSE) shows its head at once.
    flushQueue.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flushHeads);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.answeredWhole) return true; // a body after a trailers-only gRPC answer: nowhere to go
    if (this.head !== null) this.sendHead(); // a throw here makes undici abort: a clean 502 in onError
    this.bytes += chunk.length;
    const more = this.res.write(chunk);
    if (!more && this.resumeUpstream !== null) this.res.once('drain', this.resumeUpstream);
    return more;
  }

  onComplete(trailers: string[] | null): void {
    // An end with no final head is no answer (a client that lost its stream must say so, not end it).
    if (this.status === 0) return this.onError(new ExchangeError('UND_ERR_SOCKET', 'the upstream ended the stream without a response'));
    if (!this.answeredWhole) {
      if (this.head !== null) this.sendHead(); // undici routes a throw here to onError
      const raw = trailers as unknown as Buffer[] | null;
      if (this.grpc && raw !== null) this.grpcStatus = grpcStatusOf(raw);
      if (this.trailers && raw !== null && raw.length > 0) this.res.addTrailers(this.stream === null ? trailerPairs(raw) : pairsToObject(raw));
      this.res.end();
    }
    this.endAttempt();
    this.finish();
  }

  onError(err: Error): void {
    const client = this.queuedOn;
    if (client !== null) {
      this.queuedOn = null;
      client.waiting--;
    }
    this.endAttempt();
    if (this.over) return;
    if (this.answeredWhole) return this.finish(); // e.g. a 304's Content-Length with no body: not a failure
    if (this.clientGone) return this.closedByClient();
    // A client reset mid-upload surfaces as the body stream's own error (an ECONNRESET too).
    const fromClientBody = this.options.body !== null && err === this.req.errored;
    if (fromClientBody) return this.closedByClient();
    const fault = faultOf(err);
    this.error = `${errorCode(err)}: ${err.message}`;
    if (this.headSent) {
      // A status line is already out: the only honest signal left is to cut the connection.
      this.cut(statusForUpstreamError(err));
      return this.finish();
    }
    this.head = null;
    if (fault === 'client') return this.refuse(err);
    const bodyStreamed = this.bodyStreamed;
    const method = this.options.method;
    if (fault === 'upstream' && this.staleRetries === 0 && !this.onFreshConnection
      && isStaleConnection({ err, method, bodyStreamed, reusedConnection: this.reusedConnection, answered: this.answered })) {
      // Most likely the upstream closed this idle connection as we wrote: once more, on a new one.
      this.staleRetries = 1;
      return this.dispatch(true);
    }
    if (fault === 'upstream' && !this.attemptObserved) this.owner.observed(this.target, false);
    if (this.retries < this.owner.retryAttempts && mayRetry({ err, method, bodyStreamed })) {
      (this.tried ??= []).push(this.target);
      const next = this.pool.pick(this.tried);
      if (next !== undefined) {
        this.retries++;
        this.target = next;
        return this.dispatch(false);
      }
    }
    this.status = statusForUpstreamError(err);
    this.replyError(this.status === 504 ? 'upstream did not answer in time' : 'upstream unavailable', false);
    this.finish();
  }

  // --- client side ---

  /** The client closed before we finished answering: stop the upstream request too. */
  clientClosed(): void {
    // Node's HTTP/2 response reports writableFinished once its stream closed, a reset by the
    // client included: there, only an end we wrote means the answer was done.
    if (this.over || (this.stream === null ? this.res.writableFinished : this.res.writableEnded)) return;
    this.clientGone = true;
    if (this.abortUpstream !== null) this.abortUpstream(new ExchangeError(CLIENT_GONE, 'the client closed the connection'));
    else if (this.chunks !== null) this.closedByClient(); // gone while its body was read: nothing upstream to stop
  }

  /** From the body watch: no request-body byte for `limits.requestBodyIdleMs` → 408 (or a cut once answering). */
  bodyIdle(): void {
    if (this.over) return;
    const err = new ExchangeError(REQUEST_BODY_IDLE, `no request body byte for ${this.owner.limits.requestBodyIdleMs} ms`);
    this.failByClient(err);
  }

  /**
   * The request body broke HTTP/1.1 framing (proxy-server's clientError saw Node's parser
   * refuse it): 400 with this request's id if nothing was answered yet (the upstream attempt
   * aborted, never evidence), else a cut. The connection closes after. False once over.
   */
  malformedBody(reason: string): boolean {
    if (this.over) return false;
    this.res.shouldKeepAlive = false;
    this.failByClient(new ExchangeError(REQUEST_BODY_MALFORMED, reason));
    return true;
  }

  /** Counts a chunked body against `limits.maxRequestBodyBytes` → 413 (or a cut once answering). */
  requestData(length: number): void {
    this.bodyBytes += length;
    const limit = this.owner.limits.maxRequestBodyBytes;
    if (this.bodyBytes <= limit || this.over) return;
    this.req.off('data', onRequestData);
    this.failByClient(new ExchangeError(REQUEST_BODY_TOO_LARGE, `request body over ${limit} bytes`));
  }

  /** A client fault found by the proxy: abort the upstream attempt (onError answers), or answer now if there is none yet. */
  private failByClient(err: ExchangeError): void {
    if (this.abortUpstream !== null) return this.abortUpstream(err);
    // Still waiting for a connection: answer now; onConnect aborts the dispatch when it comes.
    this.abandon = err;
    this.error = `${err.code}: ${err.message}`;
    this.refuse(err);
  }

  /** The proxy's own answer to a client fault (400/408/413/417), or a cut when the head is out. Never evidence. */
  private refuse(err: Error): void {
    this.error = `${errorCode(err)}: ${err.message}`;
    if (this.headSent) {
      this.cut(statusForUpstreamError(err));
      return this.finish();
    }
    this.status = statusForUpstreamError(err);
    this.replyError(err.message, true);
    this.finish();
  }

  private closedByClient(): void {
    this.status = CLIENT_CLOSED;
    this.error = 'client closed the connection';
    if (!this.res.destroyed) this.res.destroy();
    this.finish();
  }

  /** Too many requests already wait for a connection to this target (limits.maxPendingPerTarget). */
  private overloaded(): void {
    this.unavailable('upstream busy', `over limits.maxPendingPerTarget (${this.owner.limits.maxPendingPerTarget}) waiting for ${this.target.url}`);
  }

  /** 503 + Retry-After: the request cannot be given to a target now (SPEC §4, §10). */
  private unavailable(message: string, error: string): void {
    this.status = 503;
    this.error = error;
    if (this.res.headersSent) this.cut(503);
    else if (this.grpc) this.grpcAnswer(503, message);
    else {
      // A body still arriving is not read on for a next request.
      if (this.options.body !== null && !this.req.complete) this.res.shouldKeepAlive = false;
      const body = `${message}\n`;
      this.res.writeHead(503, {
        'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'retry-after': RETRY_AFTER_SECONDS, 'x-request-id': this.requestId,
      });
      this.res.end(body);
    }
    this.finish();
  }

  /** Relays a 103 Early Hints to an HTTP/1.1 client (RFC 8297; a 1.0 client must get no 1xx, RFC 9110 §15.2). */
  private earlyHints(raw: Buffer[]): void {
    if (this.headSent || this.clientGone || this.req.httpVersionMinor !== 1 || typeof this.res.writeEarlyHints !== 'function') return;
    const hints: Record<string, string | string[]> = {};
    const links: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1').toLowerCase();
      const value = raw[i + 1]!.toString('latin1');
      if (name === 'link') {
        // Node validates each link on its own: split a comma-joined field into its links.
        for (const link of value.split(/,\s*(?=<)/)) links.push(link);
      } else if (!INTERIM_DROPPED.has(name)) {
        hints[name] = value;
      }
    }
    if (links.length === 0) return; // Node sends no 103 without a Link
    hints.link = links;
    try {
      this.res.writeEarlyHints(hints);
    } catch {
      // A Link Node will not write: an interim answer is advisory, so it is dropped.
    }
  }

  /** The body can no longer be sent again: a stream undici began to read. A Buffer body (read whole before dispatch) always can. */
  private get bodyStreamed(): boolean {
    return this.bodyStarted;
  }

  /** Writes the held head (it goes out with the next write). Undoes a refused one so a clean error can follow. */
  private sendHead(): void {
    const head = this.head!;
    this.head = null;
    try {
      if (this.statusText === '') this.res.writeHead(this.status, head);
      else this.res.writeHead(this.status, this.statusText, head);
    } catch (err) {
      // Node refused to relay this head (undici's parser accepts e.g. control characters in
      // the reason phrase, writeHead does not). Nothing reached the client yet, so undo what
      // writeHead had already stored (the reason phrase, any headers): onError then answers
      // a clean 502 instead of cutting a connection that never got a status line.
      this.res.statusMessage = '';
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      throw err;
    }
    this.headSent = true;
    if (!this.attemptObserved) {
      this.attemptObserved = true;
      this.owner.observed(this.target, true);
    }
  }

  /** End of the turn in which the head arrived without its body: send the head alone now. */
  flushHead(): void {
    if (this.head === null || this.over || this.clientGone) return;
    try {
      this.sendHead();
    } catch (err) {
      if (this.abortUpstream !== null) this.abortUpstream(err as Error);
      return;
    }
    this.res.flushHeaders();
  }

  /**
   * The answer broke off after its head went out. HTTP/1.1: the connection is cut, the only
   * signal left. An HTTP/2 gRPC call ends with trailers carrying the status instead (a drain
   * timeout or a dead upstream reads UNAVAILABLE, not a stream reset); other HTTP/2 streams are
   * reset (RST_STREAM), their connection and its other streams unaffected.
   */
  private cut(httpStatus: number): void {
    if (this.grpc && this.stream !== null && !this.stream.destroyed && !this.res.writableEnded) {
      this.grpcStatus = grpcStatusForHttp(httpStatus);
      this.res.addTrailers({ 'grpc-status': String(this.grpcStatus), 'grpc-message': encodeGrpcMessage(this.error ?? 'upstream failed') });
      this.res.end();
      return;
    }
    this.res.destroy();
  }

  /** The proxy's own answer to a gRPC call: trailers-only with the status for `httpStatus` (SPEC §14). */
  private grpcAnswer(httpStatus: number, message: string): void {
    this.grpcStatus = grpcStatusForHttp(httpStatus);
    this.status = 200;
    answerTrailersOnly(this.res, this.stream, grpcErrorHeaders(this.grpcStatus, message, this.requestId));
  }

  private replyError(message: string, clientFault: boolean): void {
    if (this.res.headersSent) return void this.cut(this.status);
    if (this.grpc) return this.grpcAnswer(this.status, message);
    // A refused request's body may be unread or still arriving: do not read on for a next one.
    if (clientFault) this.res.shouldKeepAlive = false;
    const body = `${message}\n`;
    // With its length, like every other answer of the proxy's own (not chunked).
    this.res.writeHead(this.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': this.requestId });
    this.res.end(body);
  }

  private endAttempt(): void {
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    this.pool.end(this.target, this.owner.preview);
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    if (this.watched) bodyWatchFor(this.owner.limits.requestBodyIdleMs).delete(this);
    if (this.chunks !== null) {
      // Answered while its body was still read (408, 413, client gone): drop what was read.
      this.chunks = null;
      stopReadingBody(this.req, null);
    }
    if (this.unassigned) {
      this.unassigned = false;
      this.pool.endUnassigned(this.owner.preview);
    }
    this.owner.finished(this);
  }
}

/** Headers of a 1xx that describe the connection or a body, not the hints. */
const INTERIM_DROPPED = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'content-length',
]);

/** Exchanges whose head arrived this turn without body or end (see onHeaders). */
const flushQueue: Exchange[] = [];
let flushScheduled = false;

function flushHeads(): void {
  flushScheduled = false;
  // flushHead may run handlers that queue again; take the list as it is now.
  const count = flushQueue.length;
  for (let i = 0; i < count; i++) flushQueue[i]!.flushHead();
  flushQueue.splice(0, count);
}

/** The Exchange answering `res`, if one does (proxy-server's clientError tells it of a malformed body). */
export function exchangeOf(res: ServerResponse): Exchange | undefined {
  return (res as TaggedResponse)[kExchange];
}

function onResponseClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

function onRequestData(this: TaggedRequest, chunk: Buffer): void {
  this[kExchange]?.requestData(chunk.length);
}

function dropContentLength(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === 'content-length') headers.splice(i, 2);
  }
}

function streamRestOf(exchange: Exchange): void {
  exchange.streamRest();
}

/**
 * Flat header pairs (strings, or undici's raw Buffers) as one object, for Node's HTTP/2 response
 * (trailers, a trailers-only answer), which takes objects: a repeated name becomes a list.
 */
function pairsToObject(pairs: readonly (string | Buffer)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!.toString('latin1').toLowerCase();
    const value = pairs[i + 1]!.toString('latin1');
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

function trailerPairs(raw: readonly Buffer[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1')]);
  return pairs;
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}
