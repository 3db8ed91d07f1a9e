// The targets of a pool as an operator reads them (`switchyard targets`, `switchyard target …`).
// Pure: the admin API's TargetViews in, text out.
import { formatMs } from './duration.js';
import { age, paint, table, type Style } from './format.js';

/**
 * One target as `GET /pools/:pool/targets` answers it (SPEC §11). `ready`: takes new requests
 * now (state ready, healthy, not ejected). `drainedAt`: ISO time its last request finished
 * after it left rotation (null while requests remain, or in rotation). `removing`: deleted,
 * draining before it leaves. Read tolerantly: fields a newer server adds show in --json only.
 */
export interface TargetView {
  id: string;
  url: string;
  source: string;
  state: 'ready' | 'drain' | 'maint' | string;
  weight: number;
  effectiveWeight: number;
  healthy: boolean;
  ejected: boolean;
  ready: boolean;
  inflight: number;
  drainedAt: string | null;
  /** With `?fleet=1`: this target on every live instance (heartbeats). */
  fleet?: { instances: number; inflight: number; drainedEverywhere: boolean };
  removing?: boolean;
  lastCheck: { at: string; ok: boolean; status?: number; error?: string; ms: number } | null;
  /** `source: dns` only (SPEC §12): the answer's TTL (ms), when it last listed this address, and held through DNS failures. */
  ttlMs?: number | null;
  resolvedAt?: string | null;
  stale?: boolean;
}

export interface TargetsFormatOptions {
  color?: boolean;
  /** The clock for "drained 2m ago" (tests pin it). */
  now?: Date;
}

const STATE_STYLE: Record<string, Style> = { ready: 'green', drain: 'yellow', maint: 'dim' };

/**
 * A table of targets; `pools` maps pool name → its targets (one pool or all of them). TTL,
 * RESOLVED and STALE appear only when a target came from DNS, so a static pool's table is
 * as it was before discovery.
 */
export function formatTargets(pools: Record<string, readonly TargetView[]>, options: TargetsFormatOptions = {}): string {
  const color = options.color === true;
  const now = options.now ?? new Date();
  const all = Object.entries(pools).flatMap(([pool, targets]) => targets.map((target) => ({ pool, target })));
  if (all.length === 0) return 'no targets\n';
  const discovered = all.some(({ target }) => isDiscovered(target));
  const rows = all.map(({ pool, target }) => [
    pool,
    target.id,
    paint(target.state, STATE_STYLE[target.state] ?? null, color),
    String(target.weight),
    effectiveText(target),
    target.healthy ? 'yes' : paint('no', 'red', color),
    target.ejected ? paint('yes', 'red', color) : 'no',
    String(target.inflight),
    drainText(target, now),
    target.source,
    ...(discovered ? dnsCells(target, now, color) : []),
  ]);
  const header = ['POOL', 'TARGET', 'STATE', 'WEIGHT', 'EFFECTIVE', 'HEALTHY', 'EJECTED', 'INFLIGHT', 'DRAIN', 'SOURCE',
    ...(discovered ? ['TTL', 'RESOLVED', 'STALE'] : [])];
  return `${table(header.map((name) => paint(name, 'bold', color)), rows)}\n`;
}

/** A target listed by a DNS answer: the API adds `ttlMs` to those only. */
const isDiscovered = (target: TargetView): boolean => target.ttlMs !== undefined;

/** TTL `30s`, RESOLVED `12s ago`, STALE `yes` (held through DNS failures) / `no`; `-` for a target not from DNS. */
function dnsCells(target: TargetView, now: Date, color: boolean): string[] {
  if (!isDiscovered(target)) return ['-', '-', '-'];
  return [
    typeof target.ttlMs === 'number' ? formatMs(target.ttlMs) : '-',
    typeof target.resolvedAt === 'string' ? `${age(target.resolvedAt, now)} ago` : '-',
    target.stale === true ? paint('yes', 'yellow', color) : 'no',
  ];
}

/**
 * The weight the picker uses now: the declared one scaled by slow start, 0 out of rotation.
 * A fraction (slow start) keeps one decimal; a ramp shows its share, e.g. `12.5 (13%)`.
 */
function effectiveText(target: TargetView): string {
  const value = target.effectiveWeight;
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  if (value <= 0 || value >= target.weight || target.weight <= 0) return text;
  return `${text} (${Math.round((value / target.weight) * 100)}%)`;
}

/** `removing`, `draining` (requests remain), `drained 4s ago`; `-` for a target in rotation. */
function drainText(target: TargetView, now: Date): string {
  const removing = target.removing === true ? 'removing, ' : '';
  if (target.drainedAt !== null) return `${removing}drained ${age(target.drainedAt, now)} ago`;
  if (target.state !== 'ready' || target.removing === true) return `${removing}draining`;
  return '-';
}

/** One line for a target after a change: `blue 127.0.0.1:3001: drain, weight 100 (in-flight 2)`. */
export function targetLine(pool: string, target: TargetView): string {
  const health = target.ejected ? 'ejected' : target.healthy ? 'healthy' : 'unhealthy';
  const drain = target.state === 'ready' && target.removing !== true ? '' : target.drainedAt === null ? ', draining' : ', drained';
  return `${pool} ${target.id}: ${target.removing === true ? 'removing' : target.state}, weight ${target.weight}, ${health}, in-flight ${target.inflight}${drain}`;
}
