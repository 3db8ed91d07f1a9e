// One Upgrade (WebSocket) request, sent through the target's undici Pool like any request
// (same connector, connect timeout, headers timeout, retry rule) and, after a 101, a byte
// tunnel between the client socket and the upstream socket undici hands over. It is its own
// undici handler (legacy form: onConnect/onHeaders/onData/onComplete/onError/onUpgrade).
//
// No client byte reaches the upstream before its 101 (SPEC §10): what the client sent after
// its request head (Node's `head`, later data) is held here, and forwarded only once a 101
// naming a protocol the client offered came back. A non-101 answer is relayed as a normal
// response that closes the connection, and the held bytes are dropped — so a second request
// smuggled behind the upgrade never reaches an upstream that declined (or ignored) it.
//
// Whatever happens, both sockets are destroyed, every socket has an error listener, and the
// owner hears `ended` exactly once.
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { LongLived, Target } from '../pool/target.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import { CLIENT_CLOSED } from './exchange.js';
import { Framing, answerHead, headerValues, ownAnswer, switchingHead, upgradeMatches } from './upgrade-head.js';
import { errorCode, faultOf, isStaleConnection, mayRetry, statusForUpstreamError, type Fault } from './upstream-errors.js';
import type { TargetClient } from './upstream-client.js';

export interface TunnelOwner {
  /** How many more targets a handshake that failed to connect may try. */
  readonly retryAttempts: number;
  /** Another target of the pool for a retry (ready, under its connection cap), or undefined. */
  another(pool: UpstreamPool, tried: readonly Target[]): Target | undefined;
  /** The handshake moved from `from` to `tunnel.target` (retry). */
  moved(tunnel: Tunnel, from: Target): void;
  /** Passive health evidence: what the target did with the upgrade (upstream-origin outcomes only). */
  observed(target: Target, ok: boolean): void;
  /** The upstream answered 101: its socket left the connection pool and is the tunnel's now. */
  upgraded(tunnel: Tunnel): void;
  /** Called exactly once, when both sockets are gone. */
  ended(tunnel: Tunnel): void;
}

/** After one side ends, how long the other may take to flush before both are cut. */
const LINGER_MS = 2000;
/** Client bytes held while the upstream has not answered; beyond this the client socket is paused (TCP backpressure). */
const HOLD_BYTES = 64 * 1024;

const enum Phase {
  /** Waiting for the upstream's answer (connecting, or queued in the pool): client bytes are held. */
  Handshake,
  /** Relaying a non-101 answer; the connection closes after it. */
  Answer,
  /** 101 relayed: bytes flow both ways. */
  Open,
  /** Our answer is written, or one side ended and the other is flushing: both are cut soon. */
  Closing,
  Over,
}

export class Tunnel implements Dispatcher.DispatchHandler, LongLived {
  readonly req: IncomingMessage;
  readonly pool: UpstreamPool;
  readonly requestId: string;
  readonly startedAt: number;
  target: Target;
  status = 0;
  retries = 0;
  /** Bytes relayed to the client after the answer's head (the answer's body, or the tunnel's bytes). */
  bytes = 0;
  /** Bytes relayed to the upstream after the 101. */
  bytesUp = 0;
  error: string | undefined;
  /** True once the upstream's 101 was accepted: the socket is out of the connection pool. */
  switched = false;

  private readonly owner: TunnelOwner;
  private readonly client: Duplex;
  private readonly options: Dispatcher.DispatchOptions;
  private readonly upgrade: string;
  private upstream: Duplex | null = null;
  private phase = Phase.Handshake;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private framing = Framing.None;
  private tried: Target[] | undefined;
  private timer: NodeJS.Timeout | null = null;
  /** The pool the current attempt was dispatched on, until its onConnect (which tells a new connection from a reused one). */
  private queuedOn: TargetClient | null = null;
  private reusedConnection = false;
  private onFreshConnection = false;
  private staleRetried = false;

  /**
   * `path`: the origin-form target (admission's); `headers`: the forwarded request headers
   * (hop-by-hop ones dropped); `upgrade`: the client's Upgrade value, which undici sends with
   * `Connection: upgrade`.
   */
  constructor(owner: TunnelOwner, req: IncomingMessage, client: Duplex, head: Buffer, pool: UpstreamPool, target: Target,
    requestId: string, path: string, headers: string[], upgrade: string, startedAt: number) {
    this.owner = owner;
    this.req = req;
    this.client = client;
    this.pool = pool;
    this.target = target;
    this.requestId = requestId;
    this.startedAt = startedAt;
    this.upgrade = upgrade;
    this.options = { path, method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers, upgrade, body: null };
    if (head.length > 0) this.hold(head);
  }

