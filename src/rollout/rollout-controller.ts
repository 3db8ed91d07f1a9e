// Drives canary rollouts. The rollout lives in the state store, so any instance can show,
// abort or promote it; exactly one instance drives it at a time (a lease with a TTL), and if
// that instance dies another takes the lease and continues from the stored step. Verdicts
// use the whole fleet's counts for the canary pool (each instance heartbeats its meters).
import { randomUUID } from 'node:crypto';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { RoutingState, Weights } from '../routing/state.js';
import type { Fleet } from '../state/fleet.js';
import type { ChangeRequest, RoutingControl } from '../state/routing-control.js';
import type { StateStore } from '../state/store.js';
import { add, emptyCounts, subtract, type Counts } from './latency-histogram.js';
import type { PoolMeter } from './pool-meter.js';
import {
  judge, nextStep, skippedSteps, specProblem, weightsForStep, windowMetrics, type Rollout, type RolloutSpec, type Verdict,
} from './rollout-state.js';

export interface RolloutControllerOptions {
  store: StateStore;
  control: RoutingControl;
  poolNames: () => readonly string[];
  instanceId: string;
  meter: Pick<PoolMeter, 'snapshot'>;
  fleet: Fleet;
  logger: Logger;
  /** How often each instance looks at the rollout (and renews the lease if it drives). */
  tickMs?: number;
  /** How long a driver's lease lasts without renewal: the failover time. */
  leaseMs?: number;
}

const LEASE = 'rollout';
/** Tries at raising the pool to a step when the routing keeps changing under it. */
const MAX_STEP_ATTEMPTS = 3;
const DEFAULT_TICK_MS = 250;
const DEFAULT_LEASE_MS = 3000;

export class RolloutController {
  private readonly tickMs: number;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  /** Whether this instance held the lease at its last tick. */
  driving = false;

