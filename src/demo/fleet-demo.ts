// `switchyard demo --fleet`: the docker-compose topology without Docker. A private
// redis-server (spawned from PATH on a free loopback port, nothing persisted), the three
// demo upstreams, and two Switchyards sharing that Redis: a flip on one moves the other.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { Switchyard } from '../main.js';
import { createLogger } from '../observe/logger.js';
import { demoConfig, startDemoApps, type DemoApps } from './demo-stack.js';

export interface FleetDemoOptions {
  /** Where everything listens (loopback by default). */
  host?: string;
  /** The first instance's proxy port; the second gets +1 (0: both ephemeral). Default 8080. */
  port?: number;
  /** The first instance's admin port; the second gets +1 (0: both ephemeral). Default 9901. */
  adminPort?: number;
  adminToken?: string;
  /** The redis-server executable: a name looked up on PATH, or a path. Default `redis-server`. */
  redisServer?: string;
  logDestination?: DestinationStream;
}

export interface FleetDemo {
  /** The two proxies, in order: instance 1 (:8080, admin :9901) and instance 2 (:8081, :9902). */
  instances: Switchyard[];
  apps: Server[];
  redis: PrivateRedis;
  /** Stops both proxies (gracefully), the apps, then redis-server. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_REDIS_SERVER = 'redis-server';
const REDIS_READY_MS = 10_000;
const REDIS_STOP_MS = 5_000;
const PORT_ATTEMPTS = 3;

/** redis-server is not installed (or not where we were told): the CLI exits 1 with this message. */
export class RedisMissingError extends Error {
  override readonly name = 'RedisMissingError';
}

/** The second instance's port: one above the first, or ephemeral when the first is. */
export function secondPort(base: number): number {
  if (base === 0) return 0;
  if (base >= 65535) throw new RangeError(`port ${base} leaves no room for the second instance (${base}+1)`);
  return base + 1;
}

export async function startFleetDemo(options: FleetDemoOptions = {}): Promise<FleetDemo> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  const adminPort = options.adminPort ?? 9901;
  const ports = [[port, adminPort], [secondPort(port), secondPort(adminPort)]] as const;
  const redis = await PrivateRedis.start(options.redisServer ?? DEFAULT_REDIS_SERVER);
  const root = createLogger('info', options.logDestination);
  const instances: Switchyard[] = [];
  let apps: DemoApps | null = null;
  const stopAll = async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await apps?.close();
    await redis.stop();
  };
  try {
    apps = await startDemoApps(host);
    for (const [index, [proxyPort, adminPortOf]] of ports.entries()) {
      const config = demoConfig(apps, {
        host,
        port: proxyPort,
        adminPort: adminPortOf,
        ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
        state: { store: 'redis', url: redis.url },
      });
      // One after the other: the first seeds the shared state, the second adopts it.
      instances.push(await Switchyard.start(config, { logger: root.child({ member: `switchyard-${index + 1}` }) }));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    instances,
    apps: apps.servers,
    redis,
    close: () => (closing ??= stopAll()),
  };
}

/** The banner `switchyard demo --fleet` prints: where everything is, and how to see the fleet move together. */
export function fleetBanner(demo: FleetDemo): string {
  const [one, two] = demo.instances as [Switchyard, Switchyard];
  const admin1 = adminArg(one.adminUrl);
  const admin2 = ` --admin ${two.adminUrl}`;
  const port = (url: string) => `:${new URL(url).port}`;
  const steps: Array<[string, string]> = [
    [`curl ${two.proxyUrl}/`, `instance 2 (${port(two.proxyUrl)}): blue`],
    [`npx switchyard flip green${admin1}`, `through instance 1's admin API (${port(one.adminUrl)})`],
    [`curl ${two.proxyUrl}/`, `instance 2 (${port(two.proxyUrl)}) moved too: green`],
    [`npx switchyard status${admin2}`, 'either admin API shows the same routing'],
    [`npx switchyard rollback${admin2}`, 'and either one can change it'],
  ];
  const width = Math.max(...steps.map(([command]) => command.length));
  return [
    `Switchyard fleet demo: two proxies sharing a private Redis (${demo.redis.url}, redis-server pid ${demo.redis.pid})`,
    `  instance 1: proxy ${one.proxyUrl}, admin ${one.adminUrl}`,
    `  instance 2: proxy ${two.proxyUrl}, admin ${two.adminUrl}`,
    '  blue ×2 (1.0.0) is live, green ×1 (2.0.0) is standby. Flip on instance 1, watch instance 2 follow:',
    ...steps.map(([command, comment]) => `    ${command.padEnd(width)}  # ${comment}`),
    '  Ctrl-C stops it all, redis-server included.',
  ].join('\n');
}

/** The endpoints as data (`demo --fleet --json`). */
export function fleetEndpoints(demo: FleetDemo): Record<string, unknown> {
  return {
    redis: { url: demo.redis.url, pid: demo.redis.pid },
    instances: demo.instances.map((instance) => ({ proxy: instance.proxyUrl, admin: instance.adminUrl })),
  };
}

/** ` --admin URL` unless the URL is the CLI's default (so the banner's commands work as printed). */
export function adminArg(url: string): string {
  return url === 'http://127.0.0.1:9901' ? '' : ` --admin ${url}`;
}

/**
 * A redis-server child owned by this process: loopback only, no RDB or AOF, in its own
 * process group (so a terminal's Ctrl-C reaches us first and the proxies stop before it),
 * and killed when this process exits, however it exits short of SIGKILL.
 */
export class PrivateRedis {
  private readonly killOnExit = () => {
    if (this.running) this.child.kill('SIGKILL');
  };
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {
    process.on('exit', this.killOnExit);
  }

  static async start(binary: string = DEFAULT_REDIS_SERVER): Promise<PrivateRedis> {
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'switchyard-demo-redis-'));
      try {
        const child = await spawnRedis(binary, port, dir);
        return new PrivateRedis(child, port, dir);
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        if (err instanceof RedisMissingError) throw err;
        lastError = err as Error;
        // Someone took the port between our look and redis-server's bind: try another.
        if (!/address already in use/i.test(lastError.message)) throw lastError;
      }
    }
    throw lastError!;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, SIGKILL if it has not gone after 5 s; resolves once the process is gone. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.running) {
        const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => this.child.kill('SIGKILL'), REDIS_STOP_MS);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', this.killOnExit);
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}

function spawnRedis(binary: string, port: number, dir: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no'];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let settled = false;
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === null) return resolve(child);
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL');
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      // Keep the tail for error messages; redis-server says little once it is up.
      output = (output + chunk.toString('utf8')).slice(-4000);
      if (output.includes('Ready to accept connections')) finish(null);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) => {
      finish(err.code === 'ENOENT'
        ? new RedisMissingError(`${binary} not found: the fleet demo runs a private Redis and needs redis-server on PATH `
          + '(apt-get install redis-server, brew install redis, or set REDIS_SERVER to its path); '
          + 'without it use `docker compose up` or the single-instance `switchyard demo`')
        : new Error(`cannot start ${binary}: ${err.message}`));
    });
    child.once('exit', (code, signal) => finish(new Error(`${binary} exited (${signal ?? code}) before it was ready:\n${output.trim()}`)));
    const timer = setTimeout(() => finish(new Error(`${binary} not ready after ${REDIS_READY_MS} ms:\n${output.trim()}`)), REDIS_READY_MS);
  });
}

/** A loopback port nothing listens on right now (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
