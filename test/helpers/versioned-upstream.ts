// App instances that a rolling update really replaces (test/fixtures/versioned-upstream.mjs):
// each in its own process, answering `{ version, port, pid }`; `replaceCommand` is the CMD a
// `switchyard roll --exec` runs to stop one and start the next version on the same port.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { listeningPort } from './child-upstream.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/versioned-upstream.mjs', import.meta.url));

export interface VersionedInstances {
  /** Target URLs, in start order. */
  urls: string[];
  /** Target ids (`127.0.0.1:PORT`), in start order. */
  ids: string[];
  /** The shell command that replaces the instance at `$SWITCHYARD_TARGET` with the next version. */
  replaceCommand: string;
  /** The version the instance on `url` answers with right now (null: nothing answers). */
  versionAt(url: string): Promise<number | null>;
  /** Makes the next replace of `url` fail: the old version stops, the new one never starts (exit 3). */
  failNextReplace(url: string): void;
  /** Makes the next version on `url` start but answer 503 to health checks. */
  unhealthyNextVersion(url: string): void;
}

/** Starts `count` instances at version 1; every process any replace started is killed at teardown. */
export async function startVersionedInstances(t: Test, count: number): Promise<VersionedInstances> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-roll-'));
  t.teardown(() => {
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.json'))) {
      const { pid } = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { pid: number };
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const urls = await Promise.all(Array.from({ length: count }, () => startOne(dir)));
  return {
    urls,
    ids: urls.map((url) => new URL(url).host),
    replaceCommand: `"${process.execPath}" "${SCRIPT}" replace "${dir}" "$SWITCHYARD_TARGET"`,
    versionAt: async (url) => {
      try {
        const answer = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
        return ((await answer.json()) as { version: number }).version;
      } catch {
        return null;
      }
    },
    failNextReplace: (url) => writeFileSync(join(dir, `fail-${new URL(url).port}`), ''),
    unhealthyNextVersion: (url) => writeFileSync(join(dir, `unhealthy-${new URL(url).port}`), ''),
  };
}

async function startOne(dir: string): Promise<string> {
  const child = spawn(process.execPath, [SCRIPT, 'serve', dir, '0', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return `http://127.0.0.1:${await listeningPort(child, 'versioned instance')}`;
}
