// Runs the CLI in-process (fast, for client commands) or as a real child process (for
// `start`, signals and exit codes). Children reuse tap's TypeScript loader via execArgv.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (text) => void (out += `${text}\n`), err: (text) => void (err += `${text}\n`), env });
  return { code, out, err };
}

export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliChild {
  child: ChildProcess;
  output(): string;
  /** Resolves with the output so far once it matches, rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  exited: Promise<number | null>;
}

/** `wrapper` runs the CLI through another command, e.g. `['ip', 'netns', 'exec', 'ns1']`. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, wrapper: readonly string[] = []): CliChild {
  const command = [...wrapper, process.execPath, ...process.execArgv, CLI_ENTRY, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    waitFor: (pattern, ms = 15_000) => new Promise((resolve, reject) => {
      const check = () => {
        if (!pattern.test(output)) return;
        cleanup();
        resolve(output);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output}`));
      }, ms);
      const onExit = () => {
        cleanup();
        if (pattern.test(output)) resolve(output);
        else reject(new Error(`process exited before ${pattern}; output:\n${output}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    }),
  };
}
