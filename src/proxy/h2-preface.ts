// Telling an HTTP/2 prior-knowledge client (h2c, RFC 9113 §3.3) from an HTTP/1.1 one on the
// plain listener: an h2c connection starts with the 24-byte connection preface
// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`; no HTTP/1.1 request line can start with `PRI * HTTP/2.0`.
// Pure, over the first bytes that arrived (they may come in pieces).

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * `h2`: the bytes so far are the whole preface (or begin with it); `http1`: they can no longer
 * be one; `more`: a prefix of the preface, wait for more bytes (the caller bounds how long).
 */
export function sniffPreface(bytes: Buffer): 'h2' | 'http1' | 'more' {
  const n = Math.min(bytes.length, H2_PREFACE.length);
  if (n === 0) return 'more';
  if (bytes.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'http1';
  return n === H2_PREFACE.length ? 'h2' : 'more';
}
