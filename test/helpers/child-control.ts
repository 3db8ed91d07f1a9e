// Signals for the server processes tests start (redis-server, dnsmasq): one way to stop one.
import type { ChildProcess } from 'node:child_process';

/**
 * Sends `signal` and resolves once the process exited (at once if it already had). SIGCONT
 * goes first: a frozen (SIGSTOPped) process would never act on SIGTERM, and it does not matter
 * to SIGKILL.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGCONT');
    child.kill(signal);
  });
}
