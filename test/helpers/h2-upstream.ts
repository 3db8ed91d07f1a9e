// HTTP/2 upstreams for tests (h2c or TLS with ALPN h2) on ephemeral ports, and a recording
// undici legacy dispatch handler to drive an upstream client with.
import http2, { type Http2Server, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Test } from 'tap';
import type { Dispatcher } from 'undici';

export interface H2Upstream {
  origin: string;
  server: Http2Server | Http2SecureServer;
  /** Sessions open now, and how many were ever opened. */
  sessions: Set<ServerHttp2Session>;
  opened: number;
  /** The highest number of streams one session had open at once. */
  peakStreams: number;
  /** Destroys the TCP connection under `session` at once (no GOAWAY, no RST_STREAM): a peer killed. */
  kill(session: http2.Http2Session): void;
}

export interface H2UpstreamOptions {
  /** A TLS server (ALPN h2) with this pair; h2c without. */
  tls?: { cert: string; key: string };
  settings?: http2.Settings;
  host?: string;
}

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: string[]) => void;

/** An HTTP/2 server calling `onStream` for each stream; torn down (sessions destroyed) with `t`. */
export async function h2Upstream(t: Test, onStream: StreamHandler, options: H2UpstreamOptions = {}): Promise<H2Upstream> {
  const settings = options.settings ?? {};
  const server = options.tls === undefined
    ? http2.createServer({ settings })
    : http2.createSecureServer({ settings, cert: options.tls.cert, key: options.tls.key });
  // The raw sockets by client port: node:http2 lets no one touch a session's socket directly.
  const sockets = new Map<number, Socket>();
  server.on('connection', (socket: Socket) => {
    const port = socket.remotePort!;
    sockets.set(port, socket);
    socket.on('close', () => sockets.delete(port));
  });
  const upstream: H2Upstream = {
    origin: '', server, sessions: new Set(), opened: 0, peakStreams: 0,
    kill: (session) => sockets.get(session.socket.remotePort!)?.destroy(),
  };
  const open = new Map<http2.Http2Session, number>();
  server.on('session', (session) => {
    upstream.sessions.add(session);
    upstream.opened++;
    open.set(session, 0);
    session.on('error', () => {});
    session.on('close', () => {
      upstream.sessions.delete(session);
      open.delete(session);
    });
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    stream.on('error', () => {});
    const session = stream.session!;
    const count = (open.get(session) ?? 0) + 1;
    open.set(session, count);
    upstream.peakStreams = Math.max(upstream.peakStreams, count);
    stream.on('close', () => open.set(session, (open.get(session) ?? 1) - 1));
    onStream(stream, headers, raw);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  upstream.origin = `${options.tls === undefined ? 'http' : 'https'}://${host}:${port}`;
  t.teardown(() => new Promise<void>((resolve) => {
    for (const session of upstream.sessions) session.destroy();
    server.close(() => resolve());
  }));
  return upstream;
}

/** What a RecordingHandler saw, in order. */
export type HandlerEvent = 'connect' | 'started' | `headers ${number}` | 'data' | 'complete' | 'error';

/**
 * An undici legacy dispatch handler that records what it is told. `pauseData`: onData returns
 * false (the client must pause until `resume()`); `onHeadersHook` runs inside onHeaders.
 */
export class RecordingHandler implements Dispatcher.DispatchHandler {
  readonly events: HandlerEvent[] = [];
  status = 0;
  headers: Buffer[] = [];
  interim: { status: number; headers: Buffer[] }[] = [];
  chunks: Buffer[] = [];
  bytes = 0;
  trailers: Buffer[] | null | undefined = undefined;
  error: (Error & { code?: string }) | null = null;
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  fresh: boolean | null = null;
  pauseData = false;
  onHeadersHook: ((handler: RecordingHandler) => void) | null = null;
  onDataHook: ((handler: RecordingHandler, chunk: Buffer) => void) | null = null;
  readonly done: Promise<void>;
  private settle!: () => void;

  constructor(private readonly takeFresh?: () => boolean) {
    this.done = new Promise<void>((resolve) => { this.settle = resolve; });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.events.push('connect');
    this.abort = abort;
    if (this.takeFresh !== undefined) this.fresh = this.takeFresh();
  }

  onResponseStarted(): void {
    this.events.push('started');
  }

  onHeaders(status: number, headers: Buffer[], resume: () => void): boolean {
    this.events.push(`headers ${status}`);
    if (status < 200) {
      this.interim.push({ status, headers });
      return true;
    }
    this.status = status;
    this.headers = headers;
    this.resume = resume;
    this.onHeadersHook?.(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.events[this.events.length - 1] !== 'data') this.events.push('data');
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.onDataHook?.(this, chunk);
    return !this.pauseData;
  }

  onComplete(trailers: string[] | null): void {
    this.events.push('complete');
    this.trailers = trailers as unknown as Buffer[] | null;
    this.settle();
  }

  onError(err: Error): void {
    this.events.push('error');
    this.error = err;
    this.settle();
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString();
  }

  /** Every value of a response header (lower-case name). */
  header(name: string): string[] {
    return pairValues(this.headers, name);
  }

  trailer(name: string): string[] {
    return pairValues(this.trailers ?? [], name);
  }
}

function pairValues(raw: readonly Buffer[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toString('latin1') === name) values.push(raw[i + 1]!.toString('latin1'));
  return values;
}
