// Load with autocannon (keep-alive connections at full speed) for the zero-failure tests.
import autocannon from 'autocannon';

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  rps: number;
  durationMs: number;
}

export interface LoadRun {
  done: Promise<LoadResult>;
  /** Requests answered so far (any status). */
  completed(): number;
  stop(): void;
}

export function startLoad(url: string, options: { seconds?: number; connections?: number; path?: string; amount?: number } = {}): LoadRun {
  let completed = 0;
  const started = Date.now();
  let instance: autocannon.Instance | undefined;
  const done = new Promise<LoadResult>((resolve, reject) => {
    instance = (autocannon as unknown as (options: autocannon.Options, done: (err: unknown, result: autocannon.Result) => void) => autocannon.Instance)({
      url: `${url}${options.path ?? '/'}`,
      connections: options.connections ?? 16,
      pipelining: 1,
      ...(options.amount === undefined ? { duration: options.seconds ?? 5 } : { amount: options.amount }),
      timeout: 10,
    }, (err, result) => {
      if (err) return reject(err);
      resolve({
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        rps: Math.round(result.requests.average),
        durationMs: Date.now() - started,
      });
    });
    instance.on('response', () => void completed++);
  });
  return { done, completed: () => completed, stop: () => instance?.stop() };
}
