// Live reload: SIGHUP (and POST /reload) re-read the file and apply target and health
// changes without dropping a connection; a bad file is refused and the old config stays.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli } from '../helpers/cli.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startLoad } from '../helpers/load.js';
import { waitFor } from '../helpers/http-client.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { LogSink } from '../helpers/log-sink.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-reload-'));

function configText(port: number, adminPort: number, pools: Record<string, string[]>, extra = ''): string {
  const lines = Object.entries(pools).map(([name, targets]) => `  ${name}: { targets: [${targets.map((url) => `"${url}"`).join(', ')}] }`);
  return `listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
healthCheck: { intervalMs: 100, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 2 }
routing: { initial: { blue: 50, green: 50 } }
log: { access: false }
pools:
${lines.join('\n')}
${extra}`;
}

const hits = (upstream: Upstream) => upstream.seen.filter((req) => req.url === '/').length;

t.test('SIGHUP under load: an added target joins after its checks, a removed one drains; 0 failures', async (t) => {
  const [blue, green1, green2, green3] = await Promise.all(['blue', 'green', 'green', 'green'].map((name) => startUpstream(name)));
  t.teardown(() => Promise.all([blue, green1, green2, green3].map((upstream) => upstream!.close())));
  const [port, adminPort] = [await closedPort(), await closedPort()];
  const file = join(dir, 'sighup.yaml');
  writeFileSync(file, configText(port, adminPort, { blue: [blue!.url], green: [green1!.url, green2!.url] }));
  const proc = spawnCli(['start', '--config', file]);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  await proc.waitFor(/switchyard listening/);

  const load = startLoad(`http://127.0.0.1:${port}`, { seconds: 4, connections: 16 });
  await waitFor('load on green', () => hits(green1!) > 100 && hits(green2!) > 100, { timeoutMs: 10_000 });

  // Add green3, remove green2.
  writeFileSync(file, configText(port, adminPort, { blue: [blue!.url], green: [green1!.url, green3!.url] }));
  proc.child.kill('SIGHUP');
  await proc.waitFor(/config reloaded/);
  t.match(proc.output(), /"addedTargets":\["green http:\/\/127\.0\.0\.1:\d+"\],"removedTargets":\["green http/);
  await waitFor('green3 receives traffic after passing checks', () => hits(green3!) > 100, { timeoutMs: 10_000 });
  const green2After = hits(green2!);
  await waitFor('more load', () => hits(green3!) > 400, { timeoutMs: 10_000 });
  t.equal(hits(green2!), green2After, 'the removed target gets no new requests');
  t.ok(green3!.seen.some((req) => req.url === '/healthz'), 'green3 was health-checked');

  const result = await load.done;
  t.comment(`reload under load: ${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors`);
  t.equal(result.non2xx, 0);
  t.equal(result.errors, 0);

  // An invalid file is refused, logged, and the process keeps serving on the old config.
  writeFileSync(file, 'pools: { blue: { targets: ["not a url"] } }\n');
  proc.child.kill('SIGHUP');
  await proc.waitFor(/config reload refused/);
  t.match(proc.output(), /pools\.blue\.targets\[0\]: not a URL/);
  const still = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(still.status, 200, 'still serving');
  await still.text();
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0);
});

t.test('POST /reload: applies, refuses invalid files with every problem, refuses removing a pool with weight', async (t) => {
  const [blue, green] = await Promise.all([startUpstream('blue'), startUpstream('green')]);
  const file = join(dir, 'admin.yaml');
  writeFileSync(file, configText(0, 0, { blue: [blue.url], green: [green.url] }));
  const switchyard = await Switchyard.start(loadConfigFile(file, {}), { configPath: file, logDestination: new LogSink() });
  t.teardown(async () => {
    await switchyard.close();
    await blue.close();
    await green.close();
  });
  const reload = async () => {
    const response = await fetch(`${switchyard.adminUrl}/reload`, { method: 'POST' });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  writeFileSync(file, `${configText(0, 0, { blue: [blue.url], green: [green.url] })}\npassive: { consecutiveFailures: 9, ejectMs: 100 }\nretries: { attempts: 1 }\n`);
  const applied = await reload();
  t.equal(applied.status, 200);
  t.match(applied.body, { reloaded: true, addedTargets: [], removedTargets: [] });
  t.equal(switchyard.proxy.retryAttempts, 1, 'retries applied');

  writeFileSync(file, 'pools:\n  blue: { targets: ["nope"] }\nbogus: 1\n');
  const invalid = await reload();
  t.equal(invalid.status, 400);
  t.match(invalid.body, { error: { code: 'INVALID_CONFIG', details: { problems: ['pools.blue.targets[0]: not a URL ("nope")', 'bogus: unknown key'] } } });
  t.equal(switchyard.pools.get('green')!.targets.length, 1, 'old config kept');

  writeFileSync(file, configText(0, 0, { green: [green.url] }).replace('{ blue: 50, green: 50 }', '{ green: 100 }'));
  const stranding = await reload();
  t.equal(stranding.status, 400);
  t.match(JSON.stringify(stranding.body), /pools\.blue: cannot remove a pool that has traffic weight \(50\)/);

  writeFileSync(file, configText(0, 0, { blue: [blue.url], green: [green.url], canary: [`http://127.0.0.1:${await closedPort()}`] }).replace('port: 0 }', 'port: 1 }'));
  const withPool = await reload();
  t.equal(withPool.status, 200);
  t.match(withPool.body, { addedPools: ['canary'], ignored: ['listen'] });
  t.equal(switchyard.proxyAddress.port === 1, false, 'listen changes need a restart');
  const status = (await (await fetch(`${switchyard.adminUrl}/status`)).json()) as { pools: Record<string, { weight: number; state: string }> };
  t.match(status.pools.canary, { weight: 0, state: 'standby' });
});

t.test('reload without a config file is refused', async (t) => {
  const blue = await startUpstream('blue');
  const switchyard = await Switchyard.start(loadConfigFile(join(dir, 'admin.yaml'), {}), { logDestination: new LogSink() });
  t.teardown(async () => {
    await switchyard.close();
    await blue.close();
  });
  const response = await fetch(`${switchyard.adminUrl}/reload`, { method: 'POST' });
  t.equal(response.status, 400);
  t.match(await response.json(), { error: { code: 'INVALID_CONFIG' } });
});
