import t from 'tap';
import { PoolRates, RATE_SLOTS } from '../../src/observe/pool-rates.js';
import type { RequestRecord } from '../../src/observe/request-record.js';

const record = (pool: string | null, status = 200): RequestRecord => ({
  reqId: 'r', method: 'GET', url: '/', status, ms: 1, pool, version: null, target: null, retries: 0, bytes: 0,
});

function withClock(startMs = 1_700_000_000_000) {
  let now = startMs;
  const rates = new PoolRates(() => now);
  return { rates, advance: (ms: number) => { now += ms; } };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

t.test('counts requests and 5xx per pool per second, oldest first, current second last', async (t) => {
  const { rates, advance } = withClock();
  for (let i = 0; i < 3; i++) rates.requestFinished(record('blue'));
  rates.requestFinished(record('blue', 502));
  rates.requestFinished(record('green', 404)); // 4xx is the client's, not an error
  advance(1000);
  rates.requestFinished(record('blue', 500));
  rates.requestFinished(record(null, 502)); // no pool: not counted anywhere

  const snap = rates.snapshot(['blue', 'green', 'red']);
  t.same(Object.keys(snap), ['blue', 'green', 'red']);
  for (const series of Object.values(snap)) {
    t.equal(series.rps.length, RATE_SLOTS);
    t.equal(series.errors.length, RATE_SLOTS);
  }
  t.same(snap.blue!.rps.slice(-2), [4, 1], 'previous second 4 requests, current second 1');
  t.same(snap.blue!.errors.slice(-2), [1, 1]);
  t.equal(sum(snap.blue!.rps), 5);
  t.same(snap.green!.rps.slice(-2), [1, 0]);
  t.equal(sum(snap.green!.errors), 0);
  t.same(snap.red, { rps: new Array(RATE_SLOTS).fill(0), errors: new Array(RATE_SLOTS).fill(0) }, 'a pool without traffic is all zeros');
});

t.test('a second leaves the window after 60 s, and a reused slot starts from zero', async (t) => {
  const { rates, advance } = withClock(5_000_500);
  rates.requestFinished(record('blue'));
  rates.requestFinished(record('blue', 503));
  advance(59_000);
  let snap = rates.snapshot(['blue']).blue!;
  t.equal(snap.rps[0], 2, '59 s later the first second is the oldest slot');
  t.equal(snap.errors[0], 1);
  advance(1000); // same ring slot as the first second
  snap = rates.snapshot(['blue']).blue!;
  t.equal(sum(snap.rps), 0, '60 s later it is gone');
  rates.requestFinished(record('blue'));
  snap = rates.snapshot(['blue']).blue!;
  t.same([sum(snap.rps), sum(snap.errors), snap.rps.at(-1)], [1, 0, 1], 'the reused slot counts only the new second');
  advance(3_600_000);
  t.equal(sum(rates.snapshot(['blue']).blue!.rps), 0, 'an hour of silence reads as zeros');
});

t.test('every second of a minute lands in its own slot', async (t) => {
  const { rates, advance } = withClock(0);
  for (let second = 0; second < 90; second++) {
    for (let i = 0; i <= second % 7; i++) rates.requestFinished(record('blue', i === 0 && second % 10 === 0 ? 500 : 200));
    if (second < 89) advance(1000);
  }
  const snap = rates.snapshot(['blue']).blue!;
  const expected = Array.from({ length: RATE_SLOTS }, (_, i) => ((30 + i) % 7) + 1);
  t.same(snap.rps, expected, 'seconds 30..89');
  t.same(snap.errors, Array.from({ length: RATE_SLOTS }, (_, i) => ((30 + i) % 10 === 0 ? 1 : 0)));
});
