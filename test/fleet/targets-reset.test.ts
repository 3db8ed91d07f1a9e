// A Redis that loses its data (restarted without persistence, flushed) must not split the fleet's
// targets: the document is seeded back from an instance, and an instance whose revision is ahead
// of a reset store follows the store instead of ignoring every change until it catches up.
import t from 'tap';
import { Redis } from 'ioredis';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { admin, fleetFor } from '../helpers/fleet.js';
import { waitFor } from '../helpers/http-client.js';
import { targetId } from '../../src/pool/target-admin.js';

t.test('an emptied store is seeded back; a change after a reset is followed by every instance', async (t) => {
  if (!requireRedis(t)) return;
  const redis = await redisFor(t);
  const fleet = await fleetFor(t, redis.url, 2, 'reset:');
  const [a, b] = fleet.instances as [typeof fleet.instances[0], typeof fleet.instances[0]];
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const blue = targetId(fleet.blue.url);
  const green = targetId(fleet.green.url);
  const stateOf = async (proxy: typeof a, pool: string, id: string) =>
    (await admin(proxy, 'GET', `/pools/${pool}/targets`)).body.find?.((view: { id: string }) => view.id === id)
      ?? ((await admin(proxy, 'GET', `/pools/${pool}/targets`)).body as unknown as Array<{ id: string; state: string }>).find((view) => view.id === id);

  t.equal((await admin(a, 'PUT', `/pools/green/targets/${green}`, { state: 'maint' })).status, 200);
  t.equal((await admin(a, 'PUT', `/pools/green/targets/${green}`, { weight: 300 })).status, 200);
  await waitFor('B applied both', async () => (await stateOf(b, 'green', green))?.weight === 300);
  const revision = a.switchyard.targets.current.revision;

  await client.flushall();
  await waitFor('the document is seeded back', async () => {
    const stored = await client.hget('reset:targets', 'revision');
    return stored !== null && Number(stored) === revision;
  }, { timeoutMs: 8000 });
  t.match(await stateOf(b, 'green', green), { state: 'maint', weight: 300 }, 'B kept its view');

  // Reset again, and this time a change lands before anyone seeds: it starts from revision 1.
  await client.flushall();
  t.equal((await admin(b, 'PUT', `/pools/blue/targets/${blue}`, { weight: 7 })).status, 200);
  t.ok(b.switchyard.targets.current.revision < revision, 'B committed on the emptied store, below A\'s revision');
  await waitFor('A follows the reset store', async () => (await stateOf(a, 'blue', blue))?.weight === 7, { timeoutMs: 8000 });
  t.equal(a.switchyard.targets.current.revision, b.switchyard.targets.current.revision, 'A and B agree on the revision');
  t.match(await stateOf(a, 'green', green), { state: 'ready', weight: 100 }, 'A dropped what the reset store no longer holds, as B did');
  // And A's next change reaches B as usual.
  t.equal((await admin(a, 'PUT', `/pools/blue/targets/${blue}`, { weight: 9 })).status, 200);
  await waitFor('B applied A\'s change', async () => (await stateOf(b, 'blue', blue))?.weight === 9);
});
