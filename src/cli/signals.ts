// Signals for long-running commands: SIGTERM/SIGINT start a graceful stop and a second one
// exits at once; SIGHUP reloads the config (when the command can).
import { EXIT, type CliIo } from './io.js';
import { onOutputClosed } from './closed-output.js';

export interface SignalActions {
  stop: () => Promise<void>;
  reload?: () => Promise<unknown>;
}

export function serveUntilSignal({ stop, reload }: SignalActions, io: CliIo): Promise<number> {
  // Without a handler SIGHUP would kill the process; refusals are logged by reload itself.
  process.on('SIGHUP', () => {
    if (reload === undefined) return io.err('SIGHUP: nothing to reload');
    reload().catch(() => undefined);
  });
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.err(`${signal} again: exiting now`);
        process.exit(EXIT.FAILED);
      }
      stopping = true;
      io.err(`${signal}: shutting down gracefully (send it again to exit at once)`);
      stop().then(() => resolve(EXIT.OK), (err: unknown) => {
        io.err(`shutdown failed: ${(err as Error).message}`);
        resolve(EXIT.FAILED);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Nobody reads our output any more (`switchyard start | head`): a proxy does not go down
    // because its log reader went away (pino drops its lines on EPIPE the same way); a signal stops it.
    onOutputClosed(() => io.err('stdout closed: output is dropped from now on; still serving (SIGTERM or Ctrl-C stops)'));
  });
}
