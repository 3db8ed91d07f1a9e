// pino loggers. The access log is a child with its own `msg`, so both go to one stream
// and tools can split them by `kind`.
import { pino, type Logger, type DestinationStream } from 'pino';
import type { RequestObserver, RequestRecord } from './request-record.js';
import { accessLine } from './access-line.js';

export type { Logger } from 'pino';

/**
 * `shared`: other processes write to the same stdout (SPEC §15 workers). A pipe keeps a write
 * whole only up to PIPE_BUF (4 KiB on Linux, POSIX's minimum 512): larger ones may interleave
 * with another process's mid-line. So batches are cut at line ends within 4 KiB and written at
 * once (synchronously: sonic-boom's asynchronous mode would join pending batches into one write).
 */
export function createLogger(level: string, destination?: DestinationStream, { shared = false }: { shared?: boolean } = {}): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: isoTime };
  if (destination !== undefined) return pino(options, destination);
  // Asynchronous writes keep logging off the request path (pino flushes on exit), and lines
  // reach sonic-boom in batches of 64 KiB (or 50 ms): one write(2) per batch, not one per request.
  if (!shared) return pino(options, new LineBatcher(pino.destination({ sync: false, contentMode: 'buffer' })));
  return pino(options, new LineBatcher(pino.destination({ sync: true, contentMode: 'buffer' }), PIPE_BUF));
}

/** Linux's atomic pipe write size. */
const PIPE_BUF = 4096;

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

/** Bytes gathered before they are handed on at once. */
const BATCH_BYTES = 64 * 1024;
/** A batch's buffer: room past BATCH_BYTES for the line that fills it. */
const BUFFER_SLACK = 16 * 1024;
/** The longest a line waits for its batch to fill: startup and error lines still show up promptly. */
const BATCH_MS = 50;

/**
 * Gathers log lines as UTF-8 bytes in a buffer and hands the buffer to sonic-boom (in its
 * buffer mode) every BATCH_BYTES bytes or BATCH_MS: one write(2) per batch, and no string kept or
 * joined per line (sonic-boom's string mode re-measures its growing pending string on every
 * call). Lines wait at most BATCH_MS; `flush`, `flushSync` and process exit hand over whatever
 * is pending.
 */
export class LineBatcher implements DestinationStream {
  private readonly target: SonicBoom;
  private buffer: Buffer;
  private used = 0;
  /** Handed on once this full. */
  private readonly batchBytes: number;
  /** Its buffer's size: batchBytes plus room for the line that fills it, or exactly `limit` when writes must stay within it. */
  private readonly bufferBytes: number;
  private scheduled = false;
  private readonly drainSoon = (): void => {
    this.scheduled = false;
    this.drain();
  };

  /**
   * `target` must be in sonic-boom's buffer content mode (`createLogger` makes it so). `limit`:
   * no batch larger than this many bytes (a line longer than it is written alone).
   */
  constructor(target: SonicBoom, limit?: number) {
    this.target = target;
    this.batchBytes = limit ?? BATCH_BYTES;
    this.bufferBytes = limit ?? BATCH_BYTES + BUFFER_SLACK;
    this.buffer = Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  write(line: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit: check before writing so a line is never cut.
    if (this.used + line.length * 3 > this.buffer.length) {
      this.drain();
      if (line.length * 3 > this.buffer.length) {
        this.target.write(Buffer.from(line) as unknown as string);
        if (exiting) this.drainSync();
        return;
      }
    }
    if (this.used === 0) pending.add(this);
    this.used += this.buffer.write(line, this.used, 'utf8');
    // Lines written by other exit handlers (the last access records) go out at once.
    if (exiting) this.drainSync();
    else if (this.used >= this.batchBytes) this.drain();
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

  /** Hands the pending bytes to sonic-boom (which writes them asynchronously); the next batch gets a new buffer. */
  drain(): void {
    if (this.used === 0) return;
    const batch = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafeSlow(this.bufferBytes);
    this.used = 0;
    pending.delete(this);
    // sonic-boom's buffer mode takes Buffers; its typings know only strings.
    this.target.write(batch as unknown as string);
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
/** Set once the process is exiting: from then on every line is written synchronously. */
let exiting = false;
process.on('exit', () => {
  exiting = true;
  for (const batcher of pending) batcher.drainSync();
});

/**
 * The access log: one line per request, written by `accessLine` straight to the logger's
 * destination (the same stream and layout as pino's own lines).
 */
export class AccessLog implements RequestObserver {
  private readonly logger: Logger;
  private readonly stream: DestinationStream;
  private readonly time: () => string;
  /** The logger's bindings as pino writes them: `,"pid":…,"kind":"access"`. */
  private readonly bindings: string;

  constructor(logger: Logger) {
    this.logger = logger.child({ kind: 'access' });
    // pino's own fields (exported as `pino.symbols`, untyped): where and how it writes a line.
    const internals = this.logger as unknown as Record<symbol, unknown>;
    this.stream = internals[pino.symbols.streamSym] as DestinationStream;
    this.time = internals[pino.symbols.timeSym] as () => string;
    this.bindings = internals[pino.symbols.chindingsSym] as string;
  }

  requestFinished(record: RequestRecord): void {
    if (this.logger.levelVal > INFO) return;
    this.stream.write(accessLine(record, this.time(), this.bindings));
  }
}

/** pino's numeric level for `info`, the access log's level. */
const INFO = 30;
