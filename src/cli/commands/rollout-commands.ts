// `switchyard rollout …` and `switchyard events`: canary rollouts and the audit trail.
import type { Command } from 'commander';
import { parseDuration } from '../duration.js';
import { formatEvents, formatRollout } from '../format.js';
import { EXIT, type CliIo } from '../io.js';
import { UsageError, type CommandResult } from '../result.js';
import type { AdminClient } from '../admin-client.js';
import { rolloutExitCode, waitForRollout } from './rollout-wait.js';

interface ClientFlags {
  admin?: string;
  token?: string;
  json?: boolean;
}

interface RolloutFlags extends ClientFlags {
  wait?: boolean;
  steps?: string;
  interval?: string;
  maxErrorRate?: string;
  maxP99?: string;
  minRequests?: string;
}

const ACTIONS = new Set(['abort', 'promote', 'status']);

export function registerRolloutCommands(program: Command, io: CliIo, run: (result: CommandResult) => void,
  withClientFlags: (command: Command) => Command, clientOf: (flags: ClientFlags) => AdminClient): void {
  const print = (flags: ClientFlags, body: { rollout: Record<string, unknown> | null }) =>
    io.out(flags.json ? JSON.stringify(body, null, 2) : formatRollout(body.rollout));

  withClientFlags(program.command('rollout')
    .argument('<pool|abort|promote|status>', 'the pool to roll out, or what to do with the running rollout')
    .description('progressive delivery: move POOL through --steps, judging each step, rolling back on failure')
    .option('--steps <list>', 'comma-separated weights ending at 100', '10,25,50,100')
    .option('--interval <duration>', 'time per step (30s, 2m, 500ms)', '30s')
    .option('--max-error-rate <rate>', 'highest share of 5xx answers from POOL per step', '0.01')
    .option('--max-p99 <duration>', 'highest p99 latency of POOL per step')
    .option('--min-requests <n>', 'hold a step until it saw this many requests')
    .option('--wait', 'with POOL or status: follow the rollout until it ends, printing each step; exit 0 when it completes or is promoted, 1 when aborted or rolled back'))
    .addHelpText('after', `
Exit codes: 0 ok; 1 refused, or (rollout status, --wait) the rollout was aborted or rolled back; 2 bad usage.
Steps at or below POOL's current weight are skipped: a rollout never moves traffic back.`)
    .action((target: string, flags: RolloutFlags) => run(async () => {
      if (flags.wait && ACTIONS.has(target) && target !== 'status') throw new UsageError(`--wait goes with POOL or status, not ${target}`);
      const body = ACTIONS.has(target) ? null : rolloutBody(target, flags);
      const client = clientOf(flags);
      if (body !== null) {
        const started = await client.post<{ rollout: Record<string, unknown> }>('/rollout', body);
        if (flags.wait) {
          if (!flags.json) io.out(formatRollout(started.rollout).trimEnd());
          return waitForRollout(client, io, started.rollout, flags.json === true);
        }
        print(flags, started);
        return EXIT.OK;
      }
      if (target === 'status') {
        const current = await client.get<{ rollout: Record<string, unknown> | null }>('/rollout');
        if (flags.wait && current.rollout !== null) {
          if (!flags.json) io.out(formatRollout(current.rollout).trimEnd());
          return waitForRollout(client, io, current.rollout, flags.json === true);
        }
        print(flags, current);
        // A script asking "did the last rollout go through?" gets the answer in the exit code.
        return rolloutExitCode(current.rollout);
      }
      print(flags, await client.post(`/rollout/${target}`));
      return EXIT.OK;
    }));

  withClientFlags(program.command('events').description('recent routing changes, newest first'))
    .option('--limit <n>', 'how many', '20')
    .action((flags: ClientFlags & { limit: string }) => run(async () => {
      if (!/^[1-9]\d{0,2}$/.test(flags.limit)) throw new UsageError(`--limit takes 1 to 999, got "${flags.limit}"`);
      const body = await clientOf(flags).get<{ events: Array<Record<string, unknown>> }>(`/events?limit=${flags.limit}`);
      io.out(flags.json ? JSON.stringify(body, null, 2) : formatEvents(body.events));
      return EXIT.OK;
    }));
}

function rolloutBody(pool: string, flags: RolloutFlags): Record<string, unknown> {
  const steps = (flags.steps ?? '').split(',').map((step) => Number(step.trim()));
  if (steps.length === 0 || steps.some((step) => !Number.isInteger(step))) throw new UsageError(`--steps takes integers like 10,25,50,100, got "${flags.steps}"`);
  const intervalMs = parseDuration(flags.interval ?? '');
  if (intervalMs === null) throw new UsageError(`--interval takes a duration like 30s, got "${flags.interval}"`);
  const maxErrorRate = Number(flags.maxErrorRate);
  if (!Number.isFinite(maxErrorRate)) throw new UsageError(`--max-error-rate takes a number like 0.01, got "${flags.maxErrorRate}"`);
  const body: Record<string, unknown> = { pool, steps, intervalMs, maxErrorRate };
  if (flags.maxP99 !== undefined) {
    const maxP99Ms = parseDuration(flags.maxP99);
    if (maxP99Ms === null) throw new UsageError(`--max-p99 takes a duration like 300ms, got "${flags.maxP99}"`);
    body.maxP99Ms = maxP99Ms;
  }
  if (flags.minRequests !== undefined) {
    const minRequests = Number(flags.minRequests);
    if (!Number.isInteger(minRequests) || minRequests < 0) throw new UsageError(`--min-requests takes a whole number, got "${flags.minRequests}"`);
    body.minRequests = minRequests;
  }
  return body;
}
