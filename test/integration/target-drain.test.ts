// Per-target admin states under real load (SPEC §11, issue #12): drain one of three targets
// while it holds slow requests — nothing fails, nothing new reaches it, its slow requests
// finish, `drainedAt` follows — then `ready` brings it back through slow start. Also: maint
// stops health checks while drain keeps them, weights split sequential traffic exactly, and
// a drained target's tunnels are cut at drain.timeoutMs.
import t, { type Test } from 'tap';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { admin } from '../helpers/fleet.js';
import { send, waitFor } from '../helpers/http-client.js';
import { startStampedLoad } from '../helpers/stamped-load.js';
import { arrivalsBetween, PROBE_PATH, targetUpstreamsFor, type TargetUpstream } from '../helpers/target-upstreams.js';
import { closed, echo, holdsFor, openWs, wsUpstreamFor } from '../helpers/tunnel.js';

const CHECK_MS = 100;
const fastChecks = { path: PROBE_PATH, intervalMs: CHECK_MS, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 3 };
const SLOW_MS = 2000;
const WINDOW_MS = 4000;
const MIN_PERCENT = 10;

async function poolOfThree(t: Test, overrides: Record<string, unknown> = {}) {
  const upstreams = await targetUpstreamsFor(t, ['t1', 't2', 't3']);
  const proxy = await startProxy({ blue: { version: 'blue-v1', targets: upstreams.map((upstream) => upstream.url) } },
    { healthCheck: fastChecks, log: { access: false }, ...overrides });
  t.teardown(() => proxy.close()); // registered after the upstreams: closes first
  return { upstreams, proxy };
}

async function listTargets(proxy: TestProxy): Promise<Array<Record<string, any>>> {
  const answer = await admin(proxy, 'GET', '/pools/blue/targets');
  if (answer.status !== 200) throw new Error(`GET targets: ${answer.status}`);
  return answer.body as unknown as Array<Record<string, any>>;
}

async function viewOf(proxy: TestProxy, id: string): Promise<Record<string, any>> {
  return (await listTargets(proxy)).find((view) => view.id === id)!;
}

/** Share of each upstream in `counts` (0 when nothing arrived anywhere). */
function shareOf(counts: Map<string, number>, name: string): number {
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  return total === 0 ? 0 : counts.get(name)! / total;
}

const pct = (share: number) => `${(share * 100).toFixed(2)}%`;

