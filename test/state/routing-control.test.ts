import t, { type Test } from 'tap';
import { createLogger } from '../../src/observe/logger.js';
import { SwitchyardError } from '../../src/errors.js';
import { initialState, setWeights, type RoutingState } from '../../src/routing/state.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { RoutingControl, type ChangeRequest, type RoutingControlOptions } from '../../src/state/routing-control.js';
import type { ChangeEvent, StateStore } from '../../src/state/store.js';
import { LogSink } from '../helpers/log-sink.js';

const pools = ['blue', 'green'];

function setup(overrides: Partial<RoutingControlOptions> & { unready?: string[] } = {}) {
  const logs = new LogSink();
  const applied: RoutingState[] = [];
  const unready = new Set(overrides.unready ?? []);
  const store = overrides.store ?? new MemoryStore();
  const control = new RoutingControl({
    store,
    poolNames: () => pools,
    initialWeights: { blue: 100, green: 0 },
    poolReady: (pool) => !unready.has(pool),
    onApply: (state) => applied.push(state),
    logger: createLogger('info', logs),
    ...overrides,
  });
  return { control, store, applied, logs, unready };
}

async function rejectsCode(t: Test, promise: Promise<unknown>, code: string, label?: string): Promise<SwitchyardError | undefined> {
  const message = label ?? code;
  try {
    await promise;
    t.fail(`expected ${code} (${message})`);
    return undefined;
  } catch (err) {
    t.type(err, SwitchyardError, message);
    t.equal((err as SwitchyardError).code, code, message);
    return err as SwitchyardError;
  }
}

const req = (change: ChangeRequest['change'], extra: Partial<ChangeRequest> = {}): ChangeRequest => ({ change, actor: 'tester', ...extra });

t.test('current before start throws', async (t) => {
  const { control } = setup();
  t.throws(() => control.current, /start\(\) has not run/);
});

t.test('start initialises the store from initialWeights', async (t) => {
  const { control, store, applied } = setup();
  const state = await control.start();
  t.equal(state.revision, 1);
  t.same(state.weights, { blue: 100, green: 0 });
  t.equal(state.previous, null);
  t.equal(state.updatedBy, 'config:routing.initial');
  t.same(await store.get(), state, 'stored');
  t.same(applied.map((s) => s.revision), [1], 'applied exactly once');
  t.equal(control.current, state);
});

t.test('start adopts a state already in the store and ignores initialWeights', async (t) => {
  const store = new MemoryStore();
  const s1 = initialState({ green: 100 }, pools, { actor: 'earlier' });
  const s2 = setWeights(s1, { blue: 30, green: 70 }, pools, { actor: 'earlier' });
  await store.compareAndSet(null, s1);
  await store.compareAndSet(1, s2);
  const { control, applied } = setup({ store });
  const state = await control.start();
  t.equal(state.revision, 2);
  t.same(state.weights, { blue: 30, green: 70 });
  t.same(applied.map((s) => s.revision), [2]);
});

t.test('start loses the initialisation race to another instance and adopts its state', async (t) => {
  const theirs = initialState({ green: 100 }, pools, { actor: 'other-instance' });
  let sneaked = false;
  const store: StateStore = new (class extends MemoryStore {
    override async compareAndSet(expected: number | null, next: RoutingState, event?: ChangeEvent): Promise<boolean> {
      if (!sneaked) {
        sneaked = true;
        await super.compareAndSet(null, theirs);
      }
      return super.compareAndSet(expected, next, event);
    }
  })();
  const { control } = setup({ store });
  const state = await control.start();
  t.equal(state, theirs);
  t.same(control.current.weights, { blue: 0, green: 100 });
});

