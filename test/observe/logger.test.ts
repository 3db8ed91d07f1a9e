// The logger's own timestamp function must write exactly what pino's isoTime writes.
import t from 'tap';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { AccessLog, LineBatcher, createLogger } from '../../src/observe/logger.js';

t.test('access lines: same time format as pino isoTime, one JSON line per request', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); done(); } });
  const log = new AccessLog(createLogger('info', sink));
  const before = pino.stdTimeFunctions.isoTime();
  for (let i = 0; i < 3; i++) log.requestFinished({ reqId: `r${i}`, method: 'GET', url: '/"q"', status: 200, ms: 1.5, pool: 'blue', version: 'v1', target: 'http://t', retries: 0, bytes: 2 });
  await new Promise((resolve) => setImmediate(resolve)); // access lines: end of the loop turn
  await new Promise((resolve) => setImmediate(resolve)); // the Writable's own write
  t.equal(lines.length, 3);
  for (const [i, line] of lines.entries()) {
    const parsed = JSON.parse(line);
    t.match(parsed, { level: 30, pid: process.pid, kind: 'access', reqId: `r${i}`, url: '/"q"', msg: 'request' });
    t.match(parsed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.ok(parsed.time >= JSON.parse(`{${before.slice(1)}}`).time, 'the current time');
    t.ok(line.startsWith(`{"level":30,"time":"${parsed.time}","pid":${process.pid},"kind":"access","reqId":`), 'pino field order kept');
  }
});

/** A pino logger writing through a LineBatcher into a sonic-boom file, as createLogger wires stdout. */
async function batchedFileLogger() {
  const file = join(mkdtempSync(join(tmpdir(), 'sy-log-')), 'out.log');
  const sonic = pino.destination({ dest: file, sync: false, contentMode: 'buffer' });
  await new Promise((resolve) => sonic.once('ready', resolve));
  const logger = pino({ base: null }, new LineBatcher(sonic));
  /** The file's lines, parsed, once `text` is in it (sonic-boom writes asynchronously). */
  const linesOnceWritten = async (text: string) => {
    for (let tries = 0; tries < 50 && !readFileSync(file, 'utf8').includes(text); tries++) await new Promise((resolve) => setTimeout(resolve, 10));
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { i: number; msg: string });
  };
  return { sonic, logger, linesOnceWritten };
}

t.test('LineBatcher: lines reach the file whole and in order, by size, by timer, and on flush', async (t) => {
  const { sonic, logger, linesOnceWritten } = await batchedFileLogger();
  for (let i = 0; i < 500; i++) logger.info({ i }, 'x'.repeat(50));
  await new Promise((resolve) => setTimeout(resolve, 120)); // the timer hands over the tail
  await new Promise<void>((resolve) => sonic.flush(() => resolve()));
  t.same((await linesOnceWritten('"i":499')).map((line) => line.i), [...Array(500).keys()], 'every line, in order, unbroken');
  logger.info({ i: 500 }, 'last');
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  // sonic-boom (minLength 0) answers flush at once and writes asynchronously: wait for the write.
  t.equal((await linesOnceWritten('"i":500')).at(-1)!.i, 500, 'logger.flush hands over pending lines without waiting for the batch timer');
  sonic.end();
});

t.test('LineBatcher: a line longer than a batch buffer goes out whole, after the lines before it', async (t) => {
  const { sonic, logger, linesOnceWritten } = await batchedFileLogger();
  logger.info({ i: 0 }, 'short');
  logger.info({ i: 1 }, 'é'.repeat(100_000));
  logger.info({ i: 2 }, 'short');
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  const lines = await linesOnceWritten('"i":2');
  t.same(lines.map((line) => line.i), [0, 1, 2]);
  t.equal(lines[1]!.msg.length, 100_000, 'the long line intact');
  sonic.end();
});
