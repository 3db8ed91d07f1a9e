// Captures pino output as parsed objects so tests can assert on log lines.
import { Writable } from 'node:stream';

export class LogSink extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line));
    done();
  }

  /** Lines whose fields include every given key/value. */
  find(match: Record<string, unknown>): Array<Record<string, unknown>> {
    return this.lines.filter((line) => Object.entries(match).every(([key, value]) => line[key] === value));
  }
}