t.test('adopt ignores older and equal revisions', async (t) => {
  const { control, applied } = setup();
  const s1 = await control.start();
  const s2 = setWeights(s1, { blue: 50, green: 50 }, pools, { actor: 'x' });
  const s3 = setWeights(s2, { green: 100 }, pools, { actor: 'x' });
  t.equal(control.adopt(s3), true);
  t.equal(control.current, s3);
  t.equal(control.adopt(s2), false, 'older');
  t.equal(control.adopt({ ...s3, weights: { blue: 100, green: 0 } }), false, 'equal revision');
  t.equal(control.current, s3);
  t.same(applied.map((s) => s.revision), [1, 3], 'onApply only for newer states, in order');
});

t.test('states committed by others reach onApply through the subscription; stop unsubscribes', async (t) => {
  const { control, store, applied } = setup();
  const s1 = await control.start();
  const s2 = setWeights(s1, { blue: 60, green: 40 }, pools, { actor: 'other' });
  await store.compareAndSet(1, s2);
  t.equal(control.current.revision, 2);
  control.stop();
  const s3 = setWeights(s2, { green: 100 }, pools, { actor: 'other' });
  await store.compareAndSet(2, s3);
  t.equal(control.current.revision, 2, 'no longer listening');
  t.same(applied.map((s) => s.revision), [1, 2]);
  control.stop(); // idempotent
});

t.test('flip, weights and rollback commit, apply and log', async (t) => {
  const { control, store, applied, logs } = setup();
  await control.start();
  const s2 = await control.change(req({ kind: 'flip', pool: 'green' }, { reason: 'release 2.0' }));
  t.equal(s2.revision, 2);
  t.same(s2.weights, { blue: 0, green: 100 });
  t.equal(s2.updatedBy, 'tester');
  t.equal(s2.reason, 'release 2.0');
  t.equal(control.current, s2, 'applied before the caller gets its answer');
  t.same(await store.get(), s2);

  const s3 = await control.change(req({ kind: 'weights', weights: { blue: 90, green: 10 } }));
  t.same(s3.weights, { blue: 90, green: 10 });
  const s4 = await control.change(req({ kind: 'rollback' }));
  t.same(s4.weights, { blue: 0, green: 100 });
  t.equal(s4.revision, 4);
  t.same(applied.map((s) => s.revision), [1, 2, 3, 4]);

  const lines = logs.find({ kind: 'admin' });
  t.equal(lines.length, 3);
  t.match(lines[0], {
    who: 'tester', change: { kind: 'flip', pool: 'green' }, from: { blue: 100, green: 0 }, to: { blue: 0, green: 100 },
    revision: 2, reason: 'release 2.0', force: false, msg: 'routing changed',
  });
  t.match(lines[2], { change: { kind: 'rollback' }, revision: 4 });
});

t.test('asking for the routing already in place commits nothing and keeps rollback intact', async (t) => {
  const { control, store, applied, logs } = setup({ unready: ['blue'] });
  await control.start();
  const s2 = await control.change(req({ kind: 'flip', pool: 'green' }));
  const again = await control.change(req({ kind: 'flip', pool: 'green' }, { actor: 'retrying-cli' }));
  t.equal(again, s2, 'the current state, unchanged');
  const same = await control.change(req({ kind: 'weights', weights: { green: 100 } }, { ifMatch: 2 }));
  t.equal(same.revision, 2);
  await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'green' }, { ifMatch: 1 })), 'REVISION_MISMATCH', 'If-Match still applies');
  t.equal(await store.get(), s2);
  t.same(applied.map((s) => s.revision), [1, 2]);
  t.equal(logs.find({ kind: 'admin' }).length, 1, 'only the real change is logged');
  const back = await control.change(req({ kind: 'rollback' }, { force: true }));
  t.same(back.weights, { blue: 100, green: 0 }, 'rollback still returns to blue');
});

t.test('invalid changes throw and leave everything unchanged', async (t) => {
  const { control, store, applied, logs } = setup();
  const s1 = await control.start();
  await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'purple' })), 'UNKNOWN_POOL');
  await rejectsCode(t, control.change(req({ kind: 'weights', weights: { blue: 90, green: 9 } })), 'INVALID_WEIGHTS');
  await rejectsCode(t, control.change(req({ kind: 'weights', weights: { blue: 90, purple: 10 } })), 'UNKNOWN_POOL');
  await rejectsCode(t, control.change(req({ kind: 'rollback' })), 'NO_PREVIOUS');
  t.equal(control.current, s1);
  t.equal(await store.get(), s1);
  t.equal(applied.length, 1);
  t.equal(logs.find({ kind: 'admin' }).length, 0);
});

