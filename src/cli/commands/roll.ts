// `switchyard roll POOL --exec CMD` (SPEC §11): a rolling update of one pool's targets, driven
// through the admin API (the steps in roll-run.ts, the rules in roll-plan.ts).
import type { Command } from 'commander';
import type { AdminClient } from '../admin-client.js';
import { parseDuration } from '../duration.js';
import { EXIT, type CliIo } from '../io.js';
import { UsageError, type CommandResult } from '../result.js';
import { progressLine } from '../roll-progress.js';
import { roll } from '../roll-run.js';

interface RollFlags {
  admin?: string;
  token?: string;
  json?: boolean;
  exec: string;
  maxUnavailable: string;
  minReady: string;
  timeout: string;
}

export function registerRollCommand(program: Command, io: CliIo, run: (result: CommandResult) => void,
  withClientFlags: (command: Command) => Command, clientOf: (flags: RollFlags) => AdminClient): void {
  withClientFlags(program.command('roll')
    .argument('<pool>', 'the pool whose targets to replace')
    .description('rolling update: for each batch of targets, drain → wait drained → CMD → wait healthy for --min-ready → ready')
    .requiredOption('--exec <cmd>', 'shell command that replaces one target; env SWITCHYARD_POOL, SWITCHYARD_TARGET (its URL), SWITCHYARD_TARGET_ID (host:port)')
    .option('--max-unavailable <n>', 'targets out of rotation at once', '1')
    .option('--min-ready <duration>', 'how long a replaced target must stay healthy before it gets requests again', '10s')
    .option('--timeout <duration>', 'bound on each wait: drained, CMD, healthy after CMD', '5m'))
    .addHelpText('after', `
Progress: one line per step per target on stdout (--json: one JSON object a line, with step,
pool, target and at); CMD's output goes to stderr, each line prefixed with [host:port].
Only targets in state ready are rolled: one in drain or maint is left as it is (its line says so).
A pool that has weight always keeps a ready target: --max-unavailable is lowered to leave one,
and a pool with a single target in rotation is refused (add a target, or move the traffic first).
On the first failure (CMD exits non-zero, or the target is not healthy within --timeout) the roll
stops: that target is left in maint, the ones after it untouched; exit 1 naming it.
Ctrl-C stops the roll where it is (the target being replaced stays out of rotation); a second one exits at once.
Exit codes: 0 every target rolled; 1 refused, failed or interrupted; 2 bad usage.`)
    .action((pool: string, flags: RollFlags) => run(async () => {
      const settings = settingsOf(flags);
      const client = clientOf(flags);
      const json = flags.json === true;
      const controller = new AbortController();
      const exitNow = () => process.exit(EXIT.FAILED);
      const interrupt = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) return exitNow();
        io.err(`${signal}: stopping the roll where it is (again to exit at once)`);
        controller.abort();
      };
      process.on('SIGINT', interrupt);
      process.on('SIGTERM', interrupt);
      try {
        const result = await roll(client, {
          pool,
          command: flags.exec,
          ...settings,
          env: io.env,
          emit: (event) => io.out(progressLine(event, json)),
          onOutput: (target, line) => io.err(`[${target}] ${line}`),
          onRetry: (err) => io.err(`${err.message}; trying again`),
          signal: controller.signal,
        });
        if (!result.ok) {
          io.err(result.message ?? `roll of ${pool} failed`);
          return EXIT.FAILED;
        }
        return EXIT.OK;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    }));
}

/** The flags as numbers; bad usage (exit 2) for any that does not parse. */
export function settingsOf(flags: Pick<RollFlags, 'maxUnavailable' | 'minReady' | 'timeout' | 'exec'>): { maxUnavailable: number; minReadyMs: number; timeoutMs: number } {
  if (flags.exec.trim() === '') throw new UsageError('--exec takes the command that replaces one target');
  if (!/^[1-9]\d{0,3}$/.test(flags.maxUnavailable)) throw new UsageError(`--max-unavailable takes a whole number from 1, got "${flags.maxUnavailable}"`);
  const minReadyMs = parseDuration(flags.minReady);
  if (minReadyMs === null) throw new UsageError(`--min-ready takes a duration like 10s, got "${flags.minReady}"`);
  const timeoutMs = parseDuration(flags.timeout);
  if (timeoutMs === null || timeoutMs <= 0) throw new UsageError(`--timeout takes a duration like 5m, got "${flags.timeout}"`);
  return { maxUnavailable: Number(flags.maxUnavailable), minReadyMs, timeoutMs };
}
