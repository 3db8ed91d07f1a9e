// WebSocket and other `Upgrade` requests (SPEC §4, §5, §10): where the data plane's
// 'upgrade' event lands. Each request is admitted like any other (malformed → 4xx, an
// Upgrade with a body → 400), routed like any other, sent through the chosen target's undici
// Pool (see tunnel.ts), and while it lives it is the target's: in its in-flight count, under
// its connection cap, in its passive health, cut when it is drained or removed. This file
// keeps the books: which tunnels are open on which pool, and one access record per tunnel.
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { LimitsConfig } from '../config/schema.js';
import type { RequestRecord } from '../observe/request-record.js';
import type { Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { admit, writeRefusal } from './admit.js';
import { clientAddress, incomingRequestId, upstreamRequestHeaders } from './headers.js';
import { requestIds } from './request-id.js';
import { Tunnel, elapsedMs, type TunnelOwner } from './tunnel.js';
import { ownAnswer, requestedUpgrade } from './upgrade-head.js';

export interface UpgradeTunnelsOptions {
  /** X-Forwarded-Proto: `https` on the edge TLS listener. Default `http`. */
  proto?: 'http' | 'https';
  /** Same routing as plain HTTP requests. */
  choosePool(req: IncomingMessage): UpstreamPool | undefined;
  /** SPEC §10 limits: admission (head size, Host, body) and `maxConnectionsPerTarget`. */
  limits: LimitsConfig;
  /** How many other targets of the pool to try when a connection cannot be made. Default 0. */
  retryAttempts?(): number;
  /** Passive health evidence: what a target did with an upgrade (the same path plain requests report on). */
  observed?(target: Target, ok: boolean): void;
  /** One access record per tunnel, when it ends. */
  onFinished?(record: RequestRecord): void;
  /** A request header (lower-case) never forwarded: routing.overrideHeader. */
  dropHeader?: string | undefined;
  /** Preview listener: its tunnels are not the pool's long-lived connections (a pool drain neither waits for nor cuts them). */
  preview?: boolean;
}

/** A tunnel's access record: `bytes` went to the client, `bytesUp` to the upstream. */
export type TunnelRecord = RequestRecord & { bytesUp: number };

const RETRY_AFTER = ['Retry-After', '1'];
/** How long a refused client's socket may take to take our answer before it is destroyed. */
const LINGER_MS = 2000;

export class UpgradeTunnels implements TunnelOwner {
  private readonly options: UpgradeTunnelsOptions;
  private readonly byPool = new Map<UpstreamPool, Set<Tunnel>>();
  private readonly preview: boolean;

  constructor(options: UpgradeTunnelsOptions) {
    this.options = options;
    this.preview = options.preview === true;
  }

  /** For `server.on('upgrade')`. Never throws; the socket is always answered or tunnelled. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const startedAt = performance.now();
    socket.on('error', noop); // errors are seen through 'close'; none may crash the process
    const requestId = incomingRequestId(req.rawHeaders) ?? requestIds.next();
    const verdict = admit(req, this.options.limits, true);
    if (!verdict.ok) {
      // The client's mistake: answered here, nothing forwarded, no target blamed.
      socket.on('data', noop); // what follows the head (a body, a smuggled request) is read and dropped
      writeRefusal(socket, verdict, requestId, req.method);
      return this.record(req, requestId, startedAt, verdict.status, null, verdict.reason);
    }
    const pool = this.options.choosePool(req);
    if (pool === undefined) return this.unavailable(req, socket, requestId, startedAt, 'no pool has traffic weight', null, 'no ready target');
    const target = this.another(pool, []);
    if (target === undefined) {
      const capped = pool.readyTargets > 0;
      return this.unavailable(req, socket, requestId, startedAt,
        capped ? `every ready target of pool ${pool.name} is at its connection cap` : `no ready target in pool ${pool.name}`,
        pool, capped ? 'connection cap' : 'no ready target');
    }
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      requestId, clientIp: clientAddress(req.socket.remoteAddress), proto: this.options.proto ?? 'http', host: verdict.host,
      hostFromTarget: verdict.fromTarget, drop: this.options.dropHeader,
    });
    const tunnel = new Tunnel(this, req, socket, head, pool, target, requestId, verdict.path, headers, requestedUpgrade(req.rawHeaders), startedAt);
    let tunnels = this.byPool.get(pool);
    if (tunnels === undefined) this.byPool.set(pool, (tunnels = new Set()));
    tunnels.add(tunnel);
    pool.beginTunnel(target, tunnel, this.preview);
    tunnel.start();
  }

  /** Destroys every tunnel of the pool (drain timeout); returns how many there were. */
  closePool(pool: UpstreamPool): number {
    const tunnels = this.byPool.get(pool);
    if (tunnels === undefined) return 0;
    const count = tunnels.size;
    for (const tunnel of [...tunnels]) tunnel.close('closed by drain timeout');
    return count;
  }

  /** Destroys every tunnel (shutdown); returns how many there were. */
  closeAll(): number {
    let count = 0;
    for (const tunnels of [...this.byPool.values()]) {
      count += tunnels.size;
      for (const tunnel of [...tunnels]) tunnel.close('closed by shutdown');
    }
    return count;
  }

  /** Open tunnels (handshakes in progress included), of one pool or of all. */
  count(pool?: UpstreamPool): number {
    if (pool !== undefined) return this.byPool.get(pool)?.size ?? 0;
    let count = 0;
    for (const tunnels of this.byPool.values()) count += tunnels.size;
    return count;
  }

  // --- TunnelOwner ---

  get retryAttempts(): number {
    return this.options.retryAttempts?.() ?? 0;
  }

  /**
   * A ready target of the pool, not in `tried`, whose open tunnels and pool connections leave
   * room under `limits.maxConnectionsPerTarget` (a 101 takes its socket out of undici's count,
   * so the cap is checked here). Least in-flight first, as for plain requests.
   */
  another(pool: UpstreamPool, tried: readonly Target[]): Target | undefined {
    const cap = this.options.limits.maxConnectionsPerTarget;
    let excluded: Target[] | undefined = tried.length === 0 ? undefined : [...tried];
    for (;;) {
      const target = pool.pick(excluded);
      if (target === undefined || target.detached + target.client.connected < cap) return target;
      (excluded ??= []).push(target); // at its cap: another one, or none (each turn excludes one more)
    }
  }

  moved(tunnel: Tunnel, from: Target): void {
    tunnel.pool.moveTunnel(from, tunnel.target, tunnel);
  }

  observed(target: Target, ok: boolean): void {
    this.options.observed?.(target, ok);
  }

  upgraded(tunnel: Tunnel): void {
    tunnel.target.detached++;
  }

  ended(tunnel: Tunnel): void {
    const tunnels = this.byPool.get(tunnel.pool);
    tunnels?.delete(tunnel);
    if (tunnels?.size === 0) this.byPool.delete(tunnel.pool);
    if (tunnel.switched) tunnel.target.detached--;
    tunnel.pool.endTunnel(tunnel.target, tunnel, this.preview);
    const record: TunnelRecord = {
      reqId: tunnel.requestId, method: tunnel.req.method ?? '', url: tunnel.req.url ?? '', status: tunnel.status,
      ms: elapsedMs(tunnel.startedAt), pool: tunnel.pool.name, version: tunnel.pool.version, target: tunnel.target.url,
      retries: tunnel.retries, bytes: tunnel.bytes, bytesUp: tunnel.bytesUp,
    };
    if (tunnel.error !== undefined) record.error = tunnel.error;
    this.options.onFinished?.(record);
  }

  // --- refusals ---

  /** 503: no pool, no ready target, or every ready one at its connection cap. Nothing reached an upstream; no target is blamed. */
  private unavailable(req: IncomingMessage, socket: Duplex, requestId: string, startedAt: number, message: string,
    pool: UpstreamPool | null, error: string): void {
    answerAndClose(socket, ownAnswer(503, requestId, message, RETRY_AFTER));
    this.record(req, requestId, startedAt, 503, pool, error);
  }

  /** The access record of an Upgrade request the proxy answered itself. */
  private record(req: IncomingMessage, requestId: string, startedAt: number, status: number, pool: UpstreamPool | null, error: string): void {
    this.options.onFinished?.({
      reqId: requestId, method: req.method ?? '', url: req.url ?? '', status, ms: elapsedMs(startedAt),
      pool: pool?.name ?? null, version: pool?.version ?? null, target: null, retries: 0, bytes: 0, error,
    });
  }
}

/** Writes a whole answer on a raw socket and destroys it once written (or after a short linger); what the client sends meanwhile is read and dropped. */
function answerAndClose(socket: Duplex, text: string): void {
  const done = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(done, LINGER_MS);
  socket.once('close', done);
  socket.on('data', noop); // read and drop: never forwarded, and a reset on close is less likely with nothing unread
  if (socket.writable) socket.end(text, 'latin1', done);
  else done();
}

function noop(): void {}
