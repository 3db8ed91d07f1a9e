// `switchyard demo --grpc`: the demo with gRPC services. Blue ×2 (1.0.0) and green ×1 (2.0.0)
// run switchyard.demo.Greeter and grpc.health.v1.Health over h2c on ephemeral loopback ports;
// the proxy in front speaks h2c to them (`protocol: h2c`), checks them with gRPC health checks
// and takes h2c with prior knowledge from clients on its plain port (SPEC §14).
import { resolveConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Switchyard } from '../main.js';
import { DEMO_APPS, startInFront, type DemoConfigOptions, type DemoOptions } from './demo-stack.js';
import { adminArg } from './fleet-demo.js';
import { GREETER_PROTO, GREETER_SERVICE, PROTO_DIR, startGrpcDemoApp, type GrpcDemoApp } from './grpc-demo-app.js';

export interface GrpcDemoStack {
  switchyard: Switchyard;
  /** In DEMO_APPS order: blue-1, blue-2, green-1. */
  apps: GrpcDemoApp[];
  /** Stops the proxy (gracefully), then the apps. Idempotent. */
  close(): Promise<void>;
}

/** The three gRPC demo apps on ephemeral ports of `host`; none is left running if one fails to start. */
export async function startGrpcDemoApps(host: string): Promise<GrpcDemoApp[]> {
  const settled = await Promise.allSettled(DEMO_APPS.map((identity) => startGrpcDemoApp(identity, host)));
  const apps = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(apps.map((app) => app.close()));
    throw failed.reason;
  }
  return apps;
}

/** The demo config for gRPC: the HTTP demo's pools and routing, with `protocol: h2c` and gRPC health checks. */
export function grpcDemoConfig(apps: readonly GrpcDemoApp[], options: DemoConfigOptions): Config {
  const targetsOf = (pool: string) => apps.filter((app) => app.identity.pool === pool).map((app) => `http://${app.address}`);
  return resolveConfig({
    listen: { host: options.host, port: options.port },
    admin: { host: options.host, port: options.adminPort, token: options.adminToken ?? '' },
    pools: {
      blue: { version: '1.0.0', protocol: 'h2c', targets: targetsOf('blue') },
      green: { version: '2.0.0', protocol: 'h2c', targets: targetsOf('green') },
    },
    routing: { initial: { blue: 100, green: 0 }, poolHeader: 'x-switchyard-pool' },
    healthCheck: { type: 'grpc', grpcService: GREETER_SERVICE, intervalMs: 1000 },
  }, {});
}

export async function startGrpcDemo(options: DemoOptions = {}): Promise<GrpcDemoStack> {
  const apps = await startGrpcDemoApps(options.host ?? '127.0.0.1');
  const closeApps = () => Promise.all(apps.map((app) => app.close())).then(() => undefined);
  const front = await startInFront(options, closeApps, (listen) => grpcDemoConfig(apps, listen));
  return { ...front, apps };
}

/**
 * The calls the banner prints for the proxy at `proxyUrl` (`http://host:port`): grpcurl with
 * the shipped proto (grpcurl cannot list services through the proxy: the demo has no
 * reflection), and the same call with @grpc/grpc-js as a one-liner run in the project folder.
 */
export function grpcDemoCalls(proxyUrl: string): { grpcurl: string; node: string } {
  const address = new URL(proxyUrl).host;
  const method = `${GREETER_SERVICE}/SayHello`;
  const proto = `${PROTO_DIR}${GREETER_PROTO}`;
  return {
    grpcurl: `grpcurl -plaintext -import-path ${PROTO_DIR} -proto ${GREETER_PROTO} -d '{"name":"you"}' ${address} ${method}`,
    node: `node -e "const g=require('@grpc/grpc-js'),l=require('@grpc/proto-loader');`
      + `const {Greeter}=g.loadPackageDefinition(l.loadSync('${proto}')).switchyard.demo;`
      + `new Greeter('${address}',g.credentials.createInsecure()).sayHello({name:'you'},`
      + `(e,r)=>{console.log(e?e.message:JSON.stringify(r));process.exit(e?1:0)})"`,
  };
}

/** What `switchyard demo --grpc` prints: where things are, a call to try, and how to flip. */
export function grpcDemoBanner(proxyUrl: string, adminUrl: string): string {
  const flag = adminArg(adminUrl);
  const calls = grpcDemoCalls(proxyUrl);
  return [
    `Switchyard gRPC demo: proxy ${proxyUrl} (h2c: HTTP/2 with prior knowledge, or HTTP/1.1), admin ${adminUrl}`,
    `  ${GREETER_SERVICE} on blue ×2 (1.0.0) is live, on green ×1 (2.0.0) standby; pools speak h2c,`,
    `  checked with grpc.health.v1.Health/Check. Protos: ${PROTO_DIR}. Try, in the project folder:`,
    `    ${calls.grpcurl}`,
    `    ${calls.node}`,
    `    npx switchyard flip green${flag}     # the next call (either line above) names green`,
    `    npx switchyard rollback${flag}`,
    '  Ctrl-C stops it.',
  ].join('\n');
}