t.test('ifMatch: stale → REVISION_MISMATCH, current → commits', async (t) => {
  const { control, store } = setup();
  await control.start();
  await control.change(req({ kind: 'flip', pool: 'green' }));
  const err = await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'blue' }, { ifMatch: 1 })), 'REVISION_MISMATCH');
  t.equal(err?.status, 412);
  t.same(err?.details, { revision: 2 });
  await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'blue' }, { ifMatch: 3 })), 'REVISION_MISMATCH', 'future revision');
  await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'blue' }, { ifMatch: Number.NaN })), 'REVISION_MISMATCH', 'unparseable');
  t.equal((await store.get())?.revision, 2, 'unchanged');
  const s3 = await control.change(req({ kind: 'flip', pool: 'blue' }, { ifMatch: 2 }));
  t.equal(s3.revision, 3);
});

t.test('POOL_UNHEALTHY guard and force', async (t) => {
  const { control, store, unready } = setup({ unready: ['green'] });
  const s1 = await control.start();
  const err = await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'green' })), 'POOL_UNHEALTHY');
  t.equal(err?.status, 409);
  t.same(err?.details, { pools: ['green'] });
  await rejectsCode(t, control.change(req({ kind: 'weights', weights: { blue: 99, green: 1 } })), 'POOL_UNHEALTHY', 'any weight counts');
  t.equal(await store.get(), s1, 'unchanged');

  const forced = await control.change(req({ kind: 'weights', weights: { blue: 90, green: 10 } }, { force: true }));
  t.same(forced.weights, { blue: 90, green: 10 });

  const away = await control.change(req({ kind: 'weights', weights: { blue: 95, green: 5 } }));
  t.same(away.weights, { blue: 95, green: 5 }, 'taking weight away from an unready pool is allowed');

  // Rolling back to more green is guarded too.
  await rejectsCode(t, control.change(req({ kind: 'rollback' })), 'POOL_UNHEALTHY');
  unready.clear();
  const rolled = await control.change(req({ kind: 'rollback' }));
  t.same(rolled.weights, { blue: 90, green: 10 });
});

t.test('the guard checks every pool gaining weight', async (t) => {
  const { control } = setup({ unready: ['blue'] });
  await control.start();
  await control.change(req({ kind: 'flip', pool: 'green' }));
  await rejectsCode(t, control.change(req({ kind: 'rollback' })), 'POOL_UNHEALTHY', 'rollback to an unready blue');
  await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'blue' }, { force: false })), 'POOL_UNHEALTHY');
  const forced = await control.change(req({ kind: 'rollback' }, { force: true }));
  t.same(forced.weights, { blue: 100, green: 0 });
});

/** A memory store where another writer commits just before our next compare-and-set(s). */
class RacingStore extends MemoryStore {
  casCalls = 0;
  private readonly races: Array<(current: RoutingState) => RoutingState> = [];

  raceNext(...changes: Array<(current: RoutingState) => RoutingState>): void {
    this.races.push(...changes);
  }

  override async compareAndSet(expected: number | null, next: RoutingState): Promise<boolean> {
    this.casCalls++;
    const race = this.races.shift();
    if (race !== undefined) {
      const current = await super.get();
      if (current === null || !(await super.compareAndSet(current.revision, race(current)))) throw new Error('race setup failed');
    }
    return super.compareAndSet(expected, next);
  }
}