  start(): void {
    const client = this.client;
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('end', () => this.clientEnded());
    client.on('close', () => this.close(this.phase === Phase.Handshake || this.phase === Phase.Answer ? 'client closed the connection' : undefined));
    client.on('drain', () => this.clientDrained());
    const socket = client as Partial<import('node:net').Socket>;
    socket.setTimeout?.(0);
    socket.setNoDelay?.(true);
    if (client.destroyed) return this.close('client closed the connection');
    this.dispatch(false);
  }

  /** One attempt on the current target: on its pool, or (`fresh`) on a connection opened for it (the stale-connection retry). */
  private dispatch(fresh: boolean): void {
    const pool = this.target.client;
    this.queuedOn = pool;
    this.reusedConnection = false;
    this.onFreshConnection = fresh;
    if (fresh) pool.dispatchFresh(this.options, this);
    else pool.dispatch(this.options, this);
  }

  /** Destroys both sockets now (drain timeout, shutdown, either side gone) and reports the tunnel once. */
  close(error?: string): void {
    if (this.phase === Phase.Over) return;
    if (this.status === 0) {
      // Nothing answered yet: the client left (499), or we cut it (drain timeout, shutdown: 502).
      error ??= 'client closed the connection';
      this.status = error.startsWith('client') ? CLIENT_CLOSED : 502;
    }
    const running = this.phase === Phase.Handshake || this.phase === Phase.Answer;
    this.phase = Phase.Over;
    if (error !== undefined && this.error === undefined) this.error = error;
    if (this.timer !== null) clearTimeout(this.timer);
    this.held = [];
    this.client.destroy();
    this.upstream?.destroy();
    // A request still running in undici (handshake, or a non-101 answer being relayed) is
    // aborted: undici destroys its socket and calls onError, which finds the tunnel over.
    if (running && this.abortUpstream !== null) this.abortUpstream(new TunnelClosedError(this.error ?? 'tunnel closed'));
    this.abortUpstream = null;
    this.owner.ended(this);
  }

  // --- undici handler ---

