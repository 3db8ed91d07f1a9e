// A real gRPC backend for tests (@grpc/grpc-js): the Echo service of
// test/fixtures/grpc/echo.proto and the standard grpc.health.v1 Health service, on 127.0.0.x
// and an ephemeral port, plaintext (h2c) or TLS. In this process (`startGrpcEcho`) or in a
// child process a test can SIGKILL (`spawnGrpcEcho`). `echoClient` / `callEcho` talk to it.
//
//   const blue = await startGrpcEcho(t, { name: 'blue' });
//   const client = echoClient(t, blue.url);
//   const { reply, status } = await callEcho(client, { message: 'hi', status: 0 });
//   // reply.server === 'blue'; status.metadata.get('x-served-by') → ['blue']
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Test } from 'tap';

const FIXTURES = fileURLToPath(new URL('../fixtures/grpc/', import.meta.url));
const CHILD = fileURLToPath(new URL('../fixtures/grpc/echo-child.ts', import.meta.url));

/** Field names are proto-loader's camelCase (`delay_ms` → `delayMs`). Absent fields are their zero values. */
export interface EchoRequest {
  message?: string;
  /** gRPC status code to answer with (0 = OK). */
  status?: number;
  /** grpc-message of a non-zero status. */
  details?: string;
  /** Extra trailing metadata; a `-bin` key's value is base64 of the bytes to send. */
  trailers?: Record<string, string>;
  delayMs?: number;
}

export interface StreamRequest {
  message?: string;
  count?: number;
  intervalMs?: number;
  status?: number;
  details?: string;
  trailers?: Record<string, string>;
}

export interface EchoReply {
  message: string;
  /** The `name` of the server that answered. */
  server: string;
}

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface GrpcEchoOptions {
  /** Put in every reply's `server` and in the `x-served-by` trailer of every Echo-service answer. */
  name: string;
  /** Default 127.0.0.1; any 127.0.0.x works on Linux. */
  host?: string;
  /** PEM key and certificate: serve TLS (ALPN h2) instead of h2c. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** false: no Health service (a Check answers UNIMPLEMENTED). Default true. */
  health?: boolean;
  /** Called with the new count at each Echo-service call (the child process reports it by IPC). */
  onCall?: (calls: number) => void;
}

export interface GrpcEcho {
  port: number;
  /** `http://host:port` (h2c) or `https://host:port` (TLS): a pool target URL. */
  url: string;
  /**
   * What Health/Check answers for `service` ('' = the server as a whole, SERVING at start).
   * A service never set answers NOT_FOUND, as the health protocol says. Resolves once applied.
   */
  setStatus(service: string, status: ServingStatus): Promise<void>;
  /** Graceful: stops accepting, resolves when in-flight calls have finished (grpc-js tryShutdown). */
  tryShutdown(): Promise<void>;
  /** Cancels every call and closes every connection at once. */
  forceShutdown(): Promise<void>;
  /** Echo-service calls received so far (health checks not counted). A child's count arrives by IPC: poll it. */
  readonly calls: number;
}

export interface ChildGrpcEcho extends GrpcEcho {
  pid: number;
  /** Signals the child (default SIGKILL); resolves when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** The package's own protos (the shipped grpc.health.v1 among them), beside the test-only echo.proto. */
const SHIPPED = fileURLToPath(new URL('../../proto/', import.meta.url));

function loadProto(file: string, dir = FIXTURES): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(`${dir}${file}`, LOADER_OPTIONS));
}

let loaded: { echo: grpc.ServiceClientConstructor; health: grpc.ServiceClientConstructor } | null = null;

