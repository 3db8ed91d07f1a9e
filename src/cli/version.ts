// The package's version, read from its package.json: two levels up from both src/cli/ (tests,
// tsx) and dist/cli/ (the installed bin), so it is the same file in both layouts.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
