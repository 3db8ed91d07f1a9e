// `switchyard start` with `workers: N` (SPEC §15) as a real process tree: a primary and N
// worker processes. Reads the JSON log lines (every line carries `pid`; workers say
// "worker ready" with their slot, access lines carry `worker`), tells which worker served a
// request (by the `x-request-id` it was sent with), and checks processes are gone.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { spawnCli, type CliChild } from './cli.js';
import { waitFor } from './http-client.js';
import { bodyName, oneShot } from './tagged-load.js';

export type LogLine = Record<string, unknown>;

export interface WorkersConfig {
  /** The `workers` value as written in YAML (default 2). */
  workers?: number | string;
  /** Pool name → target URLs; each pool gets `version: <its name>`. */
  pools: Record<string, readonly string[]>;
  /** `routing.initial` (default: the first pool 100). */
  initial?: Record<string, number>;
  /** The `healthCheck` flow mapping (default: fast checks, one success to be healthy). */
  healthCheck?: string;
  /** `log.access` (default true). */
  access?: boolean;
  /** More top-level YAML. */
  extra?: string;
}

/** A config file text: loopback listeners on port 0, the given pools. */
export function workersConfigText(config: WorkersConfig): string {
  const names = Object.keys(config.pools);
  const initial = config.initial ?? { [names[0]!]: 100 };
  const pools = Object.entries(config.pools)
    .map(([name, targets]) => `  ${name}: { version: "${name}", targets: [${targets.map((url) => `"${url}"`).join(', ')}] }`);
  return `workers: ${config.workers ?? 2}
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
healthCheck: ${config.healthCheck ?? '{ intervalMs: 100, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 }'}
routing: { initial: { ${Object.entries(initial).map(([name, weight]) => `${name}: ${weight}`).join(', ')} } }
shutdown: { graceMs: 10000 }
log: { access: ${config.access ?? true} }
pools:
${pools.join('\n')}
${config.extra ?? ''}`;
}

export interface WorkersProcess {
  proc: CliChild;
  /** The config file (rewrite it, then SIGHUP). */
  file: string;
  /** From the primary's "switchyard listening" line. */
  proxy: string;
  admin: string;
  /** Every JSON line printed so far (primary and workers). */
  lines(): LogLine[];
  /** The newest "worker ready" pid of each slot. */
  workers(): Map<number, number>;
  /** Every worker pid that ever said "worker ready". */
  everyWorkerPid(): number[];
  /** The worker slot that logged the access line of `reqId`, if it is out yet. */
  servedBy(reqId: string): number | undefined;
  /** Resolves with the first line (from `from` on) that `match` accepts. */
  waitForLine(what: string, match: (line: LogLine) => boolean, options?: { timeoutMs?: number; from?: number }): Promise<LogLine>;
}

/**
 * Writes `text` to a fresh file and runs `switchyard start -c FILE`; resolves once the primary
 * logged "switchyard listening" (every worker ready). Teardown SIGKILLs the primary and every
 * worker pid seen, and removes the directory.
 */