t.test('drain one of three under load: 0 failed, nothing new after the 200, slow requests finish, drainedAt; ready ramps per slow start', async (t) => {
  const { upstreams, proxy } = await poolOfThree(t, { slowStart: { windowMs: WINDOW_MS, minWeightPercent: MIN_PERCENT } });
  const load = startStampedLoad(proxy.url, { connections: 8 });
  let stopped = false;
  t.teardown(async () => void (stopped || (await load.stop())));
  await waitFor('load running', () => load.completed() > 300, { timeoutMs: 10_000 });

  // Slow requests on fresh connections; least-in-flight spreads them, so every target holds some.
  const slow = Array.from({ length: 9 }, () => send(proxy.url, `/slow?ms=${SLOW_MS}`));
  await waitFor('9 slow requests held upstream', () => upstreams.reduce((sum, upstream) => sum + upstream.slowHeld(), 0) === 9, { timeoutMs: 5000 });
  const slowHeldAt = Date.now();
  const target = upstreams.reduce((best, upstream) => (upstream.slowHeld() > best.slowHeld() ? upstream : best));
  const heldOnTarget = target.slowHeld();
  t.ok(heldOnTarget >= 1, `${target.name} holds ${heldOnTarget} slow requests`);

  // The proxy side of "nothing new": a spy on the pool's begin() (every attempt dispatched to a
  // target passes there) counts any start on the target once it is fenced. (A stale-connection
  // retry of a request begun before the fence would count too; with steady traffic and the
  // upstreams' 5 s keep-alive there is none.)
  const pool = proxy.switchyard.pools.get('blue')!;
  const live = pool.targets.find((candidate) => candidate.id === target.id)!;
  const begin = pool.begin.bind(pool);
  let startedWhileFenced = 0;
  pool.begin = (chosen, preview) => {
    if (chosen === live && live.health.fenced) startedWhileFenced++;
    begin(chosen, preview);
  };
  const drain = await admin(proxy, 'PUT', `/pools/blue/targets/${target.id}`, { state: 'drain', reason: 'test' });
  const drainedAnswerAt = performance.now();
  t.equal(drain.status, 200, 'drain answered 200');
  t.match(drain.body, { id: target.id, state: 'drain', ready: false, healthy: true, drainedAt: null });
  t.ok(drain.body.inflight >= heldOnTarget, `in flight on the drained target: ${drain.body.inflight}`);
  t.equal((await viewOf(proxy, target.id)).drainedAt, null, 'drainedAt null while its slow requests run');

  const answers = await Promise.all(slow);
  const slowDoneAt = Date.now();
  t.ok(answers.every((answer) => answer.status === 200), 'all 9 slow requests answered 200');
  t.equal(answers.filter((answer) => JSON.parse(answer.body.toString()).name === target.name).length, heldOnTarget,
    `the ${heldOnTarget} slow requests on ${target.name} completed there`);
  const drained = await waitFor('drainedAt set', async () => {
    const view = await viewOf(proxy, target.id);
    return view.drainedAt !== null ? view : undefined;
  }, { timeoutMs: 2000 });
  t.match(drained, { state: 'drain', inflight: 0 });
  t.ok(Date.parse(drained.drainedAt) >= slowHeldAt + SLOW_MS - 200 && Date.parse(drained.drainedAt) <= slowDoneAt + 100,
    `drainedAt when its slow requests ended (${Date.parse(drained.drainedAt) - slowHeldAt} ms after they were all held)`);

  // Keep the load on a while after the drain so "nothing new" covers real traffic, not an idle moment.
  const others = upstreams.filter((upstream) => upstream !== target);
  const servedByOthers = () => [...arrivalsBetween(others, drainedAnswerAt).values()].reduce((sum, count) => sum + count, 0);
  await waitFor('1000 requests served after the drain', () => servedByOthers() >= 1000, { timeoutMs: 20_000 });
  const arrivedAfter = target.arrivals.filter((arrival) => arrival.at > drainedAnswerAt);
  const sentAfter = target.arrivals.filter((arrival) => arrival.sentAt > drainedAnswerAt);
  const straddling = drain.body.inflight - heldOnTarget;
  t.comment(`after the drain's 200: ${servedByOthers()} requests to the other two; at ${target.name} ${sentAfter.length} sent after the 200, ` +
    `${arrivedAfter.length} arrived after it (in flight there at the 200 besides the slow ones: ${straddling})`);
  t.equal(sentAfter.length, 0, 'no request sent after the 200 reached the drained target');
  t.equal(startedWhileFenced, 0, 'the proxy started no request on it once fenced');
  // A request the proxy had already dispatched to it when the change landed may reach it after
  // the 200 (it waited for a connection): at most the ones in flight besides the slow ones.
  t.ok(arrivedAfter.length <= straddling, `arrivals after the 200 (${arrivedAfter.length}) ≤ requests already in flight there at the 200 (${straddling})`);

  // Back to ready: slow start from minWeightPercent. In its first tenth of the window the
  // factor is max(0.1, t/window) = 0.1, so with two siblings at full weight its expected share
  // is 0.1 / (0.1 + 2) = 4.76%, against a fair share of 33.3%.
  const readySentAt = performance.now();
  const ready = await admin(proxy, 'PUT', `/pools/blue/targets/${target.id}`, { state: 'ready' });
  const readyAt = performance.now();
  t.equal(ready.status, 200, 'ready answered 200');
  t.match(ready.body, { state: 'ready', ready: true, drainedAt: null });
  t.ok(ready.body.effectiveWeight <= MIN_PERCENT + 1, `effective weight right after ready: ${ready.body.effectiveWeight}`);
  const tenth = readySentAt + WINDOW_MS / 10; // readySentAt ≤ the slow start's origin: the span lies inside the first tenth
  await waitFor('the first tenth of the window passes', () => performance.now() >= tenth, { timeoutMs: WINDOW_MS, intervalMs: 20 });
  const early = arrivalsBetween(upstreams, readyAt, tenth);
  const f = MIN_PERCENT / 100;
  const expected = f / (f + 2);
  const earlyShare = shareOf(early, target.name);
  const earlyTotal = [...early.values()].reduce((a, b) => a + b);
  t.ok(earlyTotal >= 200, `enough requests in the span to measure a share (${earlyTotal})`);
  // Tolerance 2.5 points (bound 7.26%, under the issue's minWeightPercent of 10%): smooth WRR is
  // deterministic, every Σweight picks hit the split exactly; the slack is the credit each
  // target carries into the span (a pick or two, once) and the ramp's origin lying a few ms
  // before the span, i.e. ≤ 5 picks of the ≥ 200 measured. A picker that lets in-flight counts
  // bend the weights (weight / (inflight + 1)) measures ~12% here with 8 connections.
  const TOLERANCE = 0.025;
  t.comment(`first tenth of the slow start (${Math.round(tenth - readyAt)} ms, ${earlyTotal} requests): ` +
    `${target.name} got ${early.get(target.name)} = ${pct(earlyShare)}, expected ${pct(expected)} (fair share 33.33%)`);
  t.ok(earlyShare > 0, 'it takes some traffic at once');
  t.ok(earlyShare <= expected + TOLERANCE, `early share ${pct(earlyShare)} ≤ ${pct(expected)} + ${pct(TOLERANCE)}`);

  const windowOver = readyAt + WINDOW_MS;
  await waitFor('the window passes', () => performance.now() >= windowOver, { timeoutMs: WINDOW_MS + 1000, intervalMs: 20 });
  t.equal((await viewOf(proxy, target.id)).effectiveWeight, 100, 'full weight after the window');
  const fullFrom = performance.now();
  await waitFor('1500 requests after the window', () => [...arrivalsBetween(upstreams, fullFrom).values()].reduce((a, b) => a + b) >= 1500, { timeoutMs: 20_000 });
  const late = arrivalsBetween(upstreams, fullFrom);
  const lateShare = shareOf(late, target.name);
  t.comment(`after the window: ${target.name} got ${pct(lateShare)} of ${[...late.values()].reduce((a, b) => a + b)} requests`);
  t.ok(Math.abs(lateShare - 1 / 3) <= 0.05, `full share after the window: ${pct(lateShare)} ≈ 33.33% ± 5%`);

  stopped = true;
  const result = await load.stop();
  t.comment(`load: ${result.ok} requests answered 200, ${result.failed.length} failed`);
  t.same(result.failed, [], '0 failed requests overall');
});

