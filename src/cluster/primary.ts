// The primary's side of `workers: N` (SPEC §15): forks the data-plane workers (node:cluster),
// hands each its snapshot, pushes every state change to all of them with a sequence number,
// and knows when every live worker has applied one (AckBarrier) — what a flip's 200 waits for.
// It gathers what the workers report (load, rollout meter counts, rates, passive evidence),
// answers scrapes with their request metrics, replaces a worker that dies, and stops them all.
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { createServer } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { RATE_SLOTS, type PoolRateSeries } from '../observe/pool-rates.js';
import { add, type Counts } from '../rollout/latency-histogram.js';
import { AckBarrier } from './ack-barrier.js';
import type { DiscoveredSet, MetricsJson, Outcome, PoolLoad, PrimaryMessage, Snapshot, StateMessage, WorkerMessage } from './messages.js';

/** A push not acked by every live worker within this long answers 503 NOT_PROPAGATED. */
export const PROPAGATION_MS = 2000;
/** A worker's scrape answer later than this is left out of /metrics (and logged). */
const SCRAPE_MS = 500;
/** A worker that has not bound its listeners this long after its fork is a failed start. */
const READY_MS = 30_000;
/** After the shutdown grace, how long workers get to exit before they are killed. */
const EXIT_SLACK_MS = 5000;
/** More deaths than this within RESPAWN_WINDOW_MS and the next replacement waits RESPAWN_BACKOFF_MS. */
const RESPAWN_BURST = 3;
const RESPAWN_WINDOW_MS = 10_000;
const RESPAWN_BACKOFF_MS = 1000;
/** A slot whose replacements keep dying before they listen (a bad file, a crash at start) backs off up to this. */
const RESPAWN_MAX_MS = 30_000;
/**
 * A worker silent this long (it reports every 50 ms) has a blocked event loop: it is killed and
 * replaced, since with SO_REUSEPORT the kernel keeps handing it new connections that nobody answers.
 */
const WATCHDOG_MS = 10_000;

/** SO_REUSEPORT where the runtime has it (Node ≥ 22.12, 23.1+): the kernel spreads connections and the primary stays off the accept path. */
export function hasReusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** What the primary's Switchyard gives the cluster: its state for snapshots, and where reports go. */
export interface ClusterSource {
  /** The running config, routing, targets document and flags (ports as configured). */
  state(): Pick<Snapshot, 'config' | 'routing' | 'targets' | 'flags' | 'pems'>;
  /** A worker's load changed (ack or report) or a worker left: the sums may have changed. */
  loadChanged(): void;
  /** Passive evidence from one worker, for the one ejector. */
  outcomes(outcomes: readonly Outcome[]): void;
}

export interface WorkerView {
  slot: number;
  /** Null while the slot waits to be refilled (back-off after repeated deaths). */
  pid: number | null;
  ready: boolean;
  /** The newest push it applied (the primary's sequence number). */
  seq: number | null;
}

interface Member {
  slot: number;
  worker: ClusterWorker;
  /** Its snapshot is sent: every later push goes to it too (it acks them before `ready`). */
  synced: boolean;
  ready: boolean;
  seq: number | null;
  load: Record<string, PoolLoad>;
  meter: Record<string, Counts>;
  rates: Record<string, PoolRateSeries>;
  /** Its last scrape answer: what it had counted, kept if it dies (counters must not go back). */
  metrics: MetricsJson | null;
  exited: boolean;
  /** When it was last heard from (performance.now()): the watchdog's clock. */
  heardAt: number;
}

export interface ClusterOptions {
  count: number;
  source: ClusterSource;
  logger: Logger;
  /** Node ≥ 22.12 by default; tests may force node:cluster's shared handle. */
  reusePort?: boolean;
}

export class WorkerCluster {
  readonly count: number;
  readonly reusePort: boolean;
  private readonly source: ClusterSource;
  private readonly logger: Logger;
  private readonly barrier = new AckBarrier();
  private readonly members = new Map<number, Member>();
  /** Totals of workers that died: their meter counts and request counters stay in the sums. */
  private readonly retired: { meter: Record<string, Counts>; metrics: MetricsJson[] } = { meter: {}, metrics: [] };
  private readonly discovered = new Map<string, DiscoveredSet>();
  private seq = 0;
  private ports: { listen: number; preview?: number; tls?: number } | null = null;
  private stopping = false;
  private deaths: number[] = [];
  /** Set once every first worker listens: from then on a worker that dies, at any point, is replaced. */
  private started = false;
  /** Slots waiting out a back-off before their next fork. */
  private readonly respawning = new Set<number>();
  /** Per slot, replacements in a row that died before they listened. */
  private readonly failedStarts = new Map<number, number>();
  private watchdog: NodeJS.Timeout | null = null;
  private scrapes = 0;
  /** Pushes not yet applied by every live worker: seq → when sent (performance.now()). */
  private readonly sentAt = new Map<number, number>();
  /** Called with each push's time from send to the last live worker's ack, in seconds. */
  onPropagated: ((seconds: number) => void) | null = null;
  private readonly scrapeWaits = new Map<number, (member: Member, metrics: MetricsJson) => void>();
  urls: { proxy: string; preview: string | null; tls: string | null } | null = null;

