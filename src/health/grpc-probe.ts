// The gRPC probe (SPEC §14 `healthCheck.type: grpc`): `grpc.health.v1.Health/Check` for the
// configured service over node:http2 — h2c (prior knowledge) for http:// targets, TLS with ALPN
// h2 for https:// ones, with the pool's upstream TLS as the HTTP probe uses it. A fresh session
// per check, closed after, so a check never rides the data plane's sessions and a dead target is
// noticed by the next one. Healthy only for grpc-status 0 with status SERVING.
//
// The request and response are one-field protobuf messages, coded here by hand from the protobuf
// wire format (protobuf.dev "Encoding") inside gRPC's length-prefixed framing (grpc/grpc
// doc/PROTOCOL-HTTP2.md), so the proxy needs no protobuf library:
//   HealthCheckRequest  { string service = 1; }        → tag 0x0a, varint length, UTF-8 bytes
//   HealthCheckResponse { ServingStatus status = 1; }  → tag 0x08, varint (UNKNOWN 0, SERVING 1,
//                                                         NOT_SERVING 2, SERVICE_UNKNOWN 3)
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { h2ErrorName } from '../proxy/h2-protocol.js';
import { connectOptions } from '../proxy/upstream-client.js';
import type { Probe, ProbeResult } from './http-probe.js';

const PATH = '/grpc.health.v1.Health/Check';
/** A health answer is a few bytes; more than this is not one. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
/** gRPC status code names (grpc/grpc doc/statuscodes.md), for readable errors. */
const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL',
  'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** A protobuf varint (little-endian base-128, at most 10 bytes) at `offset`; null when cut short. */
function readVarint(bytes: Buffer, offset: number): { value: number; next: number } | null {
  let value = 0;
  for (let i = 0; i < 10 && offset + i < bytes.length; i++) {
    const byte = bytes[offset + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, next: offset + i + 1 };
  }
  return null;
}

function writeVarint(value: number): number[] {
  const out: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value & 0x7f) | 0x80);
  out.push(value);
  return out;
}

/**
 * The framed request for `service`: compressed flag 0, 4-byte big-endian length, the message.
 * proto3 leaves a default ('') field out, so the overall check is an empty message.
 */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...writeVarint(name.length)]), name]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * The ServingStatus in a framed HealthCheckResponse (0 when the field is absent, as proto3
 * says), or why it cannot be read. Unknown fields are skipped by their wire type.
 */
export function decodeHealthResponse(body: Buffer): { status: number } | { error: string } {
  if (body.length < 5) return { error: 'bad response: no gRPC message' };
  if (body[0] !== 0) return { error: 'bad response: compressed message' }; // none asked for (no grpc-accept-encoding)
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) return { error: 'bad response: truncated message' };
  const message = body.subarray(5, 5 + length);
  let status = 0;
  for (let offset = 0; offset < message.length;) {
    const tag = readVarint(message, offset);
    if (tag === null) return { error: 'bad response: truncated field' };
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    offset = tag.next;
    if (wireType === 0) {
      const varint = readVarint(message, offset);
      if (varint === null) return { error: 'bad response: truncated field' };
      if (field === 1) status = varint.value;
      offset = varint.next;
    } else if (wireType === 2) {
      const size = readVarint(message, offset);
      if (size === null || size.next + size.value > message.length) return { error: 'bad response: truncated field' };
      offset = size.next + size.value;
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
      if (offset > message.length) return { error: 'bad response: truncated field' };
    } else {
      return { error: `bad response: wire type ${wireType}` }; // groups (3, 4) are not proto3
    }
  }
  return { status };
}

