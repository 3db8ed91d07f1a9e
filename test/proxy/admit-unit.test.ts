// Pure unit tests of admission (no proxy): Host syntax, request-target forms, transfer codings,
// the body limit, Upgrade with a body, and the answer to a head Node's parser refused.
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { DEFAULT_LIMITS } from '../../src/config/schema.js';
import { admit, isValidHost, OPTIONS_ASTERISK, refusalRecord, type Admission } from '../../src/proxy/admit.js';
import { clientErrorAnswer, overflowedRequestLine, requestLineOf } from '../../src/proxy/parse-errors.js';

interface Head {
  method?: string;
  url: string;
  version?: '1.0' | '1.1';
  headers?: Array<[string, string]>;
}

/** The fields of an IncomingMessage that `admit` reads, built the way Node's parser fills them. */
function request({ method = 'GET', url, version = '1.1', headers = [['Host', 'app.test']] }: Head): IncomingMessage {
  const joined: Record<string, string> = {};
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    // Node keeps the first Host / Content-Length and joins repeated Transfer-Encoding lines.
    if (joined[lower] === undefined) joined[lower] = value;
    else if (lower === 'transfer-encoding') joined[lower] = `${joined[lower]}, ${value}`;
  }
  return {
    method, url, httpVersionMajor: 1, httpVersionMinor: version === '1.1' ? 1 : 0,
    rawHeaders: headers.flat(), headers: joined,
  } as unknown as IncomingMessage;
}

function verdict(head: Head, limits = DEFAULT_LIMITS, upgrade = false): Admission {
  return admit(request(head), limits, upgrade);
}

t.test('Host syntax: uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2)', async (t) => {
  const valid = [
    'a', 'app.test', 'APP.Test', 'app.test.', 'a-b_c~d.test', '127.0.0.1', '999.1.1.1', 'app.test:80', 'app.test:65535', 'app.test:0',
    'app.test:', '[::1]', '[::1]:8080', '[2001:db8::7]', '[v1.fe80::a+en1]', 'x%41y', "!$&'()*+,;=", 'xn--bcher-kva.example',
  ];
  const invalid = [
    '', 'a b', ' a', 'a\tb', '[::1', '::1', '[::1]x', '[::1]:x', '[]', '[zz]', '[::1%25eth0]', 'x:99999', 'x:65536', 'x:8o', 'x:-1',
    ':80', 'u@x', 'a/b', 'a?b', 'a#b', 'a"b', 'a<b', 'a\\b', 'x%4', 'x%zz', 'bücher.example', 'a:b:c', 'x:1:2',
  ];
  for (const host of valid) t.ok(isValidHost(host), `valid: ${JSON.stringify(host)}`);
  for (const host of invalid) t.notOk(isValidHost(host), `invalid: ${JSON.stringify(host)}`);
});

t.test('origin-form with one valid Host is admitted as it is', async (t) => {
  t.same(verdict({ url: '/x?q=1' }), { ok: true, path: '/x?q=1', host: 'app.test', fromTarget: false });
  t.same(verdict({ url: '/', version: '1.0', headers: [] }), { ok: true, path: '/', host: undefined, fromTarget: false }, 'HTTP/1.0 may omit Host');
  t.same(verdict({ url: '/', headers: [['hOsT', 'a:1'], ['X', 'y']] }), { ok: true, path: '/', host: 'a:1', fromTarget: false });
});

t.test('Host: exactly one, well-formed; required on HTTP/1.1', async (t) => {
  t.match(verdict({ url: '/', headers: [['Host', 'a'], ['Host', 'a']] }), { ok: false, status: 400, reason: /more than one Host/, close: true });
  t.match(verdict({ url: '/', version: '1.0', headers: [['Host', 'a'], ['host', 'b']] }), { status: 400 }, 'HTTP/1.0 too');
  t.match(verdict({ url: '/', headers: [] }), { status: 400, reason: /without a Host/ });
  t.match(verdict({ url: '/', headers: [['Host', 'a b']] }), { status: 400, reason: /invalid Host/ });
  t.match(verdict({ url: '/', headers: [['Host', '']] }), { status: 400, reason: /invalid Host/ });
  t.match(verdict({ url: '/', headers: [['Hosts', 'a b'], ['Host', 'ok']] }), { ok: true, host: 'ok' }, 'only the name Host counts');
});