  constructor(options: ClusterOptions) {
    this.count = options.count;
    this.source = options.source;
    this.logger = options.logger;
    this.reusePort = options.reusePort ?? hasReusePort();
  }

  /**
   * Binds each configured port once, exclusively, to find a taken one (EADDRINUSE, as a single
   * process reports it — with SO_REUSEPORT another process's listener would otherwise be
   * joined silently) and to fix port 0 to one number every worker binds; then forks the
   * workers and resolves once every one listens.
   */
  async start(): Promise<void> {
    const { config } = this.source.state();
    this.ports = {
      listen: await probePort(config.listen.host, config.listen.port),
      ...(config.preview === undefined ? {} : { preview: await probePort(config.preview.host, config.preview.port) }),
      ...(config.tls === undefined ? {} : { tls: await probePort(config.tls.host, config.tls.port) }),
    };
    const self = fileURLToPath(import.meta.url);
    cluster.setupPrimary({ exec: self.replace(/primary(\.[cm]?[jt]s)$/, `worker-main${extname(self)}`), serialization: 'advanced' });
    const started = [];
    for (let slot = 1; slot <= this.count; slot++) started.push(this.fork(slot));
    await Promise.all(started);
    this.started = true;
    this.watchdog = setInterval(() => this.checkSilence(), 1000);
    this.watchdog.unref();
  }

  /** Workers listening now: with none, the instance serves nothing (`/readyz` says so). */
  get readyCount(): number {
    let count = 0;
    for (const member of this.members.values()) if (member.ready) count++;
    return count;
  }

  /** Sends a state change to every worker; returns its sequence number (what `propagated` waits for). */
  push(message: DistributiveOmit<StateMessage, 'seq'>): number {
    const seq = ++this.seq;
    if (message.type === 'discovered') this.discovered.set(message.pool, message.set);
    const full = { ...message, seq } as StateMessage;
    this.sentAt.set(seq, performance.now());
    for (const member of this.members.values()) if (member.synced) send(member.worker, full);
    this.settle();
    return seq;
  }

  /** Resolves once every live worker applied every push so far; rejects with the slots missing after PROPAGATION_MS. */
  async propagated(): Promise<{ ms: number }> {
    const result = await this.barrier.waitFor(this.seq, PROPAGATION_MS);
    if (result.ok) return { ms: result.ms };
    throw new NotPropagatedError(this.seq, result.missing.map(Number));
  }

  /** Load per live worker, for the primary's sums. */
  loads(): Array<Record<string, PoolLoad>> {
    return [...this.members.values()].filter((member) => member.ready).map((member) => member.load);
  }

  /** Rollout meter counts since start, all workers (the dead ones' last report included). */
  meterSnapshot(): Record<string, Counts> {
    const out = copyCounts(this.retired.meter);
    for (const member of this.members.values()) addCounts(out, member.meter);
    return out;
  }

  /** Per-second requests and errors, summed over the live workers (the dashboard's GET /stats). */
  rates(pools: readonly string[]): Record<string, PoolRateSeries> {
    const out: Record<string, PoolRateSeries> = {};
    for (const pool of pools) out[pool] = { rps: new Array<number>(RATE_SLOTS).fill(0), errors: new Array<number>(RATE_SLOTS).fill(0) };
    for (const member of this.members.values()) {
      for (const [pool, series] of Object.entries(member.rates)) {
        const sum = out[pool];
        if (sum === undefined) continue;
        series.rps.forEach((value, i) => void (sum.rps[i]! += value));
        series.errors.forEach((value, i) => void (sum.errors[i]! += value));
      }
    }
    return out;
  }

