// SPEC §10 `limits.requestBodyIdleMs`: finds request bodies whose client sent no byte for that
// long. One sweep timer per idle setting instead of a timer per request, and no per-chunk work:
// progress is read off the client socket's byte count at each sweep.
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';

/** A request whose body is being read (the Exchange). */
export interface WatchedBody {
  readonly req: IncomingMessage;
  /** The client socket's `bytesRead` at the last sweep that saw progress. */
  bodyMark: number;
  /** When (performance.now() ms) progress was last seen. */
  bodyProgressAt: number;
  /** The client sent nothing for `idleMs` while the proxy was ready to read. */
  bodyIdle(): void;
}

/**
 * Sweeps every `idleMs / 4`, so a stalled body is found between `idleMs` and 1.25 × `idleMs`
 * after its last byte. Time counts only while the proxy is waiting on the client: a body
 * paused because the upstream reads slowly (backpressure), or one that filled its buffer while
 * waiting for a connection, is not idle.
 */
export class RequestBodyWatch {
  readonly idleMs: number;
  private readonly watched = new Set<WatchedBody>();
  private timer: NodeJS.Timeout | null = null;

  constructor(idleMs: number) {
    this.idleMs = idleMs;
  }

  /** `since` is when the request started (its progress clock starts there). */
  add(body: WatchedBody, since: number): void {
    body.bodyMark = body.req.socket?.bytesRead ?? 0;
    body.bodyProgressAt = since;
    this.watched.add(body);
    if (this.timer === null) {
      this.timer = setInterval(this.sweep, Math.max(10, Math.floor(this.idleMs / 4)));
      this.timer.unref();
    }
  }

  delete(body: WatchedBody): void {
    this.watched.delete(body);
  }

  get size(): number {
    return this.watched.size;
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    for (const body of this.watched) {
      const req = body.req;
      if (req.complete || req.destroyed) {
        this.watched.delete(body);
        continue;
      }
      const read = req.socket?.bytesRead ?? body.bodyMark;
      if (read !== body.bodyMark || waitingOnUpstream(req)) {
        body.bodyMark = read;
        body.bodyProgressAt = now;
      } else if (now - body.bodyProgressAt >= this.idleMs) {
        this.watched.delete(body);
        body.bodyIdle();
      }
    }
    if (this.watched.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  };
}

/** The proxy, not the client, holds the body up: paused by backpressure, or its buffer is full. */
function waitingOnUpstream(req: IncomingMessage): boolean {
  return req.isPaused() || req.readableLength >= req.readableHighWaterMark;
}

const watches = new Map<number, RequestBodyWatch>();

/** The shared watch for one idle setting (listeners with the same limits share a sweep). */
export function bodyWatchFor(idleMs: number): RequestBodyWatch {
  let watch = watches.get(idleMs);
  if (watch === undefined) watches.set(idleMs, (watch = new RequestBodyWatch(idleMs)));
  return watch;
}
