// The `switchyard` command line: parses arguments (commander) and maps every outcome to an
// exit code: 0 ok, 1 refused/failed, 2 bad usage or invalid config.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../errors.js';
import { RefusedError, UnreachableError } from './admin-client.js';
import { registerClientCommands } from './commands/client-commands.js';
import { registerServerCommands } from './commands/server-commands.js';
import { EXIT, type CliIo } from './io.js';
import { ReportedError, UsageError, type CommandResult } from './result.js';
import { cliMessage, hintFor } from './hints.js';
import { packageVersion } from './version.js';

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let pending: Promise<number> | null = null;
  const run = (result: CommandResult) => {
    pending = result();
  };
  // The command that ran and whether it had a token: hints speak to that command's flags.
  const ran: RunContext = { command: null, tokenGiven: false };
  const program = new Command('switchyard')
    .description('Edge reverse proxy for zero-downtime blue-green and canary releases')
    .version(packageVersion(), '-v, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) })
    .showHelpAfterError('(run switchyard --help for usage)');
  registerServerCommands(program, io, run);
  registerClientCommands(program, io, run);
  program.hook('preAction', (_program, command) => {
    // A subcommand is named with its group (`target drain`), as its hints and messages say it.
    const group = command.parent !== null && command.parent !== program ? `${command.parent.name()} ` : '';
    ran.command = `${group}${command.name()}`;
    ran.tokenGiven = Boolean(command.opts().token ?? io.env.SWITCHYARD_ADMIN_TOKEN);
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    if (pending === null) return EXIT.OK;
    return await pending;
  } catch (err) {
    return exitCodeFor(err, io, ran);
  }
}

interface RunContext {
  command: string | null;
  tokenGiven: boolean;
}

function exitCodeFor(err: unknown, io: CliIo, ran: RunContext): number {
  if (err instanceof CommanderError) {
    // --help and --version "fail" with exit code 0; everything else commander rejects is usage.
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (err instanceof ConfigError) {
    io.err(`invalid config:\n${err.problems.map((problem) => `  ${problem}`).join('\n')}`);
    return EXIT.USAGE;
  }
  if (err instanceof ReportedError) return EXIT.FAILED;
  if (err instanceof UsageError) {
    io.err(`error: ${err.message}`);
    return EXIT.USAGE;
  }
  if (err instanceof RefusedError) {
    const problems = (err.details as { problems?: unknown } | undefined)?.problems;
    if (Array.isArray(problems)) {
      // INVALID_CONFIG: every problem on its own line (its message repeats them after a heading).
      io.err(`refused (${err.status} ${err.code}): ${err.message.split('\n')[0]!.replace(/:$/, '')}; the running config stays\n`
        + problems.map((problem) => `  ${String(problem)}`).join('\n'));
    } else {
      io.err(`refused (${err.status} ${err.code}): ${cliMessage(err, ran.command)}`);
    }
    const hint = hintFor(err, ran.command, ran.tokenGiven);
    if (hint !== null) io.err(hint);
    return EXIT.FAILED;
  }
  if (err instanceof UnreachableError) {
    io.err(err.message);
    return EXIT.FAILED;
  }
  io.err(`error: ${(err as Error).message ?? String(err)}`);
  return EXIT.FAILED;
}
