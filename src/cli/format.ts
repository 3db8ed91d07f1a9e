// Human-readable output for the CLI. Pure: data in, text out.
import type { StatusView } from '../admin/status-view.js';
import { formatMs } from './duration.js';

/** ANSI styles for terminal output; every painted cell ends with a reset. */
const STYLES = { green: '\x1b[32m', yellow: '\x1b[33m', red: '\x1b[31m', dim: '\x1b[2m', bold: '\x1b[1m' } as const;
export type Style = keyof typeof STYLES;
const RESET = '\x1b[0m';
const ANSI = /\x1b\[[0-9;]*m/g;

export function paint(text: string, style: Style | null, color: boolean): string {
  return color && style !== null && text !== '' ? `${STYLES[style]}${text}${RESET}` : text;
}

/** Length as seen on a terminal: ANSI colour codes take no room. */
export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => visibleLength(row[column] ?? ''))));
  return all.map((row) => row.map((cell, column) => cell + ' '.repeat(widths[column]! - visibleLength(cell))).join('  ').trimEnd()).join('\n');
}

export interface StatusFormatOptions {
  /** ANSI colours (only when stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
  /** The clock for "draining 4s" / "drained 2m ago" (tests pin it). */
  now?: Date;
}

/** State colours: active green, split and draining yellow, drained and standby dim. */
const STATE_STYLE: Record<string, Style> = { active: 'green', split: 'yellow', draining: 'yellow', drained: 'dim', standby: 'dim' };

export function formatStatus(status: StatusView, options: StatusFormatOptions = {}): string {
  const color = options.color === true;
  const now = options.now ?? new Date();
  const pools = Object.entries(status.pools);
  const header = (names: string[]) => names.map((name) => paint(name, 'bold', color));
  const summary = table(
    header(['POOL', 'VERSION', 'WEIGHT', 'STATE', 'HEALTHY', 'INFLIGHT']),
    pools.map(([name, pool]) => {
      const total = pool.targets.length;
      const healthStyle: Style | null = total > 0 && pool.readyTargets === 0 ? 'red' : pool.readyTargets < total ? 'yellow' : null;
      return [
        name,
        pool.version,
        String(pool.weight),
        paint(stateText(pool, now), STATE_STYLE[pool.state] ?? null, color),
        paint(`${pool.readyTargets}/${total}`, healthStyle, color),
        String(pool.inflight),
      ];
    }),
  );
  const targets = table(
    header(['POOL', 'TARGET', 'READY', 'STATE', 'WEIGHT', 'HEALTH', 'INFLIGHT', 'LAST CHECK']),
    pools.flatMap(([name, pool]) => pool.targets.map((target) => {
      const health = target.ejected ? 'ejected' : target.healthy ? 'healthy' : 'unhealthy';
      const check = target.lastCheck;
      // SPEC §11 fields; an older server has none of them.
      const state = target.removing === true ? 'removing' : target.state ?? 'ready';
      const weight = target.weight === undefined ? '-'
        : target.ready && target.effectiveWeight !== undefined && target.effectiveWeight < target.weight
          ? `${target.effectiveWeight}/${target.weight}` : String(target.weight);
      return [
        name,
        target.url,
        target.ready ? 'yes' : paint('no', 'red', color),
        paint(state, state === 'ready' ? null : 'yellow', color),
        weight,
        paint(health, health === 'healthy' ? 'green' : 'red', color),
        String(target.inflight),
        check === null ? '-' : paint(`${check.ok ? 'ok' : 'fail'} ${check.error ?? check.status ?? ''} ${check.ms}ms`, check.ok ? null : 'red', color),
      ];
    })),
  );
  const by = `revision ${status.revision} · updated ${status.updatedAt} by ${status.updatedBy}${status.reason ? ` (${status.reason})` : ''}`;
  const store = storeText(status.store as StoreView, now, color);
  // A discovering pool's DNS state goes on its own line under the pool's row.
  const [head = '', ...poolRows] = summary.split('\n');
  const summaryWithDiscovery = [head, ...poolRows.flatMap((row, index) => {
    const discovery = pools[index]![1].discovery;
    return discovery === undefined ? [row] : [row, `  ${discoveryText(discovery, now, color)}`];
  })].join('\n');
  const warnings = certificateWarnings((status as { certificates?: unknown }).certificates, now, color).map((line) => `${line}\n`).join('');
  const workers = workersText((status as { workers?: unknown }).workers, color);
  return `${by}\n${store}\n${workers}${warnings}\n${summaryWithDiscovery}\n\n${targets}\n`;
}

/** /status's `workers` (SPEC §15; absent with one process or from an older server). */
interface WorkerView {
  slot: number;
  /** Null while the slot waits out a back-off. */
  pid: number | null;
  ready: boolean;
}

