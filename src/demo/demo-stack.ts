// `switchyard demo`: three demo upstreams (blue ×2 at 1.0.0, green ×1 at 2.0.0) on
// ephemeral loopback ports, and a Switchyard in front of them with memory state.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { DestinationStream } from 'pino';
import { resolveConfig } from '../config/load.js';
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

const DEMO_APPS: DemoAppIdentity[] = [
  { pool: 'blue', version: '1.0.0', instance: 'blue-1' },
  { pool: 'blue', version: '1.0.0', instance: 'blue-2' },
  { pool: 'green', version: '2.0.0', instance: 'green-1' },
];

export async function startDemo(options: DemoOptions = {}): Promise<DemoStack> {
  const host = options.host ?? '127.0.0.1';
  const apps = await Promise.all(DEMO_APPS.map((identity) => listen(createDemoApp(identity), host)));
  const targetsOf = (pool: string) => DEMO_APPS.flatMap((identity, index) =>
    identity.pool === pool ? [`http://${host}:${(apps[index]!.address() as AddressInfo).port}`] : []);
  const config = resolveConfig({
    listen: { host, port: options.port ?? 8080 },
    admin: { host, port: options.adminPort ?? 9901, token: options.adminToken ?? '' },
    pools: {
      blue: { version: '1.0.0', targets: targetsOf('blue') },
      green: { version: '2.0.0', targets: targetsOf('green') },
    },
    routing: { initial: { blue: 100, green: 0 }, poolHeader: 'x-switchyard-pool' },
    healthCheck: { intervalMs: 1000 },
  }, {});
  const closeApps = () => Promise.all(apps.map((app) => new Promise<void>((resolve) => {
    app.close(() => resolve());
    app.closeAllConnections();
  })));
  let switchyard: Switchyard;
  try {
    switchyard = await Switchyard.start(config, options.logDestination === undefined ? {} : { logDestination: options.logDestination });
  } catch (err) {
    await closeApps();
    throw err;
  }
  return {
    switchyard,
    apps,
    close: async () => {
      await switchyard.close();
      await closeApps();
    },
  };
}

function listen(server: Server, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}
