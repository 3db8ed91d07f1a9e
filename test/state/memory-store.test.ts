import t from 'tap';
import { initialState, setWeights, type RoutingState } from '../../src/routing/state.js';
import { MemoryStore } from '../../src/state/memory-store.js';

const pools = ['blue', 'green'];
const s1 = initialState({ blue: 100 }, pools, { actor: 'a' });
const s2 = setWeights(s1, { blue: 50, green: 50 }, pools, { actor: 'b' });
const s3 = setWeights(s2, { green: 100 }, pools, { actor: 'c' });

t.test('starts empty and up', async (t) => {
  const store = new MemoryStore();
  t.equal(await store.get(), null);
  t.equal(store.up, true);
  t.match(store.health, { up: true, lastOkAt: String, error: null }, 'always answering');
});

t.test('compare-and-set on the revision', async (t) => {
  const store = new MemoryStore();
  t.equal(await store.compareAndSet(1, s1), false, 'nothing stored: only null matches');
  t.equal(await store.get(), null);
  t.equal(await store.compareAndSet(null, s1), true);
  t.same(await store.get(), s1);
  t.equal(await store.compareAndSet(null, s2), false, 'already initialised');
  t.same(await store.get(), s1, 'a failed CAS stores nothing');
  t.equal(await store.compareAndSet(2, s2), false, 'wrong expected revision');
  t.equal(await store.compareAndSet(1, s2), true);
  t.equal((await store.get())?.revision, 2);
  t.equal(await store.compareAndSet(1, s3), false, 'stale expected revision loses');
  t.equal((await store.get())?.revision, 2);
  t.equal(await store.compareAndSet(2, s3), true);
  t.same(await store.get(), s3);
});

t.test('two writers racing on the same revision: exactly one wins', async (t) => {
  const store = new MemoryStore();
  await store.compareAndSet(null, s1);
  const other = setWeights(s1, { blue: 10, green: 90 }, pools, { actor: 'other' });
  const results = await Promise.all([store.compareAndSet(1, s2), store.compareAndSet(1, other)]);
  t.same(results, [true, false]);
  t.same(await store.get(), s2);
});

t.test('subscribers see every committed state, in order, and nothing else', async (t) => {
  const store = new MemoryStore();
  const seenA: number[] = [];
  const seenB: RoutingState[] = [];
  const unsubscribeA = store.subscribe((state) => seenA.push(state.revision));
  store.subscribe((state) => seenB.push(state));
  await store.compareAndSet(null, s1);
  await store.compareAndSet(5, s2); // lost: not published
  await store.compareAndSet(1, s2);
  t.same(seenA, [1, 2]);
  t.same(seenB, [s1, s2]);

  unsubscribeA();
  await store.compareAndSet(2, s3);
  t.same(seenA, [1, 2], 'no calls after unsubscribe');
  t.same(seenB.map((state) => state.revision), [1, 2, 3]);
  unsubscribeA(); // idempotent
});

t.test('close drops every subscriber', async (t) => {
  const store = new MemoryStore();
  const seen: number[] = [];
  store.subscribe((state) => seen.push(state.revision));
  await store.close();
  await store.compareAndSet(null, s1);
  t.same(seen, []);
  t.same(await store.get(), s1);
});
