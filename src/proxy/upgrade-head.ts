// The heads an Upgrade request's client gets, as text for its raw socket, and the rule for
// which 101 may be relayed at all. Pure functions, no I/O: the tunnel writes what they return.
import { STATUS_CODES } from 'node:http';
import { downstreamResponseHeaders } from './headers.js';

/** Protocols named by `Upgrade` header values (`websocket`, `h2c`, `foo/2`), lower-case, in order. */
export function upgradeProtocols(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const token of value.split(',')) {
      const protocol = token.trim().toLowerCase();
      if (protocol !== '') out.push(protocol);
    }
  }
  return out;
}

/** The request's `Upgrade` value(s), joined as one header value (empty when it has none). */
export function requestedUpgrade(raw: readonly string[]): string {
  let value = '';
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 7 && raw[i]!.toLowerCase() === 'upgrade') value = value === '' ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
  }
  return value.trim();
}

/**
 * May a 101 naming `answered` be relayed for a request that asked for `requested`? RFC 9110
 * §7.8: the server names the protocol(s) it switches to and must not switch to one the client
 * did not offer. So: at least one, and each one offered (case-insensitive). Go's ReverseProxy
 * refuses the same mismatch ("backend tried to switch protocol ... when ... was requested").
 */
export function upgradeMatches(requested: string, answered: readonly string[]): boolean {
  const offered = upgradeProtocols([requested]);
  const switched = upgradeProtocols(answered);
  return switched.length > 0 && switched.every((protocol) => offered.includes(protocol));
}

/** The values of one header (lower-case `name`) in an undici raw header list. */
export function headerValues(raw: readonly Buffer[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toString('latin1').toLowerCase() === name) out.push(raw[i + 1]!.toString('latin1'));
  }
  return out;
}

/** The upstream's 101 as the client gets it: end-to-end headers and its `Upgrade` kept, `Connection: Upgrade`. */
export function switchingHead(statusText: string, raw: readonly Buffer[]): string {
  let head = `HTTP/1.1 101 ${reasonPhrase(101, statusText)}\r\n`;
  const headers = downstreamResponseHeaders(raw, null); // drops Connection and Upgrade with the other hop-by-hop names
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  for (const value of headerValues(raw, 'upgrade')) head += `Upgrade: ${value}\r\n`;
  return `${head}Connection: Upgrade\r\n\r\n`;
}

/** How a relayed non-101 answer's body is framed towards the client. */
export const enum Framing {
  /** HEAD, 204, 304: no body whatever the headers say. */
  None,
  /** The upstream's Content-Length, relayed as is (undici checks the body against it). */
  Length,
  /** No length known (upstream chunked or close-delimited): chunked again here, so an early end shows. */
  Chunked,
}

export interface RelayedHead {
  head: string;
  framing: Framing;
}

/**
 * A non-101 answer to an Upgrade request, relayed as a normal response that ends the
 * connection: end-to-end headers (hop-by-hop and Connection-listed ones dropped, as for plain
 * requests), framing chosen by `Framing`, `Connection: close`.
 */
export function answerHead(status: number, statusText: string, raw: readonly Buffer[], method: string): RelayedHead {
  const headers = downstreamResponseHeaders(raw, null);
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status, statusText)}\r\n`;
  let hasLength = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === 'content-length') hasLength = true;
    head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  let framing = Framing.Chunked;
  if (method === 'HEAD' || status === 204 || status === 304) framing = Framing.None;
  else if (hasLength) framing = Framing.Length;
  else head += 'Transfer-Encoding: chunked\r\n';
  return { head: `${head}Connection: close\r\n\r\n`, framing };
}

/** The proxy's own answer (400, 502, 503, 504, ...) on a raw socket, ending the connection. */
export function ownAnswer(status: number, requestId: string, message: string, extra: readonly string[] = []): string {
  const body = `${message}\n`;
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status, '')}\r\nContent-Type: text/plain; charset=utf-8\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (let i = 0; i < extra.length; i += 2) head += `${extra[i]}: ${extra[i + 1]}\r\n`;
  return `${head}X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`;
}

/** The upstream's reason phrase when it is safe to echo (visible ASCII and spaces), else the standard one. */
function reasonPhrase(status: number, statusText: string): string {
  if (statusText !== '' && /^[\t\x20-\x7e]*$/.test(statusText)) return statusText;
  return STATUS_CODES[status] ?? 'Unknown';
}
