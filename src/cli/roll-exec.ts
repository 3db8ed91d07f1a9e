// Runs `switchyard roll`'s --exec CMD for one target: through the shell (so the operator writes
// `$SWITCHYARD_TARGET_ID`, pipes and `case` as at a prompt), its output passed on line by line.
import { spawn } from 'node:child_process';

export interface ExecResult {
  /** Exit code; null when a signal ended it (then `signal` says which). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the deadline passed and CMD was stopped. */
  timedOut: boolean;
  ms: number;
  /** CMD could not be started at all (no shell). */
  error?: string;
}

export interface ExecOptions {
  env: NodeJS.ProcessEnv;
  /** Each line CMD writes, stdout or stderr (the roll's stdout stays for its progress). */
  onLine: (line: string) => void;
  /** Stop CMD (SIGTERM, then SIGKILL 5 s later) after this long. */
  timeoutMs: number;
  signal?: AbortSignal;
}

const KILL_AFTER_MS = 5000;
/**
 * After CMD exits, how long its output may still arrive. A process CMD started in the
 * background (`app &`, `nohup`) may hold the pipes open for its whole life: CMD has ended
 * when the shell has, not when every holder of its output has.
 */
const OUTPUT_GRACE_MS = 250;

export function runExec(command: string, options: ExecOptions): Promise<ExecResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so that stopping CMD stops what it started too (a shell does not
    // pass SIGTERM on to `sleep` or `docker compose`); Ctrl-C reaches it through our handler.
    const child = spawn(command, { shell: true, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        child.kill(signal); // the group is gone already, or no group (not POSIX)
      }
    };
    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_AFTER_MS);
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    options.signal?.addEventListener('abort', stop, { once: true });
    for (const stream of [child.stdout, child.stderr]) forwardLines(stream, options.onLine);
    let finished = false;
    const finish = (result: Omit<ExecResult, 'ms' | 'timedOut'>) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', stop);
      resolve({ ...result, timedOut, ms: Date.now() - started });
    };
    child.once('error', (err) => finish({ code: null, signal: null, error: err.message }));
    child.once('exit', (code, signal) => {
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish({ code, signal });
      }, OUTPUT_GRACE_MS);
      // Usually the pipes close with the shell: every line CMD wrote has been passed on by then.
      child.once('close', () => {
        clearTimeout(grace);
        finish({ code, signal });
      });
    });
  });
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) onLine(line.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
  });
}

/** What went wrong with a CMD run, or null when it succeeded. */
export function execFailure(result: ExecResult, timeoutText: string): string | null {
  if (result.error !== undefined) return `CMD could not start: ${result.error}`;
  if (result.timedOut) return `CMD did not finish within ${timeoutText} (stopped)`;
  if (result.signal !== null) return `CMD was ended by ${result.signal}`;
  if (result.code !== 0) return `CMD exited with ${result.code}`;
  return null;
}
