// Polling the admin API until a condition holds (`target drain --wait`, `roll`, `rollout --wait`):
// one loop with a deadline, a tolerance for a few failed polls, and Ctrl-C.
import { setTimeout as delay } from 'node:timers/promises';
import { UnreachableError } from './admin-client.js';
import { formatMs } from './duration.js';

/** Consecutive failed polls (an admin API restarting, a network blip) tolerated before giving up. */
const MAX_FAILED_POLLS = 5;
export const DEFAULT_POLL_MS = 200;

/** The deadline passed; `last` is what the final poll read (undefined if none answered). */
export class WaitTimeout<T> extends Error {
  readonly last: T | undefined;
  constructor(message: string, last: T | undefined) {
    super(message);
    this.last = last;
  }
}

export interface WaitOptions {
  /** Give up after this long (ms), counted from the call. */
  timeoutMs: number;
  pollMs?: number;
  /** Told about a failed poll that will be retried (the CLI prints it on stderr). */
  onRetry?: (err: Error) => void;
  /** Stops the wait (an AbortError) when it fires: Ctrl-C during a roll. */
  signal?: AbortSignal;
}

/**
 * Reads with `read` until `done` accepts a value, which it returns. Throws WaitTimeout once
 * `timeoutMs` has passed, a RefusedError at once (the server said no: a deleted pool, a bad
 * token), an UnreachableError after MAX_FAILED_POLLS in a row, and an AbortError when
 * `signal` fires.
 */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  let last: T | undefined;
  let failures = 0;
  for (;;) {
    try {
      last = await read();
      failures = 0;
      if (done(last)) return last;
    } catch (err) {
      if (!(err instanceof UnreachableError) || ++failures >= MAX_FAILED_POLLS) throw err;
      options.onRetry?.(err);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeout(`${what}: not within ${formatMs(options.timeoutMs)}`, last);
    await delay(Math.min(pollMs, left), undefined, { signal: options.signal });
  }
}
