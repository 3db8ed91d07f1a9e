// Steady load whose every request can be traced: each carries `x-request-id` (so the access
// line of the worker that served it names it) and `x-sent-at` (performance.now() ms of this
// process, as in stamped-load.ts), and the outcome of each is kept with its send and answer
// times. Keep-alive lanes hold one connection each (numbered, so a test can tell the first
// connection of a lane from the one it opened after losing it); fresh lanes open a new
// connection per request (with reusePort each one is a new pick of worker by the kernel).
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';

/**
 * No answer within this is a failure, not a hang: with cluster round-robin (Node 20) a
 * connection the primary handed to a worker that then died stays open with no one serving it.
 */
const ANSWER_TIMEOUT_MS = 5000;

/**
 * One GET on a connection of its own (`Connection: close`, so every request is a new accept),
 * tagged `x-request-id: id` and stamped `x-sent-at`; rejects on a socket error or no answer in time.
 */
export async function oneShot(base: string, path: string, id: string, sentAt = performance.now()): Promise<{ status: number; body: string }> {
  const client = new Client(base, { pipelining: 1, headersTimeout: ANSWER_TIMEOUT_MS, bodyTimeout: ANSWER_TIMEOUT_MS });
  try {
    const response = await client.request({ method: 'GET', path, reset: true, headers: { 'x-request-id': id, 'x-sent-at': sentAt.toFixed(3) } });
    return { status: response.statusCode, body: await response.body.text() };
  } finally {
    await client.destroy();
  }
}

export interface TaggedRequest {
  id: string;
  kind: 'keepAlive' | 'fresh';
  lane: number;
  /** Keep-alive: the lane's connection it was sent for (0 = the first; +1 after each disconnect). */
  connection: number;
  startedAt: number;
  endedAt: number;
  status?: number;
  /** The upstream's `name` from the JSON body. */
  name?: string;
  error?: string;
}

export interface TaggedLoad {
  /** Every finished request so far. */
  records: TaggedRequest[];
  /** The connection number a keep-alive lane is on now. */
  connectionOf(lane: number): number;
  /** Stops sending; resolves with every record once each lane's last request is answered. */
  stop(): Promise<TaggedRequest[]>;
}

export function startTaggedLoad(base: string, options: { keepAlive?: number; fresh?: number; path?: string; prefix?: string } = {}): TaggedLoad {
  const path = options.path ?? '/';
  const prefix = options.prefix ?? 'load';
  const records: TaggedRequest[] = [];
  const connections: number[] = [];
  let running = true;

  const finish = (record: Omit<TaggedRequest, 'endedAt' | 'name'>, body?: string) => {
    records.push({ ...record, endedAt: performance.now(), ...(body === undefined ? {} : { name: bodyName(body) }) });
  };

  const keepAliveLane = async (lane: number) => {
    connections[lane] = 0;
    const client = new Client(base, { pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: ANSWER_TIMEOUT_MS, bodyTimeout: ANSWER_TIMEOUT_MS });
    client.on('disconnect', () => void connections[lane]!++);
    try {
      for (let n = 0; running; n++) {
        const connection = connections[lane]!;
        const id = `${prefix}-ka${lane}-c${connection}-${n}`;
        const startedAt = performance.now();
        const tag = { id, kind: 'keepAlive' as const, lane, connection, startedAt };
        try {
          const response = await client.request({ method: 'GET', path, headers: { 'x-request-id': id, 'x-sent-at': startedAt.toFixed(3) } });
          finish({ ...tag, status: response.statusCode }, await response.body.text());
        } catch (err) {
          finish({ ...tag, error: (err as Error).message });
        }
      }
    } finally {
      await client.close();
    }
  };

  const freshLane = async (lane: number) => {
    for (let n = 0; running; n++) {
      const id = `${prefix}-fr${lane}-${n}`;
      const startedAt = performance.now();
      const tag = { id, kind: 'fresh' as const, lane, connection: n, startedAt };
      try {
        const answer = await oneShot(base, path, id, startedAt);
        finish({ ...tag, status: answer.status }, answer.body);
      } catch (err) {
        finish({ ...tag, error: (err as Error).message });
      }
    }
  };
  const lanes = [
    ...Array.from({ length: options.keepAlive ?? 16 }, (_, lane) => keepAliveLane(lane)),
    ...Array.from({ length: options.fresh ?? 0 }, (_, lane) => freshLane(lane)),
  ];
  return {
    records,
    connectionOf: (lane) => connections[lane] ?? 0,
    stop: async () => {
      running = false;
      await Promise.all(lanes);
      return records;
    },
  };
}

/** Requests that did not get a 200 (a status or a socket error). */
export function failures(records: readonly TaggedRequest[]): TaggedRequest[] {
  return records.filter((record) => record.status !== 200);
}

/** The `name` of a JSON answer body (the test upstreams name themselves). */
export function bodyName(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { name?: string }).name;
  } catch {
    return undefined;
  }
}
