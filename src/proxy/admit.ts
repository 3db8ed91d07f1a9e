// Admission: the client's own mistakes, answered by the proxy before routing. Pure checks of a
// parsed request head (`admit`; heads Node's parser refused are parse-errors.ts), plus the one
// way such an answer is written (`writeRefusal`). A refused request never reaches an
// upstream and never counts as passive-health evidence against a target (SPEC §10).
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LimitsConfig } from '../config/schema.js';
import type { RequestRecord } from '../observe/request-record.js';

/** The request may be forwarded: `path` is its origin-form target, `host` the effective host. */
export interface Admitted {
  ok: true;
  /**
   * The request-target to send upstream, in origin-form (`/x?q`). Equal to `req.url` for an
   * origin-form request; the path and query of an absolute-form one (RFC 9112 §3.2.2).
   */
  path: string;
  /**
   * The effective host: the authority of an absolute-form target, else the `Host` header's
   * value; undefined only for an HTTP/1.0 request without `Host`. It is what the upstream's
   * `Host` and `X-Forwarded-Host` carry.
   */
  host: string | undefined;
  /** True when `host` came from an absolute-form target and replaces the client's `Host`. */
  fromTarget: boolean;
}

/** The proxy answers the request itself and forwards nothing. */
export interface Refusal {
  ok: false;
  /** 200 only for `OPTIONS *` (see `admit`); the rest are the client's mistakes. */
  status: 200 | 400 | 408 | 413 | 414 | 417 | 431 | 501;
  /** Short, human text: the answer's body and the access record's `error`. */
  reason: string;
  /** `Connection: close` after the answer: true for every mistake (the framing may be off). */
  close: boolean;
}

export type Admission = Admitted | Refusal;

const SLASH = 0x2f;

/** A refusal, frozen: each is a shared constant, so a refusal costs no allocation. */
export function refusal(status: Refusal['status'], reason: string, close = true): Refusal {
  return Object.freeze({ ok: false, status, reason, close });
}

const DUPLICATE_HOST = refusal(400, 'more than one Host header');
const INVALID_HOST = refusal(400, 'invalid Host header');
const MISSING_HOST = refusal(400, 'HTTP/1.1 request without a Host header');
const INVALID_TARGET = refusal(400, 'invalid request-target');
const ASTERISK_NOT_OPTIONS = refusal(400, 'asterisk-form request-target on a method other than OPTIONS');
const USERINFO = refusal(400, 'userinfo in the request-target');
const UPGRADE_WITH_BODY = refusal(400, 'Upgrade request with a body');
/** `Transfer-Encoding` other than exactly `chunked`. */
export const TRANSFER_CODING = refusal(501, 'transfer coding other than chunked');
const TOO_LARGE = refusal(413, 'request body larger than limits.maxRequestBodyBytes');
/**
 * `OPTIONS *` asks about the server in general, "only useful as a ping or no-op" (RFC 9110
 * §9.3.7), and undici cannot send an asterisk-form target. The server the client talks to is
 * this proxy, so it answers the ping itself: 200, no body, the connection kept. Not a mistake,
 * so not a 4xx: nginx answers 400 and HAProxy relays it to one server (whose answer then says
 * nothing about the others); a 200 from the proxy is what Apache httpd, the origin server the
 * RFC text describes, answers, and what a client probing for HTTP/1.1 support can use.
 */
export const OPTIONS_ASTERISK: Refusal = refusal(200, 'OPTIONS * answered by the proxy', false);
/** An `Expect` other than `100-continue` (RFC 9110 §10.1.1): Node hands it over only when asked. */
export const EXPECTATION_FAILED: Refusal = refusal(417, 'Expect other than 100-continue');
/** A reverse proxy is no tunnel for arbitrary hosts: CONNECT is not implemented (RFC 9110 §9.3.6, §15.6.2). */
export const CONNECT_REFUSED: Refusal = refusal(501, 'CONNECT is not supported (this is a reverse proxy)');

/**
 * Checks a parsed request head before routing. Pure and synchronous; reads `req.url`,
 * `req.method`, `req.httpVersion*`, `req.rawHeaders` and `req.headers`.
 *
 * Refuses, each with `Connection: close`:
 * - 400: more than one `Host`, an invalid `Host` (not `uri-host [":" port]`, port above 65535,
 *   empty), none on HTTP/1.1 (RFC 9112 §3.2); a target that is neither origin-form, nor
 *   absolute-form `http(s)://authority...` (userinfo refused, RFC 9110 §4.2.4), nor `*` on
 *   OPTIONS; an Upgrade request with a body (`upgrade` true: the tunnel would carry it as
 *   tunnel bytes before the upstream's 101).
 * - 501: `Transfer-Encoding` other than exactly `chunked` (RFC 9112 §6.1: a coding the proxy
 *   does not decode; SPEC §10 picks 501 also where §6.3 allows 400, e.g. `chunked, gzip`).
 * - 413: `Content-Length` above `limits.maxRequestBodyBytes` (when that is > 0).
 * Answers `OPTIONS *` (and `OPTIONS http://host` with an empty path, RFC 9112 §3.2.4) with a
 * 200 of its own: `OPTIONS_ASTERISK`.
 *
 * An absolute-form target (`GET http://other.test/x`) is admitted with `path: '/x'` and
 * `host: 'other.test'`: its authority replaces `Host` (RFC 9112 §3.2.2), which must still be
 * present and valid (RFC 9112 §3.2). A 414/431 never reaches here: Node's parser refuses those
 * heads (see `clientErrorAnswer` in parse-errors.ts).
 */
