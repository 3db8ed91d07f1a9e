// startSwitchyard (src/index.ts) in-process: from an object or a file, validated like a
// file, nothing left listening after a refusal; the memory store's restart warning.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, startSwitchyard, type SwitchyardConfigInput } from '../../src/index.js';
import { Agent, request } from 'undici';
import { testCa } from '../helpers/certs.js';
import { LogSink } from '../helpers/log-sink.js';
import { RedisServer, requireRedis } from '../helpers/redis-server.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-api-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves with the connection error code ('ECONNREFUSED' when nothing listens), or 'open'. */
function probePort(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve('open'); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function refusal(start: Promise<unknown>): Promise<ConfigError> {
  try {
    await start;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but it started');
}

const warningsAboutRestart = (logs: LogSink) => logs.lines.filter((line) => line.level === 40 && /restart/.test(String(line.msg)));

t.test('from an object: defaults applied, ${VAR} expanded from options.env, proxies to the upstream', async (t) => {
  const upstream = await startUpstream('blue-1');
  t.teardown(() => upstream.close());
  const logs = new LogSink();
  const running = await startSwitchyard({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    pools: { blue: { targets: ['${UPSTREAM}'] } },
    retries: { attempts: '${RETRIES:-1}' },
  }, { env: { UPSTREAM: upstream.url }, logDestination: logs });
  t.teardown(() => running.close());
  t.strictSame(running.config.pools.map((pool) => pool.targets), [[upstream.url]]);
  t.equal(running.config.retries.attempts, 1);
  t.equal(running.config.limits.maxHeaderBytes, 16384, 'defaults like a file');
  const answer = await fetch(`${running.proxyUrl}/x`);
  t.equal(answer.status, 200);
  t.equal((await answer.json() as { name: string }).name, 'blue-1');
  t.equal(running.previewUrl, null);
  t.equal(running.tlsUrl, null);
  await t.rejects(running.reload(), ConfigError, 'no file to re-read');
  await running.close();
  await running.close(); // idempotent
  t.equal(await probePort(Number(new URL(running.proxyUrl).port)), 'ECONNREFUSED');
  t.equal(await probePort(Number(new URL(running.adminUrl).port)), 'ECONNREFUSED');
});

t.test('with tls: tlsUrl is the HTTPS listener, serving the same pools', async (t) => {
  const upstream = await startUpstream('blue-1');
  t.teardown(() => upstream.close());
  const ca = testCa(t);
  const pair = ca.leaf('edge', ['localhost', '127.0.0.1']);
  const running = await startSwitchyard({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: pair.certFile, key: pair.keyFile }] },
    pools: { blue: { targets: [upstream.url] } },
  }, { env: {}, logDestination: new LogSink() });
  t.teardown(() => running.close());
  t.match(running.tlsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await request(`${running.tlsUrl}/x`, { dispatcher: new Agent({ connect: { ca: ca.ca } }) });
  t.equal(res.statusCode, 200);
  t.match(await res.body.json(), { name: 'blue-1', headers: { 'x-forwarded-proto': 'https' } });
});

t.test('from a file path: loaded like `switchyard start --config`, and reload re-reads it', async (t) => {
  const [blue1, blue2] = [await startUpstream('blue-1'), await startUpstream('blue-2')];
  t.teardown(() => Promise.all([blue1.close(), blue2.close()]));
  const path = join(dir, 'switchyard.yaml');
  const file = (targets: string[]) => `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\n`
    + `log: { level: silent }\npools:\n  blue:\n    targets: ${JSON.stringify(targets)}\n`;
  writeFileSync(path, file([blue1.url]));
  const running = await startSwitchyard(path);
  t.teardown(() => running.close());
  t.strictSame(running.config.pools[0]!.targets, [blue1.url]);
  writeFileSync(path, file([blue1.url, blue2.url]));
  const summary = await running.reload();
  t.strictSame(summary.addedTargets, [`blue ${blue2.url}`]);
  t.strictSame(running.config.pools[0]!.targets, [blue1.url, blue2.url], 'config follows the reload');
});

