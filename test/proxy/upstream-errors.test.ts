// Pure unit tests for the upstream error classification (no sockets).
import t from 'tap';
import { errorCode, mayRetry, neverReachedUpstream, statusForUpstreamError } from '../../src/proxy/upstream-errors.js';

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
  for (const code of ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CLOSED']) {
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
