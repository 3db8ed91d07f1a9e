// The data plane listener: a node:http server (node:https for the edge TLS listener, SPEC §13)
// whose request handler picks a pool and a target and hands the request to an Exchange. Never
// Fastify; nothing here but the path a request takes.
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { DEFAULT_LIMITS, type LimitsConfig } from '../config/schema.js';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import type { RequestObserver, RequestRecord } from '../observe/request-record.js';
import { BatchedObservers } from '../observe/batched-observers.js';
import { RequestRouter } from '../routing/request-router.js';
import { Exchange, exchangeOf, hasBody, type ExchangeOwner } from './exchange.js';
import { requestIds } from './request-id.js';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { admit, admitH2, CONNECT_REFUSED, EXPECTATION_FAILED, refusalRecord, writeRefusal, type Admitted, type Refusal } from './admit.js';
import { httpsLocation } from './https-redirect.js';
import { clientErrorAnswer, requestLineOf, type ClientParseError } from './parse-errors.js';
import { clientAddress, h2RequestHeaders, incomingRequestId, upstreamRequestHeaders, type ForwardContext } from './headers.js';
import { H2Sessions } from './h2-sessions.js';
import { answerTrailersOnly, grpcErrorHeaders, grpcStatusForHttp, isGrpcRequest } from './grpc-errors.js';
import { UpgradeTunnels } from './upgrade-tunnel.js';

export interface ProxyServerOptions {
  /**
   * Chooses the pool for a request: the weighted choice on the main listener (the last step
   * after the override header and the sticky cookie), the standby pool on the preview listener.
   */
  choosePool(req: IncomingMessage): UpstreamPool | undefined;
  /** A configured pool by name, for the override header and the sticky cookie; without it neither applies. */
  poolNamed?(name: string): UpstreamPool | undefined;
  /** routing.stickyCookie */
  stickyCookie?: string | undefined;
  /** routing.overrideHeader: never forwarded upstream, whether it was honoured or not. */
  overrideHeader?: string | undefined;
  /** routing.overrideAllow: client CIDRs that may use the override header; undefined = anyone. */
  overrideAllow?: readonly string[] | undefined;
  /**
   * The preview listener: every request goes to `choosePool` (no override, no sticky cookie),
   * its access records carry `listener: 'preview'`, and a drain does not wait for its requests.
   */
  preview?: boolean;
  retryAttempts: number;
  keepAliveMs: number;
  /** SPEC §10 limits (head size, body idle time and size, per-target pending and connection caps). */
  limits?: LimitsConfig;
  /** Response header naming the pool that served, when configured. */
  poolHeader?: string | undefined;
  observers: readonly RequestObserver[];
  /** Passive health evidence: each attempt's outcome per target. */
  onTargetOutcome?: (target: Target, ok: boolean) => void;
  /** `false` answers Upgrade requests with 501 instead of tunnelling them (default true). */
  upgrades?: boolean;
  /**
   * The edge HTTPS listener (SPEC §13): certificates, SNICallback, minVersion, ALPN. Its
   * requests go upstream with `X-Forwarded-Proto: https` and its access records carry
   * `listener: 'tls'`.
   */
  tls?: TlsOptions;
  /**
   * `tls.redirectHttp`: the HTTPS port every request is sent to with a 308 instead of being
   * proxied, or null to proxy. Read per request, so a config reload turns it on or off.
   */
  redirectHttps?: () => number | null;
  /**
   * SPEC §14: serve HTTP/2 too — h2c with prior knowledge on a plain listener (told by the
   * connection preface), ALPN `h2` on the HTTPS one (the caller offers it in `tls.ALPNProtocols`).
   */
  http2?: boolean;
}

const RETRY_AFTER_SECONDS = '1';

