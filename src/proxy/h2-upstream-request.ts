// One request on the upstream HTTP/2 client: its stream, its body, its one refusal retry, and the
// undici legacy handler it drives (h2-upstream-client.ts owns the sessions it runs on). Its stream
// and body listeners are module functions on a tagged stream or body (no closure per request or
// per chunk).
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { H2ClientError, H2_REFUSED_STREAM, H2_STREAM_RESET, destroyedError, requestHeaders, responseHeaders, rstName } from './h2-protocol.js';
import type { H2UpstreamClient, Session } from './h2-upstream-client.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
const kRequest = Symbol('h2Request');
/**
 * How much of a streamed body is kept to send again on a refused stream: the request buffer's
 * size (request-body-buffer.ts), which fits a unary gRPC call and most first messages.
 */
const REPLAY_BYTES = 64 * 1024;
type TaggedStream = ClientHttp2Stream & { [kRequest]: H2Request };
type TaggedBody = Readable & { [kRequest]?: H2Request | undefined };
type Handler = Dispatcher.DispatchHandler;

function noop(): void {}

/**
 * One dispatched request, across its stream and (once) its refusal retry. Exactly one of
 * handler.onComplete / handler.onError is called (`done`), whatever calls abort and when.
 */
export class H2Request {
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
  /**
   * A streamed body's chunks as sent, kept until an answer begins so a refused stream can be
   * sent again (a gRPC call's body streams); null once past REPLAY_BYTES or answered.
   */
  private sent: Buffer[] | null = [];
  private sentBytes = 0;
  /** The streamed body ended (its end was written, or is owed to a retried stream). */
  private bodyDone = false;
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
    } else if (this.bodyAttached) this.replayBody(stream);
    else this.attachBody(body as TaggedBody, stream);
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
    this.sent = null; // answered: never sent again
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
    const replayable = this.body === null || Buffer.isBuffer(this.body) || this.sent !== null;
    if (!this.retried && !this.answered && !this.client.isDestroyed && replayable) {
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
    const sent = this.sent;
    if (sent !== null) {
      this.sentBytes += chunk.length;
      if (this.sentBytes <= REPLAY_BYTES) sent.push(chunk);
      else this.sent = null;
    }
    const stream = this.stream;
    if (stream !== null) {
      if (!stream.write(chunk)) body.pause();
    } else if (this.sent === null) {
      // Between a refused stream and its retry, past what is kept: it cannot be sent whole any more.
      this.fail(new H2ClientError(H2_REFUSED_STREAM, 'upstream refused the stream (not processed) and its body outgrew the replay buffer'));
    } else body.pause(); // kept; the retry's stream takes the rest
  }

  /** A refused stream's retry: what was sent goes again, then the body goes on (or ends). */
  private replayBody(stream: TaggedStream): void {
    for (const chunk of this.sent!) stream.write(chunk);
    stream.on('drain', onStreamDrain);
    if (this.bodyDone) {
      stream.end();
      this.armHeadersTimer();
    } else (this.body as Readable).resume();
  }

  bodyDrained(): void {
    if (this.bodyAttached) (this.body as Readable).resume();
  }

  bodyEnded(): void {
    this.bodyDone = true;
    if (this.stream === null) return; // a retry's stream will end it
    this.stream.end();
    this.armHeadersTimer();
  }
}

function requestBody(body: Dispatcher.DispatchOptions['body']): Buffer | Readable | null {
  if (body === null || body === undefined) return null;
  if (Buffer.isBuffer(body)) return body.length === 0 ? null : body;
  if (typeof body === 'string') return body.length === 0 ? null : Buffer.from(body);
  if (body instanceof Uint8Array) return body.length === 0 ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof (body as Readable).on === 'function' && typeof (body as Readable).resume === 'function') return body as Readable;
  throw new H2ClientError('UND_ERR_INVALID_ARG', 'unsupported request body type for HTTP/2');
}

/** An H2Request, or null when the options cannot be sent (the handler was told with onError). */
export function newRequest(client: H2UpstreamClient, options: Dispatcher.DispatchOptions, handler: Handler): H2Request | null {
  try {
    return new H2Request(client, options, handler);
  } catch (err) {
    handler.onError?.(err as Error);
    return null;
  }
}

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

