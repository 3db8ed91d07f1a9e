// An upstream in a child process (test/fixtures/upstream-child.mjs), for tests that kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ChildUpstream {
  url: string;
  child: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('../fixtures/upstream-child.mjs', import.meta.url));

export async function startChildUpstream(name: string): Promise<ChildUpstream> {
  const child = spawn(process.execPath, [SCRIPT, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await listeningPort(child, 'upstream child');
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The port a child server prints as `listening N` on its stdout; rejects if it exits first. */
export function listeningPort(child: ChildProcess, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('exit', (code) => reject(new Error(`${what} exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match !== null) resolve(Number(match[1]));
    });
  });
}
