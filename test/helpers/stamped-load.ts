// Steady load from keep-alive clients that stamp each request with its send time
// (`x-sent-at`, performance.now() ms of this process). With the upstreams in this process too
// (target-upstreams.ts), a test can tell a request *sent* after an admin change from one sent
// before it and delivered late — "no new request after the 200" without a race in the count.
// autocannon (load.ts) cannot stamp a request at the moment it goes out.
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';

export interface StampedLoadResult {
  /** Requests answered 200. */
  ok: number;
  /** Any other status or a socket error, with what it was. */
  failed: Array<{ path: string; status?: number; error?: string }>;
}

export interface StampedLoad {
  /** Requests answered so far (any outcome). */
  completed(): number;
  /** Stops sending; resolves once every worker's last request is answered and its connection closed. */
  stop(): Promise<StampedLoadResult>;
}

/** `connections` workers, each sending `path` over its own keep-alive connection one request after another. */
export function startStampedLoad(base: string, options: { connections?: number; path?: string } = {}): StampedLoad {
  const path = options.path ?? '/';
  let running = true;
  let completed = 0;
  let ok = 0;
  const failed: StampedLoadResult['failed'] = [];
  const worker = async () => {
    const client = new Client(base, { pipelining: 1, keepAliveTimeout: 60_000 });
    try {
      while (running) {
        try {
          const response = await client.request({ method: 'GET', path, headers: { 'x-sent-at': performance.now().toFixed(3) } });
          await response.body.dump();
          if (response.statusCode === 200) ok++;
          else failed.push({ path, status: response.statusCode });
        } catch (err) {
          failed.push({ path, error: (err as Error).message });
        }
        completed++;
      }
    } finally {
      await client.close();
    }
  };
  const workers = Array.from({ length: options.connections ?? 8 }, () => worker());
  return {
    completed: () => completed,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return { ok, failed };
    },
  };
}