/** `workers 2: 1 pid 4101 · 2 pid 4102` — a worker still starting or a slot respawning in yellow. Empty without workers. */
function workersText(workers: unknown, color: boolean): string {
  if (!Array.isArray(workers) || workers.length === 0) return '';
  const each = (workers as WorkerView[]).map(({ slot, pid, ready }) =>
    paint(pid === null ? `${slot} respawning` : `${slot} pid ${pid}${ready ? '' : ' starting'}`, ready ? null : 'yellow', color));
  return `workers ${workers.length}: ${each.join(' · ')}\n`;
}

/** `switchyard status` warns about an edge certificate this close to its notAfter (SPEC §13). */
export const CERTIFICATE_WARNING_MS = 14 * 24 * 3600 * 1000;

/** /status's `certificates` (SPEC §13; absent without a TLS listener or from an older server). */
interface CertificateView {
  names: string[];
  notAfter: string;
  file: string;
}

/** One warning line per certificate that expires within CERTIFICATE_WARNING_MS (red once expired). */
function certificateWarnings(certificates: unknown, now: Date, color: boolean): string[] {
  if (!Array.isArray(certificates)) return [];
  return (certificates as CertificateView[]).flatMap(({ names, notAfter, file }) => {
    const left = Date.parse(notAfter) - now.getTime();
    if (!(left < CERTIFICATE_WARNING_MS)) return [];
    const when = left <= 0 ? `EXPIRED ${age(notAfter, now)} ago` : `expires in ${timeLeft(left)}`;
    return [paint(`warning: certificate ${names.join(', ')} ${when} (notAfter ${notAfter}, ${file})`, left <= 0 ? 'red' : 'yellow', color)];
  });
}

/** `13d04h`, `5h12m`, `40m`: time until a certificate's notAfter. */
function timeLeft(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const hours = Math.floor(minutes / 60);
  if (hours >= 24) return `${Math.floor(hours / 24)}d${String(hours % 24).padStart(2, '0')}h`;
  return hours > 0 ? `${hours}h${String(minutes % 60).padStart(2, '0')}m` : `${minutes}m`;
}

/** A discovering pool's `discovery` in /status (SPEC §12), read tolerantly (an older server sends no `dns`). */
interface DiscoveryView {
  stale: boolean;
  lastError: string | null;
  resolvedAt: string | null;
  lastGoodAt: string | null;
  ttlMs: number | null;
  dns?: string;
}

/**
 * `DNS ok, ttl 30s, resolved 3s ago`; while the last good set is held through failures
 * `DNS STALE (TIMEOUT, last query 2s ago), holding the last good set from 45s ago`; a failure with
 * nothing held (before the first answer, or an empty answer honoured after holdMs)
 * `DNS FAILING (NXDOMAIN), no targets from DNS; last good 6m ago`.
 */
function discoveryText(discovery: DiscoveryView, now: Date, color: boolean): string {
  const dns = typeof discovery.dns === 'string' ? `DNS ${discovery.dns}` : 'DNS';
  const ago = (iso: string | null) => (iso === null ? 'never' : `${age(iso, now)} ago`);
  if (discovery.lastError === null) {
    const ttl = discovery.ttlMs === null ? '' : `, ttl ${formatMs(discovery.ttlMs)}`;
    return `${dns} ok${ttl}, resolved ${ago(discovery.resolvedAt)}`;
  }
  if (discovery.stale) {
    const since = discovery.resolvedAt === null ? '' : `, last query ${ago(discovery.resolvedAt)}`;
    return `${dns} ${paint(`STALE (${discovery.lastError}${since})`, 'red', color)}, holding the last good set from ${ago(discovery.lastGoodAt)}`;
  }
  return `${dns} ${paint(`FAILING (${discovery.lastError})`, 'red', color)}, no targets from DNS; last good ${ago(discovery.lastGoodAt)}`;
}

/** /status's `store`: `{ kind, up }`, and since SPEC §10 also `lastOkAt` and `error` (read when present). */
interface StoreView {
  kind: string;
  up: boolean;
  lastOkAt?: string | null;
  error?: string | null;
}

function storeText(store: StoreView, now: Date, color: boolean): string {
  if (store.up) return `store ${store.kind} (up)`;
  const why = typeof store.error === 'string' && store.error !== '' ? `: ${store.error}` : '';
  const lastOk = typeof store.lastOkAt === 'string' ? `; last ok ${age(store.lastOkAt, now)} ago` : '';
  return `store ${store.kind} (${paint(`DOWN${why}`, 'red', color)}${lastOk})`;
}

/** `draining 4s` while in-flight requests finish, `drained 2m ago` after; the bare state otherwise. */
function stateText(pool: { state: string; drainingSince: string | null; drainedAt: string | null }, now: Date): string {
  if (pool.state === 'draining' && pool.drainingSince !== null) return `draining ${age(pool.drainingSince, now)}`;
  if (pool.state === 'drained' && pool.drainedAt !== null) return `drained ${age(pool.drainedAt, now)} ago`;
  return pool.state;
}

