// The `switchyard` command line: parses arguments (commander) and maps every outcome to an
// exit code: 0 ok, 1 refused/failed, 2 bad usage or invalid config.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../errors.js';
import { RefusedError, UnreachableError } from './admin-client.js';
import { registerClientCommands } from './commands/client-commands.js';
import { registerServerCommands } from './commands/server-commands.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError, type CommandResult } from './result.js';

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let pending: Promise<number> | null = null;
  const run = (result: CommandResult) => {
    pending = result();
  };
  const program = new Command('switchyard')
    .description('Edge reverse proxy for zero-downtime blue-green and canary releases')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) })
    .showHelpAfterError('(run switchyard --help for usage)');
  registerServerCommands(program, io, run);
  registerClientCommands(program, io, run);

  try {
    await program.parseAsync([...argv], { from: 'user' });
    if (pending === null) return EXIT.OK;
    return await pending;
  } catch (err) {
    return exitCodeFor(err, io);
  }
}

function exitCodeFor(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // --help and --version "fail" with exit code 0; everything else commander rejects is usage.
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (err instanceof ConfigError) {
    io.err(`invalid config:\n${err.problems.map((problem) => `  ${problem}`).join('\n')}`);
    return EXIT.USAGE;
  }
  if (err instanceof UsageError) {
    io.err(`error: ${err.message}`);
    return EXIT.USAGE;
  }
  if (err instanceof RefusedError) {
    io.err(`refused (${err.status} ${err.code}): ${err.message}`);
    return EXIT.FAILED;
  }
  if (err instanceof UnreachableError) {
    io.err(err.message);
    return EXIT.FAILED;
  }
  io.err(`error: ${(err as Error).message ?? String(err)}`);
  return EXIT.FAILED;
}