  onConnect(abort: (err?: Error) => void): void {
    if (this.queuedOn !== null) {
      this.reusedConnection = !this.onFreshConnection && !this.queuedOn.takeFreshConnection();
      this.queuedOn = null;
    }
    if (this.phase === Phase.Over) return abort(new TunnelClosedError(this.error ?? 'tunnel closed'));
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // A 101 without `Connection: upgrade` + `Upgrade` is no switch undici can hand over:
    // refuse it here (undici aborts the request, onError answers 502).
    if (statusCode === 101) throw new UpgradeRefusedError('101 without Connection: Upgrade and an Upgrade header');
    if (statusCode < 200) return true; // interim answers (103) are not relayed on this path
    if (this.phase !== Phase.Handshake) return false;
    this.owner.observed(this.target, statusCode < 500);
    this.status = statusCode;
    this.phase = Phase.Answer;
    this.dropHeld(); // never forwarded: the upstream did not switch
    const { head, framing } = answerHead(statusCode, statusText, rawHeaders, this.options.method);
    this.framing = framing;
    this.resumeUpstream = resume;
    this.client.write(head, 'latin1');
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.phase !== Phase.Answer || this.framing === Framing.None) return true;
    this.bytes += chunk.length;
    if (this.framing === Framing.Length) return this.client.write(chunk);
    this.client.cork();
    this.client.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    this.client.write(chunk);
    const more = this.client.write('\r\n', 'latin1');
    this.client.uncork();
    return more;
  }

  onComplete(): void {
    this.abortUpstream = null;
    if (this.phase !== Phase.Answer) return;
    // Trailers of a chunked answer are not relayed on this path (the legacy handler API drops them).
    if (this.framing === Framing.Chunked) this.client.write('0\r\n\r\n', 'latin1');
    this.endClient();
  }

  onError(err: Error): void {
    this.abortUpstream = null;
    if (this.phase === Phase.Over || this.phase === Phase.Closing) return;
    const described = `${errorCode(err)}: ${err.message}`;
    // Head relayed, body cut: the only honest signal left is to cut the client connection too.
    if (this.phase !== Phase.Handshake) return this.close(described);
    // The same attribution as plain requests (upstream-errors.ts): only the upstream's faults
    // are evidence; a request undici refuses is the client's (answered 400 here).
    const fault: Fault = err instanceof UpgradeRefusedError ? 'upstream' : faultOf(err);
    if (fault === 'client') return this.answer(statusForUpstreamError(err), 'bad request', described);
    const method = this.options.method;
    if (fault === 'upstream' && !this.staleRetried && !this.onFreshConnection
      && isStaleConnection({ err, method, bodyStreamed: false, reusedConnection: this.reusedConnection, answered: false })) {
      // The upstream most likely closed this idle keep-alive connection as we wrote: once more, on a new one.
      this.staleRetried = true;
      return this.dispatch(true);
    }
    if (fault === 'upstream') this.owner.observed(this.target, false);
    if (this.retries < this.owner.retryAttempts && mayRetry({ err, method, bodyStreamed: false })) {
      (this.tried ??= []).push(this.target);
      const next = this.owner.another(this.pool, this.tried);
      if (next !== undefined) {
        const from = this.target;
        this.retries++;
        this.target = next;
        this.owner.moved(this, from);
        return this.dispatch(false);
      }
    }
    const status = statusForUpstreamError(err);
    this.answer(status, status === 504 ? 'upstream did not answer in time' : 'upstream unavailable', described);
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.abortUpstream = null;
    socket.on('error', noop); // errors are seen through 'close'; none may crash the process
    if (this.phase !== Phase.Handshake) return void socket.destroy();
    const raw = (rawHeaders ?? []) as Buffer[];
    const answered = headerValues(raw, 'upgrade');
    if (statusCode !== 101 || !upgradeMatches(this.upgrade, answered)) {
      socket.destroy();
      this.owner.observed(this.target, false);
      const said = answered.length === 0 ? 'no protocol' : JSON.stringify(answered.join(', '));
      return this.answer(502, 'upstream unavailable', `upstream switched to ${said} when ${JSON.stringify(this.upgrade)} was requested`);
    }
    this.owner.observed(this.target, true);
    this.status = 101;
    this.phase = Phase.Open;
    this.switched = true;
    this.upstream = socket;
    this.owner.upgraded(this);
    socket.on('data', (chunk: Buffer) => this.toClient(chunk));
    socket.on('end', () => this.upstreamEnded());
    socket.on('close', () => this.close());
    socket.on('drain', () => this.client.resume());
    this.client.write(switchingHead('', raw), 'latin1');
    // Now, and only now, what the client sent after its request head goes upstream.
    for (const chunk of this.held) this.toUpstream(chunk);
    this.held = [];
    this.client.resume();
    socket.resume(); // undici read it in paused mode; bytes it read past the 101 were pushed back
  }

  // --- client side ---

  private fromClient(chunk: Buffer): void {
    switch (this.phase) {
      case Phase.Handshake:
        return this.hold(chunk);
      case Phase.Open:
        return this.toUpstream(chunk);
      default:
        return; // an answer that ends the connection is being relayed: what the client sends now goes nowhere
    }
  }

  private hold(chunk: Buffer): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes > HOLD_BYTES) this.client.pause();
  }

  private dropHeld(): void {
    this.held = [];
    this.heldBytes = 0;
    this.client.resume(); // read and drop, so the client's FIN or reset is seen
  }

  private toUpstream(chunk: Buffer): void {
    this.bytesUp += chunk.length;
    if (!this.upstream!.write(chunk)) this.client.pause();
  }

  private toClient(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (!this.client.write(chunk)) this.upstream?.pause();
  }

  private clientDrained(): void {
    if (this.phase === Phase.Answer) this.resumeUpstream?.();
    else this.upstream?.resume();
  }

  private clientEnded(): void {
    switch (this.phase) {
      case Phase.Handshake:
        return this.close('client closed the connection');
      case Phase.Open:
        return this.halfClosed(this.upstream!);
      default:
        return; // Answer: still relayed, the connection closes after it; Closing: already on the way out
    }
  }

  private upstreamEnded(): void {
    if (this.phase === Phase.Open) this.halfClosed(this.client);
  }

  /** One side ended: end the other (its pending bytes flush), then cut both. */
  private halfClosed(other: Duplex): void {
    this.phase = Phase.Closing;
    other.end(() => this.close());
    this.linger();
  }

  /** The answer is complete: end the client connection once it is written. */
  private endClient(): void {
    this.phase = Phase.Closing;
    this.client.end(() => this.close());
    this.linger();
  }

  /** Nothing was relayed yet: the proxy answers the client itself and closes. */
  private answer(status: number, message: string, error: string): void {
    this.status = status;
    this.error = error;
    this.dropHeld();
    this.client.write(ownAnswer(status, this.requestId, message), 'latin1');
    this.endClient();
  }

  private linger(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(), LINGER_MS);
  }
}

/** The tunnel was closed by us (client gone, drain timeout, shutdown) while undici still ran its request. */
class TunnelClosedError extends Error {
  readonly code = 'TUNNEL_CLOSED';
}

/** The upstream's answer cannot open this tunnel. */
class UpgradeRefusedError extends Error {
  readonly code = 'UPGRADE_REFUSED';
}

function noop(): void {}

/** Milliseconds since `startedAt`, to the microsecond. */
export function elapsedMs(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}
