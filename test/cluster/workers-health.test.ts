// SPEC §15 workers: active health checks run in the primary only — one probe per target per
// interval whatever the number of workers, not one per worker.
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { targetUpstreamsFor, PROBE_PATH } from '../helpers/target-upstreams.js';
import { waitFor } from '../helpers/http-client.js';
import { startWorkers, workersConfigText } from '../helpers/workers.js';

const INTERVAL_MS = 200;
const WINDOW_MS = 2000;

t.test('workers: 2 probe each target once per interval', async (t) => {
  const upstreams = await targetUpstreamsFor(t, ['blue-a', 'blue-b', 'green']);
  const [blueA, blueB, green] = upstreams;
  const sy = await startWorkers(t, workersConfigText({
    pools: { blue: [blueA!.url, blueB!.url], green: [green!.url] },
    healthCheck: `{ path: ${PROBE_PATH}, intervalMs: ${INTERVAL_MS}, timeoutMs: 150, healthyThreshold: 1, unhealthyThreshold: 2 }`,
  }));
  t.equal(sy.workers().size, 2);

  // The window opens once every worker is up; it is closed for a target once a probe arrived after its end.
  const from = performance.now();
  const to = from + WINDOW_MS;
  await waitFor('a probe after the window on every target', () => upstreams.every((upstream) => upstream.probes.some((at) => at >= to)), { timeoutMs: WINDOW_MS + 10_000, intervalMs: 20 });
  const expected = WINDOW_MS / INTERVAL_MS;
  for (const upstream of upstreams) {
    const inWindow = upstream.probes.filter((at) => at >= from && at < to);
    const gaps = inWindow.slice(1).map((at, i) => at - inWindow[i]!).sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)] ?? 0;
    t.comment(`${upstream.name} (${upstream.id}): ${inWindow.length} probes in ${WINDOW_MS} ms, median gap ${median.toFixed(0)} ms`);
    t.ok(inWindow.length <= expected + 2, `${upstream.name}: at most ${expected + 2} probes in ${WINDOW_MS} ms (got ${inWindow.length}), not one per worker`);
    t.ok(inWindow.length >= expected / 2, `${upstream.name}: still probed every interval (${inWindow.length} ≥ ${expected / 2})`);
    t.ok(median >= INTERVAL_MS * 0.75, `${upstream.name}: probes ${INTERVAL_MS} ms apart (median gap ${median.toFixed(0)} ms), not interleaved from several processes`);
  }
});
