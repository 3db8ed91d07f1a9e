// The hand-written access line must be byte for byte what pino writes for the same record.
import t from 'tap';
import { pino } from 'pino';
import { AccessLog } from '../../src/observe/logger.js';
import { accessLine, jsonString } from '../../src/observe/access-line.js';
import type { RequestRecord } from '../../src/observe/request-record.js';

const records: RequestRecord[] = [
  { reqId: 'r1', method: 'GET', url: '/', status: 200, ms: 1.234, pool: 'blue', version: '1.0.0', target: 'http://127.0.0.1:8001', retries: 0, bytes: 12 },
  { reqId: 'quote"back\\slash', method: 'POST', url: '/a?q="x"&\u0001\n\t\u001f', status: 502, ms: 0, pool: 'green', version: 'v"2', target: 'http://h:1', retries: 2, bytes: 0, error: 'UND_ERR_SOCKET: other side closed "x"' },
  { reqId: 'r3', method: 'GET', url: '/caf\u00e9/\u{1f600}/\u2028', status: 503, ms: 10.5, pool: null, version: null, target: null, retries: 0, bytes: 0, error: 'no ready target', listener: 'preview' },
  { reqId: 'r4', method: 'DELETE', url: '/x', status: 499, ms: 12345.678, pool: 'blue', version: '1.0.0', target: 'http://127.0.0.1:8001', retries: 0, bytes: 1 << 30, listener: 'preview' },
  { reqId: 't1', method: 'GET', url: '/chat', status: 101, ms: 2, pool: 'blue', version: '1', target: 'http://t:1', retries: 1, bytes: 5, bytesUp: 7, error: 'tunnel cut' },
  // The stale keep-alive retry (exchange.ts), alone and with what can follow it.
  { reqId: 's1', method: 'GET', url: '/s', status: 200, ms: 3, pool: 'blue', version: '1', target: 'http://t:1', retries: 0, bytes: 2, staleRetries: 1 },
  { reqId: 's2', method: 'GET', url: '/s', status: 502, ms: 3, pool: 'blue', version: '1', target: 'http://t:1', retries: 1, bytes: 0, staleRetries: 1, error: 'UND_ERR_SOCKET: other side closed', listener: 'preview' },
];

/** A logger like createLogger's, writing into `lines`, with a fixed clock so two lines can be compared. */
function capture(level = 'info', bindings?: Record<string, string>) {
  const lines: string[] = [];
  const root = pino({ level, base: { pid: process.pid }, timestamp: () => ',"time":"2026-11-26T10:00:00.000Z"' }, { write: (line: string) => void lines.push(line) });
  return { lines, logger: bindings === undefined ? root : root.child(bindings) };
}

t.test('each line equals what pino writes for the same record', async (t) => {
  for (const record of records) {
    const ours = capture();
    new AccessLog(ours.logger).requestFinished(record);
    const theirs = capture();
    theirs.logger.child({ kind: 'access' }).info(record, 'request');
    t.equal(ours.lines.length, 1);
    t.equal(ours.lines[0], theirs.lines[0], `byte for byte: ${record.reqId}`);
    t.same(JSON.parse(ours.lines[0]!), { level: 30, time: '2026-11-26T10:00:00.000Z', pid: process.pid, kind: 'access', ...record, msg: 'request' });
  }
});

t.test("the logger's bindings (a fleet member's name) stay on the line; a level above info writes nothing", async (t) => {
  const member = capture('info', { member: 'switchyard-2' });
  new AccessLog(member.logger).requestFinished(records[0]!);
  t.match(JSON.parse(member.lines[0]!), { member: 'switchyard-2', kind: 'access', reqId: 'r1' });
  const quiet = capture('warn');
  new AccessLog(quiet.logger).requestFinished(records[0]!);
  t.same(quiet.lines, []);
});

t.test('jsonString escapes what JSON needs and leaves the rest', async (t) => {
  for (const value of ['', 'plain', 'a"b', 'a\\b', '\u0000\u007f', 'caf\u00e9', '\u{1f600}', '\udc00x', '\u2028']) {
    t.equal(jsonString(value), JSON.stringify(value), `${[...value].map((c) => c.codePointAt(0)!.toString(16)).join(' ')}`);
  }
  // pino writes a lone surrogate as is (it reaches the file as U+FFFD); the access line keeps it, escaped.
  const lone = accessLine({ ...records[0]!, url: '/\ud800' }, '', '');
  t.equal(JSON.parse(lone).url, '/\ud800', 'a lone surrogate survives, escaped');
  t.equal(accessLine(records[0]!, '', '').endsWith('"msg":"request"}\n'), true, 'one line, newline-terminated');
});