  /** Every live worker's request metrics (those that answer within SCRAPE_MS), plus the dead ones' last. */
  async scrape(): Promise<MetricsJson[]> {
    const live = [...this.members.values()].filter((member) => member.ready);
    const answers = await Promise.all(live.map((member) => new Promise<MetricsJson | null>((resolve) => {
      const id = ++this.scrapes;
      const timer = setTimeout(() => {
        this.scrapeWaits.delete(id);
        this.logger.warn({ kind: 'workers', worker: member.slot }, `worker did not answer the scrape within ${SCRAPE_MS} ms: its previous answer is used`);
        // A worker that died meanwhile is in the retired totals already: counted once.
        resolve(member.exited ? null : member.metrics);
      }, SCRAPE_MS);
      this.scrapeWaits.set(id, (_member, metrics) => {
        clearTimeout(timer);
        resolve(metrics);
      });
      send(member.worker, { type: 'stats?', id });
    })));
    return [...this.retired.metrics, ...answers.filter((metrics): metrics is MetricsJson => metrics !== null)];
  }

  workers(): WorkerView[] {
    const views: WorkerView[] = [...this.members.values()].map((member) => ({ slot: member.slot, pid: member.worker.process.pid ?? null, ready: member.ready, seq: member.seq }));
    for (const slot of this.respawning) views.push({ slot, pid: null, ready: false, seq: null });
    return views.sort((a, b) => a.slot - b.slot);
  }

  /** SIGTERM's half for the workers: each drains for up to `graceMs` and exits; resolves once all did (or were killed). */
  async close(graceMs: number): Promise<void> {
    this.stopping = true;
    this.barrier.close();
    if (this.watchdog !== null) clearInterval(this.watchdog);
    const exits = [...this.members.values()].map((member) => new Promise<void>((resolve) => {
      if (member.exited) return resolve();
      const kill = setTimeout(() => member.worker.process.kill('SIGKILL'), graceMs + EXIT_SLACK_MS);
      member.worker.process.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      send(member.worker, { type: 'shutdown', graceMs });
    }));
    await Promise.all(exits);
  }