t.test('absolute-form: origin-form path, the authority as host (RFC 9112 §3.2.2)', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['http://other.test/x', '/x', 'other.test'],
    ['http://other.test', '/', 'other.test'],
    ['https://other.test:8443/a?b', '/a?b', 'other.test:8443'],
    ['HtTp://Other.Test?q', '/?q', 'Other.Test'],
    ['http://[::1]:80/', '/', '[::1]:80'],
    ['http://other.test#frag', '/#frag', 'other.test'],
  ];
  for (const [url, path, host] of cases) t.same(verdict({ url }), { ok: true, path, host, fromTarget: true }, url);
  t.match(verdict({ url: 'http://other.test/x', headers: [] }), { status: 400, reason: /without a Host/ }, 'Host still required on HTTP/1.1');
  t.match(verdict({ url: 'http://other.test/x', headers: [['Host', 'a b']] }), { status: 400, reason: /invalid Host/ }, 'and still valid');
  t.same(verdict({ url: 'http://other.test/x', version: '1.0', headers: [] }), { ok: true, path: '/x', host: 'other.test', fromTarget: true });
  for (const url of ['ftp://other.test/x', 'http:/x', 'http//x', 'http:///x', 'http://a b/', 'http://x:99999/', 'http://[::1/', 'httpx://a/', 'x', '']) {
    t.match(verdict({ url }), { ok: false, status: 400, reason: /request-target/ }, `refused: ${JSON.stringify(url)}`);
  }
  t.match(verdict({ url: 'http://user:pw@other.test/' }), { status: 400, reason: /userinfo/ }, 'userinfo (RFC 9110 §4.2.4)');
});

t.test('asterisk-form: OPTIONS * is answered by the proxy, * on another method is refused', async (t) => {
  t.equal(verdict({ method: 'OPTIONS', url: '*' }), OPTIONS_ASTERISK);
  t.match(OPTIONS_ASTERISK, { ok: false, status: 200, close: false });
  t.equal(verdict({ method: 'OPTIONS', url: 'http://other.test' }), OPTIONS_ASTERISK, 'absolute-form with an empty path (RFC 9112 §3.2.4)');
  t.match(verdict({ method: 'OPTIONS', url: 'http://other.test/' }), { ok: true, path: '/' }, 'a path is a resource');
  t.match(verdict({ method: 'OPTIONS', url: '*', headers: [['Host', 'a'], ['Host', 'b']] }), { status: 400 }, 'Host checks still apply');
  t.match(verdict({ method: 'GET', url: '*' }), { status: 400, reason: /asterisk/ });
  t.match(verdict({ method: 'OPTIONS', url: '*', headers: [['Host', 'a'], ['Transfer-Encoding', 'gzip']] }), { status: 501 }, 'codings still apply');
});

t.test('Transfer-Encoding other than exactly chunked → 501 (RFC 9112 §6.1)', async (t) => {
  const post = (...codings: string[]): Head => ({ method: 'POST', url: '/', headers: [['Host', 'a'], ...codings.map((c): [string, string] => ['Transfer-Encoding', c])] });
  t.match(verdict(post('chunked')), { ok: true });
  t.match(verdict(post('Chunked')), { ok: true }, 'coding names are case-insensitive');
  for (const codings of [['gzip, chunked'], ['chunked, gzip'], ['identity'], ['gzip'], ['gzip', 'chunked'], ['chunked', 'chunked'], ['chunked;q=1']]) {
    t.match(verdict(post(...codings)), { ok: false, status: 501, reason: /transfer coding/, close: true }, codings.join(' / '));
  }
});

t.test('Content-Length above limits.maxRequestBodyBytes → 413; 0 means unlimited', async (t) => {
  const post = (length: string): Head => ({ method: 'POST', url: '/', headers: [['Host', 'a'], ['Content-Length', length]] });
  const limits = { ...DEFAULT_LIMITS, maxRequestBodyBytes: 1000 };
  t.match(verdict(post('1000'), limits), { ok: true });
  t.match(verdict(post('1001'), limits), { ok: false, status: 413, close: true });
  t.match(verdict(post('99999999999999'), limits), { status: 413 });
  t.match(verdict(post('99999999999999')), { ok: true }, 'unlimited by default');
});

t.test('an Upgrade request with a body → 400; the same Host and target checks apply', async (t) => {
  const upgrade = (headers: Array<[string, string]>, url = '/ws'): Admission => verdict({ url, headers: [['Host', 'a'], ['Upgrade', 'websocket'], ...headers] }, DEFAULT_LIMITS, true);
  t.match(upgrade([]), { ok: true, path: '/ws' });
  t.match(upgrade([['Content-Length', '0']]), { ok: true }, 'an empty body is no body');
  t.match(upgrade([['Content-Length', '5']]), { ok: false, status: 400, reason: /Upgrade request with a body/ });
  t.match(upgrade([['Transfer-Encoding', 'chunked']]), { status: 400, reason: /Upgrade request with a body/ });
  t.match(upgrade([['Host', 'b']]), { status: 400, reason: /more than one Host/ });
  t.match(upgrade([], 'http://other.test/ws'), { ok: true, path: '/ws', host: 'other.test', fromTarget: true });
  t.match(verdict({ url: '/', headers: [['Host', 'a'], ['Content-Length', '5']] }), { ok: true }, 'a plain request may have a body');
});

t.test('admit allocates nothing for a refusal: the answers are shared constants', async (t) => {
  const a = verdict({ url: '/', headers: [['Host', 'a'], ['Host', 'b']] });
  const b = verdict({ url: '/', headers: [['Host', 'c'], ['Host', 'd']] });
  t.equal(a, b);
  t.ok(Object.isFrozen(a));
});

