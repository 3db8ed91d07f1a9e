// SPEC §15: a flip's 200 only after every live worker acked its revision (the primary's barrier).
// A fake clock drives every deadline: no test sleeps.
import t from 'tap';
import { AckBarrier, type BarrierClock, type BarrierResult } from '../../src/cluster/ack-barrier.js';

/** Time moves only when `advance` says; timers fire in deadline order. */
class FakeClock implements BarrierClock {
  time = 0;
  private readonly timers = new Set<{ at: number; fire: () => void }>();

  now(): number {
    return this.time;
  }

  schedule(fire: () => void, ms: number): () => void {
    const timer = { at: this.time + ms, fire };
    this.timers.add(timer);
    return () => void this.timers.delete(timer);
  }

  get pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    this.time += ms;
    for (const timer of [...this.timers].sort((a, b) => a.at - b.at)) {
      if (timer.at > this.time) break;
      this.timers.delete(timer);
      timer.fire();
    }
  }
}

/** A promise's result if it settled by now (after queued microtasks), else 'pending'. */
async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}

function barrierOf(...ids: string[]): { barrier: AckBarrier; clock: FakeClock } {
  const clock = new FakeClock();
  const barrier = new AckBarrier(clock);
  for (const id of ids) barrier.workerJoined(id);
  return { barrier, clock };
}

t.test('every worker acks: resolves with the time the last ack took', async (t) => {
  const { barrier, clock } = barrierOf('w1', 'w2');
  const wait = barrier.waitFor(5, 1000);
  clock.advance(2);
  barrier.acked('w1', 5);
  t.equal(await peek(wait), 'pending', 'one of two is not enough');
  clock.advance(3);
  barrier.acked('w2', 5);
  t.strictSame(await wait, { ok: true, ms: 5 });
  t.equal(clock.pending, 0, 'its deadline timer is cleared');
  t.equal(barrier.waiting, 0);
});

t.test('one late worker: the wait holds until it acks, short of the deadline', async (t) => {
  const { barrier, clock } = barrierOf('w1', 'w2', 'w3');
  const wait = barrier.waitFor(2, 100);
  barrier.acked('w1', 2);
  barrier.acked('w3', 2);
  clock.advance(99);
  t.equal(await peek(wait), 'pending');
  barrier.acked('w2', 2);
  t.strictSame(await wait, { ok: true, ms: 99 });
});

t.test('a worker that leaves no longer holds the barrier up', async (t) => {
  const { barrier, clock } = barrierOf('w1', 'w2');
  const wait = barrier.waitFor(3, 1000);
  barrier.acked('w1', 3);
  clock.advance(7);
  barrier.workerLeft('w2');
  t.strictSame(await wait, { ok: true, ms: 7 });
  t.strictSame(barrier.members, ['w1']);
  t.equal(clock.pending, 0);
  barrier.workerLeft('w2'); // twice: nothing happens
  barrier.acked('w2', 9); // a dead worker's last message, arriving late: ignored
  t.equal(barrier.ackedBy('w2'), undefined);
});

t.test('the last missing worker leaving resolves even without any ack', async (t) => {
  const { barrier } = barrierOf('w1');
  const wait = barrier.waitFor(1, 1000);
  barrier.workerLeft('w1');
  t.strictSame(await wait, { ok: true, ms: 0 });
});

t.test('deadline: resolves not ok, naming who is missing in join order, and clears nothing twice', async (t) => {
  const { barrier, clock } = barrierOf('w3', 'w1', 'w2');
  const wait = barrier.waitFor(4, 250);
  barrier.acked('w1', 4);
  clock.advance(249);
  t.equal(await peek(wait), 'pending');
  clock.advance(1);
  t.strictSame(await wait, { ok: false, missing: ['w3', 'w2'] });
  t.equal(barrier.waiting, 0);
  barrier.acked('w3', 4); // after the deadline: no effect on a settled wait
  t.equal(barrier.ackedBy('w3'), 4, 'still recorded for the next wait');
});

t.test('acks are cumulative: a newer revision counts for an older one, an older ack never lowers it', async (t) => {
  const { barrier, clock } = barrierOf('w1', 'w2');
  barrier.acked('w1', 10);
  const early = barrier.waitFor(8, 100);
  clock.advance(100);
  t.strictSame(await early, { ok: false, missing: ['w2'] }, 'w1 acked 10 ≥ 8 before the wait: only w2 is missing');
  const wait = barrier.waitFor(9, 100);
  barrier.acked('w2', 12);
  t.strictSame(await wait, { ok: true, ms: 0 }, 'an ack of 12 settles a wait for 9');
  barrier.acked('w1', 3); // an old ack delivered late
  t.equal(barrier.ackedBy('w1'), 10);
  t.strictSame(await barrier.waitFor(10, 100), { ok: true, ms: 0 }, 'everyone already has 10: at once');
});

