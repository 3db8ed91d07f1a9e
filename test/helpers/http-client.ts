// Client-side tools for data-plane tests: node:http requests that collect the raw answer,
// a raw-socket client that sees exactly the bytes on the wire, deterministic large bodies,
// and polling with a deadline (tests never sleep for a fixed time).
import { createHash } from 'node:crypto';
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** A buffer, or a stream piped as the body. */
  body?: Buffer | string | Readable;
  /** Defaults to `false` (a fresh connection per request). */
  agent?: Agent | false;
}

/** One request through node:http; resolves with the whole answer, rejects on any socket error. */
export function send(base: string, path: string, options: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: options.agent ?? false,
    }, (res) => {
      collect(res).then((body) => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body }), reject);
    });
    req.on('error', reject);
    const body = options.body;
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/** Reads a response to the end; rejects when it is cut short ('aborted' / socket error). */
export function collect(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}

/** Hashes a stream as it arrives (large bodies are never held in memory). */
export function sha256Of(stream: NodeJS.ReadableStream): Promise<{ sha: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.on('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('stream aborted')));
  });
}

const BLOCK = 64 * 1024;
const SEED = Buffer.alloc(BLOCK);
for (let i = 0; i < BLOCK; i++) SEED[i] = (i * 7919 + (i >> 8) * 31) & 0xff;

/** Block `n` of a deterministic body: a fixed pattern stamped with its index, so reordered or repeated blocks change the hash. */
function block(n: number, size: number): Buffer {
  const out = Buffer.from(SEED.subarray(0, size));
  if (size >= 4) out.writeUInt32BE(n >>> 0, 0);
  return out;
}

/** The blocks of a deterministic `total`-byte body. */
export function* patternBlocks(total: number): Generator<Buffer> {
  let n = 0;
  for (let sent = 0; sent < total; sent += BLOCK) yield block(n++, Math.min(BLOCK, total - sent));
}

/** A readable stream of the deterministic body (respects backpressure). */
export function patternStream(total: number): Readable {
  return Readable.from(patternBlocks(total), { objectMode: false });
}

const shaCache = new Map<number, string>();

/** sha256 of the deterministic `total`-byte body. */
export function patternSha(total: number): string {
  let sha = shaCache.get(total);
  if (sha === undefined) {
    const hash = createHash('sha256');
    for (const chunk of patternBlocks(total)) hash.update(chunk);
    shaCache.set(total, (sha = hash.digest('hex')));
  }
  return sha;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Polls until `check` returns a truthy value (returned), or rejects with `what` after the deadline. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const interval = options.intervalMs ?? 10;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

export interface RawExchange {
  socket: Socket;
  /** Every byte received so far. */
  received(): Buffer;
  /** Resolves when the server closed or reset the connection; `error` is the socket error if any. */
  ended: Promise<{ error: NodeJS.ErrnoException | undefined }>;
}

/** Opens a raw TCP connection to `base` and writes `text`; sees exactly what the server sends. */
export function rawRequest(base: string, text: string | Buffer): RawExchange {
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<{ error: NodeJS.ErrnoException | undefined }>((resolve) => {
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (err) => (error = err));
    socket.on('close', () => resolve({ error }));
  });
  socket.write(text);
  return { socket, received: () => Buffer.concat(chunks), ended };
}

/** How many HTTP/1.x status lines appear in a raw byte stream. */
export function statusLines(raw: Buffer): number {
  return raw.toString('latin1').match(/HTTP\/1\.[01] \d{3}/g)?.length ?? 0;
}

export interface RawUpstream {
  url: string;
  /** Request heads received (text up to the blank line), in order. */
  heads: string[];
  close(): Promise<void>;
}

/** Where a request head arrived at a raw upstream: its connection's number (0-based, in accept order) and its own on that connection. */
export interface RawArrival {
  connection: number;
  request: number;
}

/**
 * A TCP server speaking just enough HTTP/1.1 to send responses node:http would refuse to
 * produce (e.g. hop-by-hop headers it manages itself). `respond` gets each request head and
 * returns the raw response bytes, or null to close the connection without answering;
 * requests must have no body.
 */
export async function startRawUpstream(respond: (head: string, at: RawArrival) => string | Buffer | null): Promise<RawUpstream> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const connection = connections++;
    let request = 0;
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1 && !socket.destroyed; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        heads.push(head);
        const answer = respond(head, { connection, request: request++ });
        if (answer === null) socket.destroy();
        else socket.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    heads,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Resolves like `promise`, or rejects once `ms` passed: a bug that stalls fails fast instead of hitting the suite timeout. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
