// gRPC load for the zero-failed-RPC tests: `channels` grpc-js clients, each on its own HTTP/2
// connection, each looping unary Echo calls one after another. Every call is recorded with
// when it was sent and when it ended (performance.now() ms of this process), its status and
// the server that answered, so a test can count failures exactly and tell a call *sent* after
// an event (a flip's 200, a kill) from one sent before it.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Test } from 'tap';
import { callEcho, echoClient, type EchoClient, type EchoRequest } from '../helpers/grpc-echo.js';

export interface RpcOutcome {
  channel: number;
  /** performance.now() ms just before the call was made, and when its status arrived. */
  sentAt: number;
  endedAt: number;
  code: number;
  details: string;
  /** The `server` of the reply; null when the call failed. */
  server: string | null;
}

export interface GrpcLoad {
  /** Every call ended so far, in the order they ended. */
  readonly outcomes: readonly RpcOutcome[];
  /** Calls made and not yet ended. */
  inflight(): number;
  /** Resolves once every channel has ended at least `calls` calls (rejects after `timeoutMs`). */
  warmed(calls?: number, timeoutMs?: number): Promise<void>;
  /** Stops making calls; resolves with every outcome once each channel's last call has ended. */
  stop(): Promise<RpcOutcome[]>;
}

/** The failed calls of `outcomes` (any status but OK). */
export function failedOf(outcomes: readonly RpcOutcome[]): RpcOutcome[] {
  return outcomes.filter((outcome) => outcome.code !== grpc.status.OK);
}

/** One line per failed call, for t.comment. */
export function describeFailures(outcomes: readonly RpcOutcome[], since = 0): string {
  return failedOf(outcomes).map((o) => `channel ${o.channel} sent +${(o.sentAt - since).toFixed(1)} ms ended +${(o.endedAt - since).toFixed(1)} ms: `
    + `${grpc.status[o.code]} (${o.code}) ${o.details}`).join('\n');
}

/**
 * Starts `channels` (default 8) looping channels to `address`. Each is its own grpc-js client
 * with a local subchannel pool: without it grpc-js shares one connection between clients of
 * the same target, and the test would have one HTTP/2 connection, not `channels`. Calls carry
 * `request` and a 10 s deadline (a stuck call fails the test instead of hanging it).
 * Clients are closed at `t`'s teardown.
 */
export function startGrpcLoad(t: Test, address: string, options: { channels?: number; request?: EchoRequest } = {}): GrpcLoad {
  const { channels = 8, request = { message: 'load' } } = options;
  // The service's generated client class, taken from a client of the shared helper.
  const Echo = echoClient(t, address).constructor as grpc.ServiceClientConstructor;
  const target = address.replace(/^https?:\/\//, '');
  const outcomes: RpcOutcome[] = [];
  const perChannel = new Array<number>(channels).fill(0);
  let running = true;
  let inflight = 0;
  const loop = async (channel: number) => {
    const client = new Echo(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as EchoClient;
    t.teardown(() => client.close());
    while (running) {
      const sentAt = performance.now();
      inflight++;
      const { reply, status } = await callEcho(client, request, { deadlineMs: 10_000 });
      inflight--;
      outcomes.push({ channel, sentAt, endedAt: performance.now(), code: status.code, details: status.details, server: reply?.server ?? null });
      perChannel[channel]!++;
    }
  };
  const loops = Array.from({ length: channels }, (_, channel) => loop(channel));
  return {
    outcomes,
    inflight: () => inflight,
    warmed: async (calls = 1, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (perChannel.some((count) => count < calls)) {
        if (Date.now() > deadline) throw new Error(`gRPC load not warmed: calls per channel ${perChannel.join(',')}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}