function services() {
  if (loaded !== null) return loaded;
  const echo = (loadProto('echo.proto').switchyard as grpc.GrpcObject).test as grpc.GrpcObject;
  const health = ((loadProto('grpc/health/v1/health.proto', SHIPPED).grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
  loaded = { echo: echo.Echo as grpc.ServiceClientConstructor, health: health.Health as grpc.ServiceClientConstructor };
  return loaded;
}

/** Trailing metadata of an answer: who served it, plus what the request asked for. */
function trailersOf(name: string, extra: Record<string, string> | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-served-by', name);
  for (const [key, value] of Object.entries(extra ?? {})) metadata.set(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
  return metadata;
}

function statusOf(name: string, request: { status?: number; details?: string; trailers?: Record<string, string> }): Partial<grpc.StatusObject> {
  return { code: request.status ?? 0, details: request.details ?? '', metadata: trailersOf(name, request.trailers) };
}

/** Runs `then` after `ms` unless the call is cancelled first. */
function after(ms: number | undefined, call: { once(event: 'cancelled', listener: () => void): unknown; off(event: 'cancelled', listener: () => void): unknown },
  then: () => void): void {
  if (!ms) return then();
  // The listener goes when the timer fires: a long stream adds one per message otherwise.
  const cancel = (): void => clearTimeout(timer);
  const timer = setTimeout(() => {
    call.off('cancelled', cancel);
    then();
  }, ms);
  call.once('cancelled', cancel);
}

/** The Echo and Health services on a grpc-js server, without tap (the child process uses it too). */
export async function createGrpcEcho(options: GrpcEchoOptions): Promise<GrpcEcho> {
  const { name, host = '127.0.0.1', tls, health = true, onCall } = options;
  const { echo, health: healthService } = services();
  const server = new grpc.Server();
  let calls = 0;
  const counted = () => {
    calls++;
    onCall?.(calls);
  };
  const reply = (message: string): EchoReply => ({ message, server: name });

  server.addService(echo.service, {
    Echo(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      counted();
      const request = call.request;
      after(request.delayMs, call, () => {
        const status = statusOf(name, request);
        if (status.code === 0) callback(null, reply(request.message ?? ''), status.metadata);
        else callback(status);
      });
    },
    Stream(call: grpc.ServerWritableStream<StreamRequest, EchoReply>) {
      counted();
      const { message = '', count = 0, intervalMs = 0 } = call.request;
      let sent = 0;
      const next = () => {
        if (call.cancelled) return;
        if (sent === count) {
          const status = statusOf(name, call.request);
          return status.code === 0 ? void call.end(status.metadata) : void call.emit('error', status);
        }
        call.write(reply(`${message} ${++sent}`));
        after(intervalMs, call, next);
      };
      next();
    },
    Collect(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      counted();
      const messages: string[] = [];
      let last: EchoRequest = {};
      call.on('data', (request: EchoRequest) => {
        messages.push(request.message ?? '');
        last = request;
      });
      call.on('end', () => {
        const status = statusOf(name, last);
        if (status.code === 0) callback(null, reply(messages.join(' ')), status.metadata);
        else callback(status);
      });
    },
    Chat(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      counted();
      let ended = false;
      call.on('data', (request: EchoRequest) => {
        if (ended) return;
        if ((request.status ?? 0) === 0) return void call.write(reply(request.message ?? ''));
        ended = true;
        call.emit('error', statusOf(name, request));
      });
      call.on('end', () => {
        if (!ended) call.end(trailersOf(name, undefined));
      });
    },
  });

  const statuses = new Map<string, ServingStatus>([['', 'SERVING']]);
  if (health) {
    server.addService(healthService.service, {
      Check(call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) {
        const status = statuses.get(call.request.service);
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status });
      },
      Watch(call: grpc.ServerWritableStream<unknown, unknown>) {
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'Watch is not implemented by this test server' });
      },
    });
  }

  const credentials = tls === undefined
    ? grpc.ServerCredentials.createInsecure()
    : grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }], false);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:0`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    port,
    url: `${tls === undefined ? 'http' : 'https'}://${host}:${port}`,
    setStatus: async (service, status) => void statuses.set(service, status),
    tryShutdown: () => new Promise<void>((resolve, reject) => server.tryShutdown((error) => (error ? reject(error) : resolve()))),
    forceShutdown: async () => server.forceShutdown(),
    get calls() {
      return calls;
    },
  };
}

/** A gRPC echo server in this process, force-shut at `t`'s teardown. */
export async function startGrpcEcho(t: Test, options: GrpcEchoOptions): Promise<GrpcEcho> {
  const echo = await createGrpcEcho(options);
  t.teardown(() => echo.forceShutdown());
  return echo;
}

/** Messages between spawnGrpcEcho and test/fixtures/grpc/echo-child.ts. */
export type ChildCommand = { id: number; op: 'setStatus'; service: string; status: ServingStatus } | { id: number; op: 'tryShutdown' | 'forceShutdown' };
export type ChildReport = { listening: number; url: string } | { calls: number } | { done: number; error?: string };

/**
 * The same server in a child process (tap's TypeScript loader via execArgv), SIGKILLed at
 * `t`'s teardown if still running. setStatus and the shutdowns go over IPC and resolve when the
 * child has done them; after a shutdown the child exits.
 */