t.test('an invalid object rejects with every problem by key path; nothing listens; the object is untouched', async (t) => {
  const [port, adminPort] = [await closedPort(), await closedPort()];
  const config = {
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort },
    pools: { blue: { targets: ['http://127.0.0.1:1/path'] }, green: { target: ['http://127.0.0.1:2'] } },
    limits: { maxHeaderByte: 100 },
  } as unknown as SwitchyardConfigInput;
  const before = JSON.stringify(config);
  const error = await refusal(startSwitchyard(config, { env: {} }));
  t.strictSame(error.problems, [
    'pools.blue.targets[0]: a target is an origin only, without path or query (http://127.0.0.1:1/path)',
    'pools.green.target: unknown key (did you mean targets?)',
    'pools.green.targets: required (or discover)',
    'limits.maxHeaderByte: unknown key (did you mean maxHeaderBytes?)',
  ]);
  t.equal(JSON.stringify(config), before, 'the object is not modified');
  t.equal(await probePort(port), 'ECONNREFUSED');
  t.equal(await probePort(adminPort), 'ECONNREFUSED');

  t.strictSame((await refusal(startSwitchyard(join(dir, 'missing.yaml')))).problems, [`${join(dir, 'missing.yaml')}: file not found`]);
  t.strictSame((await refusal(startSwitchyard(null as unknown as string))).problems, ['(root): the config must be a mapping of keys']);
});

t.test('a port in use rejects with the listen error and closes what had started', async (t) => {
  const busy = await startUpstream('busy');
  t.teardown(() => busy.close());
  const upstream = await startUpstream('blue-1');
  t.teardown(() => upstream.close());
  const adminPort = await closedPort();
  await t.rejects(startSwitchyard({
    listen: { host: '127.0.0.1', port: busy.port },
    admin: { host: '127.0.0.1', port: adminPort },
    pools: { blue: { targets: [upstream.url] } },
    log: { level: 'silent' },
  }), { code: 'EADDRINUSE' });
  t.equal(await probePort(adminPort), 'ECONNREFUSED', 'the admin listener opened first is closed again');
});

t.test('the memory store warns once at start that a restart goes back to routing.initial', async (t) => {
  const upstream = await startUpstream('blue-1');
  t.teardown(() => upstream.close());
  const logs = new LogSink();
  const running = await startSwitchyard({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    pools: { blue: { targets: [upstream.url] } },
  }, { logDestination: logs });
  t.teardown(() => running.close());
  const warnings = warningsAboutRestart(logs);
  t.equal(warnings.length, 1, 'exactly one warning');
  t.match(warnings[0], { kind: 'state', store: 'memory', initial: { blue: 100 }, msg: /state\.store is memory.*restart goes back to routing\.initial/ });
  t.ok(logs.lines.indexOf(warnings[0]!) < logs.lines.findIndex((line) => line.msg === 'switchyard listening'), 'before it serves');
});

t.test('the redis store gives no such warning', async (t) => {
  if (!requireRedis(t)) return;
  const redis = await RedisServer.start();
  t.teardown(() => redis.stop());
  const upstream = await startUpstream('blue-1');
  t.teardown(() => upstream.close());
  const logs = new LogSink();
  const running = await startSwitchyard({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    pools: { blue: { targets: [upstream.url] } },
    state: { store: 'redis', url: redis.url, prefix: 'api-test:' },
  }, { logDestination: logs });
  t.teardown(() => running.close());
  t.ok(logs.lines.some((line) => line.msg === 'switchyard listening'), 'it started and logged');
  t.strictSame(warningsAboutRestart(logs), []);
  t.equal(logs.lines.filter((line) => line.kind === 'state' && line.store === 'memory').length, 0);
});
