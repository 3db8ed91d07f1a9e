import type { Metrics } from '../../src/observe/metrics.js';
import type { RolloutController } from '../../src/rollout/rollout-controller.js';
import type { Fleet } from '../../src/state/fleet.js';
import t from 'tap';
import { buildAdminServer } from '../../src/admin/admin-server.js';
import type { AdminContext } from '../../src/admin/context.js';
import { createLogger } from '../../src/observe/logger.js';
import type { TargetSet } from '../../src/pool/target-set.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { RoutingControl } from '../../src/state/routing-control.js';
import type { TargetControl } from '../../src/state/target-control.js';
import { LogSink } from '../helpers/log-sink.js';

async function adminWith(token: string) {
  let ready = false;
  const store = new MemoryStore();
  const logger = createLogger('info', new LogSink());
  const control = new RoutingControl({
    store, poolNames: () => ['blue'], initialWeights: { blue: 100 }, poolReady: () => true, onApply: () => {}, logger,
  });
  await control.start();
  const pools = { pools: [], names: ['blue'], ready: () => true } as unknown as TargetSet;
  const context: AdminContext = {
    control, targets: {} as TargetControl, pools: () => pools, store, fleet: {} as Fleet, rollouts: {} as RolloutController, metrics: {} as Metrics, metricsPublic: false, ready: () => ready, reload: async () => ({}),
    instance: { id: 'test', startedAt: new Date(0).toISOString() }, token, logger,
  };
  const app = buildAdminServer(context);
  t.teardown(() => app.close());
  return { app, setReady: (value: boolean) => { ready = value; } };
}

t.test('/readyz follows readiness; /healthz is always 200', async (t) => {
  const { app, setReady } = await adminWith('');
  let res = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(res.statusCode, 503, 'not ready before serving');
  t.same(res.json(), { ready: false });
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive even when not ready');
  setReady(true);
  res = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { ready: true });
  setReady(false);
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'shutting down');
});

t.test('probes stay open behind a token, with or without a query string', async (t) => {
  const { app, setReady } = await adminWith('s3cret');
  setReady(true);
  for (const url of ['/healthz', '/readyz', '/healthz?verbose=1', '/readyz?x']) {
    t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, url);
    t.equal((await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer wrong' } })).statusCode, 200, `${url} with a wrong token`);
  }
  const status = await app.inject({ method: 'GET', url: '/status' });
  t.equal(status.statusCode, 401);
  t.same(status.json(), { error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
});
