// Pure unit tests for the upstream error classification (no sockets).
import t from 'tap';
import {
  acceptsTrailers, badTransferCoding, declaredTrailer, errorCode, faultOf, isStaleConnection, mayRetry, neverReachedUpstream, statusForUpstreamError,
} from '../../src/proxy/upstream-errors.js';

const err = (code?: unknown): unknown => Object.assign(new Error('x'), code === undefined ? {} : { code });

t.test('errorCode', async (t) => {
  t.equal(errorCode(err('ECONNREFUSED')), 'ECONNREFUSED');
  t.equal(errorCode(err()), 'UNKNOWN');
  t.equal(errorCode(err(42)), 'UNKNOWN', 'a non-string code is not a code');
  t.equal(errorCode(null), 'UNKNOWN');
  t.equal(errorCode(undefined), 'UNKNOWN');
  t.equal(errorCode('ECONNREFUSED'), 'UNKNOWN');
});

t.test('neverReachedUpstream: only failures before the request could be sent', async (t) => {
  for (const code of ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']) {
    t.ok(neverReachedUpstream(err(code)), code);
  }
  for (const code of ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_ABORTED', undefined]) {
    t.notOk(neverReachedUpstream(err(code)), String(code));
  }
});

t.test('mayRetry: connect failures always, early closes for idempotent methods, never a streamed body', async (t) => {
  for (const method of ['GET', 'POST', 'PATCH', 'PUT']) {
    t.ok(mayRetry({ err: err('ECONNREFUSED'), method, bodyStreamed: false }), `${method} after ECONNREFUSED`);
    t.ok(mayRetry({ err: err('UND_ERR_CONNECT_TIMEOUT'), method, bodyStreamed: false }), `${method} after connect timeout`);
  }
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) {
    for (const code of ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']) {
      t.ok(mayRetry({ err: err(code), method, bodyStreamed: false }), `idempotent ${method} after ${code}`);
    }
  }
  for (const method of ['POST', 'PATCH', 'CONNECT', 'get']) {
    t.notOk(mayRetry({ err: err('UND_ERR_SOCKET'), method, bodyStreamed: false }), `${method} after an early close`);
  }
  t.notOk(mayRetry({ err: err('ECONNREFUSED'), method: 'GET', bodyStreamed: true }), 'never once body bytes were read');
  t.notOk(mayRetry({ err: err('UND_ERR_SOCKET'), method: 'PUT', bodyStreamed: true }));
  t.notOk(mayRetry({ err: err('UND_ERR_HEADERS_TIMEOUT'), method: 'GET', bodyStreamed: false }), 'a slow upstream is not retried');
  t.notOk(mayRetry({ err: err('UND_ERR_INVALID_ARG'), method: 'GET', bodyStreamed: false }));
  t.notOk(mayRetry({ err: err(), method: 'GET', bodyStreamed: false }), 'unknown errors are not retried');
});

t.test('statusForUpstreamError: 504 only for the headers timeout', async (t) => {
  t.equal(statusForUpstreamError(err('UND_ERR_HEADERS_TIMEOUT')), 504);
  for (const code of ['ECONNREFUSED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', undefined]) {
    t.equal(statusForUpstreamError(err(code)), 502, String(code));
  }
});

t.test('faultOf: only upstream-origin failures are the upstream\'s', async (t) => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'HPE_INVALID_CHUNK_SIZE',
    'ERR_INVALID_CHAR', 'UPSTREAM_TRANSFER_CODING', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT']) {
    t.equal(faultOf(err(code)), 'upstream', code);
  }
  for (const code of ['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
    'CLIENT_GONE', 'REQUEST_BODY_IDLE', 'REQUEST_BODY_TOO_LARGE']) {
    t.equal(faultOf(err(code)), 'client', code);
  }
  for (const code of ['UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_ABORTED', 'ERR_SOMETHING_ELSE', undefined]) {
    t.equal(faultOf(err(code)), 'proxy', String(code));
  }
  t.equal(faultOf(err('ECONNRESET'), true), 'client', 'an ECONNRESET out of the client\'s body stream is the client\'s');
  const parser = Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), { name: 'HTTPParserError', code: undefined });
  t.equal(errorCode(parser), 'HPE_PARSE', 'undici parser errors without a code');
  t.equal(faultOf(parser), 'upstream');
});