/** `4s`, `2m05s`, `1h03m` since an ISO time (empty for one that does not parse). */
export function age(since: string, now: Date): string {
  const ms = now.getTime() - Date.parse(since);
  if (!Number.isFinite(ms)) return '';
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor(seconds / 60) % 60).padStart(2, '0')}m`;
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
  // Steps passed over because the pool had that much already, grouped by why.
  const skipped = (rollout.skipped as Array<{ weight: number; reason: string }> | undefined) ?? [];
  const byReason = new Map<string, number[]>();
  for (const entry of skipped) byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry.weight]);
  for (const [why, weights] of byReason) lines.push(`skipped ${weights.map((weight) => `${weight}%`).join(', ')}: ${why}`);
  const history = (rollout.history as VerdictView[] | undefined) ?? [];
  if (history.length > 0) {
    lines.push('', table(['STEP', 'WEIGHT', 'VERDICT', 'AT', 'WHY'], history.map((verdict) =>
      [String(verdict.step + 1), `${verdict.weight}%`, verdict.verdict, verdict.at, verdict.reason])));
  }
  return `${lines.join('\n')}\n`;
}

const weightsText = (weights: unknown): string =>
  weights === null || weights === undefined ? '-' : Object.entries(weights as Record<string, number>).map(([pool, weight]) => `${pool}=${weight}`).join(' ');

/** A target event's side (SPEC §11): `drain 100` (state, weight); `-` for none (added or removed). */
const targetStateText = (side: unknown): string => {
  if (side === null || typeof side !== 'object') return '-';
  const { state, weight } = side as { state?: unknown; weight?: unknown };
  return `${String(state)} ${String(weight)}`;
};

export function formatEvents(events: ReadonlyArray<Record<string, unknown>>): string {
  if (events.length === 0) return 'no events\n';
  return `${table(['AT', 'REV', 'KIND', 'WHO', 'FROM', 'TO', 'WHY'], events.map((event) => {
    // A target change names its target in KIND and shows its state and weight, not pool weights.
    const target = event.target as { pool?: unknown; id?: unknown; from?: unknown; to?: unknown } | undefined;
    const [kind, from, to] = target === undefined || target === null
      ? [String(event.kind), weightsText(event.from), weightsText(event.to)]
      : [`${String(event.kind)} ${String(target.pool)}/${String(target.id)}`, targetStateText(target.from), targetStateText(target.to)];
    return [String(event.at), String(event.revision), kind, String(event.who), from, to, String(event.reason ?? '')];
  }))}\n`;
}

/** POST /reload's answer (ReloadSummary in main.ts), read tolerantly. */
export interface ReloadView {
  reloaded?: boolean;
  addedTargets?: string[];
  removedTargets?: string[];
  addedPools?: string[];
  removedPools?: string[];
  discoveryChanged?: string[];
  protocolChanged?: string[];
  ignored?: string[];
}

export function formatReload(summary: ReloadView): string {
  const lines = ['config reloaded'];
  const parts: Array<[string, string[] | undefined]> = [
    ['pools added', summary.addedPools], ['pools removed', summary.removedPools],
    ['targets added', summary.addedTargets], ['targets removed', summary.removedTargets],
    ['discovery changed (targets follow the next answer)', summary.discoveryChanged],
    ['upstream protocol changed (new requests use it)', summary.protocolChanged],
    ['not applied (need a restart)', summary.ignored],
  ];
  for (const [what, list] of parts) if (list !== undefined && list.length > 0) lines.push(`  ${what}: ${list.join(', ')}`);
  if (lines.length === 1) lines[0] = 'config reloaded: no pool or target changed';
  return `${lines.join('\n')}\n`;
}

/** GET /instances' answer, read tolerantly (fields added later show up in --json only). */
export interface InstancesView {
  storeUp?: boolean;
  instances: ReadonlyArray<{
    id: string;
    host?: string;
    startedAt?: string;
    revision?: number;
    storeUp?: boolean;
    seenAt?: string;
    pools?: Record<string, { inflight?: number; longLived?: number }>;
  }>;
}

export function formatInstances(body: InstancesView, now = new Date()): string {
  const head = `${body.instances.length} live instance${body.instances.length === 1 ? '' : 's'}${body.storeUp === false ? ' · store DOWN (heartbeats may be stale)' : ''}`;
  if (body.instances.length === 0) return `${head}\n`;
  const rows = body.instances.map((instance) => [
    instance.id,
    instance.host ?? '-',
    String(instance.revision ?? '-'),
    instance.storeUp === false ? 'down' : 'up',
    Object.entries(instance.pools ?? {}).map(([pool, counts]) =>
      `${pool}=${counts.inflight ?? 0}${counts.longLived ? `(+${counts.longLived} ws)` : ''}`).join(' ') || '-',
    instance.startedAt === undefined ? '-' : `${age(instance.startedAt, now)} ago`,
    instance.seenAt === undefined ? '-' : `${age(instance.seenAt, now)} ago`,
  ]);
  return `${head}\n\n${table(['INSTANCE', 'HOST', 'REVISION', 'STORE', 'INFLIGHT', 'STARTED', 'SEEN'], rows)}\n`;
}
