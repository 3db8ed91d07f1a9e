// `switchyard status --watch | head`: once the reader goes away, writes to stdout fail with
// EPIPE. That is the reader's choice, not an error: a command stops quietly with exit 0 and
// writes nothing more; a long-running one decides itself (status --watch stops, a serving
// proxy goes on). One place for every command, so none crashes on a closed pipe with a stack trace.

const stops = new Set<() => void>();
let closed = false;

/** Registers how a long-running command stops when stdout closes; returns the unregister. */
export function onOutputClosed(stop: () => void): () => void {
  stops.add(stop);
  return () => void stops.delete(stop);
}

/** True once stdout's reader has gone: output is dropped from then on. */
export function outputClosed(): boolean {
  return closed;
}

/**
 * The 'error' listener of process.stdout. EPIPE (and writes after it) stop the command;
 * any other error is rethrown, as it would be without a listener.
 */
export function handleOutputError(err: NodeJS.ErrnoException, exit: (code: number) => void): void {
  if (closed) return;
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  closed = true;
  if (stops.size === 0) {
    exit(0);
    return;
  }
  for (const stop of [...stops]) stop();
}
