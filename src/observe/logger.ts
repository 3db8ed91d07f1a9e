// pino loggers. The access log is a child with its own `msg`, so both go to one stream
// and tools can split them by `kind`.
import { pino, type Logger, type DestinationStream } from 'pino';
import type { RequestObserver, RequestRecord } from './request-record.js';

export type { Logger } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  // Asynchronous writes keep logging off the request path; pino flushes on exit.
  return pino(options, destination ?? pino.destination({ sync: false }));
}

export class AccessLog implements RequestObserver {
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger.child({ kind: 'access' });
  }

  requestFinished(record: RequestRecord): void {
    this.logger.info(record, 'request');
  }
}
