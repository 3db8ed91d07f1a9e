// Owns this instance's view of the targets' shared document (SPEC §11) and every change to it:
// compare-and-set against the store like the routing state (routing-control.ts), so two
// operators on two instances never lose an update, and the committed document is applied
// locally before the caller gets its answer.
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { emptyTargetsState, type TargetOverride, type TargetsState } from '../pool/target-admin.js';
import type { ChangeEvent, StateStore, TargetEventState } from './store.js';
import { checkIfMatch, requireStoreUp, unavailableOnError } from './change-guards.js';

/** One target's change: `edit` maps its current override (undefined: none) to the next (undefined: drop it). */
export interface TargetChangeRequest {
  pool: string;
  id: string;
  edit: (current: TargetOverride | undefined) => TargetOverride | undefined;
  /** The declared state before and after, for the event (null: added / removed). */
  describe: (before: TargetOverride | undefined, after: TargetOverride | undefined) => { from: TargetEventState | null; to: TargetEventState | null };
  /** Checked against the stored document right before each compare-and-set attempt; throws to refuse. */
  check?: (stored: TargetsState) => void;
  ifMatch?: number | undefined;
  actor: string;
  reason?: string | undefined;
}

export interface TargetControlOptions {
  store: StateStore;
  /** Called with each newer document this instance adopts, in revision order. */
  onApply: (state: TargetsState) => void;
  logger: Logger;
  /** Re-read the store this often (ms) to heal missed messages; off when undefined. */
  resyncMs?: number;
}

const MAX_CAS_ATTEMPTS = 8;

export class TargetControl {
  private state: TargetsState = emptyTargetsState();
  private unsubscribe: (() => void) | null = null;
  private offUp: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: TargetControlOptions) {}

  get current(): TargetsState {
    return this.state;
  }

  /** Loads the stored document; with the store down, starts on none (the file's targets as declared) and catches up later. */
  async start(): Promise<TargetsState> {
    const { store } = this.options;
    this.unsubscribe = store.subscribeTargets((state) => this.adopt(state));
    this.offUp = store.onUp(() => void this.resync());
    await this.resync();
    if (this.options.resyncMs !== undefined) {
      this.timer = setInterval(() => void this.resync(), this.options.resyncMs);
      this.timer.unref();
    }
    return this.state;
  }

  /**
   * Re-reads the store. An empty store (a Redis restarted without persistence, or flushed) is
   * seeded back with our document, as the routing state is; a stored revision below ours means
   * the store was reset and somebody has written since: the store is the truth, we follow it
   * (otherwise this instance would ignore every change until its own revision was passed).
   */
  async resync(): Promise<void> {
    const { store, logger } = this.options;
    try {
      const stored = await store.getTargets();
      if (stored === null) {
        if (this.state.revision > 0 && await store.compareAndSetTargets(null, this.state)) {
          logger.warn({ kind: 'state', revision: this.state.revision }, 'the state store had no targets document: seeded it back with ours');
        }
        return;
      }
      if (stored.revision >= this.state.revision) {
        this.adopt(stored);
        return;
      }
      // Older than ours: our own commit may have landed between that read and now. A read
      // started after it sees the commit; if it still shows an older document, the store was reset.
      const again = await store.getTargets();
      if (again === null || again.revision >= this.state.revision) {
        if (again !== null) this.adopt(again);
        return;
      }
      logger.warn({ kind: 'state', ours: this.state.revision, stored: again.revision },
        'the state store\'s targets document is older than ours (the store was reset): following the store');
      this.follow(again);
    } catch {
      // The store is down: keep the last document; its onUp brings us back here.
    }
  }

  /** Applies a document whatever its revision: the store's, after it was reset. */
  private follow(state: TargetsState): void {
    this.state = state;
    this.options.onApply(state);
  }

  /** Applies a document if it is newer than ours. */
  adopt(state: TargetsState): boolean {
    if (state.revision <= this.state.revision) return false;
    this.follow(state);
    return true;
  }

  async change(request: TargetChangeRequest): Promise<TargetsState> {
    const { store, logger } = this.options;
    requireStoreUp(store, `targets keep their revision ${this.state.revision}`);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const base = (await unavailableOnError(store.getTargets())) ?? emptyTargetsState();
      checkIfMatch(request.ifMatch, base.revision, 'targets revision');
      this.adopt(base);
      request.check?.(base);
      const before = base.pools[request.pool]?.[request.id];
      const after = request.edit(before);
      if (after === before) return base; // nothing to change: no revision, no event
      const next = withOverride(base, request.pool, request.id, after, request.actor);
      const { from, to } = request.describe(before, after);
      const event: ChangeEvent = {
        revision: next.revision, at: next.updatedAt, who: request.actor, kind: 'target', from: null, to: null,
        ...(request.reason === undefined ? {} : { reason: request.reason }),
        target: { pool: request.pool, id: request.id, from, to },
      };
      if (await unavailableOnError(store.compareAndSetTargets(base.revision, next, event))) {
        // Committed: ours now, even below our old revision (the store was reset meanwhile).
        if (!this.adopt(next)) this.follow(next);
        logger.info({ kind: 'admin', who: request.actor, pool: request.pool, target: request.id, from, to, revision: next.revision,
          reason: request.reason }, 'target changed');
        return next;
      }
    }
    throw new SwitchyardError('STATE_UNAVAILABLE', 'the change kept conflicting with concurrent changes; try again');
  }

  stop(): void {
    this.unsubscribe?.();
    this.offUp?.();
    if (this.timer !== null) clearInterval(this.timer);
    this.unsubscribe = this.offUp = this.timer = null;
  }
}

function withOverride(base: TargetsState, pool: string, id: string, override: TargetOverride | undefined, actor: string): TargetsState {
  const entries = { ...base.pools[pool] };
  if (override === undefined) delete entries[id];
  else entries[id] = override;
  const pools = { ...base.pools, [pool]: entries };
  if (Object.keys(entries).length === 0) delete pools[pool];
  return { revision: base.revision + 1, pools, updatedAt: new Date().toISOString(), updatedBy: actor };
}