t.test('a head Node refused: 414 when the request line overflowed, 431 for the headers, 501, 408, 400', async (t) => {
  const overflow = (chunk: string, bytesParsed: number): { code: string; rawPacket: Buffer; bytesParsed: number } =>
    ({ code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from(chunk, 'latin1'), bytesParsed });
  const long = 'a'.repeat(300);
  // One chunk holding the whole head; Node stops at the space after the target, or at the CR after a value.
  const whole = `GET /${long} HTTP/1.1\r\nHost: h\r\n\r\n`;
  t.match(clientErrorAnswer(overflow(whole, 5 + long.length)), { status: 414, close: true });
  const headerHead = `GET / HTTP/1.1\r\nHost: h\r\nCookie: ${long}\r\n\r\n`;
  t.match(clientErrorAnswer(overflow(headerHead, headerHead.indexOf('\r\n\r\n'))), { status: 431, close: true });
  // Behind a pipelined request (and its body) in the same chunk.
  const behind = `POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab\nGET /${long} HTTP/1.1\r\n`;
  t.ok(overflowedRequestLine(overflow(behind, behind.indexOf(' HTTP/1.1\r\n', 20))), 'a target after a pipelined body');
  // The line began in an earlier chunk: the target's tail, ending here or at the chunk's end.
  t.ok(overflowedRequestLine(overflow(`${long} HTTP/1.1\r\nHost: h\r\n\r\n`, long.length)), 'target tail, then the version');
  t.ok(overflowedRequestLine(overflow(long, long.length)), 'target bytes up to the chunk end');
  t.ok(overflowedRequestLine(overflow(`GET /${long}`, 5 + long.length)), 'a request line starting in this chunk');
  // ...or a header value's tail.
  t.notOk(overflowedRequestLine(overflow(`${long}\r\n\r\n`, long.length)), 'value tail up to its CR');
  t.notOk(overflowedRequestLine(overflow(`a=b; ${long}`, 5 + long.length)), 'a value with spaces up to the chunk end');
  t.notOk(overflowedRequestLine(overflow(`X-A: 1\r\nX-${long}`, 8 + 2 + long.length)), 'a long header name');
  t.notOk(overflowedRequestLine({ code: 'HPE_HEADER_OVERFLOW' }), 'no chunk: 431');

  t.match(clientErrorAnswer({ code: 'HPE_INVALID_TRANSFER_ENCODING' }), { status: 501 });
  t.match(clientErrorAnswer({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }), { status: 408 });
  for (const code of ['HPE_INVALID_METHOD', 'HPE_INVALID_URL', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_CONTENT_LENGTH', 'HPE_INVALID_CHUNK_SIZE', undefined]) {
    t.match(clientErrorAnswer({ code }), { status: 400, reason: /malformed/ }, String(code));
  }
});

t.test('the access record of a refusal: no pool, no target, the reason as error', async (t) => {
  const refusal = verdict({ url: '/', headers: [] });
  t.same(refusalRecord('id-1', 'GET', '/', refusal as Exclude<Admission, { ok: true }>, 1.5), {
    reqId: 'id-1', method: 'GET', url: '/', status: 400, ms: 1.5, pool: null, version: null, target: null, retries: 0, bytes: 0,
    error: 'HTTP/1.1 request without a Host header',
  });
  t.notOk('error' in refusalRecord('id-2', 'OPTIONS', '*', OPTIONS_ASTERISK, 0), 'the 200 to OPTIONS * has no error');
  t.same(requestLineOf({ rawPacket: Buffer.from('PUT /a?b HTTP/1.1\r\nHost: x\r\n\r\n') }), { method: 'PUT', url: '/a?b' });
  t.same(requestLineOf({ rawPacket: Buffer.from('\x01\x02garbage') }), { method: '', url: '' });
  const pipelined = Buffer.from('GET /first HTTP/1.1\r\nHost: x\r\n\r\n\x01GARBAGE\r\n\r\n');
  t.same(requestLineOf({ rawPacket: pipelined, bytesParsed: pipelined.indexOf('GARBAGE') + 3 }), { method: '', url: '' },
    'a request pipelined ahead of the refused bytes does not lend them its line');
  t.same(requestLineOf({}), { method: '', url: '' });
  const cut = requestLineOf({ rawPacket: Buffer.from(`GET /${'z'.repeat(3000)}`) });
  t.equal(cut.url.length, 1025, 'a long target is cut for the log');
});

t.test('the remembered valid Host never lets an invalid one through', async (t) => {
  for (const host of ['', 'a b', 'ok.test', '', 'ok.test', 'x:99999', 'ok.test']) {
    const expected = isValidHost(host);
    t.equal(verdict({ url: '/', headers: [['Host', host]] }).ok, expected, `${JSON.stringify(host)} → ${expected ? 'admitted' : 'refused'}`);
  }
});
