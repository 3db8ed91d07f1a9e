// Reading a pool's targets and waiting on them (`target drain --wait`, `switchyard roll`): poll
// GET /pools/:pool/targets until a condition holds or a deadline passes. The admin API has no
// push for targets, and a poll a few times a second is cheap next to a drain's seconds.
import { setTimeout as delay } from 'node:timers/promises';
import { UnreachableError, type AdminClient } from './admin-client.js';
import type { TargetView } from './format-targets.js';

export const targetsPath = (pool: string) => `/pools/${encodeURIComponent(pool)}/targets`;
export const targetPath = (pool: string, id: string) => `${targetsPath(pool)}/${encodeURIComponent(id)}`;

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

/**
 * The pool's targets across the fleet (`?fleet=1`: each with `fleet.drainedEverywhere` from every
 * instance's heartbeat); 404 UNKNOWN_POOL as a RefusedError.
 */
export function readTargets(client: AdminClient, pool: string): Promise<TargetView[]> {
  return client.get<TargetView[]>(`${targetsPath(pool)}?fleet=1`);
}

/**
 * Drained on every instance of the fleet (a request still running on another instance would
 * fail when CMD stops the target); `drainedAt` alone where the server gives no fleet view.
 */
export function drainedEverywhere(view: TargetView | null): boolean {
  if (view === null) return false;
  return view.fleet === undefined ? view.drainedAt !== null : view.fleet.drainedEverywhere && view.drainedAt !== null;
}

/** One target of the pool, or null when the pool has no target with that id (any more). */
export async function readTarget(client: AdminClient, pool: string, id: string): Promise<TargetView | null> {
  return (await readTargets(client, pool)).find((target) => target.id === id) ?? null;
}

/** `300ms`, `12s`, `5m`, `1m30s`: a duration as the flags take it. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000 || ms % 1000 !== 0) return `${Number((ms / 1000).toFixed(1))}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return seconds === 0 ? `${minutes}m` : `${minutes}m${seconds}s`;
}
