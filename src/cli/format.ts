// Human-readable output for the CLI. Pure: data in, text out.
import type { StatusView } from '../admin/status-view.js';

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

export function formatStatus(status: StatusView): string {
  const pools = Object.entries(status.pools);
  const summary = table(
    ['POOL', 'VERSION', 'WEIGHT', 'STATE', 'READY', 'INFLIGHT'],
    pools.map(([name, pool]) => [name, pool.version, String(pool.weight), pool.state, `${pool.readyTargets}/${pool.targets.length}`, String(pool.inflight)]),
  );
  const targets = table(
    ['POOL', 'TARGET', 'READY', 'HEALTH', 'INFLIGHT', 'LAST CHECK'],
    pools.flatMap(([name, pool]) => pool.targets.map((target) => [
      name,
      target.url,
      target.ready ? 'yes' : 'no',
      target.ejected ? 'ejected' : target.healthy ? 'healthy' : 'unhealthy',
      String(target.inflight),
      target.lastCheck === null ? '-' : `${target.lastCheck.ok ? 'ok' : 'fail'} ${target.lastCheck.status ?? target.lastCheck.error ?? ''} ${target.lastCheck.ms}ms`,
    ])),
  );
  const by = `revision ${status.revision} · updated ${status.updatedAt} by ${status.updatedBy}${status.reason ? ` (${status.reason})` : ''}`;
  const store = `store ${status.store.kind} (${status.store.up ? 'up' : 'DOWN'})`;
  return `${by}\n${store}\n\n${summary}\n\n${targets}\n`;
}

/** `blue=90 green=10` → `{ blue: 90, green: 10 }`, or a message saying which argument is malformed. */
export function parseWeightArgs(args: readonly string[]): Record<string, number> | string {
  const weights: Record<string, number> = {};
  for (const arg of args) {
    const match = /^([a-z][a-z0-9-]*)=(\d{1,3})$/.exec(arg);
    if (match === null) return `expected POOL=N with N an integer from 0 to 100, got "${arg}"`;
    weights[match[1]!] = Number(match[2]);
  }
  return weights;
}