t.test('drain keeps health checks going, maint stops them (probes counted at the upstream); ready resumes them', async (t) => {
  const { upstreams, proxy } = await poolOfThree(t);
  const [draining, maint, control] = upstreams as [TargetUpstream, TargetUpstream, TargetUpstream];
  t.equal((await admin(proxy, 'PUT', `/pools/blue/targets/${draining.id}`, { state: 'drain' })).status, 200);
  const maintAnswer = await admin(proxy, 'PUT', `/pools/blue/targets/${maint.id}`, { state: 'maint' });
  t.equal(maintAnswer.status, 200);
  t.match(maintAnswer.body, { state: 'maint', ready: false });
  const atAnswer = maint.probes.length;
  // A probe already on its way when maint landed may still arrive; two checks of the control
  // target later, nothing started before the change is still travelling.
  const controlAt = control.probes.length;
  await waitFor('two more checks of the control target', () => control.probes.length >= controlAt + 2, { timeoutMs: 5000 });
  const baseline = maint.probes.length;
  t.ok(baseline - atAnswer <= 1, `at most one probe already in flight at the change (${baseline - atAnswer})`);
  const [controlFrom, drainingFrom] = [control.probes.length, draining.probes.length];
  await waitFor('ten more check intervals', () => control.probes.length >= controlFrom + 10, { timeoutMs: 10 * CHECK_MS * 5 });
  t.equal(maint.probes.length, baseline, `maint: no probe in ${control.probes.length - controlFrom} check intervals`);
  t.ok(draining.probes.length >= drainingFrom + 8, `drain: still checked (${draining.probes.length - drainingFrom} probes meanwhile)`);
  const views = await listTargets(proxy);
  const drainView = views.find((view) => view.id === draining.id)!;
  t.match(drainView, { state: 'drain', healthy: true, ready: false, lastCheck: { ok: true } });
  t.ok(Date.now() - Date.parse(drainView.lastCheck.at) < 5 * CHECK_MS, 'the drained target\'s last check is recent');
  t.match(views.find((view) => view.id === maint.id), { state: 'maint', ready: false });

  const back = await admin(proxy, 'PUT', `/pools/blue/targets/${maint.id}`, { state: 'ready' });
  t.equal(back.status, 200);
  await waitFor('maint target probed again', () => maint.probes.length > baseline, { timeoutMs: 2000 });
  await waitFor('and back in rotation', async () => (await viewOf(proxy, maint.id)).ready === true, { timeoutMs: 2000 });
});

