// Request heads Node's parser refused ('clientError'): which status answers each (414 vs 431,
// 501, 408, 400), and what of the request line the access record can name. Pure functions
// over the error Node reports; proxy-server.ts writes the answer.
import { refusal, TRANSFER_CODING, type Refusal } from './admit.js';

/** What Node's parser reports with a refused head ('clientError'): `code`, and the chunk it was parsing. */
export interface ClientParseError {
  code?: string | undefined;
  /** The chunk being parsed when the error struck (Node's `err.rawPacket`). */
  rawPacket?: Buffer | undefined;
  /** Where in `rawPacket` parsing stopped (Node's `err.bytesParsed`). */
  bytesParsed?: number | undefined;
  /** llhttp's reason, e.g. "Transfer-Encoding can't be present with Content-Length". */
  reason?: string | undefined;
}

const HEAD_TOO_LARGE = refusal(431, 'request head larger than limits.maxHeaderBytes');
const TARGET_TOO_LONG = refusal(414, 'request-target larger than limits.maxHeaderBytes');
const HEAD_TIMEOUT = refusal(408, 'request head not received in time');
const MALFORMED = refusal(400, 'malformed request');
const LENGTH_WITH_CODING = refusal(400, 'Content-Length together with Transfer-Encoding');

/**
 * The answer to a head Node's parser refused, by its error code:
 * - `HPE_HEADER_OVERFLOW` (the request-target plus header names and values reached Node's
 *   `maxHeaderSize`): 414 when the line that overflowed is the request line (nginx's split:
 *   a too-long request line is 414, a too-long header section 431, RFC 9110 §15.5.15 and
 *   RFC 6585 §5), else 431. Node reports both the same way, so the line is told from the
 *   bytes of the chunk being parsed (see `overflowedRequestLine`).
 * - `HPE_INVALID_TRANSFER_ENCODING` (`chunked` not last, or a coding without `chunked`): 501,
 *   as `admit` answers the codings Node lets through; with `Content-Length` beside it, 400.
 * - `ERR_HTTP_REQUEST_TIMEOUT` (Node's `headersTimeout`): 408.
 * - anything else (garbage, `Content-Length` with `Transfer-Encoding`, two `Content-Length`s,
 *   bad chunk framing, ...): 400.
 */
export function clientErrorAnswer(err: ClientParseError): Refusal {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return overflowedRequestLine(err) ? TARGET_TOO_LONG : HEAD_TOO_LARGE;
    // llhttp reports Content-Length beside Transfer-Encoding under the same code: that is a
    // framing conflict (400, as nginx answers since 1.21.1; RFC 9112 §6.3), not an unknown coding.
    case 'HPE_INVALID_TRANSFER_ENCODING': return /content-length/i.test(err.reason ?? '') ? LENGTH_WITH_CODING : TRANSFER_CODING;
    case 'ERR_HTTP_REQUEST_TIMEOUT': return HEAD_TIMEOUT;
    default: return MALFORMED;
  }
}

const LF = 0x0a;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const TOKEN = new Uint8Array(128);
for (const char of '!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ') TOKEN[char.charCodeAt(0)] = 1;

/**
 * Was the request line the one being parsed when the head overflowed? Node's count covers
 * the request-target and the header names and values; the error strikes inside the line that
 * crossed the limit, at `bytesParsed` in the chunk being parsed. That line starts after the
 * last LF before that point: a request line starts `method SP`, a header line `name:`. With no
 * LF before that point, the line is the request line when it starts in this chunk (`method SP`
 * and no other space), or when it began in an earlier chunk and only target bytes are here
 * (no space or control byte, and the chunk ends there or ` HTTP/` follows). A header value
 * is assumed otherwise. Only the chunk is known, so a header value that began in an earlier
 * chunk and looks like a bare target can be taken for one: the answer is then 414, not 431.
 */
export function overflowedRequestLine(err: ClientParseError): boolean {
  const chunk = err.rawPacket;
  if (chunk === undefined) return false;
  const at = Math.min(err.bytesParsed ?? chunk.length, chunk.length);
  const lineFeed = at === 0 ? -1 : chunk.lastIndexOf(LF, at - 1);
  let i = lineFeed + 1;
  while (i < at && TOKEN[chunk[i]!] === 1) i++;
  const startsWithMethod = i > lineFeed + 1 && i < chunk.length && chunk[i] === 0x20;
  if (lineFeed !== -1) return startsWithMethod;
  // The rest of the line up to the error point: target bytes only?
  for (let j = startsWithMethod ? i + 1 : 0; j < at; j++) if (chunk[j]! <= 0x20 || chunk[j]! === 0x7f) return false;
  return startsWithMethod || at === chunk.length || chunk.toString('latin1', at, at + 6) === ' HTTP/';
}

/**
 * The method and target of a refused head, read from the chunk Node was parsing when the
 * refused message's request line is in it (for the access record); the target is cut to 1024 characters.
 */
export function requestLineOf(err: ClientParseError): { method: string; url: string } {
  const chunk = err.rawPacket;
  if (chunk === undefined) return { method: '', url: '' };
  // The refused message starts after the last blank line before the error point: requests
  // pipelined ahead of it in the same chunk must not lend it their request line.
  const at = Math.min(err.bytesParsed ?? 0, chunk.length);
  const boundary = at === 0 ? -1 : chunk.lastIndexOf(CRLF_CRLF, at - 1);
  const start = boundary === -1 ? 0 : boundary + 4;
  const line = chunk.toString('latin1', start, Math.min(chunk.length, start + 4096));
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^ \r\n]*)/.exec(line);
  if (match === null) return { method: '', url: '' };
  const url = match[2]!;
  return { method: match[1]!, url: url.length > 1024 ? `${url.slice(0, 1024)}…` : url };
}
