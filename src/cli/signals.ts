// SIGTERM/SIGINT handling for long-running commands: the first signal starts a graceful
// stop; a second one exits at once.
import { EXIT, type CliIo } from './io.js';

export function serveUntilSignal(stop: () => Promise<void>, io: CliIo): Promise<number> {
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
  });
}