export function admit(req: IncomingMessage, limits: Readonly<LimitsConfig>, upgrade = false): Admission {
  const url = req.url ?? '';
  let path = url;
  let target: string | undefined;
  if (url.charCodeAt(0) !== SLASH) {
    if (url === '*') {
      if (req.method !== 'OPTIONS') return ASTERISK_NOT_OPTIONS;
      path = '';
    } else {
      const start = schemeEnd(url);
      if (start === -1) return INVALID_TARGET;
      let end = start;
      while (end < url.length && !isAuthorityEnd(url.charCodeAt(end))) end++;
      target = url.slice(start, end);
      if (target.includes('@')) return USERINFO;
      if (!isValidHost(target)) return INVALID_TARGET;
      path = end === url.length ? '/' : url.charCodeAt(end) === SLASH ? url.slice(end) : `/${url.slice(end)}`;
      if (end === url.length && req.method === 'OPTIONS') path = '';
    }
  }

  // Host: exactly one, well-formed. A length test first: most names are not four characters.
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) {
      if (host !== undefined) return DUPLICATE_HOST;
      host = raw[i + 1]!;
    }
  }
  if (host === undefined) {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1) return MISSING_HOST;
  } else if (host !== lastValidHost) {
    if (!isValidHost(host)) return INVALID_HOST;
    lastValidHost = host;
  }

  const headers = req.headers;
  const codings = headers['transfer-encoding'];
  if (codings !== undefined && codings !== 'chunked' && !(codings.length === 7 && codings.toLowerCase() === 'chunked')) return TRANSFER_CODING;
  const length = headers['content-length'];
  if (length !== undefined && limits.maxRequestBodyBytes > 0 && Number(length) > limits.maxRequestBodyBytes) return TOO_LARGE;
  if (upgrade && (codings !== undefined || (length !== undefined && Number(length) !== 0))) return UPGRADE_WITH_BODY;
  // Last: an OPTIONS * with a bad coding or an oversized body is refused like any request.
  if (path === '') return OPTIONS_ASTERISK;

  return { ok: true, path, host: target ?? host, fromTarget: target !== undefined };
}

/**
 * The last Host value found valid: a client sends the same Host on every request, so the
 * common case is one string comparison instead of a character scan (a memo, not state:
 * the verdict is the same either way).
 */
let lastValidHost: string | undefined;

/** Where the authority of `http://` or `https://` (any case) starts, or -1 for another form. */
function schemeEnd(url: string): number {
  const colon = url.indexOf('://');
  if (colon !== 4 && colon !== 5) return -1;
  const scheme = url.slice(0, colon).toLowerCase();
  return scheme === 'http' || scheme === 'https' ? colon + 3 : -1;
}

/** `/`, `?` or `#` end an authority (RFC 3986 §3.2). */
function isAuthorityEnd(code: number): boolean {
  return code === SLASH || code === 0x3f || code === 0x23;
}

/** reg-name characters (RFC 3986 §3.2.2): unreserved / sub-delims; `%` is checked apart. */
const REG_NAME = new Uint8Array(128);
for (const char of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;=') REG_NAME[char.charCodeAt(0)] = 1;

function isHexDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66);
}

/**
 * A `Host` value (or an absolute-form authority without userinfo) is `uri-host [":" port]`
 * (RFC 9110 §7.2, RFC 3986 §3.2.2–3.2.3): a non-empty reg-name (which covers IPv4 dotted
 * quads), or `[IPv6]` / `[vX.future]`; the port, when a colon is there, digits up to 65535
 * (an empty port is allowed, RFC 3986 §3.2.3). Allocation-free for a reg-name host.
 */
export function isValidHost(value: string): boolean {
  const length = value.length;
  if (length === 0) return false;
  let i = 0;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    const close = value.indexOf(']');
    if (close === -1 || !isIpLiteral(value.slice(1, close))) return false;
    i = close + 1;
    if (i === length) return true;
    if (value.charCodeAt(i) !== 0x3a /* : */) return false;
  } else {
    for (; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code === 0x3a) break;
      if (code === 0x25 /* % */) {
        if (i + 2 >= length || !isHexDigit(value.charCodeAt(i + 1)) || !isHexDigit(value.charCodeAt(i + 2))) return false;
        i += 2;
      } else if (code >= 128 || REG_NAME[code] !== 1) {
        return false;
      }
    }
    if (i === 0) return false; // ":80": no host
    if (i === length) return true;
  }
  // i is at the colon: the rest is the port.
  let port = 0;
  for (i++; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
    port = port * 10 + (code - 0x30);
    if (port > 65535) return false;
  }
  return true;
}

