// Request buffering: a request body is read (up to a bound) before the request is given a
// target and an upstream connection, so a client slow to send its body holds none meanwhile.
// The listeners are module functions on a tagged request: no closure per request.
import type { IncomingMessage } from 'node:http';

/**
 * How much of a request body is read before dispatch, in bytes. A body of up to this size is
 * read whole and sent as one Buffer (its length known, replayable on a connect failure); a
 * larger one is dispatched once more than this has arrived, and the rest streams with
 * backpressure (undici sends it with a Content-Length if it has all arrived by then).
 *
 * The same trade as HAProxy's `option http-buffer-request` (waits for the whole body or a full
 * buffer, `tune.bufsize`, before connecting to a server) and nginx's `proxy_request_buffering
 * on` (reads the body before connecting; `client_body_buffer_size` in memory). Both default to
 * 16 KiB; 64 KiB is one socket read in Node and fits most JSON and form posts. Memory is held
 * only for what has arrived (chunks as received, nothing preallocated): at most this plus one
 * socket read (≤ 64 KiB) per request still being read, e.g. 10,000 uploads stalled just short
 * of the bound ≈ 640 MiB worst case; a stalled upload that sent one byte holds a few hundred.
 */
export const REQUEST_BODY_BUFFER_BYTES = 64 * 1024;

/** What reads the body (the Exchange). */
export interface BodyReader {
  /** A chunk arrived; the reader keeps it (chunks are never copied here). */
  bodyChunk(chunk: Buffer): void;
  /** The body ended within the buffer. */
  bodyEnd(): void;
}

const kReader = Symbol('bodyReader');
type TaggedRequest = IncomingMessage & { [kReader]?: BodyReader | undefined };

/** Starts reading `req`'s body into `reader` (flowing mode). */
export function readBody(req: IncomingMessage, reader: BodyReader): void {
  (req as TaggedRequest)[kReader] = reader;
  req.on('data', onData);
  req.on('end', onEnd);
}

/**
 * Stops reading. With `handOver`, the request is paused and the chunks read so far are put
 * back at the head of its buffer (no copy), so whoever reads it next (undici) gets the whole
 * body in order, with backpressure from there. Without, the rest of the body is discarded.
 */
export function stopReadingBody(req: IncomingMessage, handOver: readonly Buffer[] | null): void {
  (req as TaggedRequest)[kReader] = undefined;
  req.off('data', onData);
  req.off('end', onEnd);
  if (handOver === null) return;
  req.pause();
  for (let i = handOver.length - 1; i >= 0; i--) req.unshift(handOver[i]!);
}

/** The chunks of a body that ended within the buffer, as one Buffer (the common one-chunk case copies nothing). */
export function joinBody(chunks: readonly Buffer[], bytes: number): Buffer {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks, bytes);
}

function onData(this: TaggedRequest, chunk: Buffer): void {
  this[kReader]?.bodyChunk(chunk);
}

function onEnd(this: TaggedRequest): void {
  this[kReader]?.bodyEnd();
}