export async function spawnGrpcEcho(t: Test, options: GrpcEchoOptions): Promise<ChildGrpcEcho> {
  const opts = { ...options, onCall: undefined, tls: options.tls && { key: String(options.tls.key), cert: String(options.tls.cert) } };
  const child = fork(CHILD, [JSON.stringify(opts)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  t.teardown(() => {
    if (alive()) child.kill('SIGKILL');
    return exited;
  });
  let calls = 0;
  let nextId = 1;
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  child.on('message', (report: ChildReport) => {
    if ('calls' in report) calls = report.calls;
    if ('done' in report) {
      const waiter = pending.get(report.done);
      pending.delete(report.done);
      if (report.error === undefined) waiter?.resolve();
      else waiter?.reject(new Error(report.error));
    }
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error('grpc echo child exited'));
    pending.clear();
  });
  const listening = await new Promise<{ listening: number; url: string }>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`grpc echo child exited early (${code ?? signal})`)));
    child.on('message', (report: ChildReport) => {
      if ('listening' in report) resolve(report);
    });
  });
  const command = (op: ChildCommand['op'], fields: Partial<ChildCommand> = {}) => new Promise<void>((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ ...fields, id, op });
  });
  return {
    pid: child.pid!,
    port: listening.listening,
    url: listening.url,
    setStatus: (service, status) => command('setStatus', { service, status }),
    tryShutdown: () => command('tryShutdown').then(() => exited),
    forceShutdown: () => command('forceShutdown').then(() => exited),
    get calls() {
      return calls;
    },
    kill: (signal = 'SIGKILL') => {
      if (alive()) child.kill(signal);
      return exited;
    },
  };
}

/** The Echo service's client methods (grpc-js's generic signatures, with this service's messages). */
export interface EchoClient extends grpc.Client {
  Echo(request: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<EchoReply>): grpc.ClientUnaryCall;
  Stream(request: StreamRequest, metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  Collect(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<EchoReply>): grpc.ClientWritableStream<EchoRequest>;
  Chat(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

export interface HealthClient extends grpc.Client {
  Check(request: { service: string }, metadata: grpc.Metadata, options: grpc.CallOptions,
    callback: grpc.requestCallback<{ status: ServingStatus | 'UNKNOWN' }>): grpc.ClientUnaryCall;
}

export interface ClientOptions {
  /**
   * Speak TLS: trust `ca` (PEM); check the certificate against `servername` (default: the
   * address's host; grpc-js then sends an IP address as SNI, which Node warns about: DEP0123).
   */
  tls?: { ca: string | Buffer; servername?: string };
}

/** `http://host:port`, `https://host:port` or `host:port` → grpc-js's `host:port` target. */
function targetOf(address: string): string {
  return address.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

function clientOf<C extends grpc.Client>(t: Test, service: grpc.ServiceClientConstructor, address: string, { tls }: ClientOptions): C {
  const credentials = tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(tls.ca));
  const channelOptions = tls?.servername === undefined ? {} : { 'grpc.ssl_target_name_override': tls.servername, 'grpc.default_authority': tls.servername };
  const client = new service(targetOf(address), credentials, channelOptions) as unknown as C;
  t.teardown(() => client.close());
  return client;
}

/** An Echo client for `address` (a server's `url`, or a proxy's), closed at `t`'s teardown. */
export function echoClient(t: Test, address: string, options: ClientOptions = {}): EchoClient {
  return clientOf<EchoClient>(t, services().echo, address, options);
}

/** A grpc.health.v1 client for `address`, closed at `t`'s teardown. */
export function healthClient(t: Test, address: string, options: ClientOptions = {}): HealthClient {
  return clientOf<HealthClient>(t, services().health, address, options);
}

export interface UnaryOutcome<R> {
  /** The reply, or null when the status is not OK. */
  reply: R | null;
  /** Code, details and trailing metadata, whatever the outcome. */
  status: grpc.StatusObject;
  /** The response's initial metadata (empty for a trailers-only answer). */
  headers: grpc.Metadata;
}

/** One unary Echo call; resolves with its outcome whatever the status (never rejects). */
export function callEcho(client: EchoClient, request: EchoRequest, { metadata = new grpc.Metadata(), deadlineMs }: { metadata?: grpc.Metadata; deadlineMs?: number } = {}): Promise<UnaryOutcome<EchoReply>> {
  return new Promise((resolve) => {
    let reply: EchoReply | null = null;
    let headers = new grpc.Metadata();
    const options: grpc.CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    const call = client.Echo(request, metadata, options, (_error, value) => {
      reply = value ?? null;
    });
    call.on('metadata', (received: grpc.Metadata) => {
      headers = received;
    });
    // grpc-js emits 'status' after the callback has run.
    call.on('status', (status: grpc.StatusObject) => resolve({ reply, status, headers }));
  });
}

/** Reads a server-streaming or bidi call to its end: every reply, then the status (never rejects). */
export function readStream<R>(call: grpc.ClientReadableStream<R> | grpc.ClientDuplexStream<unknown, R>): Promise<{ replies: R[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const replies: R[] = [];
    call.on('data', (reply: R) => replies.push(reply));
    // A non-OK status is also emitted as 'error'; 'status' carries the same code, details and trailers.
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => resolve({ replies, status }));
  });
}
