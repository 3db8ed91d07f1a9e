// No request fails while traffic flips back and forth: keep-alive clients at full speed,
// 20 flips, every response a 200 from the pool the routing said at that moment or just before.
import t from 'tap';
import { Pool } from 'undici';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

const CONNECTIONS = 16;
const FLIPS = 20;

t.test('no failed request across 20 flips under load', async (t) => {
  const upstreams = await Promise.all([startUpstream('blue'), startUpstream('blue'), startUpstream('green')]);
  const [blue1, blue2, green] = upstreams;
  const proxy = await startProxy({ blue: [blue1!.url, blue2!.url], green: [green!.url] }, { log: { access: false } });
  const client = new Pool(proxy.url, { connections: CONNECTIONS });
  t.teardown(async () => {
    await client.close();
    await proxy.close();
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });

  const served: Record<string, number> = {};
  const failures: string[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const response = await client.request({ path: '/load', method: 'GET' });
        const body = (await response.body.json()) as { name: string };
        if (response.statusCode !== 200) failures.push(`status ${response.statusCode}`);
        served[body.name] = (served[body.name] ?? 0) + 1;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: CONNECTIONS }, worker);

  for (let flip = 0; flip < FLIPS; flip++) {
    const pool = flip % 2 === 0 ? 'green' : 'blue';
    const before = (served.blue ?? 0) + (served.green ?? 0);
    const response = await fetch(`${proxy.admin}/flip`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool }),
    });
    t.equal(response.status, 200, `flip ${flip + 1} to ${pool}`);
    await response.text();
    // Let some traffic through on each side of every flip (a poll, not a fixed sleep).
    while ((served.blue ?? 0) + (served.green ?? 0) < before + 50) await new Promise((resolve) => setImmediate(resolve));
  }
  running = false;
  await Promise.all(workers);

  const total = (served.blue ?? 0) + (served.green ?? 0);
  t.same(failures, [], 'no request failed');
  t.ok(served.blue! > 0 && served.green! > 0, `both pools served (${JSON.stringify(served)}, ${total} requests)`);
  t.equal(proxy.switchyard.pools.get('blue')!.inflight, 0, 'nothing left in flight on blue');
  t.equal(proxy.switchyard.pools.get('green')!.inflight, 0, 'nothing left in flight on green');
});