export async function startWorkers(t: Test, text: string): Promise<WorkersProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-workers-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  const proc = spawnCli(['start', '-c', file]);
  let parsed: LogLine[] = [];
  let consumed = 0;
  const served = new Map<string, number>();
  const lines = (): LogLine[] => {
    const output = proc.output();
    const end = output.lastIndexOf('\n') + 1;
    if (end <= consumed) return parsed;
    const fresh: LogLine[] = [];
    for (const text of output.slice(consumed, end).split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        const line = JSON.parse(text) as LogLine;
        fresh.push(line);
        if (line.msg === 'request' && typeof line.reqId === 'string' && typeof line.worker === 'number') served.set(line.reqId, line.worker);
      } catch {
        // not a log line (or a torn one: callers that care count them with unparsedLines)
      }
    }
    consumed = end;
    parsed = parsed.concat(fresh);
    return parsed;
  };
  const readyLines = () => lines().filter((line) => line.msg === 'worker ready');
  const everyWorkerPid = () => [...new Set(readyLines().map((line) => line.pid as number))];
  t.teardown(() => {
    proc.child.kill('SIGKILL');
    for (const pid of everyWorkerPid()) killQuietly(pid);
    rmSync(dir, { recursive: true, force: true });
  });
  await proc.waitFor(/switchyard listening/, 45_000);
  const listening = lines().find((line) => line.msg === 'switchyard listening')!;
  // A worker tells the primary it is ready before its own line is written: the lines of
  // different processes reach the shared stdout in no set order.
  const count = typeof listening.workers === 'number' ? listening.workers : 1;
  await waitFor(`"worker ready" from ${count} workers`, () => new Set(readyLines().map((line) => line.worker)).size >= count, { timeoutMs: 5000, intervalMs: 5 });
  return {
    proc,
    file,
    proxy: listening.proxy as string,
    admin: listening.admin as string,
    lines,
    workers: () => new Map(readyLines().map((line) => [line.worker as number, line.pid as number])),
    everyWorkerPid,
    servedBy: (reqId) => {
      lines();
      return served.get(reqId);
    },
    waitForLine: (what, match, options = {}) => waitFor(what, () => lines().slice(options.from ?? 0).find(match), { timeoutMs: options.timeoutMs ?? 10_000, intervalMs: 5 }),
  };
}

/** Lines of `output` that look like log lines (`{"level":`) but do not parse: writes torn between processes. */
export function unparsedLines(output: string): string[] {
  return output.split('\n').filter((text) => text.includes('"level":')).filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Whether `pid` has exited: no such process, or a zombie nobody reaped yet (an orphaned
 * worker is reparented to pid 1, which in a container may never reap it).
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    // /proc/PID/stat: "PID (comm) STATE ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // vanished between the two looks
  }
}

/**
 * When `pid` was created (Date.now() ms, to about 10 ms; Linux /proc only, else undefined): its
 * start in clock ticks after boot (CLK_TCK 100) against the uptime read at the same moment.
 */
export function processStartedAt(pid: number): number | undefined {
  try {
    const now = Date.now();
    const uptimeMs = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return now - (uptimeMs - startTicks * 10);
  } catch {
    return undefined;
  }
}

/** Runs `count` fresh-connection GETs `prefix-0…`, `concurrency` at a time; resolves with each answer's body name (or its error), in order. */
export async function freshGets(base: string, path: string, prefix: string, count: number, concurrency = 8): Promise<Array<{ id: string; status?: number; name?: string; error?: string }>> {
  const results: Array<{ id: string; status?: number; name?: string; error?: string }> = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const id = `${prefix}-${next}`;
      const index = next++;
      try {
        const answer = await oneShot(base, path, id);
        results[index] = { id, status: answer.status, name: bodyName(answer.body) };
      } catch (err) {
        results[index] = { id, error: (err as Error).message };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return results;
}

/** Waits until the access line of every id is out; resolves with how many each worker slot served. */
export async function workersServing(proc: WorkersProcess, ids: readonly string[], timeoutMs = 10_000): Promise<Map<number, number>> {
  await waitFor(`access lines of ${ids.length} requests`, () => ids.every((id) => proc.servedBy(id) !== undefined), { timeoutMs });
  const bySlot = new Map<number, number>();
  for (const id of ids) {
    const slot = proc.servedBy(id)!;
    bySlot.set(slot, (bySlot.get(slot) ?? 0) + 1);
  }
  return bySlot;
}

/** Whether a TCP connection to `url`'s port is refused (nothing listens there). */
export function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

export interface StatusWithWorkers {
  pools: Record<string, { inflight: number; readyTargets: number; targets: Array<{ id: string; url: string; ready: boolean }> }>;
  workers?: Array<{ slot: number; pid: number; ready: boolean; seq: number | null }>;
}

export async function getStatus(admin: string): Promise<StatusWithWorkers> {
  const response = await fetch(`${admin}/status`);
  return (await response.json()) as StatusWithWorkers;
}
