// The gRPC demo upstream of `switchyard demo --grpc`: `switchyard.demo.Greeter/SayHello`
// answers with the pool, version and instance that served it, and the standard
// `grpc.health.v1.Health` service answers the proxy's `healthCheck.type: grpc` checks.
// Plain HTTP/2 (h2c), as a pool with `protocol: h2c` expects. Built on @grpc/grpc-js.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { DemoAppIdentity } from './demo-app.js';

/**
 * The folder of the shipped .proto files (`proto/` at the package root). Resolved from this
 * module, so it is the same from `src/demo` (tests) and `dist/demo` (the installed package).
 */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
/** The demo service's file, relative to PROTO_DIR (grpcurl's `-proto` with `-import-path PROTO_DIR`). */
export const GREETER_PROTO = 'switchyard/demo/greeter.proto';
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
/** The full name of the demo service: what `healthCheck.grpcService` names and grpcurl calls. */
export const GREETER_SERVICE = 'switchyard.demo.Greeter';

const MAX_DELAY_MS = 60_000;

/** `SayHello`'s request and reply, as @grpc/proto-loader maps them (camelCase fields). */
export interface HelloRequest {
  name: string;
  delayMs: number;
}

export interface HelloReply extends DemoAppIdentity {
  message: string;
}

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

interface DemoProtos {
  greeter: grpc.ServiceDefinition;
  health: grpc.ServiceDefinition;
  Greeter: grpc.ServiceClientConstructor;
}

let loaded: DemoProtos | null = null;

/** The two services, loaded once from PROTO_DIR (enums as their names, fields camelCase). */
export function demoProtos(): DemoProtos {
  if (loaded !== null) return loaded;
  const definition = protoLoader.loadSync([GREETER_PROTO, HEALTH_PROTO], {
    includeDirs: [PROTO_DIR], enums: String, defaults: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    switchyard: { demo: { Greeter: grpc.ServiceClientConstructor } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const Greeter = root.switchyard.demo.Greeter;
  loaded = { greeter: Greeter.service, health: root.grpc.health.v1.Health.service, Greeter };
  return loaded;
}

type HelloCallback = (error: grpc.ServiceError | null, reply?: HelloReply) => void;

/** The demo service's client (grpc-js's generated shape, typed). */
export interface GreeterClient extends grpc.Client {
  sayHello(request: Partial<HelloRequest>, callback: HelloCallback): grpc.ClientUnaryCall;
  sayHello(request: Partial<HelloRequest>, metadata: grpc.Metadata, options: grpc.CallOptions, callback: HelloCallback): grpc.ClientUnaryCall;
}

/** A client of the demo service at `address` (`host:port`), plaintext (h2c prior knowledge). */
export function greeterClient(address: string): GreeterClient {
  const { Greeter } = demoProtos();
  return new Greeter(address, grpc.credentials.createInsecure()) as never;
}

export interface GrpcDemoApp {
  readonly identity: DemoAppIdentity;
  /** `host:port` it listens on. */
  readonly address: string;
  readonly port: number;
  /** What Health/Check answers for '' and the Greeter from now on; Watch callers see the change. */
  setServing(status: ServingStatus): void;
  /** Stops at once: open calls end with UNAVAILABLE (the proxy is stopped first). Idempotent. */
  close(): Promise<void>;
}

/** One gRPC demo app on `host:port` (0: an ephemeral port); resolves once it listens. */
export async function startGrpcDemoApp(identity: DemoAppIdentity, host: string, port = 0): Promise<GrpcDemoApp> {
  const { greeter, health } = demoProtos();
  const server = new grpc.Server();
  let serving: ServingStatus = 'SERVING';
  const watchers = new Set<grpc.ServerWritableStream<{ service: string }, { status: string }>>();
  // The health protocol: '' is the server as a whole; a service it does not know is NOT_FOUND.
  const known = (service: string) => service === '' || service === GREETER_SERVICE;

  server.addService(greeter, {
    SayHello: (call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) => {
      const reply = () => callback(null, { message: `hello ${call.request.name || 'there'} from ${identity.pool} ${identity.version}`, ...identity });
      const delay = Math.min(call.request.delayMs || 0, MAX_DELAY_MS);
      if (delay === 0) return reply();
      const timer = setTimeout(reply, delay);
      call.once('cancelled', () => clearTimeout(timer));
    },
  });
  server.addService(health, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) => {
      if (!known(call.request.service)) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      callback(null, { status: serving });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: string }>) => {
      if (!known(call.request.service)) return void call.write({ status: 'SERVICE_UNKNOWN' });
      watchers.add(call);
      call.once('cancelled', () => watchers.delete(call));
      call.write({ status: serving });
    },
  });

  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(),
      (error, actual) => (error ? reject(error) : resolve(actual)));
  });
  let closed = false;
  return {
    identity,
    port: bound,
    address: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
    setServing(status) {
      if (status === serving) return;
      serving = status;
      for (const call of watchers) call.write({ status });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const call of watchers) call.end();
      watchers.clear();
      server.forceShutdown();
    },
  };
}
