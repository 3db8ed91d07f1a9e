// Commands that talk to a running Switchyard's admin API: status, flip, weights, rollback.
import type { Command } from 'commander';
import type { StatusView } from '../../admin/status-view.js';
import { AdminClient } from '../admin-client.js';
import { formatStatus, parseWeightArgs } from '../format.js';
import { EXIT, type CliIo } from '../io.js';
import { UsageError, type CommandResult } from '../result.js';
import { registerRolloutCommands } from './rollout-commands.js';

interface ClientFlags {
  admin?: string;
  token?: string;
  json?: boolean;
}

interface MutationFlags extends ClientFlags {
  force?: boolean;
  reason?: string;
  ifMatch?: string;
}

const DEFAULT_ADMIN = 'http://127.0.0.1:9901';

export function registerClientCommands(program: Command, io: CliIo, run: (result: CommandResult) => void): void {
  const clientOf = (flags: ClientFlags) => new AdminClient({
    url: flags.admin ?? io.env.SWITCHYARD_ADMIN_URL ?? DEFAULT_ADMIN,
    token: flags.token ?? io.env.SWITCHYARD_ADMIN_TOKEN,
  });
  const show = (flags: ClientFlags, status: StatusView) => io.out(flags.json ? JSON.stringify(status, null, 2) : formatStatus(status));
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

  withClientFlags(program.command('status').description('pools, weights, targets, health, in-flight, drain state'))
    .action((flags: ClientFlags) => run(async () => {
      show(flags, await clientOf(flags).get<StatusView>('/status'));
      return EXIT.OK;
    }));

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