  private fork(slot: number): Promise<void> {
    const worker = cluster.fork({ SWITCHYARD_WORKER: String(slot) });
    const member: Member = { slot, worker, synced: false, ready: false, seq: null, load: {}, meter: {}, rates: {}, metrics: null, exited: false, heardAt: performance.now() };
    this.members.set(slot, member);
    const id = String(slot);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.process.kill('SIGKILL');
        reject(new Error(`worker ${slot} did not start listening within ${READY_MS} ms`));
      }, READY_MS);
      worker.on('message', (message: WorkerMessage) => {
        member.heardAt = performance.now();
        switch (message.type) {
          case 'hello':
            member.synced = true;
            return send(worker, this.snapshot(slot));
          case 'ready':
            clearTimeout(timer);
            member.ready = true;
            member.seq = message.seq;
            this.barrier.workerJoined(id);
            this.barrier.acked(id, message.seq);
            this.urls ??= { proxy: message.proxy, preview: message.preview, tls: message.tls };
            this.settle();
            this.failedStarts.delete(slot);
            return resolve();
          case 'ack':
            member.seq = message.seq;
            member.load = message.load;
            this.barrier.acked(id, message.seq);
            this.settle();
            return this.source.loadChanged();
          case 'report':
            member.load = message.load;
            member.meter = message.meter;
            member.rates = message.rates;
            if (message.outcomes.length > 0) this.source.outcomes(message.outcomes);
            return this.source.loadChanged();
          case 'stats': {
            member.metrics = message.metrics;
            const wait = this.scrapeWaits.get(message.id);
            this.scrapeWaits.delete(message.id);
            return wait?.(member, message.metrics);
          }
        }
      });
      worker.process.once('exit', (code, signal) => {
        clearTimeout(timer);
        member.exited = true;
        this.barrier.workerLeft(id);
        if (this.members.get(slot) === member) this.members.delete(slot);
        this.settle();
        addCounts(this.retired.meter, member.meter);
        if (member.metrics !== null) this.retired.metrics.push(counters(member.metrics));
        this.source.loadChanged();
        if (!member.ready) reject(new Error(`worker ${slot} exited before it listened (code ${code}, signal ${signal})`));
        // Before the first start completes, start() fails and the caller stops everything.
        if (this.stopping || !this.started) return;
        this.logger.warn({ kind: 'workers', worker: slot, workerPid: worker.process.pid, code, signal, listening: member.ready }, 'worker exited');
        if (!member.ready) this.failedStarts.set(slot, (this.failedStarts.get(slot) ?? 0) + 1);
        this.replace(slot);
      });
    });
  }

  /**
   * A worker died: a new one takes its slot at once — a second later after a burst of deaths,
   * and with doubling waits (up to RESPAWN_MAX_MS) while replacements die before they listen.
   */
  private replace(slot: number): void {
    const now = Date.now();
    this.deaths = [...this.deaths.filter((at) => now - at < RESPAWN_WINDOW_MS), now];
    const failed = this.failedStarts.get(slot) ?? 0;
    const delay = failed > 0 ? startBackoffMs(failed) : this.deaths.length > RESPAWN_BURST ? RESPAWN_BACKOFF_MS : 0;
    this.respawning.add(slot);
    const timer = setTimeout(() => {
      this.respawning.delete(slot);
      if (this.stopping) return;
      // Its exit, if it fails, comes back here.
      this.fork(slot).catch((error: unknown) => this.logger.error({ kind: 'workers', worker: slot, error: (error as Error).message,
        retryInMs: startBackoffMs(this.failedStarts.get(slot) ?? 1) }, 'replacement worker failed to start; retrying'));
    }, delay);
    timer.unref();
  }

  /** The watchdog: a listening worker silent for WATCHDOG_MS is killed (its exit replaces it). */
  private checkSilence(): void {
    const now = performance.now();
    for (const member of this.members.values()) {
      if (!member.ready || member.exited || now - member.heardAt < WATCHDOG_MS) continue;
      this.logger.error({ kind: 'workers', worker: member.slot, workerPid: member.worker.process.pid, silentMs: Math.round(now - member.heardAt) },
        'worker silent (event loop blocked or stopped): killed, to be replaced');
      member.heardAt = now; // one kill
      member.worker.process.kill('SIGKILL');
    }
  }

  /** Pushes every live worker has now applied: their propagation time is known. */
  private settle(): void {
    let applied = Infinity;
    for (const member of this.members.values()) if (member.ready) applied = Math.min(applied, member.seq ?? 0);
    if (applied === Infinity) return this.sentAt.clear(); // no worker yet: a snapshot will carry it
    const now = performance.now();
    for (const [seq, sentAt] of this.sentAt) {
      if (seq > applied) break; // in order: the rest are newer
      this.sentAt.delete(seq);
      this.onPropagated?.((now - sentAt) / 1000);
    }
  }

  private snapshot(slot: number): Snapshot {
    const state = this.source.state();
    return { type: 'snapshot', seq: this.seq, slot, config: this.withPorts(state.config), routing: state.routing, targets: state.targets, flags: state.flags, pems: state.pems,
      discovered: Object.fromEntries(this.discovered), reusePort: this.reusePort };
  }

  /**
   * `config` with the ports start() resolved (port 0 → the number every worker binds): what a
   * snapshot carries, and a reload's push, since workers keep the ports they bound (restart-only keys).
   */
  withPorts(config: Config): Config {
    const ports = this.ports;
    if (ports === null) return config;
    return {
      ...config,
      listen: { ...config.listen, port: ports.listen },
      ...(config.preview === undefined || ports.preview === undefined ? {} : { preview: { ...config.preview, port: ports.preview } }),
      ...(config.tls === undefined || ports.tls === undefined ? {} : { tls: { ...config.tls, port: ports.tls } }),
    };
  }
}

/** The wait before the next fork of a slot whose last `failed` replacements died before they listened: doubling, capped. */
function startBackoffMs(failed: number): number {
  return Math.min(RESPAWN_MAX_MS, RESPAWN_BACKOFF_MS * 2 ** (failed - 1));
}

/** 503 NOT_PROPAGATED: the change is committed, but not every worker applied it in time. */
export class NotPropagatedError extends Error {
  constructor(readonly seq: number, readonly missing: number[]) {
    super(`not every worker applied the change within ${PROPAGATION_MS} ms (workers ${missing.join(', ')}); it is committed and will apply, or those workers are replaced`);
    this.name = 'NotPropagatedError';
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function send(worker: ClusterWorker, message: PrimaryMessage): void {
  // A worker that just died: its exit handler takes care of it.
  if (worker.isConnected()) worker.send(message, undefined, () => undefined);
}

/** Binds host:port exclusively and lets go: the port number (port 0 → a free one), or EADDRINUSE. */
function probePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/** Only what a dead worker counted (counters, histograms): its gauges died with it. */
function counters(metrics: MetricsJson): MetricsJson {
  return metrics.filter((metric) => String(metric.type) === 'counter' || String(metric.type) === 'histogram');
}

function copyCounts(from: Record<string, Counts>): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  addCounts(out, from);
  return out;
}

function addCounts(into: Record<string, Counts>, from: Record<string, Counts>): void {
  for (const [pool, counts] of Object.entries(from)) {
    const before = into[pool];
    into[pool] = before === undefined ? { requests: counts.requests, errors: counts.errors, buckets: [...counts.buckets] } : add(before, counts);
  }
}
