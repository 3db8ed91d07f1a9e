// What a failed attempt means for a proxied request: whose fault it was (only the upstream's
// count for passive health), may it be retried (on another target, or once more on a fresh
// connection to the same one), and which status the client gets. Pure classification, no I/O.
//
// The fault split follows Pingora's ErrorSource (Upstream / Downstream / Internal) and
// Envoy's external- vs local-origin outlier detection: a request the proxy refuses or cannot
// send, a client that goes away or stalls, or a pool the proxy closed itself is never
// evidence against a target (SPEC §10).

/** Raised by the HTTP/2 upstream client (h2-upstream-client.ts) for a stream the upstream refused unprocessed. */
export const H2_REFUSED_STREAM = 'H2_REFUSED_STREAM';

/** Whose fault a failed attempt was. Only `upstream` counts as passive-health evidence. */
export type Fault = 'upstream' | 'client' | 'proxy';

/** The connection was never made (or the pool was closed), so the upstream saw nothing. */
const NOT_SENT = new Set([
  'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'EADDRNOTAVAIL', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED',
  // HTTP/2: the upstream refused the stream (RST_STREAM REFUSED_STREAM, or above a GOAWAY's
  // last stream id), which RFC 9113 §8.7 says was not processed: safe to retry for any method.
  H2_REFUSED_STREAM,
  // The upstream's TLS server did not pick h2 by ALPN: nothing was sent (the upstream's fault).
  'H2_NOT_NEGOTIATED',
]);

/** The upstream closed the connection before sending a response byte. */
const CLOSED_EARLY = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Failures the upstream caused that carry no errno (undici's own codes for what the upstream did). */
const UPSTREAM_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  // node:http refused to relay the upstream's head (a control character in the reason phrase,
  // an invalid header value): the upstream's answer was malformed.
  'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP_INVALID_STATUS_CODE',
]);

/**
 * Failures of the proxy's own making: the request never reached a target through no fault of
 * it. A refused HTTP/2 stream is no fault either: a backend's graceful GOAWAY refuses streams.
 */
const PROXY_CODES = new Set(['UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_ABORTED', H2_REFUSED_STREAM]);

/** Codes of the errors the exchange raises itself (see the classes below). */
export const CLIENT_GONE = 'CLIENT_GONE';
export const REQUEST_BODY_IDLE = 'REQUEST_BODY_IDLE';
export const REQUEST_BODY_TOO_LARGE = 'REQUEST_BODY_TOO_LARGE';
/** The request body broke HTTP/1.1 framing (Node's parser refused it, e.g. a bad chunk size). */
export const REQUEST_BODY_MALFORMED = 'REQUEST_BODY_MALFORMED';
export const UPSTREAM_TRANSFER_CODING = 'UPSTREAM_TRANSFER_CODING';

