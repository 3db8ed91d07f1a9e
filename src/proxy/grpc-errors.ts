// gRPC over HTTP/2 as the proxy sees it (gRPC's PROTOCOL-HTTP2.md): which requests are gRPC,
// where a call's status is, and how the proxy's own failures are answered to a gRPC client —
// HTTP 200 with `grpc-status` in a trailers-only answer, never an HTTP 502 that a gRPC client
// could only report as UNKNOWN or INTERNAL (SPEC §14; Envoy's grpc_http1_bridge and nginx's
// `grpc_pass` error pages answer the same way).
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';

/** gRPC status codes the proxy itself answers with (grpc/doc/statuscodes.md). */
export const GRPC_OK = 0;
export const GRPC_DEADLINE_EXCEEDED = 4;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;

/** A gRPC request: `content-type: application/grpc` or `application/grpc+proto`, `...;charset` etc. */
export function isGrpcRequest(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type !== undefined && type.length >= 16 && type.startsWith('application/grpc')
    && (type.length === 16 || type.charCodeAt(16) === 0x2b /* + */ || type.charCodeAt(16) === 0x3b /* ; */);
}

/**
 * The gRPC status for an HTTP status the proxy would have answered with: 504 (no head in
 * `timeouts.headersMs`) and 408 → DEADLINE_EXCEEDED; 413 → RESOURCE_EXHAUSTED; other 4xx (a
 * request the proxy refused) → INTERNAL; 502/503 and the rest → UNAVAILABLE, which gRPC clients
 * treat as retryable (gRPC's own HTTP-to-gRPC mapping, doc/http-grpc-status-mapping.md, maps
 * 502/503/504 to UNAVAILABLE; the proxy keeps 504's meaning, a deadline, as SPEC §14 says).
 */
export function grpcStatusForHttp(status: number): number {
  if (status === 504 || status === 408) return GRPC_DEADLINE_EXCEEDED;
  if (status === 413) return GRPC_RESOURCE_EXHAUSTED;
  if (status >= 400 && status < 500) return GRPC_INTERNAL;
  return GRPC_UNAVAILABLE;
}

/** The `grpc-status` among raw header (or trailer) pairs, as a number; undefined when absent or not a number. */
export function grpcStatusOf(raw: readonly Buffer[] | readonly string[]): number | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 11 && name.toString().toLowerCase() === 'grpc-status') {
      const status = Number(raw[i + 1]!.toString());
      return Number.isInteger(status) && status >= 0 ? status : undefined;
    }
  }
  return undefined;
}

/** `grpc-message` is percent-encoded: printable ASCII except `%` as is, every other byte as %XX (PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answers a gRPC call with a status and no message: trailers-only, i.e. one HEADERS frame with
 * END_STREAM carrying `:status 200`, `content-type` and `grpc-status` (PROTOCOL-HTTP2.md
 * "Trailers-Only"). Over HTTP/2 it goes on the raw stream: Node's compatibility response would
 * send the head and an empty trailers frame apart, which gRPC clients read as a call that ended
 * without a status. `headers`: every field but `:status` (`status`, default 200).
 */
export function answerTrailersOnly(res: ServerResponse, stream: ServerHttp2Stream | null, headers: Record<string, string | string[]>, status = 200): void {
  if (stream !== null) {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ ...headers, ':status': status }, { endStream: true });
    return;
  }
  res.writeHead(status, headers);
  res.end();
}

/** The headers of the proxy's own gRPC answer for `status` and `message`. */
export function grpcErrorHeaders(status: number, message: string, requestId: string): Record<string, string> {
  return { 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': encodeGrpcMessage(message), 'x-request-id': requestId };
}
