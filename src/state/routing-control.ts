// Owns this instance's view of the routing state and every change to it. Changes are
// compare-and-set against the store, so two operators can never lose each other's update;
// the committed state is applied locally before the caller gets its answer, so the very
// next request routes by it.
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import {
  flip, initialState, poolsGainingWeight, rollback, sameWeights, setWeights,
  type ChangeContext, type RoutingState, type Weights,
} from '../routing/state.js';
import { waitUntilUp, type StateStore } from './store.js';
import { checkIfMatch, requireStoreUp, unavailableOnError } from './change-guards.js';

export type Change =
  | { kind: 'flip'; pool: string }
  | { kind: 'weights'; weights: Weights }
  | { kind: 'rollback' };

export interface ChangeRequest extends ChangeContext {
  change: Change;
  /** The revision the caller based its change on (If-Match); stale → 412. */
  ifMatch?: number | undefined;
  /** Give weight to a pool even when it has no ready target. */
  force?: boolean | undefined;
  /** Who asks: operators' changes are refused while a rollout drives the weights. */
  source?: 'operator' | 'rollout';
}

export interface RoutingControlOptions {
  store: StateStore;
  poolNames: () => readonly string[];
  initialWeights: Weights;
  /** Whether a pool has at least one ready target (the POOL_UNHEALTHY guard). */
  poolReady: (pool: string) => boolean;
  /** Called with each newer state this instance adopts, in revision order. */
  onApply: (state: RoutingState) => void;
  logger: Logger;
  /** Re-read the store this often (ms) to heal missed messages; off when undefined. */
  resyncMs?: number;
  /** Checked before an operator's change (e.g. refused while a rollout runs). */
  gate?: (request: ChangeRequest) => Promise<void>;
}

/** How long start waits for the state store before starting on routing.initial. */
const STARTUP_WAIT_MS = 1500;

/** Compare-and-set attempts before giving up on a change that keeps losing races. */
const MAX_CAS_ATTEMPTS = 8;

export class RoutingControl {
  private readonly options: RoutingControlOptions;
  private state: RoutingState | null = null;
  private unsubscribe: (() => void) | null = null;
  private offUp: (() => void) | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;

  constructor(options: RoutingControlOptions) {
    this.options = options;
  }

  get current(): RoutingState {
    if (this.state === null) throw new Error('RoutingControl.start() has not run');
    return this.state;
  }

  /**
   * Loads the stored state (seeding it from `routing.initial` when the store is empty).
   * With the store unreachable it starts on `routing.initial` as revision 0, which any
   * stored state replaces as soon as the store is back.
   */
  async start(): Promise<RoutingState> {
    const { store } = this.options;
    this.unsubscribe = store.subscribe((state) => this.adopt(state));
    this.offUp = store.onUp(() => void this.resync());
    try {
      if (!(await waitUntilUp(store, STARTUP_WAIT_MS))) throw new Error(`no answer within ${STARTUP_WAIT_MS} ms`);
      await this.resync(true);
    } catch (err) {
      this.state = { ...this.initial(), revision: 0 };
      this.options.onApply(this.state);
      this.options.logger.error({ kind: 'state', err: (err as Error).message, weights: this.state.weights },
        'STATE STORE UNREACHABLE AT START: routing on routing.initial until it answers; changes are refused meanwhile');
    }
    if (this.options.resyncMs !== undefined) {
      this.resyncTimer = setInterval(() => void this.resync().catch(() => undefined), this.options.resyncMs);
      this.resyncTimer.unref();
    }
    return this.current;
  }

  /**
   * Re-reads the store and adopts what it holds if newer: heals a missed pub/sub message and
   * catches up after an outage. An empty store (new, or flushed) is seeded with our state.
   */
  async resync(rethrow = false): Promise<void> {
    const { store } = this.options;
    try {
      let stored = await store.get();
      if (stored === null) {
        const seed = this.state === null || this.state.revision === 0 ? this.initial() : this.state;
        const event = { revision: seed.revision, at: seed.updatedAt, who: seed.updatedBy, kind: 'initial', from: null, to: seed.weights };
        stored = (await store.compareAndSet(null, seed, event)) ? seed : await store.get();
      }
      if (stored !== null) this.adopt(stored);
    } catch (err) {
      if (rethrow) throw err;
    }
  }

  /** Applies a state if it is newer than ours; older or equal revisions are ignored. */
  adopt(state: RoutingState): boolean {
    if (this.state !== null && state.revision <= this.state.revision) return false;
    this.state = state;
    this.options.onApply(state);
    return true;
  }

  async change(request: ChangeRequest): Promise<RoutingState> {
    const { store, logger } = this.options;
    this.requireStore();
    if (request.source !== 'rollout' && this.options.gate !== undefined) {
      await this.options.gate(request);
      this.requireStore(); // the gate's own read may have just found the store down
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const base = (await unavailableOnError(store.get())) ?? this.current;
      checkIfMatch(request.ifMatch, base.revision, 'revision');
      const next = this.transition(base, request);
      // Asking for the routing already in place (a repeated flip, a retried command) is not a
      // change: committing it would overwrite `previous` and make rollback a no-op.
      if (sameWeights(base.weights, next.weights)) {
        this.adopt(base);
        return base;
      }
      this.guard(base, next, request.force === true);
      const event = { revision: next.revision, at: next.updatedAt, who: request.actor, kind: request.change.kind, from: base.weights, to: next.weights,
        ...(request.reason === undefined ? {} : { reason: request.reason }) };
      if (await unavailableOnError(store.compareAndSet(base.revision, next, event))) {
        this.adopt(next);
        logger.info({ kind: 'admin', who: request.actor, change: request.change, from: base.weights, to: next.weights,
          revision: next.revision, reason: request.reason, force: request.force === true }, 'routing changed');
        return next;
      }
      this.adopt(base); // somebody else committed: catch up, then retry on the fresh state
    }
    throw new SwitchyardError('STATE_UNAVAILABLE', 'the change kept conflicting with concurrent changes; try again');
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.offUp?.();
    this.offUp = null;
    if (this.resyncTimer !== null) clearInterval(this.resyncTimer);
    this.resyncTimer = null;
  }

  /** Changes are refused at once while the store is down: no caller waits for a store known to be gone. */
  private requireStore(): void {
    requireStoreUp(this.options.store, `routing continues on revision ${this.current.revision}`);
  }

  private initial(): RoutingState {
    return initialState(this.options.initialWeights, this.options.poolNames(), { actor: 'config:routing.initial' });
  }

  private transition(base: RoutingState, request: ChangeRequest): RoutingState {
    const pools = this.options.poolNames();
    const change = request.change;
    if (change.kind === 'flip') return flip(base, change.pool, pools, request);
    if (change.kind === 'weights') return setWeights(base, change.weights, pools, request);
    return rollback(base, pools, request);
  }

  private guard(base: RoutingState, next: RoutingState, force: boolean): void {
    if (force) return;
    const unready = poolsGainingWeight(base.weights, next.weights).filter((pool) => !this.options.poolReady(pool));
    if (unready.length > 0) {
      throw new SwitchyardError('POOL_UNHEALTHY', `pool ${unready.join(', ')} has no ready target (use force to override)`, { pools: unready });
    }
  }
}
