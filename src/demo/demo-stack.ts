// `switchyard demo`: three demo upstreams (blue ×2 at 1.0.0, green ×1 at 2.0.0) on
// ephemeral loopback ports, and a Switchyard in front of them with memory state.
// The pieces (the apps, the embedded config) are shared with the fleet demo.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { DestinationStream } from 'pino';
import { resolveConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Switchyard } from '../main.js';
import { createDemoApp, type DemoAppIdentity } from './demo-app.js';

export interface DemoOptions {
  host?: string;
  port?: number;
  adminPort?: number;
  adminToken?: string;
  logDestination?: DestinationStream;
}

export interface DemoStack {
  switchyard: Switchyard;
  apps: Server[];
  close(): Promise<void>;
}

export const DEMO_APPS: readonly DemoAppIdentity[] = [
  { pool: 'blue', version: '1.0.0', instance: 'blue-1' },
  { pool: 'blue', version: '1.0.0', instance: 'blue-2' },
  { pool: 'green', version: '2.0.0', instance: 'green-1' },
];

export interface DemoApps {
  servers: Server[];
  /** The origins of a pool's apps, e.g. `["http://127.0.0.1:40123", …]`. */
  targetsOf(pool: string): string[];
  close(): Promise<void>;
}

/** The three demo upstreams, each on an ephemeral port of `host`. */
export async function startDemoApps(host: string): Promise<DemoApps> {
  const settled = await Promise.allSettled(DEMO_APPS.map((identity) => listen(createDemoApp(identity), host)));
  const servers = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const close = () => Promise.all(servers.map((app) => new Promise<void>((resolve) => {
    app.close(() => resolve());
    app.closeAllConnections();
  }))).then(() => undefined);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await close();
    throw failed.reason;
  }
  return {
    servers,
    targetsOf: (pool) => DEMO_APPS.flatMap((identity, index) =>
      identity.pool === pool ? [`http://${urlHost(host)}:${(servers[index]!.address() as AddressInfo).port}`] : []),
    close,
  };
}

export interface DemoConfigOptions {
  host: string;
  port: number;
  adminPort: number;
  adminToken?: string;
  /** The `state` block; memory when absent. */
  state?: Record<string, unknown>;
}

/** The embedded demo config: blue (1.0.0) live, green (2.0.0) standby, the pool named in a response header. */
export function demoConfig(apps: DemoApps, options: DemoConfigOptions): Config {
  return resolveConfig({
    listen: { host: options.host, port: options.port },
    admin: { host: options.host, port: options.adminPort, token: options.adminToken ?? '' },
    pools: {
      blue: { version: '1.0.0', targets: apps.targetsOf('blue') },
      green: { version: '2.0.0', targets: apps.targetsOf('green') },
    },
    routing: { initial: { blue: 100, green: 0 }, poolHeader: 'x-switchyard-pool' },
    healthCheck: { intervalMs: 1000 },
    ...(options.state === undefined ? {} : { state: options.state }),
  }, {});
}

export async function startDemo(options: DemoOptions = {}): Promise<DemoStack> {
  const apps = await startDemoApps(options.host ?? '127.0.0.1');
  const front = await startInFront(options, apps.close, (listen) => demoConfig(apps, listen));
  return { ...front, apps: apps.servers };
}

/**
 * A Switchyard in front of demo apps already running: `configOf` gets the listen options
 * (host, ports with the demo's defaults 8080 / 9901, admin token). A failed start stops the
 * apps and rethrows; `close` stops the proxy (gracefully), then the apps, once.
 */
export async function startInFront(
  options: DemoOptions, closeApps: () => Promise<void>, configOf: (listen: DemoConfigOptions) => Config,
): Promise<{ switchyard: Switchyard; close(): Promise<void> }> {
  let switchyard: Switchyard;
  try {
    const config = configOf({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 8080,
      adminPort: options.adminPort ?? 9901,
      ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
    });
    switchyard = await Switchyard.start(config, options.logDestination === undefined ? {} : { logDestination: options.logDestination });
  } catch (err) {
    await closeApps();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    switchyard,
    close: () => (closing ??= (async () => {
      await switchyard.close();
      await closeApps();
    })()),
  };
}

function listen(server: Server, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