  constructor(private readonly options: RolloutControllerOptions) {
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.driving) await this.options.store.releaseLease(LEASE, this.options.instanceId).catch(() => undefined);
    this.driving = false;
  }

  /** Refuses operators' routing changes while a rollout runs (RoutingControl's gate). */
  async gate(_request: ChangeRequest): Promise<void> {
    const rollout = await this.options.store.getRollout().catch(() => null);
    if (rollout?.phase === 'running') throw runningError(rollout);
  }

  /**
   * Starts a rollout of `spec.pool` from its current weight: steps at or below that weight are
   * skipped (recorded in `skipped`), so starting one never moves traffic back to another pool.
   * Errors: UNKNOWN_POOL / INVALID_BODY (400) for a bad spec, ROLLOUT_RUNNING (409),
   * POOL_ALREADY_ACTIVE (409) when the pool has 100 already, REVISION_MISMATCH (412) when the
   * routing changed between reading it and the first step, STATE_UNAVAILABLE (503).
   */
  async begin(spec: RolloutSpec, actor: string): Promise<Rollout> {
    const problem = specProblem(spec, this.options.poolNames());
    if (problem !== null) throw new SwitchyardError(problem.startsWith('no pool') ? 'UNKNOWN_POOL' : 'INVALID_BODY', problem);
    const { store } = this.options;
    const existing = await unavailableOnError(store.getRollout());
    if (existing?.phase === 'running') throw runningError(existing);
    const base = await this.routing();
    const current = base.weights[spec.pool] ?? 0;
    const { next: first, skipped } = nextStep(spec.steps, 0, current);
    if (first === null) {
      throw new SwitchyardError('POOL_ALREADY_ACTIVE',
        `${spec.pool} already has 100% of the traffic (revision ${base.revision}); a rollout has nothing to do (a rollout never lowers its pool's weight)`,
        { pool: spec.pool, weights: base.weights });
    }
    const now = Date.now();
    const at = new Date(now).toISOString();
    const rollout: Rollout = {
      id: randomUUID(),
      version: 1,
      spec,
      phase: 'running',
      step: first,
      stepStartedAt: now,
      baseline: base.weights,
      windowStart: await this.collect(spec.pool),
      history: [],
      skipped: skippedSteps(spec, skipped, current, at),
      startedAt: at,
      startedBy: actor,
    };
    if (!(await store.putRollout(null, rollout))) throw new SwitchyardError('ROLLOUT_RUNNING', 'a rollout is already running');
    try {
      // If-Match: the start was decided on this revision; a change meanwhile is a 412, not a step down.
      await this.setWeights(weightsForStep(spec.pool, spec.steps[first]!, rollout.baseline, this.options.poolNames()),
        `rollout ${rollout.id.slice(0, 8)} step ${first + 1}/${spec.steps.length}`, false, base.revision);
    } catch (err) {
      await this.finish(rollout, 'aborted', `could not start: ${(err as Error).message}`, actor, false);
      throw err;
    }
    const from = skipped.length === 0 ? '' : `; ${spec.pool} was at ${current}: skipped ${skipped.map((index) => spec.steps[index]).join(', ')}, starting at ${spec.steps[first]}`;
    await this.event('rollout-start', actor, `${spec.pool} through ${spec.steps.join(', ')} every ${spec.intervalMs} ms${from}`);
    return rollout;
  }

  async abort(actor: string): Promise<Rollout> {
    const rollout = await this.running();
    return this.finish(rollout, 'aborted', `aborted by ${actor}`, actor, true);
  }

  async promote(actor: string): Promise<Rollout> {
    const rollout = await this.running();
    const next = await this.record(rollout, { phase: 'promoted', reason: `promoted by ${actor}`, endedAt: new Date().toISOString() });
    await this.setWeights(weightsForStep(rollout.spec.pool, 100, rollout.baseline, this.options.poolNames()), `rollout promoted by ${actor}`, true);
    await this.event('rollout-promote', actor, `${rollout.spec.pool} to 100`);
    return next;
  }

  /** The rollout with what an operator wants to see now: time left and the live window. */
  async view(): Promise<Record<string, unknown> | null> {
    const rollout = await this.options.store.getRollout();
    if (rollout === null) return null;
    const running = rollout.phase === 'running';
    return {
      ...rollout,
      windowStart: undefined,
      weight: rollout.spec.steps[rollout.step],
      driver: running ? await this.options.store.leaseHolder(LEASE) : null,
      timeLeftMs: running ? Math.max(0, rollout.stepStartedAt + rollout.spec.intervalMs - Date.now()) : null,
      window: running ? windowMetrics(await this.windowOf(rollout)) : null,
    };
  }

  /** One look at the rollout: drive it if we hold (or can take) the lease and its step is due. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.step();
    } catch (err) {
      this.options.logger.warn({ kind: 'rollout', err: (err as Error).message }, 'rollout tick failed; retrying');
    } finally {
      this.ticking = false;
    }
  }

  private async step(): Promise<void> {
    const { store, instanceId, logger } = this.options;
    if (!store.up) return;
    const rollout = await store.getRollout();
    if (rollout === null || rollout.phase !== 'running') {
      if (this.driving) await store.releaseLease(LEASE, instanceId);
      this.driving = false;
      return;
    }
    const holding = await store.holdLease(LEASE, instanceId, this.leaseMs);
    if (holding && !this.driving) logger.info({ kind: 'rollout', id: rollout.id, step: rollout.step }, 'driving the rollout');
    this.driving = holding;
    if (!holding || Date.now() < rollout.stepStartedAt + rollout.spec.intervalMs) return;

    const { spec } = rollout;
    const window = windowMetrics(await this.windowOf(rollout));
    const { verdict, reason } = judge(spec, window);
    const entry: Verdict = { step: rollout.step, weight: spec.steps[rollout.step]!, at: new Date().toISOString(), verdict, reason, window };
    const history = [...rollout.history, entry];
    logger.info({ kind: 'rollout', id: rollout.id, ...entry }, `rollout step ${verdict}`);

    if (verdict === 'hold') {
      // Evidence keeps accumulating from the step's start; judge again after another interval.
      await this.record(rollout, { history, stepStartedAt: Date.now() });
      if (rollout.history.at(-1)?.verdict !== 'hold') await this.event('rollout-hold', 'rollout', reason);
      return;
    }
    if (verdict === 'fail') {
      await this.finish({ ...rollout, history }, 'aborted', `step ${rollout.step + 1} (${entry.weight}%) failed: ${reason}`, 'rollout', true);
      return;
    }
    // The pool may hold more than the step gave it (raised outside the rollout): steps at or
    // below its weight now are skipped, never applied.
    const base = await this.routing();
    const current = base.weights[spec.pool] ?? 0;
    const { next: step, skipped } = nextStep(spec.steps, rollout.step + 1, current);
    const passed = skippedSteps(spec, skipped, current, entry.at);
    const skippedText = skipped.length === 0 ? '' : `; skipped ${skipped.map((index) => spec.steps[index]).join(', ')} (${spec.pool} was at ${current})`;
    if (step === null) {
      const next = await this.record(rollout, { history, skipped: [...(rollout.skipped ?? []), ...passed], phase: 'completed',
        endedAt: new Date().toISOString(), reason: `all steps passed${skippedText}` });
      await this.event('rollout-complete', 'rollout', `${spec.pool} at 100 after ${spec.steps.length} steps${skippedText}`);
      logger.info({ kind: 'rollout', id: next.id }, 'rollout completed');
      return;
    }
    const next = await this.record(rollout, { history, step, skipped: [...(rollout.skipped ?? []), ...passed], stepStartedAt: Date.now(),
      windowStart: await this.collect(spec.pool) });
    try {
      await this.raiseTo(next, step, base.revision);
      await this.event('rollout-step', 'rollout', `${spec.pool} to ${spec.steps[step]} (${reason})${skippedText}`);
    } catch (err) {
      await this.finish(next, 'aborted', `could not move to step ${step + 1}: ${(err as Error).message}`, 'rollout', true);
    }
  }

  /**
   * Gives the rollout's pool the weight of `step`, compare-and-set on `revision`. When the
   * routing changed meanwhile it looks again (while the rollout is still this version): a
   * pool already at or above the step's weight is left as it is.
   */
  private async raiseTo(rollout: Rollout, step: number, revision: number): Promise<void> {
    const { spec } = rollout;
    const weight = spec.steps[step]!;
    const reason = `rollout ${rollout.id.slice(0, 8)} step ${step + 1}/${spec.steps.length}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.setWeights(weightsForStep(spec.pool, weight, rollout.baseline, this.options.poolNames()), reason, false, revision);
        return;
      } catch (err) {
        if (!(err instanceof SwitchyardError && err.code === 'REVISION_MISMATCH') || attempt >= MAX_STEP_ATTEMPTS) throw err;
      }
      // An abort or promote records the rollout first: a new version means it is not ours to move.
      if ((await this.options.store.getRollout())?.version !== rollout.version) return;
      const fresh = await this.routing();
      if ((fresh.weights[spec.pool] ?? 0) >= weight) return;
      revision = fresh.revision;
    }
  }

  private async running(): Promise<Rollout> {
    const rollout = await this.options.store.getRollout();
    if (rollout === null || rollout.phase !== 'running') throw new SwitchyardError('NO_ROLLOUT');
    return rollout;
  }

  /** Stores the rollout's next version (compare-and-set); a lost race means someone else acted. */
  private async record(rollout: Rollout, changes: Partial<Rollout>): Promise<Rollout> {
    const next: Rollout = { ...rollout, ...changes, version: rollout.version + 1 };
    if (!(await this.options.store.putRollout(rollout.version, next))) {
      throw new SwitchyardError('ROLLOUT_RUNNING', 'the rollout changed meanwhile; look again');
    }
    return next;
  }

  /** Ends a rollout; `restore` puts the weights from before it back (abort, failed step). */
  private async finish(rollout: Rollout, phase: 'aborted', reason: string, actor: string, restore: boolean): Promise<Rollout> {
    const next = await this.record(rollout, { phase, reason, endedAt: new Date().toISOString() });
    if (restore) await this.setWeights(rollout.baseline, `rollout ${phase}: ${reason}`, true);
    await this.event(actor === 'rollout' ? 'rollout-rollback' : 'rollout-abort', actor, reason);
    this.options.logger.warn({ kind: 'rollout', id: rollout.id, reason }, `rollout ${phase}`);
    return next;
  }

  /** The newest routing state: the store's if it is ahead of ours (another instance changed it). */
  private async routing(): Promise<RoutingState> {
    const stored = await unavailableOnError(this.options.store.get());
    if (stored !== null) this.options.control.adopt(stored);
    return this.options.control.current;
  }

  private async setWeights(weights: Weights, reason: string, force: boolean, ifMatch?: number): Promise<void> {
    await this.options.control.change({ change: { kind: 'weights', weights }, actor: 'rollout', reason, force, source: 'rollout', ifMatch });
  }

  private async event(kind: string, who: string, reason: string): Promise<void> {
    const { control, store } = this.options;
    const state = control.current;
    await store.recordEvent({ revision: state.revision, at: new Date().toISOString(), who, kind, from: null, to: state.weights, reason }).catch(() => undefined);
  }

  /** Per instance, the canary pool's cumulative counts now (our own live, others from heartbeats). */
  private async collect(pool: string): Promise<Record<string, Counts>> {
    const out: Record<string, Counts> = {};
    for (const report of await this.options.fleet.instances().catch(() => [])) {
      const counts = report.meters?.[pool];
      if (counts !== undefined) out[report.id] = counts;
    }
    out[this.options.instanceId] = this.options.meter.snapshot()[pool] ?? emptyCounts();
    return out;
  }

  private async windowOf(rollout: Rollout): Promise<Counts> {
    const now = await this.collect(rollout.spec.pool);
    let total = emptyCounts();
    for (const [instance, counts] of Object.entries(now)) total = add(total, subtract(counts, rollout.windowStart[instance]));
    return total;
  }
}

function runningError(rollout: Rollout): SwitchyardError {
  return new SwitchyardError('ROLLOUT_RUNNING',
    `a rollout of ${rollout.spec.pool} is running (step ${rollout.step + 1}/${rollout.spec.steps.length}); abort or promote it first`);
}

/** A store that fails while reading is a 503 (nothing was changed), never a 500. */
async function unavailableOnError<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (err) {
    throw new SwitchyardError('STATE_UNAVAILABLE', `the state store failed: ${(err as Error).message}`);
  }
}