t.test('acks for a revision below the wait do not count', async (t) => {
  const { barrier, clock } = barrierOf('w1');
  const wait = barrier.waitFor(6, 50);
  barrier.acked('w1', 5);
  clock.advance(50);
  t.strictSame(await wait, { ok: false, missing: ['w1'] });
});

t.test('no worker at all: resolves at once, no timer made', async (t) => {
  const { barrier, clock } = barrierOf();
  t.strictSame(await barrier.waitFor(1, 1000), { ok: true, ms: 0 });
  t.equal(clock.pending, 0);
});

t.test('a worker joining after the wait began is not waited for (its snapshot carried the revision)', async (t) => {
  const { barrier, clock } = barrierOf('w1');
  const wait = barrier.waitFor(2, 100);
  barrier.workerJoined('w2'); // a replacement: it will never ack 2 as such
  barrier.acked('w1', 2);
  t.strictSame(await wait, { ok: true, ms: 0 });
  t.equal(barrier.ackedBy('w2'), null, 'a member with no ack yet');
  const next = barrier.waitFor(3, 100);
  barrier.acked('w1', 3);
  t.equal(await peek(next), 'pending', 'a later wait does count it');
  clock.advance(100);
  t.strictSame(await next, { ok: false, missing: ['w2'] });
});

t.test('joining twice changes nothing; acks before joining are ignored', async (t) => {
  const { barrier } = barrierOf('w1');
  barrier.acked('w2', 7);
  t.equal(barrier.ackedBy('w2'), undefined);
  barrier.acked('w1', 4);
  barrier.workerJoined('w1');
  t.equal(barrier.ackedBy('w1'), 4, 'a repeated join does not forget the ack');
});

t.test('many concurrent waits resolve independently, each when its own revision is everywhere', async (t) => {
  const { barrier, clock } = barrierOf('w1', 'w2');
  const waits = new Map<number, Promise<BarrierResult>>();
  for (let revision = 1; revision <= 50; revision++) waits.set(revision, barrier.waitFor(revision, 1000));
  t.equal(barrier.waiting, 50);
  barrier.acked('w1', 50);
  barrier.acked('w2', 20);
  clock.advance(1);
  for (let revision = 1; revision <= 20; revision++) t.strictSame(await waits.get(revision), { ok: true, ms: 0 }, `revision ${revision}`);
  t.equal(await peek(waits.get(21)!), 'pending');
  t.equal(barrier.waiting, 30);
  clock.advance(4);
  barrier.acked('w2', 35);
  for (let revision = 21; revision <= 35; revision++) t.strictSame(await waits.get(revision), { ok: true, ms: 5 });
  clock.advance(995);
  for (let revision = 36; revision <= 50; revision++) t.strictSame(await waits.get(revision), { ok: false, missing: ['w2'] });
  t.equal(barrier.waiting, 0);
  t.equal(clock.pending, 0, 'every timer cleared or fired');
});

t.test('two waits for the same revision with different deadlines', async (t) => {
  const { barrier, clock } = barrierOf('w1');
  const short = barrier.waitFor(1, 10);
  const long = barrier.waitFor(1, 100);
  clock.advance(10);
  t.strictSame(await short, { ok: false, missing: ['w1'] });
  barrier.acked('w1', 1);
  t.strictSame(await long, { ok: true, ms: 10 });
});

t.test('close: open waits resolve with who is missing, timers cleared', async (t) => {
  const { barrier, clock } = barrierOf('w1', 'w2');
  const wait = barrier.waitFor(1, 1000);
  barrier.acked('w2', 1);
  barrier.close();
  t.strictSame(await wait, { ok: false, missing: ['w1'] });
  t.equal(clock.pending, 0);
  barrier.close(); // idempotent
});

t.test('a zero or negative timeout resolves at the next timer turn with who is missing', async (t) => {
  const { barrier, clock } = barrierOf('w1');
  const wait = barrier.waitFor(1, -5);
  clock.advance(0);
  t.strictSame(await wait, { ok: false, missing: ['w1'] });
});

t.test('the real clock: an ack resolves at once, a deadline with its timer unref-ed and cleared', async (t) => {
  const barrier = new AckBarrier();
  barrier.workerJoined('w1');
  const acked = barrier.waitFor(1, 60_000);
  barrier.acked('w1', 1);
  const result = await acked;
  t.ok(result.ok && result.ms >= 0 && result.ms < 60_000, 'resolved by the ack, long before its deadline');
  // The deadline's timer is unref-ed: something else must keep this test's process alive meanwhile
  // (in the primary, its servers do). Not a sleep: it is cleared as soon as the wait resolves.
  const keepAlive = setTimeout(() => undefined, 60_000);
  t.strictSame(await barrier.waitFor(2, 1), { ok: false, missing: ['w1'] }, 'a 1 ms deadline');
  clearTimeout(keepAlive);
  const timeouts = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = timeouts();
  const open = barrier.waitFor(3, 60_000);
  t.equal(timeouts(), before, 'an open wait holds no ref-ed timer: it never keeps the process alive');
  barrier.close();
  t.strictSame(await open, { ok: false, missing: ['w1'] });
});
