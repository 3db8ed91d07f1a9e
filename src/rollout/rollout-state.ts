// A canary rollout as data, and the decisions about it. Pure: the controller does the I/O.
import type { Weights } from '../routing/state.js';
import { quantileMs, type Counts } from './latency-histogram.js';

export interface RolloutSpec {
  pool: string;
  /** Ascending weights for `pool`, ending at 100. */
  steps: number[];
  intervalMs: number;
  /** Highest acceptable share of 5xx answers from `pool` in a step's window (0..1). */
  maxErrorRate: number;
  maxP99Ms?: number;
  /** Fewer requests than this in a window: hold the step instead of judging. */
  minRequests: number;
}

export type RolloutPhase = 'running' | 'completed' | 'aborted' | 'promoted';

export interface WindowMetrics {
  requests: number;
  errors: number;
  errorRate: number;
  p99Ms: number | null;
}

export interface Verdict {
  step: number;
  weight: number;
  at: string;
  verdict: 'pass' | 'fail' | 'hold';
  reason: string;
  window: WindowMetrics;
}

export interface SkippedStep {
  /** Index into spec.steps. */
  step: number;
  weight: number;
  at: string;
  reason: string;
}

export interface Rollout {
  id: string;
  version: number;
  spec: RolloutSpec;
  phase: RolloutPhase;
  /** Index into spec.steps of the step being served now. */
  step: number;
  stepStartedAt: number;
  /** Weights before the rollout: what an abort or a failed step restores. */
  baseline: Weights;
  /** Per instance, the pool's cumulative counts when the step started. */
  windowStart: Record<string, Counts>;
  history: Verdict[];
  /**
   * Steps not served because the pool already had at least their weight (a rollout never
   * lowers its pool's weight). Absent in rollouts stored before this field existed.
   */
  skipped?: SkippedStep[];
  startedAt: string;
  startedBy: string;
  endedAt?: string;
  reason?: string;
}

/** Problems with a requested spec, for a 400 before anything starts. */
export function specProblem(spec: RolloutSpec, poolNames: readonly string[]): string | null {
  if (!poolNames.includes(spec.pool)) return `no pool named ${spec.pool}`;
  if (spec.steps.length === 0) return 'steps must not be empty';
  for (let i = 0; i < spec.steps.length; i++) {
    const step = spec.steps[i]!;
    if (!Number.isInteger(step) || step < 1 || step > 100) return `steps[${i}] must be an integer from 1 to 100 (got ${step})`;
    if (i > 0 && step <= spec.steps[i - 1]!) return `steps must increase (steps[${i}] = ${step} after ${spec.steps[i - 1]})`;
  }
  if (spec.steps.at(-1) !== 100) return 'the last step must be 100 (a rollout ends with all traffic on the pool)';
  if (poolNames.length < 2) return 'a rollout needs another pool to take traffic from';
  return null;
}

/**
 * The weights for giving `pool` `weight`: the rest is shared by the other pools in
 * proportion to their baseline weights (equally when they had none), largest remainder first.
 */
export function weightsForStep(pool: string, weight: number, baseline: Weights, poolNames: readonly string[]): Weights {
  const others = poolNames.filter((name) => name !== pool);
  const rest = 100 - weight;
  const baseTotal = others.reduce((sum, name) => sum + (baseline[name] ?? 0), 0);
  const shares = others.map((name) => (baseTotal === 0 ? rest / others.length : (rest * (baseline[name] ?? 0)) / baseTotal));
  const floors = shares.map(Math.floor);
  let left = rest - floors.reduce((sum, value) => sum + value, 0);
  const order = shares.map((share, index) => [share - floors[index]!, index] as const).sort((a, b) => b[0] - a[0]);
  for (const [, index] of order) {
    if (left <= 0) break;
    floors[index]!++;
    left--;
  }
  const weights: Weights = { [pool]: weight };
  others.forEach((name, index) => (weights[name] = floors[index]!));
  return weights;
}

/**
 * Where a rollout goes next without moving traffic back: the first step at or after `from`
 * whose weight is above the pool's `current` weight, and the steps passed over on the way
 * (each at or below `current`). `next` is null when no step is above `current` (the pool
 * already has 100): the rollout has nothing left to do.
 */
export function nextStep(steps: readonly number[], from: number, current: number): { next: number | null; skipped: number[] } {
  const skipped: number[] = [];
  for (let index = from; index < steps.length; index++) {
    if (steps[index]! > current) return { next: index, skipped };
    skipped.push(index);
  }
  return { next: null, skipped };
}

/** The record of steps passed over because `pool` was at `current` already. */
export function skippedSteps(spec: RolloutSpec, indexes: readonly number[], current: number, at: string): SkippedStep[] {
  return indexes.map((step) => ({
    step,
    weight: spec.steps[step]!,
    at,
    reason: `${spec.pool} was at ${current} already (a rollout never lowers its pool's weight)`,
  }));
}

export function windowMetrics(counts: Counts): WindowMetrics {
  return {
    requests: counts.requests,
    errors: counts.errors,
    errorRate: counts.requests === 0 ? 0 : counts.errors / counts.requests,
    p99Ms: quantileMs(counts, 0.99),
  };
}

/** Judges a step's window against the spec's limits. */
export function judge(spec: RolloutSpec, window: WindowMetrics): { verdict: Verdict['verdict']; reason: string } {
  if (window.requests < spec.minRequests) {
    return { verdict: 'hold', reason: `only ${window.requests} requests in the window (minRequests ${spec.minRequests}): holding the step` };
  }
  if (window.errorRate > spec.maxErrorRate) {
    return { verdict: 'fail', reason: `error rate ${round(window.errorRate)} > maxErrorRate ${spec.maxErrorRate} (${window.errors}/${window.requests} answers were 5xx)` };
  }
  if (spec.maxP99Ms !== undefined && window.p99Ms !== null && window.p99Ms > spec.maxP99Ms) {
    return { verdict: 'fail', reason: `p99 ${window.p99Ms} ms > maxP99Ms ${spec.maxP99Ms}` };
  }
  return { verdict: 'pass', reason: `error rate ${round(window.errorRate)} ≤ ${spec.maxErrorRate}${window.p99Ms === null ? '' : `, p99 ${window.p99Ms} ms`}` };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