export class ProxyServer implements ExchangeOwner {
  readonly server: Server;
  retryAttempts: number;
  /** Set when shutdown starts: every response from then on carries `Connection: close`. */
  closing = false;
  readonly preview: boolean;
  /** What access records say about the listener: absent for the main one. */
  private readonly listener: RequestRecord['listener'];
  /** The same server as `server` when this is the HTTPS listener: its default context is replaced on rotation. */
  private readonly secure: HttpsServer | null;
  private readonly options: ProxyServerOptions;
  /** Override header and sticky cookie routing, when configured (null: `choosePool` alone). */
  private readonly router: RequestRouter<UpstreamPool, IncomingMessage> | null;
  /** The override header's lower-case name: stripped from every forwarded request. */
  private readonly dropHeader: string | undefined;
  /** True when responses may carry extra headers (pool header, sticky cookie). */
  private readonly decorated: boolean;
  private readonly extrasByPool = new WeakMap<UpstreamPool, PoolExtras>();
  /** The forwarding context, reused: upstreamRequestHeaders reads it synchronously and keeps nothing. */
  private readonly forward: ForwardContext;
  /** Open Upgrade (WebSocket) tunnels: drain calls `closePool`, shutdown `closeAll`. */
  readonly tunnels: UpgradeTunnels;
  /** The observers, handed each loop turn's finished requests together. */
  private readonly observers: BatchedObservers;
  /** SPEC §10 limits: `admit` reads them per request; the Exchange (as ExchangeOwner) reads the body and pending ones. */
  readonly limits: Readonly<LimitsConfig>;
  /** The HTTP/2 sessions of this listener's HTTP/2 clients, when `http2` is on. */
  readonly h2: H2Sessions | null;

