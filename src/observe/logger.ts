// pino loggers. The access log is a child with its own `msg`, so both go to one stream
// and tools can split them by `kind`.
import { pino, type Logger, type DestinationStream } from 'pino';
import type { RequestObserver, RequestRecord } from './request-record.js';

export type { Logger } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: isoTime };
  // Asynchronous writes keep logging off the request path (pino flushes on exit), and lines
  // reach sonic-boom in batches of 8 KiB (or 50 ms): one write(2) per batch, not one per request.
  return pino(options, destination ?? new LineBatcher(pino.destination({ sync: false })));
}

let lastMs = -1;
let lastTime = '';

/** pino's `stdTimeFunctions.isoTime`, formatted once per millisecond rather than once per line. */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

type SonicBoom = ReturnType<typeof pino.destination>;

/** Characters gathered before they are handed on at once. */
const BATCH_CHARS = 8192;
/** The longest a line waits for its batch to fill: startup and error lines still show up promptly. */
const BATCH_MS = 50;

/**
 * Gathers log lines and hands them to sonic-boom joined, every BATCH_CHARS characters (or
 * BATCH_MS). sonic-boom appends each write to its pending string and measures that string's
 * byte length on every call, which flattens it again and again under load; one joined write per
 * batch does that once. Lines wait at most BATCH_MS; `flush`,
 * `flushSync` and process exit hand over whatever is pending.
 */
export class LineBatcher implements DestinationStream {
  private readonly target: SonicBoom;
  private lines: string[] = [];
  private chars = 0;
  private scheduled = false;
  private readonly drainSoon = (): void => {
    this.scheduled = false;
    this.drain();
  };

  constructor(target: SonicBoom) {
    this.target = target;
  }

  write(line: string): void {
    if (this.lines.length === 0) pending.add(this);
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= BATCH_CHARS) this.drain();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(this.drainSoon, BATCH_MS).unref();
    }
  }

  /** pino's `logger.flush(cb)`: pending lines, then sonic-boom's own buffer. */
  flush(cb?: (err?: Error) => void): void {
    this.drain();
    this.target.flush(cb);
  }

  flushSync(): void {
    this.drain();
    this.target.flushSync();
  }

  /** Hands the pending lines to sonic-boom (which writes them asynchronously). */
  drain(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.chars = 0;
    pending.delete(this);
    this.target.write(text);
  }

  /** At exit: pending lines go out synchronously, before or after pino's own exit flush. */
  drainSync(): void {
    if ((this.target as unknown as { destroyed: boolean }).destroyed) return;
    try {
      this.flushSync();
    } catch {
      // Exiting: nowhere left to report a log write that failed.
    }
  }
}

/** Batchers holding lines not yet handed on: only these need anything at exit. */
const pending = new Set<LineBatcher>();
process.on('exit', () => {
  for (const batcher of pending) batcher.drainSync();
});

export class AccessLog implements RequestObserver {
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger.child({ kind: 'access' });
  }

  requestFinished(record: RequestRecord): void {
    this.logger.info(record, 'request');
  }
}
