// Commands that talk to a running Switchyard's admin API: status, flip, weights, rollback
// (rollout and events in rollout-commands.ts, reload and instances in fleet-commands.ts,
// targets and target … in target-commands.ts, roll in roll.ts).
import { Option, type Command } from 'commander';
import type { StatusView } from '../../admin/status-view.js';
import { AdminClient, RefusedError } from '../admin-client.js';
import { formatStatus, paint, parseWeightArgs } from '../format.js';
import { EXIT, useColor, type CliIo } from '../io.js';
import { UsageError, type CommandResult } from '../result.js';
import { registerRolloutCommands } from './rollout-commands.js';
import { registerFleetCommands } from './fleet-commands.js';
import { registerTargetCommands } from './target-commands.js';
import { registerRollCommand } from './roll.js';
import { adminUrl } from '../admin-url.js';
import { onOutputClosed } from '../closed-output.js';

interface ClientFlags {
  admin?: string;
  token?: string;
  json?: boolean;
}

interface StatusFlags extends ClientFlags {
  /** `true` for `--watch` alone, the text after it otherwise. */
  watch?: boolean | string;
  watchCount?: string;
}

interface MutationFlags extends ClientFlags {
  force?: boolean;
  reason?: string;
  ifMatch?: string;
}

const DEFAULT_WATCH_SECONDS = 2;
/** Cursor home + clear screen: a watch frame replaces the last one on a terminal. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

export function registerClientCommands(program: Command, io: CliIo, run: (result: CommandResult) => void): void {
  // Throws UsageError (exit 2) for a malformed --admin / SWITCHYARD_ADMIN_URL, before any call.
  const clientOf = (flags: ClientFlags) => new AdminClient({
    url: adminUrl(flags.admin, io.env),
    token: flags.token ?? io.env.SWITCHYARD_ADMIN_TOKEN,
  });
  const show = (flags: ClientFlags, status: StatusView) =>
    io.out(flags.json ? JSON.stringify(status, null, 2) : formatStatus(status, { color: useColor(io) }));
  const mutationBody = (flags: MutationFlags) => ({
    ...(flags.force ? { force: true } : {}),
    ...(flags.reason === undefined ? {} : { reason: flags.reason }),
  });
  const mutationHeaders = (flags: MutationFlags): Record<string, string> =>
    flags.ifMatch === undefined ? {} : { 'if-match': `"${flags.ifMatch}"` };

  const withClientFlags = (command: Command) => command
    .option('--admin <url>', 'admin API URL (env SWITCHYARD_ADMIN_URL)')
    .option('--token <token>', 'admin bearer token (env SWITCHYARD_ADMIN_TOKEN)')
    .option('--json', 'print JSON instead of a table');
  const withMutationFlags = (command: Command) => withClientFlags(command)
    .option('--reason <text>', 'why, recorded with the change')
    .option('--if-match <revision>', 'apply only if the routing revision is still this one');

  registerRolloutCommands(program, io, run, withClientFlags, clientOf);
  registerFleetCommands(program, io, run, withClientFlags, clientOf);
  registerTargetCommands(program, io, run, withClientFlags, clientOf);
  registerRollCommand(program, io, run, withClientFlags, clientOf);

  withClientFlags(program.command('status').description('pools, weights, targets, health, in-flight, drain state'))
    .option('--watch [seconds]', `redraw every N seconds (default ${DEFAULT_WATCH_SECONDS}) until Ctrl-C; with --json, one JSON line per refresh`)
    .addOption(new Option('--watch-count <n>', 'stop after N refreshes (tests, scripts)').hideHelp())
    .action((flags: StatusFlags) => run(async () => {
      const watch = watchSettings(flags);
      if (watch === null) {
        show(flags, await clientOf(flags).get<StatusView>('/status'));
        return EXIT.OK;
      }
      return watchStatus(flags, watch);
    }));

  /** Redraws the status every `seconds` until SIGINT/SIGTERM (or `limit` frames). */
  const watchStatus = async (flags: StatusFlags, { seconds, limit }: { seconds: number; limit: number | null }): Promise<number> => {
    const client = clientOf(flags);
    const color = useColor(io);
    const url = adminUrl(flags.admin, io.env);
    let wake: () => void = () => undefined;
    let stopped = false;
    const stoppedSignal = new Promise<null>((resolve) => {
      wake = () => resolve(null);
    });
    const stop = () => {
      stopped = true;
      wake();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const offClosed = onOutputClosed(stop);
    try {
      for (let frame = 1; ; frame++) {
        let body: string;
        try {
          const status = await Promise.race([client.get<StatusView>('/status'), stoppedSignal]);
          if (status === null) break;
          body = flags.json ? JSON.stringify(status) : formatStatus(status, { color });
        } catch (err) {
          // A first refusal (bad token, wrong URL) is a plain failure; later ones are shown and retried.
          if (frame === 1) throw err;
          body = paint(describeFailure(err), 'red', color);
          if (flags.json) {
            io.err(body);
            body = '';
          }
        }
        if (flags.json) {
          if (body !== '') io.out(body);
        } else {
          const heading = paint(`every ${seconds}s: switchyard status · ${url} · ${new Date().toLocaleTimeString()} · Ctrl-C stops`, 'dim', color);
          io.out(`${io.tty ? CLEAR_SCREEN : frame > 1 ? '\n' : ''}${heading}\n\n${body}`);
        }
        if (stopped || (limit !== null && frame >= limit)) break;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((resolve) => {
          timer = setTimeout(resolve, seconds * 1000);
        }), stoppedSignal]);
        clearTimeout(timer);
        if (stopped) break;
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      offClosed();
    }
    return EXIT.OK;
  };

  withMutationFlags(program.command('flip').argument('<pool>').description('send 100% of traffic to POOL'))
    .option('--force', 'flip even if the pool has no ready target')
    .action((pool: string, flags: MutationFlags) => run(async () => {
      const status = await clientOf(flags).post<StatusView>('/flip', { pool, ...mutationBody(flags) }, mutationHeaders(flags));
      show(flags, status);
      return EXIT.OK;
    }));

  withMutationFlags(program.command('weights').argument('<weights...>', 'POOL=N pairs summing to 100').description('set pool weights'))
    .option('--force', 'give weight even to a pool with no ready target')
    .action((args: string[], flags: MutationFlags) => run(async () => {
      const weights = parseWeightArgs(args);
      if (typeof weights === 'string') throw new UsageError(weights);
      show(flags, await clientOf(flags).put<StatusView>('/weights', { weights, ...mutationBody(flags) }, mutationHeaders(flags)));
      return EXIT.OK;
    }));

  withMutationFlags(program.command('rollback').description('back to the routing before the last change'))
    .option('--force', 'roll back even onto a pool with no ready target')
    .action((flags: MutationFlags) => run(async () => {
      show(flags, await clientOf(flags).post<StatusView>('/rollback', mutationBody(flags), mutationHeaders(flags)));
      return EXIT.OK;
    }));
}

/** null without --watch; otherwise the refresh period and how many frames (null: until stopped). */
function watchSettings(flags: StatusFlags): { seconds: number; limit: number | null } | null {
  if (flags.watch === undefined && flags.watchCount === undefined) return null;
  let seconds = DEFAULT_WATCH_SECONDS;
  if (typeof flags.watch === 'string') {
    seconds = Number(flags.watch);
    if (!/^\d+(\.\d+)?$/.test(flags.watch) || seconds < 0.1 || seconds > 3600) {
      throw new UsageError(`--watch takes seconds from 0.1 to 3600, got "${flags.watch}"`);
    }
  }
  let limit: number | null = null;
  if (flags.watchCount !== undefined) {
    limit = Number(flags.watchCount);
    if (!/^[1-9]\d{0,5}$/.test(flags.watchCount)) throw new UsageError(`--watch-count takes a positive whole number, got "${flags.watchCount}"`);
  }
  return { seconds, limit };
}

/** A failed refresh, worded as program.ts words a failed command (the server's code kept). */
function describeFailure(err: unknown): string {
  if (err instanceof RefusedError) return `refused (${err.status} ${err.code}): ${err.message}`;
  return (err as Error).message ?? String(err);
}