/** The `grpc-timeout` value for `ms` (PROTOCOL-HTTP2.md: at most 8 digits and a unit). */
export function grpcTimeout(ms: number): string {
  return ms <= 99_999_999 ? `${Math.max(1, Math.ceil(ms))}m` : `${Math.ceil(ms / 1000)}S`;
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md); a malformed one is shown as sent. */
function grpcMessage(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(', ') : value ?? '';
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** What a finished exchange says about health. */
function verdict(status: number, headers: IncomingHttpHeaders, trailers: IncomingHttpHeaders, body: Buffer): Omit<ProbeResult, 'ms'> {
  if (status === 0) return { ok: false, error: 'stream closed without an answer' };
  if (status !== 200) return { ok: false, status, error: `HTTP ${status}, not a gRPC answer` };
  const type = headers['content-type'] ?? '';
  if (!type.startsWith('application/grpc')) return { ok: false, status, error: `not gRPC (content-type ${type || 'none'})` };
  // A trailers-only answer carries grpc-status in its headers.
  const rawCode = trailers['grpc-status'] ?? headers['grpc-status'];
  if (rawCode === undefined) return { ok: false, status, error: 'no grpc-status' };
  const code = Number(rawCode);
  if (code !== 0) {
    const message = grpcMessage(trailers['grpc-message'] ?? headers['grpc-message']);
    return { ok: false, status, error: `grpc-status ${rawCode} (${GRPC_CODES[code] ?? 'unknown code'}): ${message}` };
  }
  const decoded = decodeHealthResponse(body);
  if ('error' in decoded) return { ok: false, status, error: decoded.error };
  if (decoded.status === 1) return { ok: true, status };
  return { ok: false, status, error: SERVING_STATUS[decoded.status] ?? `serving status ${decoded.status}` };
}

/** A failed session or stream in words; `h2` is whether the server ever sent HTTP/2 SETTINGS. */
function failure(err: Error & { code?: string }, h2: boolean): string {
  // A stream cancelled because its session failed carries the session's error as its cause.
  if (err.code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error) return failure(err.cause, h2);
  // An HTTP/1.1 server answers the h2c preface with an HTTP/1.1 response, which nghttp2 rejects
  // before any SETTINGS frame; a TLS server without h2 refuses ALPN.
  if (err.code === 'ERR_HTTP2_ERROR' && !h2) return 'not HTTP/2';
  if (err.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') return 'not HTTP/2 (the server refused ALPN h2)';
  return err.code ?? err.message;
}

/**
 * One gRPC health check of `origin` (`http://` h2c, `https://` TLS with `servername` as SNI and
 * verify name, and the pool's `tls` snapshot) for `settings.grpcService`, all within
 * `settings.timeoutMs`. Never rejects. `status` is the HTTP status when one came; `error` says
 * why it is not healthy: `NOT_SERVING` / `SERVICE_UNKNOWN` / `UNKNOWN`, `grpc-status N (NAME):
 * message`, `HTTP N, not a gRPC answer`, `not gRPC (content-type …)`, `not HTTP/2…`,
 * `stream reset (CODE)`, `bad response: …`, `timeout`, or Node's error code (`ECONNREFUSED`,
 * `ERR_TLS_CERT_ALTNAME_INVALID` …).
 */
export const grpcProbe: Probe = (origin, { timeoutMs, grpcService = '' }, servername, tls) => {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  const secure = origin.startsWith('https:');
  return new Promise<ProbeResult>((resolve) => {
    let session: ClientHttp2Session | null = null;
    let settled = false;
    let h2 = false;
    const finish = (result: Omit<ProbeResult, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (result.ok) session?.close();
      else session?.destroy();
      resolve({ ...result, ms: elapsed() });
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs);
    const fail = (err: Error) => finish({ ok: false, error: failure(err, h2) });
    try {
      session = connect(origin, secure ? { ...(tls === undefined ? {} : connectOptions(tls)), ...(servername ? { servername } : {}), ALPNProtocols: ['h2'] } : {});
    } catch (err) {
      return fail(err as Error);
    }
    session.on('error', fail);
    session.once('remoteSettings', () => (h2 = true));
    session.once('connect', (connected: ClientHttp2Session) => {
      // Node lets a TLS session start without ALPN (a server that offers none): it would be HTTP/1.1.
      if (secure && connected.alpnProtocol !== 'h2') finish({ ok: false, error: 'not HTTP/2 (no ALPN h2 from the server)' });
    });
    const stream = session.request({
      ':method': 'POST',
      ':path': PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'switchyard-health-check',
      'grpc-timeout': grpcTimeout(timeoutMs),
    });
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let bytes = 0;
    stream.on('response', (received) => {
      headers = received;
      status = Number(received[':status']);
    });
    stream.on('trailers', (received) => (trailers = received));
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_RESPONSE_BYTES) return finish({ ok: false, status, error: 'bad response: too large' });
      chunks.push(chunk);
    });
    stream.on('error', (err: Error & { code?: string }) => {
      if (err.code !== 'ERR_HTTP2_STREAM_ERROR' || stream.rstCode === undefined) return fail(err);
      finish({ ok: false, ...(status ? { status } : {}), error: `stream reset (${h2ErrorName(stream.rstCode) ?? `HTTP/2 error ${stream.rstCode}`})` });
    });
    stream.on('end', () => finish(verdict(status, headers, trailers, Buffer.concat(chunks))));
    stream.on('close', () => {
      // Closed without 'end' or 'error' (a NO_ERROR reset before the answer ended, say).
      finish({ ok: false, ...(status ? { status } : {}), error: 'stream closed without an answer' });
    });
    stream.end(encodeHealthRequest(grpcService));
  });
};
