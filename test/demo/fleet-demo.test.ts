// `switchyard demo --fleet`: a private redis-server, the three demo apps and two proxies
// sharing that Redis; a flip on one moves the other; stopping it leaves no redis-server behind.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fleetBanner, fleetEndpoints, secondPort, startFleetDemo } from '../../src/demo/fleet-demo.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/http-client.js';
import { LogSink } from '../helpers/log-sink.js';
import { requireRedis } from '../helpers/redis-server.js';

interface DemoAnswer {
  pool: string;
  version: string;
  instance: string;
}

async function answer(proxyUrl: string): Promise<DemoAnswer> {
  return (await (await fetch(`${proxyUrl}/`)).json()) as DemoAnswer;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** redis-server processes whose parent is this test process (Linux /proc; [] elsewhere). */
function ourRedisServers(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  return entries.flatMap((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === process.pid && comm.startsWith('redis-server') ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

t.test('the second instance takes the next port up, or an ephemeral one', async (t) => {
  t.equal(secondPort(8080), 8081);
  t.equal(secondPort(9901), 9902);
  t.equal(secondPort(0), 0);
  t.throws(() => secondPort(65535), RangeError);
  const run = await cli(['demo', '--fleet', '--port', '65535'], {});
  t.equal(run.code, 2, 'no room for the second instance is bad usage');
  t.match(run.err, /--port 65535 leaves no port for the second instance/);
});

t.test('without redis-server the fleet demo says so and exits 1', async (t) => {
  await t.rejects(startFleetDemo({ port: 0, adminPort: 0, redisServer: '/nonexistent/redis-server', logDestination: new LogSink() }),
    { name: 'RedisMissingError', message: /redis-server not found/ });
  const run = await cli(['demo', '--fleet', '--port', '0', '--admin-port', '0'], { REDIS_SERVER: '/nonexistent/redis-server' });
  t.equal(run.code, 1);
  t.match(run.err, /\/nonexistent\/redis-server not found: the fleet demo runs a private Redis and needs redis-server on PATH/);
  t.match(run.err, /docker compose up/);
});

if (requireRedis(t)) {
  t.test('two instances share a private Redis: a flip on instance 1 moves instance 2; stop kills redis-server', async (t) => {
    const demo = await startFleetDemo({ port: 0, adminPort: 0, logDestination: new LogSink() });
    t.teardown(() => demo.close());
    const [one, two] = demo.instances as [typeof demo.instances[0], typeof demo.instances[0]];
    t.equal(demo.instances.length, 2);
    t.not(one.proxyUrl, two.proxyUrl);
    t.equal(one.store.kind, 'redis');
    t.equal(two.store.kind, 'redis');
    t.ok(one.store.up && two.store.up, 'both reach the private Redis');
    t.match(demo.redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    const pid = demo.redis.pid;
    t.ok(alive(pid), 'redis-server runs');

    // Both instances serve blue, from both blue apps.
    const first = await answer(one.proxyUrl);
    const second = await answer(two.proxyUrl);
    t.match(first, { pool: 'blue', version: '1.0.0' });
    t.match(second, { pool: 'blue', version: '1.0.0' });
    const seen = new Set([first.instance, second.instance, (await answer(one.proxyUrl)).instance, (await answer(two.proxyUrl)).instance]);
    t.same([...seen].sort(), ['blue-1', 'blue-2'], 'both blue instances serve');
    t.equal(two.control.current.revision, one.control.current.revision, 'instance 2 adopted the state instance 1 seeded');

    // A flip through instance 1's admin API…
    const flip = await fetch(`${one.adminUrl}/flip`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool: 'green' }),
    });
    t.equal(flip.status, 200);
    const revision = ((await flip.json()) as { revision: number }).revision;
    // …reaches instance 2 through Redis pub/sub (within 50 ms by spec; 2 s is the test's patience).
    await waitFor('instance 2 on the new revision', () => two.control.current.revision === revision, { timeoutMs: 2000, intervalMs: 1 });
    t.match(await answer(two.proxyUrl), { pool: 'green', version: '2.0.0', instance: 'green-1' }, 'instance 2\'s next request goes to green');
    t.match(await answer(one.proxyUrl), { pool: 'green' });

    // The CLI sees the fleet through either admin API.
    const status = await cli(['status', '--json'], { SWITCHYARD_ADMIN_URL: two.adminUrl });
    t.equal(status.code, 0, status.err);
    t.same(JSON.parse(status.out).weights, { blue: 0, green: 100 });
    const rollback = await cli(['rollback'], { SWITCHYARD_ADMIN_URL: two.adminUrl });
    t.equal(rollback.code, 0, rollback.err);
    await waitFor('instance 1 rolled back', () => one.control.current.weights.blue === 100, { timeoutMs: 2000, intervalMs: 1 });
    t.match(await answer(one.proxyUrl), { pool: 'blue' });

    const banner = fleetBanner(demo);
    t.match(banner, `instance 1: proxy ${one.proxyUrl}, admin ${one.adminUrl}`);
    t.match(banner, `instance 2: proxy ${two.proxyUrl}, admin ${two.adminUrl}`);
    t.match(banner, `npx switchyard flip green --admin ${one.adminUrl}`, 'the flip goes to instance 1');
    t.match(banner, `curl ${two.proxyUrl}/`, 'and the curl to instance 2');
    t.match(banner, `redis-server pid ${pid}`);
    t.same(fleetEndpoints(demo), {
      redis: { url: demo.redis.url, pid },
      instances: [{ proxy: one.proxyUrl, admin: one.adminUrl }, { proxy: two.proxyUrl, admin: two.adminUrl }],
    });

    const proxies = [one.proxyUrl, two.proxyUrl];
    await demo.close();
    t.notOk(demo.redis.running, 'redis-server exited');
    t.notOk(alive(pid), `redis-server (pid ${pid}) is gone`);
    await t.rejects(fetch(`${proxies[0]}/`), 'instance 1 stopped');
    await t.rejects(fetch(`${proxies[1]}/`), 'instance 2 stopped');
    await demo.close(); // idempotent
  });

  t.test('a failed start (port taken) stops the redis-server it spawned', async (t) => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const taken = (blocker.address() as AddressInfo).port;
    const before = ourRedisServers();
    await t.rejects(startFleetDemo({ port: 0, adminPort: taken, logDestination: new LogSink() }), { code: 'EADDRINUSE' });
    t.same(ourRedisServers(), before, 'no redis-server left behind');
  });

  t.test('`switchyard demo --fleet` prints the banner and SIGTERM stops everything, redis-server included', async (t) => {
    const proc = spawnCli(['demo', '--fleet', '--port', '0', '--admin-port', '0']);
    t.teardown(() => void proc.child.kill('SIGKILL'));
    const output = await proc.waitFor(/Ctrl-C stops it all/, 20_000);
    const pid = Number(/redis-server pid (\d+)/.exec(output)![1]);
    const proxy2 = /instance 2: proxy (http:\/\/\S+),/.exec(output)![1]!;
    const admin1 = /instance 1: proxy \S+, admin (http:\/\/\S+)/.exec(output)![1]!;
    t.ok(alive(pid), 'redis-server runs');
    t.match(await answer(proxy2), { pool: 'blue' });
    t.equal((await cli(['flip', 'green', '--admin', admin1], {})).code, 0);
    await waitFor('instance 2 serves green', async () => (await answer(proxy2)).pool === 'green', { timeoutMs: 2000 });
    proc.child.kill('SIGTERM');
    t.equal(await proc.exited, 0, 'clean shutdown exits 0');
    t.notOk(alive(pid), `redis-server (pid ${pid}) is gone`);
  });
}

t.test('`switchyard demo --json` prints its endpoints as one JSON line', async (t) => {
  const proc = spawnCli(['demo', '--json', '--port', '0', '--admin-port', '0']);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  const output = await proc.waitFor(/^\{"instances".*\}$/m, 20_000);
  const endpoints = JSON.parse(/^\{"instances".*\}$/m.exec(output)![0]) as { instances: Array<{ proxy: string; admin: string }> };
  t.equal(endpoints.instances.length, 1);
  t.match(await answer(endpoints.instances[0]!.proxy), { pool: 'blue' });
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0);
});