/** The inside of `[...]`: an IPv6 address, or an IPvFuture `v1.x` (RFC 3986 §3.2.2). */
function isIpLiteral(inside: string): boolean {
  if (/^v[0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+$/i.test(inside)) return true;
  return !inside.includes('%') && isIPv6(inside);
}

/**
 * Writes the proxy's own answer: `status`, `Content-Type: text/plain`, `X-Request-Id`, and
 * `Connection: close` when `refusal.close` (then the connection ends after it), with the
 * reason as a one-line body (none for HEAD). `to` is the request's ServerResponse on the
 * plain path, or the raw client socket where no ServerResponse exists (the Upgrade path, a
 * head Node's parser refused): the socket is ended after the answer and destroyed once it is
 * flushed. Never call it once a response has started on that connection.
 */
export function writeRefusal(to: ServerResponse | Duplex, refusal: Refusal, requestId: string, method?: string): void {
  const body = refusal.status === 200 ? '' : `${refusal.reason}\n`;
  if (isResponse(to)) {
    if (refusal.close) to.shouldKeepAlive = false;
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
    };
    if (refusal.close) headers.connection = 'close';
    to.writeHead(refusal.status, headers);
    to.end(body);
    return;
  }
  const socket = to;
  socket.on('error', ignore);
  const head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n`
    + 'Content-Type: text/plain; charset=utf-8\r\n'
    + `Content-Length: ${Buffer.byteLength(body)}\r\n`
    + `X-Request-Id: ${requestId}\r\n`
    + 'Connection: close\r\n\r\n';
  socket.end(method === 'HEAD' ? head : head + body, () => socket.destroy());
}

function isResponse(to: ServerResponse | Duplex): to is ServerResponse {
  return typeof (to as ServerResponse).writeHead === 'function';
}

/**
 * The access record of a request the proxy answered itself: no pool, no target, no bytes
 * relayed; `error` is the refusal's reason (absent on the 200 to `OPTIONS *`).
 */
export function refusalRecord(requestId: string, method: string, url: string, refusal: Refusal, ms: number): RequestRecord {
  const record: RequestRecord = {
    reqId: requestId, method, url, status: refusal.status, ms, pool: null, version: null, target: null, retries: 0, bytes: 0,
  };
  if (refusal.status >= 400) record.error = refusal.reason;
  return record;
}

function ignore(): void {}

const H2_CONNECT = refusal(501, 'CONNECT is not supported (this is a reverse proxy)', false);
const H2_INVALID_AUTHORITY = refusal(400, 'invalid :authority', false);
const H2_TOO_LARGE = refusal(413, 'request body larger than limits.maxRequestBodyBytes', false);

/**
 * `admit` for an HTTP/2 stream (RFC 9113 §8.3). Node's HTTP/2 layer has already refused what
 * breaks the framing (connection-specific headers, a missing `:path`, bad pseudo-headers) with
 * a stream error; this checks what a proxy must: CONNECT (501; RFC 8441's extended CONNECT is
 * not offered), the authority — `:authority`, else `Host` — as for HTTP/1.1, and a declared
 * body over `limits.maxRequestBodyBytes` (413). `authority` is what the caller read. None of
 * these close the connection: other streams on it are unaffected. A header list larger than
 * `limits.maxHeaderBytes` (names and values, `raw`) is refused 431 as over HTTP/1.1.
 */
export function admitH2(method: string, path: string, authority: string | undefined, contentLength: string | undefined,
  limits: Readonly<LimitsConfig>, raw: readonly string[]): Admission {
  if (headerBytes(raw) > limits.maxHeaderBytes) return H2_HEADERS_TOO_LARGE;
  if (method === 'CONNECT') return H2_CONNECT;
  if (authority !== undefined && authority !== lastValidHost) {
    if (!isValidHost(authority)) return H2_INVALID_AUTHORITY;
    lastValidHost = authority;
  }
  if (contentLength !== undefined && limits.maxRequestBodyBytes > 0 && Number(contentLength) > limits.maxRequestBodyBytes) return H2_TOO_LARGE;
  if (path === '*' && method === 'OPTIONS') return OPTIONS_ASTERISK;
  if (path.charCodeAt(0) !== SLASH) return INVALID_TARGET_H2;
  return { ok: true, path, host: authority, fromTarget: false };
}

const INVALID_TARGET_H2 = refusal(400, 'invalid :path', false);
const H2_HEADERS_TOO_LARGE = refusal(431, 'request header fields larger than limits.maxHeaderBytes', false);

/**
 * The size of a header list as `limits.maxHeaderBytes` counts it for HTTP/2: every name and
 * value, pseudo-headers included (HTTP/1.1 counts the request line and header lines alike).
 */
function headerBytes(raw: readonly string[]): number {
  let bytes = 0;
  for (let i = 0; i < raw.length; i++) bytes += raw[i]!.length;
  return bytes;
}
