// HTTP/2 as the upstream client writes and reads it, pure: the request head built from undici
// dispatch options (RFC 9113 §8.3.1), response header pairs in undici's form, RST_STREAM code
// names, and the client's error codes (upstream-errors.ts classifies them).
import type { OutgoingHttpHeaders } from 'node:http2';
import type { Dispatcher } from 'undici';
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

/** RFC 9113 §8.2.2 connection-specific fields (never sent in HTTP/2), plus the h2c upgrade's own. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

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
export function responseHeaders(raw: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58) continue;
    out.push(Buffer.from(name, 'latin1'), Buffer.from(raw[i + 1]!, 'latin1'));
  }
  return out;
}

/** RFC 9113 §7 error codes by value. */
const ERROR_CODE_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

/** The RST_STREAM code's name, e.g. `INTERNAL_ERROR (2)`. */
export function rstName(code: number): string {
  return `${h2ErrorName(code) ?? 'unknown error code'} (${code})`;
}

/** An HTTP/2 error code's name (RST_STREAM, GOAWAY), undefined for one RFC 9113 does not define. */
export function h2ErrorName(code: number): string | undefined {
  return ERROR_CODE_NAMES[code];
}


/** What a request gets from a client that was destroyed. */
export function destroyedError(): H2ClientError {
  return new H2ClientError('UND_ERR_DESTROYED', 'the upstream client was destroyed');
}