t.test('a CAS lost to a concurrent writer is retried on the fresh state without losing the other update', async (t) => {
  const store = new RacingStore();
  const { control, applied, logs } = setup({ store });
  await control.start();
  store.raceNext((current) => setWeights(current, { blue: 50, green: 50 }, pools, { actor: 'operator-2' }));
  const mine = await control.change(req({ kind: 'flip', pool: 'green' }));
  t.equal(store.casCalls, 3, 'init + lost attempt + retry');
  t.equal(mine.revision, 3, 'committed after the other change');
  t.same(mine.weights, { blue: 0, green: 100 });
  t.same(mine.previous, { revision: 2, weights: { blue: 50, green: 50 } }, 'the other update is what came before ours');
  t.same(await store.get(), mine);
  t.same(applied.map((s) => s.revision), [1, 2, 3], 'applied in revision order');
  t.match(logs.find({ kind: 'admin' }), [{ from: { blue: 50, green: 50 }, to: { blue: 0, green: 100 }, revision: 3 }]);

  const back = await control.change(req({ kind: 'rollback' }));
  t.same(back.weights, { blue: 50, green: 50 }, 'rollback returns to the concurrent update, not past it');
});

t.test('two concurrent changes through the same control both commit, one after the other', async (t) => {
  const { control, store } = setup();
  await control.start();
  const [a, b] = await Promise.all([
    control.change(req({ kind: 'flip', pool: 'green' }, { actor: 'alice' })),
    control.change(req({ kind: 'weights', weights: { blue: 70, green: 30 } }, { actor: 'bob' })),
  ]);
  t.same([a.revision, b.revision].sort(), [2, 3]);
  const last = a.revision === 3 ? a : b;
  const first = last === a ? b : a;
  t.same(last.previous, { revision: 2, weights: first.weights }, 'the later change was based on the earlier one');
  t.same(await store.get(), last);
  t.equal(control.current, last);
});

t.test('the guard is evaluated again on the fresh state after a lost CAS', async (t) => {
  const store = new RacingStore();
  const { control } = setup({ store, unready: ['green'] });
  await control.start();
  await control.change(req({ kind: 'weights', weights: { blue: 80, green: 20 } }, { force: true }));
  // 90/10 takes weight away from the unready green... until somebody commits 95/5 first:
  // on that fresh state the same change would give green weight, so it is refused.
  store.raceNext((current) => setWeights(current, { blue: 95, green: 5 }, pools, { actor: 'operator-2' }));
  await rejectsCode(t, control.change(req({ kind: 'weights', weights: { blue: 90, green: 10 } })), 'POOL_UNHEALTHY');
  t.same((await store.get())?.weights, { blue: 95, green: 5 }, 'the other update stands');
  t.equal(control.current.revision, 3);
});

t.test('a lost CAS with If-Match answers REVISION_MISMATCH, keeping the other update', async (t) => {
  const store = new RacingStore();
  const { control } = setup({ store });
  await control.start();
  store.raceNext((current) => setWeights(current, { blue: 50, green: 50 }, pools, { actor: 'operator-2' }));
  const err = await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'green' }, { ifMatch: 1 })), 'REVISION_MISMATCH');
  t.same(err?.details, { revision: 2 });
  t.same((await store.get())?.weights, { blue: 50, green: 50 });
  t.equal(control.current.revision, 2, 'caught up with the store');
});

t.test('a change that keeps losing gives up with STATE_UNAVAILABLE', async (t) => {
  const store = new RacingStore();
  const { control } = setup({ store });
  await control.start();
  let n = 0;
  store.raceNext(...Array.from({ length: 20 }, () => (current: RoutingState) =>
    setWeights(current, ++n % 2 === 0 ? { blue: 100 } : { blue: 50, green: 50 }, pools, { actor: 'busy' })));
  const err = await rejectsCode(t, control.change(req({ kind: 'flip', pool: 'green' })), 'STATE_UNAVAILABLE');
  t.equal(err?.status, 503);
  t.equal(store.casCalls, 1 + 8, 'bounded attempts');
  const stored = await store.get();
  t.equal(stored?.updatedBy, 'busy', 'only the other writer committed');
  t.equal(control.current.revision, stored?.revision);
});
