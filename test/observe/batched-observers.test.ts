// Finished requests reach the observers once per loop turn, in order, and never get lost at exit.
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BatchedObservers } from '../../src/observe/batched-observers.js';
import type { RequestRecord } from '../../src/observe/request-record.js';

const record = (reqId: string): RequestRecord => ({ reqId, method: 'GET', url: '/', status: 200, ms: 1, pool: 'blue', version: '1', target: 'http://t', retries: 0, bytes: 0 });

t.test("a turn's records reach every observer together, in order, after the turn", async (t) => {
  const seen: string[] = [];
  const batch = new BatchedObservers([
    { requestFinished: (entry) => void seen.push(`a:${entry.reqId}`) },
    { requestFinished: (entry) => void seen.push(`b:${entry.reqId}`) },
  ]);
  batch.requestFinished(record('1'));
  batch.requestFinished(record('2'));
  t.same(seen, [], 'nothing during the turn');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen, ['a:1', 'a:2', 'b:1', 'b:2']);
  batch.requestFinished(record('3'));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(seen.slice(4), ['a:3', 'b:3'], 'the next turn starts a new batch');
});

t.test('records queued when the process exits still reach the access log', async (t) => {
  const module = (path: string) => JSON.stringify(fileURLToPath(new URL(path, import.meta.url)));
  const script = `import { AccessLog, createLogger } from ${module('../../src/observe/logger.ts')};
    import { BatchedObservers } from ${module('../../src/observe/batched-observers.ts')};
    const batch = new BatchedObservers([new AccessLog(createLogger('info'))]);
    batch.requestFinished({ reqId: 'last-words', method: 'GET', url: '/', status: 200, ms: 1, pool: 'blue', version: '1', target: 'http://t', retries: 0, bytes: 0 });
    process.exit(0);`;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => void (out += chunk));
  t.equal(await new Promise((resolve) => child.once('exit', resolve)), 0);
  t.match(JSON.parse(out.trim()), { kind: 'access', reqId: 'last-words', msg: 'request' });
});
