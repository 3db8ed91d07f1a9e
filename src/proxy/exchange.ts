// One proxied request: it dispatches to a target through undici, streams the response back
// with backpressure, retries on another target when that is safe, and maps failures to
// 502/504 (or cuts the connection once the response has started). It is its own undici
// handler, so a request costs one object and no closures.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { downstreamResponseHeaders } from './headers.js';
import { errorCode, mayRetry, statusForUpstreamError } from './upstream-errors.js';

export interface ExchangeOwner {
  /** How many more targets a failed request may try. */
  readonly retryAttempts: number;
  /** True once shutdown started: answers close their connection after them. */
  readonly closing: boolean;
  /** True for the preview listener: its requests count in flight but do not hold up a drain. */
  readonly preview: boolean;
  /** Called once, when the exchange is over (answered, failed or abandoned). */
  finished(exchange: Exchange): void;
  /** Called once per attempt with what the target did, for passive health. */
  observed(target: Target, ok: boolean): void;
}

/** Status recorded when the client went away before the answer (nginx's convention). */
export const CLIENT_CLOSED = 499;

const kExchange = Symbol('exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };

export class Exchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly pool: UpstreamPool;
  readonly startedAt: number;
  target: Target;
  status = 0;
  bytes = 0;
  retries = 0;
  error: string | undefined;

  private readonly owner: ExchangeOwner;
  private readonly options: Dispatcher.DispatchOptions;
  /** Extra response header pairs (pool header, sticky cookie), or null. */
  private readonly extras: readonly string[] | null;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private tried: Target[] | undefined;
  private responseStarted = false;
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
    this.options = {
      path: req.url ?? '/',
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: body ? req : null,
    };
    (res as TaggedResponse)[kExchange] = this;
    // A response emits 'close' once: a plain listener does what `once` would, without its wrapper.
    res.on('close', onResponseClose);
  }

  start(): void {
    this.pool.begin(this.target, this.owner.preview);
    this.target.client.dispatch(this.options, this);
  }

  // --- undici handler (legacy form: raw headers, no conversion work) ---

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone) abort(new ClientGoneError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx interim answers are not relayed
    if (this.clientGone) return false;
    const headers = downstreamResponseHeaders(rawHeaders, this.extras);
    if (this.owner.closing) this.res.shouldKeepAlive = false;
    try {
      if (statusText === '') this.res.writeHead(statusCode, headers);
      else this.res.writeHead(statusCode, statusText, headers);
    } catch (err) {
      // Node refused to relay this head (undici's parser accepts e.g. control characters in
      // the reason phrase, writeHead does not). Nothing reached the client yet, so undo what
      // writeHead had already stored (the reason phrase, any headers) and let undici abort the
      // attempt: onError then answers a clean 502 instead of cutting a connection that never
      // got a status line.
      this.res.statusMessage = '';
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      throw err;
    }
    this.responseStarted = true;
    this.status = statusCode;
    this.owner.observed(this.target, statusCode < 500);
    this.resumeUpstream = resume;
    return true;
  }

  private resumeUpstream: (() => void) | null = null;

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    const more = this.res.write(chunk);
    if (!more && this.resumeUpstream !== null) this.res.once('drain', this.resumeUpstream);
    return more;
  }

  onComplete(): void {
    this.res.end();
    this.endAttempt();
    this.finish();
  }

  onError(err: Error): void {
    if (this.over) return;
    this.endAttempt();
    if (this.clientGone) {
      this.status = CLIENT_CLOSED;
      this.error = 'client closed the connection';
      return this.finish();
    }
    this.error = `${errorCode(err)}: ${err.message}`;
    if (this.responseStarted) {
      // A status line is already out: the only honest signal left is to cut the connection.
      this.res.destroy(err);
      return this.finish();
    }
    this.owner.observed(this.target, false);
    if (this.retries < this.owner.retryAttempts && mayRetry({ err, method: this.options.method, bodyStreamed: this.bodyStreamed })) {
      (this.tried ??= []).push(this.target);
      const next = this.pool.pick(this.tried);
      if (next !== undefined) {
        this.retries++;
        this.target = next;
        this.abortUpstream = null;
        return this.start();
      }
    }
    this.status = statusForUpstreamError(err);
    this.replyError(this.status === 504 ? 'upstream did not answer in time' : 'upstream unavailable');
    this.finish();
  }

  // --- client side ---

  /** The client closed before we finished answering: stop the upstream request too. */
  clientClosed(): void {
    if (this.over || this.res.writableFinished) return;
    this.clientGone = true;
    if (this.abortUpstream !== null) this.abortUpstream(new ClientGoneError());
  }

  private get bodyStreamed(): boolean {
    return this.options.body !== null && this.req.readableDidRead;
  }

  private replyError(message: string): void {
    if (this.res.headersSent) return void this.res.destroy();
    this.res.writeHead(this.status, { 'content-type': 'text/plain; charset=utf-8', 'x-request-id': this.requestId });
    this.res.end(`${message}\n`);
  }

  private endAttempt(): void {
    this.pool.end(this.target, this.owner.preview);
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.owner.finished(this);
  }
}

function onResponseClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

class ClientGoneError extends Error {
  readonly code = 'CLIENT_GONE';
  constructor() {
    super('the client closed the connection');
  }
}
