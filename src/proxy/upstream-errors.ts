// What an undici error means for a proxied request: was anything sent, may it be retried,
// and which status the client gets. Pure classification, no I/O.

/** The connection was never made (or the pool was closed), so the upstream saw nothing. */
const NOT_SENT = new Set([
  'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'EADDRNOTAVAIL', 'UND_ERR_CLOSED',
]);

/** The upstream closed the connection before sending a response byte. */
const CLOSED_EARLY = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

export function neverReachedUpstream(err: unknown): boolean {
  return NOT_SENT.has(errorCode(err));
}

export interface RetryQuestion {
  err: unknown;
  method: string;
  /** True once any byte of the request body was read from the client. */
  bodyStreamed: boolean;
}

/** SPEC §4: always when the connection could not be made; for idempotent methods also when the upstream closed before any response byte; never replay a streamed body. */
export function mayRetry({ err, method, bodyStreamed }: RetryQuestion): boolean {
  if (bodyStreamed) return false;
  const code = errorCode(err);
  if (NOT_SENT.has(code)) return true;
  return CLOSED_EARLY.has(code) && IDEMPOTENT.has(method);
}

/** The status the client gets when no response byte was sent yet. */
export function statusForUpstreamError(err: unknown): 502 | 504 {
  return errorCode(err) === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502;
}
