// The pure parts of SPEC §10's store deadlines: where a commit's deadline falls, the time
// limit on a call, and how the store's health follows connections and timeouts.
import t from 'tap';
import { answerMargin, commitDeadline, StoreTimeoutError, timeLimit } from '../../src/state/deadline.js';
import { HealthTracker } from '../../src/state/store-health.js';

t.test('the commit deadline is on Redis\'s clock and leaves the answer margin before we give up', async (t) => {
  t.equal(answerMargin(2000), 250, 'capped');
  t.equal(answerMargin(500), 125, 'a quarter of short limits');
  // Started at 1000 (our monotonic clock), Redis said 5_000_000 when we read it at 1100.
  t.equal(commitDeadline(5_000_000, 1000, 1100, 2000), 5_000_000 + 2000 - 250 - 100);
  // Whatever Redis's clock says (skewed by hours either way), the distance is the same.
  for (const redisNow of [1, 1_700_000_000_000, 1_700_000_000_000 - 3_600_000]) {
    t.equal(commitDeadline(redisNow, 0, 40, 500)! - redisNow, 500 - 125 - 40, `Redis clock at ${redisNow}`);
  }
  t.equal(commitDeadline(5_000_000, 1000, 1000 + 2000 - 250, 2000), null, 'budget spent: no commit is sent');
  t.equal(commitDeadline(5_000_000, 1000, 5000, 2000), null, 'long past');
  t.equal(commitDeadline(5_000_000, 1000, 1000 + 2000 - 251, 2000), 5_000_001, 'one ms left');
});

t.test('the deadline never falls after we give up, wherever in the round trip Redis read its clock', async (t) => {
  // Real time = our clock. Redis's clock is ours + skew; it reads it at some instant in [sent, received].
  const opTimeoutMs = 500;
  for (const skew of [-86_400_000, -1234, 0, 987, 86_400_000]) {
    for (const [startedAt, sent, received] of [[0, 0, 1], [0, 100, 350], [10, 11, 380]] as const) {
      for (const readAt of [sent, (sent + received) / 2, received]) {
        const deadline = commitDeadline(readAt + skew, startedAt, received, opTimeoutMs);
        if (deadline === null) continue;
        const realDeadline = deadline - skew;
        t.ok(realDeadline <= startedAt + opTimeoutMs - answerMargin(opTimeoutMs) + 1,
          `skew ${skew}, read at ${readAt}: commit by ${realDeadline}, we give up at ${startedAt + opTimeoutMs}`);
      }
    }
  }
});

t.test('timeLimit answers with the work or a StoreTimeoutError, whichever is first', async (t) => {
  t.equal(await timeLimit(Promise.resolve(7), 50, 'x'), 7);
  await t.rejects(timeLimit(Promise.reject(new Error('boom')), 50, 'x'), /boom/);
  const started = performance.now();
  const never = new Promise<never>(() => undefined);
  const err = await timeLimit(never, 60, 'a read').catch((e: unknown) => e);
  t.ok(err instanceof StoreTimeoutError);
  t.match((err as Error).message, 'no answer to a read within 60 ms');
  t.ok(performance.now() - started >= 55, 'waited the limit');
  t.ok(performance.now() - started < 1000, 'not much longer');
});

t.test('health: up only while connected and not stalled; a timeout downs it until something answers', async (t) => {
  const changes: boolean[] = [];
  const health = new HealthTracker((up) => changes.push(up));
  t.same(health.view, { up: false, lastOkAt: null, error: 'not connected yet' });
  health.connectionError('connect ECONNREFUSED 127.0.0.1:1');
  t.equal(health.view.error, 'connect ECONNREFUSED 127.0.0.1:1', 'says why it cannot connect');
  health.disconnected('connection closed');
  t.equal(health.view.error, 'connect ECONNREFUSED 127.0.0.1:1', 'the first reason is kept');
  t.same(changes, [], 'never up yet: no transition');

  health.connectedNow();
  t.equal(health.up, true);
  t.equal(health.view.error, null);
  t.ok(health.view.lastOkAt !== null);
  t.same(changes, [true]);

  health.timedOut('no answer to the heartbeat within 500 ms');
  t.same(health.view.up, false, 'a frozen Redis keeps its connection, but it is down');
  t.equal(health.view.error, 'no answer to the heartbeat within 500 ms');
  health.timedOut('no answer to a read within 500 ms');
  t.same(changes, [true, false], 'one transition');
  health.succeeded();
  t.same(health.view, { up: true, lastOkAt: health.view.lastOkAt, error: null });
  t.same(changes, [true, false, true]);

  health.disconnected('connection closed');
  t.same(health.view.up, false);
  t.equal(health.view.error, 'connection closed');
  health.succeeded(); // a stale answer cannot bring back a closed connection
  t.equal(health.up, false);
  health.connectedNow();
  t.same(changes, [true, false, true, false, true]);
});
