// The access log line, written by hand in exactly the layout pino gives it: pino's generic
// serializer walks the record and checks every string on every line, while here the keys are
// constants, strings from configuration are quoted once, and only what the client sent (URL,
// request id) and error texts are checked per line.
import type { RequestRecord } from './request-record.js';

/** Characters JSON must escape (lone surrogates included: JSON.stringify writes them as \u escapes). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as a JSON string literal. */
export function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** Quoted forms of the few strings that repeat on every line (pool names, versions, target URLs). */
const quotedCache = new Map<string, string>();
const QUOTED_CACHE_LIMIT = 1024;

function quotedRepeat(value: string | null): string {
  if (value === null) return 'null';
  let quoted = quotedCache.get(value);
  if (quoted === undefined) {
    if (quotedCache.size >= QUOTED_CACHE_LIMIT) quotedCache.clear(); // configs churned through reloads
    quoted = jsonString(value);
    quotedCache.set(value, quoted);
  }
  return quoted;
}

/**
 * One access line: `{"level":30` + pino's time fragment + the logger's bindings (`,"pid":…,
 * "kind":"access"`), the record's fields in their order, `"msg":"request"` last, newline.
 * The method needs no check: Node's parser accepts only known method tokens.
 */
export function accessLine(record: RequestRecord, time: string, bindings: string): string {
  const tail = record.bytesUp === undefined && record.error === undefined && record.listener === undefined
    && record.staleRetries === undefined && record.grpcStatus === undefined ? '' : optionalFields(record);
  return `{"level":30${time}${bindings},"reqId":${jsonString(record.reqId)},"method":"${record.method}","url":${jsonString(record.url)},"status":${record.status},"ms":${record.ms},"pool":${quotedRepeat(record.pool)},"version":${quotedRepeat(record.version)},"target":${quotedRepeat(record.target)},"retries":${record.retries},"bytes":${record.bytes}${record.proto === undefined ? '' : record.proto === '2' ? ',"proto":"2"' : ',"proto":"1.1"'}${tail},"msg":"request"}\n`;
}

function optionalFields(record: RequestRecord): string {
  let out = '';
  if (record.bytesUp !== undefined) out += `,"bytesUp":${record.bytesUp}`;
  if (record.staleRetries !== undefined) out += `,"staleRetries":${record.staleRetries}`;
  if (record.error !== undefined) out += `,"error":${jsonString(record.error)}`;
  if (record.listener !== undefined) out += `,"listener":"${record.listener}"`;
  if (record.grpcStatus !== undefined) out += `,"grpcStatus":${record.grpcStatus}`;
  return out;
}
