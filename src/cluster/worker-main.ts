// A worker process's entry (node:cluster forks it, primary.ts): waits for its snapshot, builds
// the data plane, listens, then follows the primary until it says to stop — or until the
// primary is gone (the IPC channel closes): then it stops accepting at once (no orphan
// listener) and lets its in-flight requests finish within shutdown.graceMs, as on SIGTERM.
import cluster from 'node:cluster';
import type { PrimaryMessage, WorkerMessage } from './messages.js';
import { Worker } from './worker.js';

let worker: Worker | null = null;
let stopping = false;

function send(message: WorkerMessage): void {
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
}

async function stop(graceMs: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await worker?.close(graceMs);
  process.exit(0);
}

process.on('message', (message: PrimaryMessage) => {
  if (worker === null) {
    if (message.type === 'shutdown') process.exit(0); // stopped before it was given anything to serve
    if (message.type !== 'snapshot') return;
    try {
      worker = new Worker(message, send);
    } catch (error) {
      console.error(`worker ${message.slot}: ${(error as Error).message}`);
      process.exit(1);
    }
    const graceMs = message.config.shutdown.graceMs;
    // node:cluster exits a worker at once on an unexpected disconnect, right after emitting this
    // event (internal/cluster/child.js), unless the disconnect was asked for; we drain instead.
    cluster.worker?.once('disconnect', () => {
      cluster.worker!.exitedAfterDisconnect = true;
      void stop(graceMs);
    });
    // A terminal's Ctrl-C reaches the whole process group: drain like the primary asks to.
    process.on('SIGTERM', () => void stop(graceMs));
    process.on('SIGINT', () => void stop(graceMs));
    worker.listen().catch((error: unknown) => {
      console.error(`worker ${message.slot}: ${(error as Error).message}`);
      process.exit(1);
    });
    return;
  }
  if (message.type === 'shutdown') return void stop(message.graceMs);
  if (message.type === 'snapshot') return; // only the first, which made this worker
  worker.handle(message);
});
process.on('SIGHUP', () => undefined); // the primary reloads and pushes; a group-wide SIGHUP must not kill workers
send({ type: 'hello' });
