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

interface VerdictView {
  step: number;
  weight: number;
  at: string;
  verdict: string;
  reason: string;
}

/** A rollout as an operator reads it: where it is, how long the step has left, what was decided. */
export function formatRollout(rollout: Record<string, unknown> | null): string {
  if (rollout === null) return 'no rollout has run\n';
  const spec = rollout.spec as { pool: string; steps: number[]; intervalMs: number; maxErrorRate: number; maxP99Ms?: number; minRequests: number };
  const step = rollout.step as number;
  const lines = [
    `rollout of ${spec.pool}: ${String(rollout.phase).toUpperCase()} · step ${step + 1}/${spec.steps.length} (${spec.steps[step]}%) · steps ${spec.steps.join(', ')} every ${spec.intervalMs} ms`,
    `limits: error rate ≤ ${spec.maxErrorRate}${spec.maxP99Ms === undefined ? '' : `, p99 ≤ ${spec.maxP99Ms} ms`}, at least ${spec.minRequests} requests a window`,
  ];
  if (typeof rollout.timeLeftMs === 'number') lines.push(`next verdict in ${Math.ceil(rollout.timeLeftMs / 1000)} s`);
  const window = rollout.window as { requests: number; errors: number; errorRate: number; p99Ms: number | null } | null | undefined;
  if (window) lines.push(`window so far: ${window.requests} requests, ${window.errors} errors (${window.errorRate}), p99 ${window.p99Ms ?? '-'} ms`);
  if (typeof rollout.reason === 'string') lines.push(`reason: ${rollout.reason}`);
  const history = (rollout.history as VerdictView[] | undefined) ?? [];
  if (history.length > 0) {
    lines.push('', table(['STEP', 'WEIGHT', 'VERDICT', 'AT', 'WHY'], history.map((verdict) =>
      [String(verdict.step + 1), `${verdict.weight}%`, verdict.verdict, verdict.at, verdict.reason])));
  }
  return `${lines.join('\n')}\n`;
}

const weightsText = (weights: unknown): string =>
  weights === null || weights === undefined ? '-' : Object.entries(weights as Record<string, number>).map(([pool, weight]) => `${pool}=${weight}`).join(' ');

export function formatEvents(events: ReadonlyArray<Record<string, unknown>>): string {
  if (events.length === 0) return 'no events\n';
  return `${table(['AT', 'REV', 'KIND', 'WHO', 'FROM', 'TO', 'WHY'], events.map((event) => [
    String(event.at), String(event.revision), String(event.kind), String(event.who), weightsText(event.from), weightsText(event.to), String(event.reason ?? ''),
  ]))}\n`;
}
