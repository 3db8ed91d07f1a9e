// Notices when certificate files change, however they are replaced (SPEC §13): written in
// place, renamed over, or swapped under a symlink as Kubernetes does with its `..data` link.
// It polls `stat` (which follows symlinks) rather than trusting fs.watch, whose events are
// lost on a rename or a swapped link on some platforms; at 500 ms the new file is seen well
// inside the 2 s SPEC §13 allows. A change is reported once the file has stopped changing for
// one interval, so a writer caught half-way is not read.

import { statSync } from 'node:fs';

export interface FileWatch {
  stop(): void;
}

/** What identifies a file's content cheaply: a replaced file has a new inode or ctime, an edited one a new mtime/size. */
function signature(path: string): string {
  try {
    const stat = statSync(path);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

/**
 * Calls `onChange(changedPaths)` when any of `paths` changed and then stayed the same for one
 * interval. Timers are unref'd: a watch never keeps the process alive.
 */
export function watchFiles(paths: readonly string[], onChange: (changed: string[]) => void, intervalMs = 500): FileWatch {
  const seen = new Map(paths.map((path) => [path, signature(path)]));
  /** Paths that changed at the last poll and wait to be seen unchanged once more. */
  let settling = new Map<string, string>();
  const timer = setInterval(() => {
    const changed: string[] = [];
    const next = new Map<string, string>();
    for (const path of new Set(paths)) {
      const now = signature(path);
      if (now === seen.get(path)) continue;
      if (settling.get(path) === now) {
        seen.set(path, now);
        changed.push(path);
      } else {
        next.set(path, now);
      }
    }
    settling = next;
    if (changed.length > 0) onChange(changed);
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