  constructor(options: ProxyServerOptions) {
    this.options = options;
    this.retryAttempts = options.retryAttempts;
    this.observers = new BatchedObservers(options.observers);
    this.preview = options.preview === true;
    this.listener = this.preview ? 'preview' : options.tls === undefined ? undefined : 'tls';
    const proto = options.tls === undefined ? 'http' : 'https';
    this.dropHeader = options.overrideHeader?.toLowerCase();
    this.forward = { requestId: '', clientIp: '', proto, host: undefined, drop: this.dropHeader };
    const routed = !this.preview && options.poolNamed !== undefined
      && (options.stickyCookie !== undefined || options.overrideHeader !== undefined);
    this.router = routed ? new RequestRouter<UpstreamPool, IncomingMessage>({
      weighted: (req) => options.choosePool(req),
      named: (name) => options.poolNamed!(name),
      stickyCookie: options.stickyCookie,
      overrideHeader: options.overrideHeader,
      overrideAllow: options.overrideAllow,
    }) : null;
    this.decorated = options.poolHeader !== undefined || this.router?.sticky === true;
    // The client's mistakes are answered here, before routing (admit.ts).
    this.limits = options.limits ?? DEFAULT_LIMITS;
    const http: ServerOptions = {
      keepAliveTimeout: options.keepAliveMs,
      // Bodies and answers may stream for long (uploads, SSE): no whole-request deadline; the
      // body has its own idle limit (limits.requestBodyIdleMs). requestTimeout 0 would also turn
      // Node's head deadline off, so it is set from limits.requestHeadMs (408 past it).
      requestTimeout: 0,
      headersTimeout: this.limits.requestHeadMs,
      // Node looks for overdue heads every connectionsCheckingInterval (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(this.limits.requestHeadMs / 4))),
      // Node refuses a head whose target, header names and values reach maxHeaderSize bytes:
      // +1 lets exactly maxHeaderBytes through, so "larger than the limit" is refused (431/414).
      maxHeaderSize: this.limits.maxHeaderBytes + 1,
      // admit() answers a missing Host itself (with an X-Request-Id and an access record).
      requireHostHeader: false,
    };
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    // A slow handshake holds a socket like a slow head does: the same deadline.
    this.secure = options.tls === undefined ? null
      : createHttpsServer({ ...http, handshakeTimeout: this.limits.requestHeadMs, ...options.tls }, handler);
    this.server = this.secure ?? createServer(http, handler);
    // A failed handshake (no shared version or cipher, a malformed ClientHello, a client that
    // left): the socket goes, nothing else happens. Node would do the same without a listener;
    // this says it is deliberate.
    this.secure?.on('tlsClientError', (_error: Error, socket: Duplex) => socket.destroy());
    // Heads Node's parser refuses; their socket errors must never crash us.
    this.server.on('clientError', (err: NodeJS.ErrnoException & ClientParseError, socket: Duplex) => this.clientError(err, socket));
    // Expect: 100-continue: the 100 goes out only once the head is admitted, so a refused
    // upload (413, 501, ...) is never sent (RFC 9110 §10.1.1).
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, true));
    // Any other expectation: Node would answer 417 itself, with no request id and no access record.
    this.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) =>
      this.refuse(req, res, EXPECTATION_FAILED, incomingRequestId(req.rawHeaders) ?? requestIds.next(), performance.now()));
    // Without a listener Node drops a CONNECT silently; a reverse proxy answers 501.
    this.server.on('connect', (req: IncomingMessage, socket: Duplex) => this.refuseSocket(req, socket, CONNECT_REFUSED));
    this.h2 = options.http2 !== true ? null : new H2Sessions({
      onRequest: (req, res) => this.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse),
      maxHeaderBytes: this.limits.maxHeaderBytes,
      idleMs: options.keepAliveMs,
      prefaceMs: this.limits.requestHeadMs,
    });
    if (this.h2 !== null) {
      if (this.secure !== null) this.h2.alpnOn(this.secure);
      else this.h2.sniffOn(this.server);
    }
    // Upgrade requests go through the target's undici Pool like plain ones (UPGRADE: tunnel.ts).
    this.tunnels = new UpgradeTunnels({
      proto,
      choosePool: (req) => this.router === null ? this.options.choosePool(req) : this.router.route(req)?.pool,
      limits: options.limits ?? DEFAULT_LIMITS,
      dropHeader: this.dropHeader,
      preview: this.preview,
      retryAttempts: () => this.retryAttempts,
      observed: (target, ok) => this.observed(target, ok),
      onFinished: (record) => this.notify(record),
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (options.upgrades === false) return refuseUpgrade(socket, '501 Not Implemented', '');
      // Shutdown closes the open tunnels once; a new one now would keep the listener from closing.
      if (this.closing) return refuseUpgrade(socket, '503 Service Unavailable', `Retry-After: ${RETRY_AFTER_SECONDS}\r\n`);
      const port = this.options.redirectHttps?.() ?? null;
      if (port !== null && this.redirectUpgrade(req, socket, port)) return;
      this.tunnels.handleUpgrade(req, socket, head);
    });
  }

  /** The HTTPS listener's default context (clients without SNI) changed: new handshakes use it. */
  setSecureContext(options: SecureContextOptions): void {
    this.secure?.setSecureContext(options);
  }

  /** Shutdown begins: idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY (their open streams go on). */
  closeIdle(): void {
    this.server.closeIdleConnections();
    this.h2?.goAway();
  }

  /** Shutdown grace over: every client connection and HTTP/2 session is cut. */
  closeAll(): void {
    this.server.closeAllConnections();
    this.h2?.destroyAll();
  }

  /**
   * A request head, parsed, or an HTTP/2 stream (Node's compatibility request and response):
   * admitted, routed and handed to an Exchange. `expectsContinue`: the client waits for a 100
   * (Node left it to us).
   */
  handle(req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
    const h2 = req.httpVersionMajor === 2;
    const startedAt = performance.now();
    if (!h2) {
      // The newest response owed on this connection: a parse error in bytes pipelined behind it closes the connection after it.
      (req.socket as ClientSocket)[kLastResponse] = res;
      if (this.closing) res.shouldKeepAlive = false;
    }
    const rawHeaders = req.rawHeaders;
    const requestId = incomingRequestId(rawHeaders) ?? requestIds.next();
    const authority = h2 ? h2Authority(req) : undefined;
    const admission = h2 ? admitH2(req.method ?? '', req.url ?? '', authority, req.headers['content-length'], this.limits, rawHeaders) : admit(req, this.limits);
    if (!admission.ok) return this.refuse(req, res, admission, requestId, startedAt);
    // Absolute-form goes upstream (and into the access log, as nginx's $request_uri) in origin-form.
    if (admission.path !== req.url) req.url = admission.path;
    const redirectPort = this.options.redirectHttps?.() ?? null;
    if (redirectPort !== null) return this.redirect(req, res, admission, redirectPort, requestId, startedAt);
    if (expectsContinue) res.writeContinue();
    // An HTTP/2 request has a body unless its HEADERS frame ended the stream (no Content-Length needed).
    const body = h2 ? !(req as unknown as Http2ServerRequest).stream.endAfterHeaders : hasBody(req);
    // A client reset mid-upload surfaces through the exchange, not as a crash. (Node emits a
    // request's 'error' only to listeners, so a request without a body needs none.)
    if (body) req.on('error', ignore);
    let pool: UpstreamPool | undefined;
    let setCookie: string | null = null;
    if (this.router === null) {
      pool = this.options.choosePool(req);
    } else {
      const route = this.router.route(req);
      pool = route?.pool;
      setCookie = route?.setCookie ?? null;
    }
    const target = pool?.pick();
    if (pool === undefined || target === undefined) return this.unavailable(req, res, pool, requestId, startedAt);
    const context = this.forward;
    context.requestId = requestId;
    context.clientIp = clientAddress(req.socket.remoteAddress);
    context.host = admission.host;
    context.hostFromTarget = admission.fromTarget;
    const headers = upstreamRequestHeaders(h2 ? h2RequestHeaders(rawHeaders, authority) : rawHeaders, context);
    const extras = this.decorated ? this.responseExtras(pool, setCookie) : null;
    new Exchange(this, req, res, pool, target, requestId, headers, startedAt, extras, body).start();
  }

  /** Extra response header pairs for a pool, built once per pool: the pool header, and the sticky cookie when it must be set. */
  private responseExtras(pool: UpstreamPool, setCookie: string | null): readonly string[] | null {
    let extras = this.extrasByPool.get(pool);
    if (extras === undefined) {
      const plain = this.options.poolHeader === undefined ? null : [this.options.poolHeader, pool.name];
      extras = { plain, withCookie: null };
      this.extrasByPool.set(pool, extras);
    }
    if (setCookie === null) return extras.plain;
    // The Set-Cookie line of a pool never changes, so this runs once per pool.
    return (extras.withCookie ??= [...(extras.plain ?? []), 'set-cookie', setCookie]);
  }

  observed(target: Target, ok: boolean): void {
    this.options.onTargetOutcome?.(target, ok);
  }

  finished(exchange: Exchange): void {
    const record: RequestRecord = {
      reqId: exchange.requestId,
      method: exchange.req.method ?? '',
      url: exchange.req.url ?? '',
      status: exchange.status,
      ms: roundMs(performance.now() - exchange.startedAt),
      pool: exchange.pool.name,
      version: exchange.pool.version,
      target: exchange.targetChosen ? exchange.target.url : null, // none when answered while its body was read
      retries: exchange.retries,
      bytes: exchange.bytes,
    };
    if (exchange.staleRetries > 0) record.staleRetries = exchange.staleRetries;
    if (exchange.error !== undefined) record.error = exchange.error;
    if (exchange.grpcStatus !== undefined) record.grpcStatus = exchange.grpcStatus;
    this.notify(record, exchange.req);
  }

  /** The proxy's own answer to a request head `admit` refused: no pool, no target, no upstream evidence. */
  private refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal, requestId: string, startedAt: number): void {
    const record = refusalRecord(requestId, req.method ?? '', req.url ?? '', refusal, roundMs(performance.now() - startedAt));
    if (refusal.status >= 400 && isGrpcRequest(req.headers)) {
      record.grpcStatus = grpcStatusForHttp(refusal.status);
      answerTrailersOnly(res, streamOf(req), grpcErrorHeaders(record.grpcStatus, refusal.reason, requestId));
    } else {
      writeRefusal(res, refusal, requestId);
    }
    req.resume(); // a body is discarded; a refusal closes the connection after it (HTTP/1.1)
    this.notify(record, req);
  }

  /**
   * `tls.redirectHttp`: 308 to the same host (its port replaced by the HTTPS one), path and
   * query, nothing proxied. A request without a Host (HTTP/1.0) has nowhere to go: 400.
   */
  private redirect(req: IncomingMessage, res: ServerResponse, admission: Admitted, port: number, requestId: string, startedAt: number): void {
    const location = admission.host === undefined || admission.host === '' ? null : httpsLocation(admission.host, admission.path, port);
    if (location === null) res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'x-request-id': requestId, ...(req.httpVersionMajor === 2 ? {} : { connection: 'close' }) }).end('a Host header is needed to redirect to https\n');
    else res.writeHead(308, { location, 'x-request-id': requestId, 'content-length': '0' }).end();
    req.resume(); // a body is discarded
    this.notify({
      reqId: requestId, method: req.method ?? '', url: req.url ?? '', status: location === null ? 400 : 308, ms: roundMs(performance.now() - startedAt),
      pool: null, version: null, target: null, retries: 0, bytes: 0, ...(location === null ? { error: 'no Host to redirect to' } : {}),
    }, req);
  }

  /** An Upgrade request on a redirecting listener: 308 on the raw socket. False when admission refuses it (the tunnel code answers that). */
  private redirectUpgrade(req: IncomingMessage, socket: Duplex, port: number): boolean {
    const admission = admit(req, this.limits, true);
    if (!admission.ok || admission.host === undefined || admission.host === '') return false;
    const requestId = incomingRequestId(req.rawHeaders) ?? requestIds.next();
    refuseUpgrade(socket, '308 Permanent Redirect', `Location: ${httpsLocation(admission.host, admission.path, port)}\r\nX-Request-Id: ${requestId}\r\n`);
    this.notify({ reqId: requestId, method: req.method ?? '', url: admission.path, status: 308, ms: 0, pool: null, version: null, target: null, retries: 0, bytes: 0 });
    return true;
  }

  /** Answers on a raw socket (CONNECT): no ServerResponse exists. */
  private refuseSocket(req: IncomingMessage, socket: Duplex, refusal: Refusal): void {
    const requestId = incomingRequestId(req.rawHeaders) ?? requestIds.next();
    writeRefusal(socket, refusal, requestId, req.method);
    this.notify(refusalRecord(requestId, req.method ?? '', req.url ?? '', refusal, 0));
  }

  /**
   * A head Node's parser refused (`clientError`). With no response owed on the connection the
   * client gets the status `clientErrorAnswer` picks (414, 431, 501, 408, 400), with
   * `Connection: close`. When one is owed or under way (the error is in a request pipelined
   * behind it), a status line now would be read as that response, or land inside it: the
   * connection instead closes once that response is done, and the refused bytes go
   * unanswered. When the error is in the body of the request being answered and no byte of
   * its response went out, the 400 is its answer (as Node's own handler does) and the
   * Exchange sees the client go.
   */
  private clientError(err: NodeJS.ErrnoException & ClientParseError, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const tagged = socket as ClientSocket;
    if (tagged[kRefused] === true) return; // the parser reports again for every later chunk
    tagged[kRefused] = true;
    const answer = clientErrorAnswer(err);
    const line = requestLineOf(err);
    const current = tagged._httpMessage;
    if (current !== null && current !== undefined) {
      // The error is in the body of the request being answered, or in one pipelined behind it.
      const inCurrent = current.req?.complete === false;
      // The Exchange (or the refusal) of the current request writes its own access record.
      if (inCurrent && !current.headersSent) {
        // Its own Exchange answers (400 with the request's id, one access record); else Node's way.
        // A body cut short by the client leaving (EOF) is the Exchange's 499, not a malformed body.
        if (err.code !== 'HPE_INVALID_EOF_STATE' && exchangeOf(current)?.malformedBody(`${answer.reason} body`) === true) return;
        return writeRefusal(socket, answer, requestIds.next());
      }
      // Requests parsed before the error are answered in order; the connection closes after
      // the newest of them (not the one under way: Node would drop the queued answers, whose
      // requests already ran upstream). Before its head goes out the response says so itself;
      // after, `_last` is what Node's end-of-response step checks to end the socket.
      const newest = tagged[kLastResponse];
      const last = newest !== undefined && !newest.writableFinished ? newest : current;
      if (!last.headersSent) last.shouldKeepAlive = false;
      (last as ServerResponse & { _last?: boolean })._last = true;
      if (inCurrent) return;
      const record = refusalRecord(requestIds.next(), line.method, line.url, answer, 0);
      record.error = `${answer.reason}; not answered (a response was under way on the connection, which closes after it)`;
      return this.notify(record);
    }
    const requestId = requestIds.next();
    writeRefusal(socket, answer, requestId, line.method);
    this.notify(refusalRecord(requestId, line.method, line.url, answer, 0));
  }

  /** No pool has weight, or the chosen pool has no ready target: 503 with Retry-After. */
  private unavailable(req: IncomingMessage, res: ServerResponse, pool: UpstreamPool | undefined, requestId: string, startedAt: number): void {
    const message = pool === undefined ? 'no pool has traffic weight' : `no ready target in pool ${pool.name}`;
    const grpc = isGrpcRequest(req.headers);
    if (grpc) {
      answerTrailersOnly(res, streamOf(req), grpcErrorHeaders(grpcStatusForHttp(503), message, requestId));
    } else {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': RETRY_AFTER_SECONDS, 'x-request-id': requestId });
      res.end(`${message}\n`);
    }
    req.resume(); // discard any body so the connection can be reused
    this.notify({
      reqId: requestId, method: req.method ?? '', url: req.url ?? '', status: grpc ? 200 : 503, ms: roundMs(performance.now() - startedAt),
      pool: pool?.name ?? null, version: pool?.version ?? null, target: null, retries: 0, bytes: 0, error: 'no ready target',
      ...(grpc ? { grpcStatus: grpcStatusForHttp(503) } : {}),
    }, req);
  }

  /** Every access record leaves here: the listener and the client's protocol (SPEC §14 `proto`) are added. */
  private notify(record: RequestRecord, req?: IncomingMessage): void {
    if (this.listener !== undefined) record.listener = this.listener;
    record.proto = req?.httpVersionMajor === 2 ? '2' : '1.1';
    this.observers.requestFinished(record);
  }
}

