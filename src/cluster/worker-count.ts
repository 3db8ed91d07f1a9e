// How many data-plane workers a config asks for (SPEC §15 `workers: 1 | N | auto`). Pure.
import { availableParallelism } from 'node:os';

export interface WorkerCount {
  count: number;
  /** Set when the count is above the cores the machine offers: allowed (nginx allows it too), worth a warning. */
  warning?: string;
}

/**
 * `auto` → the available parallelism (cores this process may use: os.availableParallelism, which
 * honours CPU affinity; nginx's `worker_processes auto` counts the same way). A number is taken
 * as it is; above `cores` it comes with a warning, since workers then share cores and each adds
 * its memory and connections to every upstream.
 */
export function workerCount(setting: number | 'auto', cores = availableParallelism()): WorkerCount {
  if (setting === 'auto') return { count: Math.max(1, cores) };
  if (setting > cores) return { count: setting, warning: `workers: ${setting} is more than the ${cores} core(s) available; they will share cores` };
  return { count: setting };
}
