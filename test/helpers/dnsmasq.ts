// A private dnsmasq per test: an authoritative-enough DNS server on 127.0.0.1 and a free port
// (UDP and TCP), answering only from its own files, that tests can change, freeze and stop to
// prove what discovery does with changed records, timeouts and a dead server.
//   A/AAAA: a hosts file (`--addn-hosts`), re-read on SIGHUP — no restart, the port stays.
//   SRV: `srv-host=` lines in a conf file, which SIGHUP does NOT re-read (checked with dnsmasq
//   2.90: the old ports kept being served), so `setSrv` restarts the server on the same port.
// Names under `zone` that have no record get NXDOMAIN (`local=/zone/`); a name with only A
// records gets an empty AAAA answer (NODATA). Without `local=` dnsmasq answers REFUSED.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { closedPort } from './upstream.js';
import { stopChild } from './child-control.js';

export const DNSMASQ_BINARY = process.env.DNSMASQ ?? (spawnSync('/usr/sbin/dnsmasq', ['--version'], { stdio: 'ignore' }).status === 0 ? '/usr/sbin/dnsmasq' : 'dnsmasq');

export function dnsmasqAvailable(): boolean {
  return spawnSync(DNSMASQ_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Skips the test file with a clear message when dnsmasq is missing — but never in CI, where it must be installed. */
export function requireDnsmasq(t: Test): boolean {
  if (dnsmasqAvailable()) return true;
  if (process.env.CI) throw new Error(`${DNSMASQ_BINARY} not found: .ci/run must install dnsmasq`);
  t.comment(`SKIP: ${DNSMASQ_BINARY} not installed (apt-get install dnsmasq-base); DNS tests skipped`);
  return false;
}

/** One SRV record: `name` (e.g. `_http._tcp.app.switchyard.test`) → `target:port`, RFC 2782 priority and weight. */
export interface SrvRecord {
  name: string;
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface DnsmasqOptions {
  /** Names under this domain are answered locally only (NXDOMAIN when unknown). Default `switchyard.test`. */
  zone?: string;
  /** TTL in seconds on every local answer (`--local-ttl`); dnsmasq's default is 0. Default 2. */
  ttlSeconds?: number;
}

/** A port free for both UDP and TCP on 127.0.0.1 (closedPort checks TCP only). */
async function closedDnsPort(): Promise<number> {
  for (;;) {
    const port = await closedPort();
    const socket = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => (free ? socket.close(() => resolve()) : resolve()));
    if (free) return port;
  }
}

export class Dnsmasq {
  readonly zone: string;
  readonly ttlSeconds: number;
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'switchyard-dnsmasq-'));
  private readonly hostsFile = join(this.dir, 'hosts');
  private readonly confFile = join(this.dir, 'dnsmasq.conf');
  /** Log lines seen so far (dnsmasq logs to our pipe: `--log-facility=-`, queries not logged). */
  private output = '';
  private srv: SrvRecord[] = [];

  private constructor(readonly port: number, options: DnsmasqOptions) {
    this.zone = options.zone ?? 'switchyard.test';
    this.ttlSeconds = options.ttlSeconds ?? 2;
    writeFileSync(this.hostsFile, '');
    this.writeConf();
  }

  static async start(options: DnsmasqOptions = {}): Promise<Dnsmasq> {
    const server = new Dnsmasq(await closedDnsPort(), options);
    await server.start();
    return server;
  }

  /** `ip:port` for `Resolver.setServers` and the `resolver.servers` config key. */
  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async start(): Promise<void> {
    if (this.child !== null) return;
    const args = [
      '--keep-in-foreground', // not --no-daemon: that is debug mode (no pid file, SIGUSR1 dumps)
      `--port=${this.port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      '--no-resolv', '--no-hosts', `--addn-hosts=${this.hostsFile}`, `--conf-file=${this.confFile}`,
      `--local-ttl=${this.ttlSeconds}`, `--pid-file=${join(this.dir, 'dnsmasq.pid')}`,
      '--log-facility=-', // to stderr, which we keep: nothing reaches the host's syslog
      // Started as root dnsmasq drops to `nobody`, which cannot read our 0700 temp folder.
      `--user=${userInfo().username}`,
    ];
    const child = spawn(DNSMASQ_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const onData = (chunk: Buffer) => { this.output += chunk.toString(); };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // Sockets are bound before the hosts file is read, so its log line means "answering".
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`dnsmasq exited (${code}):\n${this.output}`));
      child.once('exit', onExit);
      this.waitForLog(this.hostsReads() + 1).then(() => { child.off('exit', onExit); resolve(); }, reject);
    });
    child.once('exit', () => { if (this.child === child) this.child = null; });
  }

  /** Replaces every A/AAAA record: `{ 'app.switchyard.test': ['127.0.0.2', '::1'] }`. Applied by SIGHUP (same port, cache cleared). */
  async setRecords(records: Record<string, readonly string[]>): Promise<void> {
    const lines = Object.entries(records).flatMap(([name, addresses]) => addresses.map((address) => `${address} ${name}`));
    writeFileSync(this.hostsFile, lines.map((line) => `${line}\n`).join(''));
    await this.reload();
  }

  /** Replaces every SRV record. dnsmasq does not re-read them on SIGHUP, so a running server is restarted (same port). */
  async setSrv(records: readonly SrvRecord[]): Promise<void> {
    this.srv = [...records];
    this.writeConf();
    if (this.child === null) return;
    await this.stop();
    await this.start();
  }

  /** SIGHUP: re-reads the hosts file and clears the cache; resolves once the file was read again. */
  async reload(): Promise<void> {
    if (this.child === null) return;
    const reads = this.hostsReads();
    this.child.kill('SIGHUP');
    await this.waitForLog(reads + 1);
  }

  /** SIGSTOP: the socket stays bound, nothing answers — queries time out. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGTERM by default: the port closes, queries are refused at once (ECONNREFUSED). `start()` brings it back. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    await stopChild(child, signal);
  }

  private writeConf(): void {
    const lines = [`local=/${this.zone}/`, ...this.srv.map((r) => `srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`)];
    writeFileSync(this.confFile, lines.map((line) => `${line}\n`).join(''));
  }

  private hostsReads(): number {
    return this.output.split(`read ${this.hostsFile}`).length - 1;
  }

  private async waitForLog(reads: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.hostsReads() < reads) {
      if (Date.now() > deadline) throw new Error(`dnsmasq did not read ${this.hostsFile}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Starts a dnsmasq that is stopped when the test ends. */
export async function dnsmasqFor(t: Test, options: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const server = await Dnsmasq.start(options);
  t.teardown(() => server.stop());
  return server;
}
