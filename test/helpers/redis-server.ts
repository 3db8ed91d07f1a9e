// A private redis-server per test, on a free loopback port, that tests can kill and start
// again (on the same port, with the same data when `persist` is set) to prove fault handling.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { closedPort } from './upstream.js';
import { stopChild } from './child-control.js';

export const REDIS_BINARY = process.env.REDIS_SERVER ?? 'redis-server';

export function redisAvailable(): boolean {
  return spawnSync(REDIS_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Skips the test file with a clear message when redis-server is missing — but never in CI, where it must be installed. */
export function requireRedis(t: Test): boolean {
  if (redisAvailable()) return true;
  if (process.env.CI) throw new Error(`${REDIS_BINARY} not found: .ci/run must install redis-server`);
  t.comment(`SKIP: ${REDIS_BINARY} not installed (apt-get install redis-server); fleet tests skipped`);
  return false;
}

export interface RedisServerOptions {
  password?: string;
  /** Keep data across restarts (append-only file in a private folder). */
  persist?: boolean;
  /** Address to listen on (default 127.0.0.1), e.g. a network namespace's address. */
  host?: string;
  /** Runs redis-server through this command, e.g. `['ip', 'netns', 'exec', 'ns1']` (which execs it: same pid). */
  wrapper?: readonly string[];
}

export class RedisServer {
  readonly port: number;
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'switchyard-redis-'));

  private constructor(port: number, private readonly options: RedisServerOptions) {
    this.port = port;
  }

  static async start(options: RedisServerOptions = {}, port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await closedPort()), options);
    await server.start();
    return server;
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  get url(): string {
    const auth = this.options.password === undefined ? '' : `:${this.options.password}@`;
    return `redis://${auth}${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', this.host, '--save', '', '--dir', this.dir,
      '--appendonly', this.options.persist ? 'yes' : 'no', '--appendfsync', 'always'];
    if (this.options.password !== undefined) args.push('--requirepass', this.options.password);
    // Protected mode answers only loopback clients when there is no password; a test network is private.
    if (this.host !== '127.0.0.1') args.push('--protected-mode', 'no');
    const command = [...(this.options.wrapper ?? []), REDIS_BINARY, ...args];
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${output}`)));
    });
  }

  /**
   * Freezes the server (SIGSTOP): it keeps its TCP connections and its listening socket, the
   * kernel keeps accepting and buffering, nothing answers — the hardest outage to notice.
   */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Resumes a frozen server (SIGCONT): it then runs whatever was buffered meanwhile. */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL by default: an outage, not a polite stop. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    await stopChild(child, signal);
  }
}

/** Starts a redis-server that is stopped when the test ends. */
export async function redisFor(t: Test, options: RedisServerOptions = {}): Promise<RedisServer> {
  const server = await RedisServer.start(options);
  t.teardown(() => server.stop());
  return server;
}