/** What the client did or failed to do: answered by the proxy itself, never evidence. */
const CLIENT_CODES = new Set([
  CLIENT_GONE, REQUEST_BODY_IDLE, REQUEST_BODY_TOO_LARGE, REQUEST_BODY_MALFORMED,
  // undici refused the request as given (a header value or path it will not send, a
  // duplicate Host, `Expect`): the same request would fail on every target.
  'UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED',
  // The request body ended short of its Content-Length.
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

/** The error's `code`; undici's HTTPParserError often has none (its llhttp code lookup misses): `HPE_PARSE` then. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return (err as { name?: unknown } | null)?.name === 'HTTPParserError' ? 'HPE_PARSE' : 'UNKNOWN';
}

export function neverReachedUpstream(err: unknown): boolean {
  const code = errorCode(err);
  return NOT_SENT.has(code) || isCertificateRefusal(code);
}

/**
 * Whose fault a failure was. `fromClientBody` is true when the error came out of the client's
 * request body stream (a client reset mid-upload surfaces as that stream's ECONNRESET, which
 * must not be mistaken for the upstream's). Errno codes (`E...`), llhttp's parse errors
 * (`HPE_...`) and TLS failures on the upstream connection are the upstream's; an unknown
 * non-errno error is the proxy's own (never held against a target).
 */
export function faultOf(err: unknown, fromClientBody = false): Fault {
  if (fromClientBody) return 'client';
  const code = errorCode(err);
  if (CLIENT_CODES.has(code)) return 'client';
  if (PROXY_CODES.has(code)) return 'proxy';
  if (UPSTREAM_CODES.has(code) || code === UPSTREAM_TRANSFER_CODING) return 'upstream';
  if (isErrno(code) || code.startsWith('HPE_') || isTlsCode(code)) return 'upstream';
  // node:http2's errors on an upstream session or stream (a protocol error, a reset) and the
  // HTTP/2 client's own H2_* codes: what the upstream did.
  if (code.startsWith('ERR_HTTP2_') || code.startsWith('H2_')) return 'upstream';
  return 'proxy';
}

/** A system error name (ECONNRESET, EAI_AGAIN, ...), not one of Node's own ERR_* codes. */
function isErrno(code: string): boolean {
  return /^E[A-Z0-9_]+$/.test(code) && !code.startsWith('ERR_');
}

/** A TLS failure on the upstream connection: a certificate refused, or OpenSSL's own (`ERR_SSL_…`: an alert, a broken record). */
function isTlsCode(code: string): boolean {
  return isCertificateRefusal(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_');
}

/** OpenSSL's verification results that Node names (X509_V_ERR_*, as in crypto_common's table), plus Node's own name check. */
const CERTIFICATE_REFUSALS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The proxy refused the upstream's certificate (untrusted, expired, another name): decided
 * during the handshake, before a request byte is written, so the request was never sent.
 */
function isCertificateRefusal(code: string): boolean {
  return CERTIFICATE_REFUSALS.has(code) || code.startsWith('CERT_') || code.startsWith('UNABLE_TO_')
    || code.startsWith('CRL_') || code.startsWith('ERROR_IN_CERT_') || code.startsWith('ERROR_IN_CRL_');
}

export interface RetryQuestion {
  err: unknown;
  method: string;
  /** True once any byte of the request body was read from the client. */
  bodyStreamed: boolean;
}

/** SPEC §4: always when the connection could not be made (a refused upstream certificate included); for idempotent methods also when the upstream closed before any response byte; never replay a streamed body. */
export function mayRetry({ err, method, bodyStreamed }: RetryQuestion): boolean {
  if (bodyStreamed) return false;
  const code = errorCode(err);
  if (NOT_SENT.has(code) || isCertificateRefusal(code)) return true;
  return CLOSED_EARLY.has(code) && IDEMPOTENT.has(method);
}

export interface StaleQuestion extends RetryQuestion {
  /** The attempt ran on a kept-alive connection that had served an earlier request. */
  reusedConnection: boolean;
  /** Any byte of a response (a 1xx included) arrived on this attempt. */
  answered: boolean;
}

/**
 * SPEC §10, as nginx and HAProxy do it: an idempotent request without a streamed body that
 * failed on a reused keep-alive connection before any response byte most likely raced the
 * upstream closing that idle connection (gunicorn closes after 2 s, with no `Keep-Alive`
 * hint). It is retried once on a fresh connection to the same target; that retry is not
 * counted in `retries.attempts` and the failure is not evidence against the target.
 */
export function isStaleConnection({ err, method, bodyStreamed, reusedConnection, answered }: StaleQuestion): boolean {
  return reusedConnection && !answered && !bodyStreamed && CLOSED_EARLY.has(errorCode(err)) && IDEMPOTENT.has(method);
}

/**
 * The status the client gets when no response byte was sent yet: 504 for a headers timeout,
 * the proxy's own 4xx for a client fault (400 for a request undici refuses, 408 for a stalled
 * body, 413 for one over `limits.maxRequestBodyBytes`, 417 for an `Expect` it cannot meet),
 * 502 otherwise.
 */
export function statusForUpstreamError(err: unknown): number {
  const code = errorCode(err);
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT': return 504;
    case REQUEST_BODY_IDLE: return 408;
    case REQUEST_BODY_TOO_LARGE: return 413;
    case REQUEST_BODY_MALFORMED: return 400;
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH': return 400;
    case 'UND_ERR_NOT_SUPPORTED': return /expect/i.test((err as Error).message) ? 417 : 501;
    default: return 502;
  }
}

/**
 * An upstream answer's `Transfer-Encoding` is acceptable only as exactly `chunked` (RFC 9112
 * §6.1: chunked once, last). Anything else (`gzip, chunked`, `chunked, chunked`, `gzip`) would
 * reach the client decoded by one coding and missing the label of the rest → 502. `raw` is
 * undici's flat header list; returns the offending value, or null. One pass, no allocation
 * unless a Transfer-Encoding field is present.
 */
export function badTransferCoding(raw: readonly Buffer[]): string | null {
  const value = combinedField(raw, 'transfer-encoding');
  if (value === null) return null;
  return value.trim().toLowerCase() === 'chunked' ? null : value;
}

/** The upstream's `Trailer` declaration (field names announced for the trailer section), or null. */
export function declaredTrailer(raw: readonly Buffer[]): string | null {
  return combinedField(raw, 'trailer');
}

/**
 * Every line of the field `lowerName` in undici's flat header list, joined with ", " as one
 * value (RFC 9110 §5.3), or null when absent. One pass; allocates only when the field is there.
 */
function combinedField(raw: readonly Buffer[], lowerName: string): string | null {
  let value: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toString('latin1').toLowerCase() === lowerName) {
      const field = raw[i + 1]!.toString('latin1');
      value = value === null ? field : `${value}, ${field}`;
    }
  }
  return value;
}

/** The client said it accepts a trailer section (`TE: trailers`, RFC 9110 §10.1.4). */
export function acceptsTrailers(te: string | undefined): boolean {
  if (te === undefined) return false;
  for (const part of te.split(',')) {
    if (part.split(';')[0]!.trim().toLowerCase() === 'trailers') return true;
  }
  return false;
}

/** Errors the exchange raises itself; each carries a `code` the functions above know. */
export class ExchangeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
