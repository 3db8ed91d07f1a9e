// `switchyard roll`'s progress: one line per step per target, readable or (--json) one JSON
// object a line. Pure: the step in, the line out.

/**
 * The steps, in the order a target goes through them: `drain` (PUT state drain sent),
 * `drained` (its in-flight requests finished), `exec` (CMD started), `exec-done` (CMD exited 0),
 * `healthy` (a health check after CMD passed), `ready` (back in rotation). `maint` and `failed`
 * when it stops there. Pool-wide: `plan`, `skip` (a target left as is), `note`, `done`.
 */
export type RollStep = 'plan' | 'note' | 'skip' | 'drain' | 'drained' | 'exec' | 'exec-done' | 'healthy' | 'ready' | 'maint' | 'failed' | 'done';

export interface RollEvent {
  step: RollStep;
  pool: string;
  /** The target's id (host:port); absent for pool-wide steps. */
  target?: string;
  /** ISO 8601. */
  at: string;
  message: string;
  /** Step details (exit code, durations, the batch) for --json readers. */
  [detail: string]: unknown;
}

/** `12:00:01.234 127.0.0.1:3001 drained: 0 in flight after 1.2s`, or the event as one JSON line. */
export function progressLine(event: RollEvent, json: boolean): string {
  if (json) return JSON.stringify(event);
  const at = new Date(event.at);
  const clock = [at.getHours(), at.getMinutes(), at.getSeconds()].map((part) => String(part).padStart(2, '0')).join(':');
  return `${clock}.${String(at.getMilliseconds()).padStart(3, '0')} ${event.target ?? event.pool} ${event.step}: ${event.message}`;
}
