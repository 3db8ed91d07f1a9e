import t from 'tap';
import { formatStatus, parseWeightArgs, table } from '../../src/cli/format.js';
import type { StatusView } from '../../src/admin/status-view.js';

t.test('table pads columns', async (t) => {
  t.equal(table(['A', 'LONGER'], [['xyz', '1'], ['q', '22']]), 'A    LONGER\nxyz  1\nq    22');
});

t.test('parseWeightArgs', async (t) => {
  t.same(parseWeightArgs(['blue=90', 'green=10']), { blue: 90, green: 10 });
  t.match(parseWeightArgs(['blue=9o']), /expected POOL=N/);
  t.match(parseWeightArgs(['=5']), /expected POOL=N/);
  t.match(parseWeightArgs(['blue=1000']), /expected POOL=N/);
});

t.test('formatStatus shows pools, targets and health', async (t) => {
  const status = {
    revision: 4, weights: { blue: 0, green: 100 }, previous: null, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: 'ann@127.0.0.1', reason: 'release',
    store: { kind: 'memory', up: true }, instance: { id: 'x', startedAt: '' },
    pools: {
      blue: { version: '1.0.0', weight: 0, state: 'draining', inflight: 3, longLived: 0, drainingSince: null, drainedAt: null, readyTargets: 1, targets: [
        { url: 'http://a:1', ready: true, healthy: true, ejected: false, inflight: 3, lastCheck: { at: '', ok: true, status: 200, ms: 2 } },
        { url: 'http://a:2', ready: false, healthy: true, ejected: true, inflight: 0, lastCheck: null },
      ] },
      green: { version: '2.0.0', weight: 100, state: 'active', inflight: 0, longLived: 0, drainingSince: null, drainedAt: null, readyTargets: 0, targets: [
        { url: 'http://b:1', ready: false, healthy: false, ejected: false, inflight: 0, lastCheck: { at: '', ok: false, error: 'ECONNREFUSED', ms: 1 } },
      ] },
    },
  } as unknown as StatusView;
  const text = formatStatus(status);
  t.match(text, /revision 4 · updated 2026-01-01T00:00:00.000Z by ann@127.0.0.1 \(release\)/);
  t.match(text, /blue\s+1\.0\.0\s+0\s+draining\s+1\/2\s+3/);
  // An older server's targets carry no admin state or weight: `ready` and `-`.
  t.match(text, /http:\/\/a:1\s+yes\s+ready\s+-\s+healthy\s+3\s+ok 200 2ms/);
  t.match(text, /http:\/\/a:2\s+no\s+ready\s+-\s+ejected\s+0\s+-/);
  t.match(text, /http:\/\/b:1\s+no\s+ready\s+-\s+unhealthy\s+0\s+fail ECONNREFUSED 1ms/);
});

t.test('formatStatus lists the workers (SPEC §15), a starting one marked; nothing without them', async (t) => {
  const status = {
    revision: 1, weights: { blue: 100 }, previous: null, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: 'config', store: { kind: 'memory', up: true },
    instance: { id: 'x', startedAt: '' }, pools: {},
  } as unknown as StatusView;
  t.notMatch(formatStatus(status), /workers/);
  const withWorkers = { ...status, workers: [{ slot: 1, pid: 4101, ready: true, seq: 3 }, { slot: 2, pid: 4177, ready: false, seq: null }] } as unknown as StatusView;
  t.match(formatStatus(withWorkers), /^workers 2: 1 pid 4101 · 2 pid 4177 starting$/m);
  const respawning = { ...status, workers: [{ slot: 1, pid: 4101, ready: true, seq: 3 }, { slot: 2, pid: null, ready: false, seq: null }] } as unknown as StatusView;
  t.match(formatStatus(respawning), /^workers 2: 1 pid 4101 · 2 respawning$/m);
});

