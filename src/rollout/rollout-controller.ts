// Drives canary rollouts. The rollout lives in the state store, so any instance can show,
// abort or promote it; exactly one instance drives it at a time (a lease with a TTL), and if
// that instance dies another takes the lease and continues from the stored step. Verdicts
// use the whole fleet's counts for the canary pool (each instance heartbeats its meters).
import { randomUUID } from 'node:crypto';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { Weights } from '../routing/state.js';
import type { Fleet } from '../state/fleet.js';
import type { ChangeRequest, RoutingControl } from '../state/routing-control.js';
import type { StateStore } from '../state/store.js';
import { add, emptyCounts, subtract, type Counts } from './latency-histogram.js';
import type { PoolMeter } from './pool-meter.js';
import { judge, specProblem, weightsForStep, windowMetrics, type Rollout, type RolloutSpec, type Verdict } from './rollout-state.js';

export interface RolloutControllerOptions {
  store: StateStore;
  control: RoutingControl;
  poolNames: () => readonly string[];
  instanceId: string;
  meter: PoolMeter;
  fleet: Fleet;
  logger: Logger;
  /** How often each instance looks at the rollout (and renews the lease if it drives). */
  tickMs?: number;
  /** How long a driver's lease lasts without renewal: the failover time. */
  leaseMs?: number;
}

const LEASE = 'rollout';
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
    if (rollout?.phase === 'running') {
      throw new SwitchyardError('ROLLOUT_RUNNING', `a rollout of ${rollout.spec.pool} is running (step ${rollout.step + 1}/${rollout.spec.steps.length}); abort or promote it first`);
    }
  }

  async begin(spec: RolloutSpec, actor: string): Promise<Rollout> {
    const problem = specProblem(spec, this.options.poolNames());
    if (problem !== null) throw new SwitchyardError(problem.startsWith('no pool') ? 'UNKNOWN_POOL' : 'INVALID_BODY', problem);
    const { store, control } = this.options;
    const now = Date.now();
    const rollout: Rollout = {
      id: randomUUID(),
      version: 1,
      spec,
      phase: 'running',
      step: 0,
      stepStartedAt: now,
      baseline: control.current.weights,
      windowStart: await this.collect(spec.pool),
      history: [],
      startedAt: new Date(now).toISOString(),
      startedBy: actor,
    };
    if (!(await store.putRollout(null, rollout))) throw new SwitchyardError('ROLLOUT_RUNNING', 'a rollout is already running');
    try {
      await this.setWeights(weightsForStep(spec.pool, spec.steps[0]!, rollout.baseline, this.options.poolNames()),
        `rollout ${rollout.id.slice(0, 8)} step 1/${spec.steps.length}`, false);
    } catch (err) {
      await this.finish(rollout, 'aborted', `could not start: ${(err as Error).message}`, actor, false);
      throw err;
    }
    await this.event('rollout-start', actor, `${spec.pool} through ${spec.steps.join(', ')} every ${spec.intervalMs} ms`);
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
    if (rollout.step + 1 >= spec.steps.length) {
      const next = await this.record(rollout, { history, phase: 'completed', endedAt: new Date().toISOString(), reason: 'all steps passed' });
      await this.event('rollout-complete', 'rollout', `${spec.pool} at 100 after ${spec.steps.length} steps`);
      logger.info({ kind: 'rollout', id: next.id }, 'rollout completed');
      return;
    }
    const step = rollout.step + 1;
    const revision = this.options.control.current.revision;
    const next = await this.record(rollout, { history, step, stepStartedAt: Date.now(), windowStart: await this.collect(spec.pool) });
    try {
      await this.setWeights(weightsForStep(spec.pool, spec.steps[step]!, rollout.baseline, this.options.poolNames()),
        `rollout ${rollout.id.slice(0, 8)} step ${step + 1}/${spec.steps.length}`, false, revision);
      await this.event('rollout-step', 'rollout', `${spec.pool} to ${spec.steps[step]} (${reason})`);
    } catch (err) {
      if (err instanceof SwitchyardError && err.code === 'REVISION_MISMATCH') return; // an abort or promote got there first
      await this.finish(next, 'aborted', `could not move to step ${step + 1}: ${(err as Error).message}`, 'rollout', true);
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