t.test('weights 1:2:3 split 1200 sequential requests within ±2% of 1/6, 2/6, 3/6', async (t) => {
  const { upstreams, proxy } = await poolOfThree(t);
  for (const [i, upstream] of upstreams.entries()) {
    const answer = await admin(proxy, 'PUT', `/pools/blue/targets/${upstream.id}`, { weight: i + 1 });
    t.equal(answer.status, 200);
    t.match(answer.body, { weight: i + 1, effectiveWeight: i + 1, state: 'ready' });
  }
  const from = performance.now();
  const client = new Client(proxy.url, { pipelining: 1 });
  t.teardown(() => client.close());
  for (let i = 0; i < 1200; i++) {
    const response = await client.request({ method: 'GET', path: `/w${i}` });
    await response.body.dump();
    if (response.statusCode !== 200) throw new Error(`request ${i}: ${response.statusCode}`);
  }
  const counts = arrivalsBetween(upstreams, from);
  t.comment(`1200 requests at weights 1:2:3 → ${upstreams.map((upstream) => `${upstream.name} ${counts.get(upstream.name)}`).join(', ')}`);
  for (const [i, upstream] of upstreams.entries()) {
    const share = shareOf(counts, upstream.name);
    t.ok(Math.abs(share - (i + 1) / 6) <= 0.02, `${upstream.name}: ${pct(share)} vs ${pct((i + 1) / 6)}`);
  }
});

t.test('tunnels on a drained target are cut after drain.timeoutMs; tunnels elsewhere stay; then drainedAt', async (t) => {
  const DRAIN_MS = 400;
  const upstreams = await Promise.all(['t1', 't2', 't3'].map((name) => wsUpstreamFor(t, name)));
  const proxy = await startProxy({ blue: { version: 'blue-v1', targets: upstreams.map((upstream) => upstream.url) } },
    { healthCheck: { ...fastChecks, path: '/' }, drain: { timeoutMs: DRAIN_MS }, log: { access: false } });
  t.teardown(() => proxy.close());
  t.teardown(() => void proxy.switchyard.proxy.tunnels.closeAll()); // runs first: close() waits for open tunnels
  // Least in-flight spreads six tunnels two per target.
  const sockets = await Promise.all(Array.from({ length: 6 }, (_, i) => openWs(t, proxy.url, `/ws${i}`)));
  const paths = sockets.map((_, i) => `/ws${i}`);
  const target = upstreams[0]!;
  const onTarget = sockets.filter((_, i) => target.peer(paths[i]!) !== undefined);
  const elsewhere = sockets.filter((socket) => !onTarget.includes(socket));
  t.ok(onTarget.length >= 1, `${onTarget.length} tunnels on the target to drain`);
  const cuts = onTarget.map((socket) => closed(socket));
  const id = new URL(target.url).host;

  const drainedAt = performance.now();
  const drain = await admin(proxy, 'PUT', `/pools/blue/targets/${id}`, { state: 'drain' });
  t.equal(drain.status, 200);
  t.match(drain.body, { state: 'drain', inflight: onTarget.length, drainedAt: null });
  t.equal((await echo(onTarget[0]!, 'during')).data.toString(), 't1:during', 'a tunnel works while its target drains');
  const fresh = await openWs(t, proxy.url, '/fresh');
  t.equal(target.peer('/fresh'), undefined, 'a new tunnel goes elsewhere');
  fresh.terminate();
  await Promise.all(cuts);
  const cutAfter = performance.now() - drainedAt;
  t.ok(cutAfter >= DRAIN_MS - 20, `cut at drain.timeoutMs, not before (${Math.round(cutAfter)} ms)`);
  t.ok(cutAfter < DRAIN_MS + 1000, 'and not much later');
  for (const socket of elsewhere) t.match((await echo(socket, 'after')).data.toString(), /^t[23]:after$/, 'a tunnel on another target stays open');
  const view = await waitFor('drainedAt set', async () => {
    const answer = await viewOf(proxy, id);
    return answer.drainedAt !== null ? answer : undefined;
  }, { timeoutMs: 2000 });
  t.match(view, { state: 'drain', inflight: 0 });
  t.ok(await holdsFor(() => target.open.size === 0, 50), 'no tunnel left on the drained target');
});