t.test('isStaleConnection: reused, unanswered, idempotent, no streamed body, closed early', async (t) => {
  const base = { err: err('UND_ERR_SOCKET'), method: 'GET', bodyStreamed: false, reusedConnection: true, answered: false };
  t.ok(isStaleConnection(base));
  for (const code of ['ECONNRESET', 'EPIPE']) t.ok(isStaleConnection({ ...base, err: err(code) }), code);
  t.notOk(isStaleConnection({ ...base, reusedConnection: false }), 'a fresh connection that fails is a real failure');
  t.notOk(isStaleConnection({ ...base, answered: true }), 'some answer came: not a stale socket');
  t.notOk(isStaleConnection({ ...base, bodyStreamed: true }));
  t.notOk(isStaleConnection({ ...base, method: 'POST' }));
  t.notOk(isStaleConnection({ ...base, err: err('UND_ERR_HEADERS_TIMEOUT') }), 'a slow upstream is not a stale socket');
  t.notOk(isStaleConnection({ ...base, err: err('ECONNREFUSED') }));
});

t.test('statusForUpstreamError: the client\'s faults get the proxy\'s own 4xx', async (t) => {
  t.equal(statusForUpstreamError(err('REQUEST_BODY_IDLE')), 408);
  t.equal(statusForUpstreamError(err('REQUEST_BODY_TOO_LARGE')), 413);
  t.equal(statusForUpstreamError(err('UND_ERR_INVALID_ARG')), 400);
  t.equal(statusForUpstreamError(Object.assign(new Error('expect header not supported'), { code: 'UND_ERR_NOT_SUPPORTED' })), 417);
  t.equal(statusForUpstreamError(Object.assign(new Error('h2 only'), { code: 'UND_ERR_NOT_SUPPORTED' })), 501);
  t.equal(statusForUpstreamError(err('UPSTREAM_TRANSFER_CODING')), 502);
});

const raw = (...pairs: string[]) => pairs.map((item) => Buffer.from(item, 'latin1'));

t.test('badTransferCoding: exactly one chunked, or none', async (t) => {
  t.equal(badTransferCoding(raw('Content-Length', '5')), null);
  t.equal(badTransferCoding(raw('Transfer-Encoding', 'chunked')), null);
  t.equal(badTransferCoding(raw('transfer-encoding', ' Chunked ')), null, 'case and spaces');
  t.equal(badTransferCoding(raw('Transfer-Encoding', 'gzip, chunked')), 'gzip, chunked');
  t.equal(badTransferCoding(raw('Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'chunked')), 'gzip, chunked', 'split over two fields');
  t.equal(badTransferCoding(raw('Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked')), 'chunked, chunked');
  t.equal(badTransferCoding(raw('Transfer-Encoding', 'identity')), 'identity');
  t.equal(badTransferCoding(raw('Transfer-Encoding', '')), '');
});

t.test('declaredTrailer and acceptsTrailers', async (t) => {
  t.equal(declaredTrailer(raw('Content-Type', 'x')), null);
  t.equal(declaredTrailer(raw('Trailer', 'A', 'trailer', 'B')), 'A, B');
  t.ok(acceptsTrailers('trailers'));
  t.ok(acceptsTrailers('gzip;q=0.5, Trailers'));
  t.notOk(acceptsTrailers(undefined));
  t.notOk(acceptsTrailers('gzip'));
  t.notOk(acceptsTrailers('trailersx'));
});
