import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, spawnCli } from '../helpers/cli.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';

/** A child loads TypeScript before it listens: seconds of CPU, many more on a machine shared by several test runs. */
const CHILD_START_MS = 60_000;

const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function pool(url: string): Promise<string> {
  return ((await (await fetch(url)).json()) as { name: string }).name;
}

t.test('start proxies to the configured pools, flips by CLI, and exits 0 on SIGTERM', async (t) => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  t.teardown(async () => {
    await blue.close();
    await green.close();
  });
  const [port, adminPort] = [await closedPort(), await closedPort()];
  const config = writeConfig('ok.yaml', `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: "\${ADMIN_PORT}" }
pools:
  blue: { version: "1.0.0", targets: ["${blue.url}"] }
  green: { version: "2.0.0", targets: ["${green.url}"] }
`);
  const proc = spawnCli(['start', '--config', config], { ADMIN_PORT: String(adminPort) });
  t.teardown(() => void proc.child.kill('SIGKILL'));
  await proc.waitFor(/switchyard listening/, CHILD_START_MS);
  const env = { SWITCHYARD_ADMIN_URL: `http://127.0.0.1:${adminPort}` };
  const proxy = `http://127.0.0.1:${port}/`;

  t.equal(await pool(proxy), 'blue');
  t.equal((await cli(['flip', 'green'], env)).code, 0);
  t.equal(await pool(proxy), 'green', 'flip green moves the next request');
  t.equal((await cli(['rollback'], env)).code, 0);
  t.equal(await pool(proxy), 'blue', 'rollback moves it back');

  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0, 'clean shutdown exits 0');
  t.match(proc.output(), /"kind":"access".*"pool":"green","version":"2.0.0"/, 'access log names pool and version');
  t.match(proc.output(), /switchyard stopped/);
});

t.test('start with an invalid config exits 2 listing every problem', async (t) => {
  const config = writeConfig('bad.yaml', `
pools:
  blue: { targets: ["not a url"] }
  green: { targets: ["http://127.0.0.1:4001", "http://127.0.0.1:4001"] }
routing: { initial: { blue: 60, green: 39 } }
`);
  const proc = spawnCli(['start', '--config', config]);
  t.equal(await proc.exited, 2);
  t.match(proc.output(), /pools\.blue\.targets\[0\]: not a URL/);
  t.match(proc.output(), /pools\.green\.targets\[1\]: duplicate target/);
  t.match(proc.output(), /routing\.initial: weights must sum to 100 \(got 99\)/);
});

t.test('start exits 1 when its port is taken', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as AddressInfo).port;
  const config = writeConfig('taken.yaml', `
listen: { host: 127.0.0.1, port: ${taken} }
admin: { host: 127.0.0.1, port: 0 }
pools: { blue: { targets: ["http://127.0.0.1:3001"] } }
`);
  const proc = spawnCli(['start', '--config', config]);
  t.equal(await proc.exited, 1);
  t.match(proc.output(), /EADDRINUSE/);
  t.match(proc.output(), new RegExp(`hint: port ${taken} is taken .*: choose another with listen\\.port in ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    'says which config key to change');
  t.notMatch(proc.output(), /\n\s+at /, 'no stack trace');
});

t.test('a port in use names the flag or key that changes it (demo --port/--admin-port, start admin.port)', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as AddressInfo).port;

  const demoPort = await cli(['demo', '--port', String(taken), '--admin-port', '0']);
  t.equal(demoPort.code, 1);
  t.match(demoPort.err, new RegExp(`EADDRINUSE[\\s\\S]*hint: port ${taken} is taken .*: choose another with --port$`, 'm'));
  const demoAdmin = await cli(['demo', '--port', '0', '--admin-port', String(taken)]);
  t.equal(demoAdmin.code, 1);
  t.match(demoAdmin.err, new RegExp(`hint: port ${taken} is taken .*: choose another with --admin-port$`, 'm'));

  const config = writeConfig('admin-taken.yaml', `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: ${taken} }
pools: { blue: { targets: ["http://127.0.0.1:3001"] } }
log: { level: error }
`);
  const start = await cli(['start', '--config', config]);
  t.equal(start.code, 1);
  t.match(start.err, /hint: port \d+ is taken .*: choose another with admin\.port in /);
});

t.test('check-config: 0 for a good file, 2 with problems otherwise', async (t) => {
  const good = await cli(['check-config', 'config/switchyard.yaml'], {});
  t.equal(good.code, 0, good.err);
  t.match(good.out, /ok \(blue ×2, green ×1\)/);

  // A discovering pool says what it asks DNS for, not "×0"; --json carries the discover block.
  const discovering = writeConfig('discover.yaml', `
pools:
  blue: { discover: { dns: app-blue.prod.svc.cluster.local, port: 8000 } }
  green: { targets: ["http://10.0.0.9:8000"], discover: { dns: _http._tcp.green.internal, type: SRV } }
`);
  const summary = await cli(['check-config', discovering], {});
  t.equal(summary.code, 0, summary.err);
  t.match(summary.out, /ok \(blue dns app-blue\.prod\.svc\.cluster\.local:8000 \(A\), green ×1 \+ dns _http\._tcp\.green\.internal \(SRV\)\)/);
  const summaryJson = JSON.parse((await cli(['check-config', '--json', discovering], {})).out) as { pools: Array<Record<string, unknown>> };
  t.match(summaryJson.pools[0], { name: 'blue', targets: [], discover: { dns: 'app-blue.prod.svc.cluster.local', port: 8000, type: 'A' } });

  const missing = await cli(['check-config', join(dir, 'nope.yaml')], {});
  t.equal(missing.code, 2);
  t.match(missing.err, /nope\.yaml: file not found/);

  const unknownKey = await cli(['check-config', writeConfig('unknown.yaml', 'pools: { blue: { targets: ["http://a:1"] } }\nlisen: {}\n')], {});
  t.equal(unknownKey.code, 2);
  t.match(unknownKey.err, /lisen: unknown key/);
});

t.test('a second signal exits at once', async (t) => {
  // A hanging upstream keeps a request in flight, so the graceful stop cannot finish by itself.
  const hanging = await startUpstream('hang', (req, res) => {
    if (req.url === '/healthz') res.end('ok');
  });
  t.teardown(() => hanging.close());
  const [port, adminPort] = [await closedPort(), await closedPort()];
  const config = writeConfig('hang.yaml', `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools: { blue: { targets: ["${hanging.url}"] } }
`);
  const proc = spawnCli(['start', '--config', config]);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  await proc.waitFor(/switchyard listening/, CHILD_START_MS);
  const inflight = fetch(`http://127.0.0.1:${port}/`).catch((err: Error) => err);
  await waitUntil(() => hanging.seen.some((req) => req.url === '/'));
  proc.child.kill('SIGTERM');
  await proc.waitFor(/shutting down gracefully/);
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 1, 'second signal: immediate exit');
  t.ok((await inflight) instanceof Error, 'the in-flight request was cut');
});

async function waitUntil(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
