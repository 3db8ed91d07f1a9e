// `switchyard reload` (POST /reload: re-read the config file, as SIGHUP does) and
// `switchyard instances` (GET /instances: the live instances of the fleet).
import type { Command } from 'commander';
import type { AdminClient } from '../admin-client.js';
import { formatInstances, formatReload, type InstancesView, type ReloadView } from '../format.js';
import { EXIT, type CliIo } from '../io.js';
import type { CommandResult } from '../result.js';

interface ClientFlags {
  admin?: string;
  token?: string;
  json?: boolean;
}

export function registerFleetCommands(program: Command, io: CliIo, run: (result: CommandResult) => void,
  withClientFlags: (command: Command) => Command, clientOf: (flags: ClientFlags) => AdminClient): void {
  // A refusal (400 INVALID_CONFIG) exits 1 with every problem listed, through program.ts.
  withClientFlags(program.command('reload')
    .description('re-read the server\'s config file and apply pool, target and health changes (as SIGHUP does); exit 1 with every problem if refused'))
    .action((flags: ClientFlags) => run(async () => {
      const summary = await clientOf(flags).post<ReloadView>('/reload');
      io.out(flags.json ? JSON.stringify(summary, null, 2) : formatReload(summary));
      return EXIT.OK;
    }));

  withClientFlags(program.command('instances')
    .description('the live instances of the fleet: applied revision, in-flight per pool, last heartbeat'))
    .action((flags: ClientFlags) => run(async () => {
      const body = await clientOf(flags).get<InstancesView>('/instances');
      io.out(flags.json ? JSON.stringify(body, null, 2) : formatInstances(body));
      return EXIT.OK;
    }));
}
