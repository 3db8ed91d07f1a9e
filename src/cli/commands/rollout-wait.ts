// `switchyard rollout POOL --wait` (and `rollout status --wait`): follows a rollout until it
// ends, printing each verdict and step as it happens. Exit 0 when it completed or was
// promoted, 1 when it was aborted or rolled back (the reason on stderr).
import { setTimeout as delay } from 'node:timers/promises';
import type { AdminClient } from '../admin-client.js';
import { EXIT, type CliIo } from '../io.js';
import { waitUntil } from '../poll.js';

type RolloutBody = { rollout: Record<string, unknown> | null };

interface Seen {
  step: number;
  verdicts: number;
  skipped: number;
}

/** Poll a few times per step: often enough to print verdicts as they come, at most once a second. */
export function pollMs(intervalMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(intervalMs / 3)));
}

/** The exit code a finished (or running) rollout stands for: aborted or rolled back is a failure. */
export function rolloutExitCode(rollout: Record<string, unknown> | null): number {
  return rollout !== null && rollout.phase === 'aborted' ? EXIT.FAILED : EXIT.OK;
}

/**
 * Follows the rollout `first` (as POST /rollout or GET /rollout answered it) until its phase
 * is no longer `running`. Progress lines go to stdout (one JSON object a change with `json`).
 */
export async function waitForRollout(client: AdminClient, io: CliIo, first: Record<string, unknown>, json: boolean): Promise<number> {
  const id = first.id;
  const spec = first.spec as { pool: string; steps: number[]; intervalMs: number };
  const seen: Seen = { step: -1, verdicts: 0, skipped: 0 };
  let rollout: Record<string, unknown> = first;
  report(io, rollout, spec, seen, json);
  if (rollout.phase === 'running') {
    const every = pollMs(spec.intervalMs);
    await delay(every);
    const body = await waitUntil(() => client.get<RolloutBody>('/rollout'), (current) => {
      if (current.rollout === null || current.rollout.id !== id) return true;
      report(io, current.rollout, spec, seen, json);
      return current.rollout.phase !== 'running';
    }, `rollout of ${spec.pool}`, { timeoutMs: Number.POSITIVE_INFINITY, pollMs: every, onRetry: (err) => io.err(`${err.message}; trying again`) });
    if (body.rollout === null || body.rollout.id !== id) {
      io.err(`rollout ${String(id).slice(0, 8)} is no longer the current rollout (another one replaced it); its outcome is unknown`);
      return EXIT.FAILED;
    }
    rollout = body.rollout;
  }
  const phase = String(rollout.phase);
  const line = `rollout of ${spec.pool} ${phase.toUpperCase()}${typeof rollout.reason === 'string' ? `: ${rollout.reason}` : ''}`;
  if (rolloutExitCode(rollout) === EXIT.OK) {
    if (!json) io.out(line);
    return EXIT.OK;
  }
  io.err(line);
  return EXIT.FAILED;
}

/** Prints what changed since the last look: skipped steps, new verdicts, a new step. */
function report(io: CliIo, rollout: Record<string, unknown>, spec: { pool: string; steps: number[] }, seen: Seen, json: boolean): void {
  const history = (rollout.history as Array<{ step: number; weight: number; verdict: string; reason: string }> | undefined) ?? [];
  const skipped = (rollout.skipped as Array<{ weight: number; reason: string }> | undefined) ?? [];
  const step = rollout.step as number;
  const changed = history.length !== seen.verdicts || step !== seen.step || skipped.length !== seen.skipped;
  if (!changed) return;
  if (json) {
    io.out(JSON.stringify({ ...rollout, windowStart: undefined }));
  } else {
    for (const entry of skipped.slice(seen.skipped)) io.out(`skipped ${entry.weight}%: ${entry.reason}`);
    for (const verdict of history.slice(seen.verdicts)) io.out(`step ${verdict.step + 1} (${verdict.weight}%): ${verdict.verdict} · ${verdict.reason}`);
    if (step !== seen.step && rollout.phase === 'running') io.out(`step ${step + 1}/${spec.steps.length}: ${spec.pool} at ${spec.steps[step]}%`);
  }
  seen.step = step;
  seen.verdicts = history.length;
  seen.skipped = skipped.length;
}