interface PoolExtras {
  plain: readonly string[] | null;
  withCookie: readonly string[] | null;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Node's server socket as the clientError handler sees it: `_httpMessage` is the response first in line. */
const kRefused = Symbol('refused');
const kLastResponse = Symbol('lastResponse');
type ClientSocket = Duplex & {
  _httpMessage?: (ServerResponse & { req?: IncomingMessage }) | null;
  [kRefused]?: true;
  [kLastResponse]?: ServerResponse;
};

/** An HTTP/2 request's authority: `:authority`, else a `Host` field (RFC 9113 §8.3.1). */
function h2Authority(req: IncomingMessage): string | undefined {
  const headers = req.headers;
  return (headers[':authority'] as string | undefined) ?? headers.host;
}

/** The HTTP/2 stream under a compatibility request, or null for HTTP/1.1. */
export function streamOf(req: IncomingMessage): Http2ServerRequest['stream'] | null {
  return req.httpVersionMajor === 2 ? (req as unknown as Http2ServerRequest).stream : null;
}

/** Node's HTTP/2 compatibility response, for the branches that differ from HTTP/1.1. */
export type H2Response = Http2ServerResponse;

function refuseUpgrade(socket: Duplex, status: string, extra: string): void {
  socket.on('error', ignore);
  socket.end(`HTTP/1.1 ${status}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

function ignore(): void {}
