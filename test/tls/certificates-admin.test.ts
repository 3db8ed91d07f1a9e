// The certificates as operators see and steer them (SPEC §13): GET /certificates behind the
// admin token, switchyard_certificate_expiry_seconds per SAN name, `switchyard status` warning
// about a certificate within 14 days of expiry, and the re-reads operators ask for — POST
// /reload (a new pair served by the next handshake, a broken one refused whole) and SIGHUP.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';
import { livePair, testCa } from '../helpers/certs.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { LogSink } from '../helpers/log-sink.js';
import { startUpstream } from '../helpers/upstream.js';
import { handshake, serialOf } from './tls-client.js';

const TOKEN = 'secret-token';
const DAY_S = 86_400;

t.test('GET /certificates, the expiry metric, status warns within 14 days, POST /reload re-reads at once', async (t) => {
  const ca = testCa(t);
  const soon = ca.leaf('soon', ['soon.test', '*.soon.test'], { days: 3 });
  const later = ca.leaf('later', ['later.test'], { days: 30 });
  const live = livePair(ca, later);
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const file = join(ca.dir, 'switchyard.json');
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    pools: { blue: { targets: [upstream.url] } },
    tls: { host: '127.0.0.1', port: 0, certificates: [{ cert: soon.certFile, key: soon.keyFile }, live] },
  }));
  const logs = new LogSink();
  const switchyard = await Switchyard.start(loadConfigFile(file), { configPath: file, logDestination: logs });
  t.teardown(() => switchyard.close());
  const port = (switchyard.tls!.server.address() as AddressInfo).port;
  const admin = (path: string, init: RequestInit = {}) => fetch(`${switchyard.adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } });

  t.equal((await fetch(`${switchyard.adminUrl}/certificates`)).status, 401, 'behind the admin token');
  const listed = await (await admin('/certificates')).json() as Array<Record<string, unknown>>;
  t.match(listed, [
    { names: ['soon.test', '*.soon.test'], serial: serialOf(soon.cert), file: soon.certFile, notAfter: String, loadedAt: String },
    { names: ['later.test'], serial: serialOf(later.cert), file: live.cert },
  ]);
  t.equal(listed.length, 2);
  t.ok(Math.abs(Date.parse(listed[0]!.notAfter as string) - (Date.now() + 3 * DAY_S * 1000)) < 120_000, 'notAfter is the certificate\'s (3 days out)');

  const metrics = await (await admin('/metrics')).text();
  const expiry = (name: string) => Number(new RegExp(`^switchyard_certificate_expiry_seconds\\{name="${name.replace(/[.*]/g, '\\$&')}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  t.ok(Math.abs(expiry('soon.test') - 3 * DAY_S) < 120, `soon.test expires in ~3 days (${expiry('soon.test')} s)`);
  t.ok(Math.abs(expiry('*.soon.test') - 3 * DAY_S) < 120, 'one series per SAN name, wildcards too');
  t.ok(Math.abs(expiry('later.test') - 30 * DAY_S) < 120, `later.test expires in ~30 days (${expiry('later.test')} s)`);

  const env = { SWITCHYARD_ADMIN_URL: switchyard.adminUrl, SWITCHYARD_ADMIN_TOKEN: TOKEN };
  const status = await cli(['status'], env);
  t.equal(status.code, 0, status.err);
  t.match(status.out, /warning: certificate soon\.test, \*\.soon\.test expires in 2d2[23]h \(notAfter .*soon\.pem\)/, 'warns about the one within 14 days');
  t.notMatch(status.out, /later\.test/, 'not about the one 30 days out');
  const json = JSON.parse((await cli(['status', '--json'], env)).out) as { certificates: unknown[] };
  t.equal(json.certificates.length, 2, '/status carries the certificates');

  // POST /reload re-reads every file now: the very next handshake has the new pair.
  const next = ca.leaf('later-2', ['later.test'], { days: 30 });
  copyFileSync(next.certFile, live.cert);
  copyFileSync(next.keyFile, live.key);
  const loadedBefore = listed[1]!.loadedAt as string;
  t.equal((await admin('/reload', { method: 'POST' })).status, 200);
  t.equal((await handshake(port, { servername: 'later.test', ca: ca.ca })).serial, serialOf(next.cert), 'served right after POST /reload');
  const after = await (await admin('/certificates')).json() as Array<Record<string, unknown>>;
  t.equal(after[1]!.serial, serialOf(next.cert));
  t.not(after[1]!.loadedAt, loadedBefore, 'loadedAt moves with the pair');
  t.equal(after[0]!.loadedAt, listed[0]!.loadedAt, 'an unchanged pair is not reloaded');

  // A broken pair: the config check refuses the reload with its key path; nothing changes.
  const stranger = ca.leaf('stranger', ['stranger.test']);
  copyFileSync(stranger.keyFile, live.key);
  const refused = await admin('/reload', { method: 'POST' });
  t.equal(refused.status, 400);
  t.match(await refused.json(), { error: { code: 'INVALID_CONFIG', details: { problems: [/tls\.certificates\[1\]\.key: does not match the certificate/] } } });
  t.equal((await handshake(port, { servername: 'later.test', ca: ca.ca })).serial, serialOf(next.cert), 'the running pair stays');
});

t.test('SIGHUP re-reads the certificates (switchyard start)', async (t) => {
  const ca = testCa(t);
  const first = ca.leaf('first', ['hup.test']);
  const second = ca.leaf('second', ['hup.test']);
  const live = livePair(ca, first);
  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const file = join(ca.dir, 'switchyard.yaml');
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
pools: { blue: { targets: ["${upstream.url}"] } }
tls: { host: 127.0.0.1, port: 0, certificates: [{ cert: ${live.cert}, key: ${live.key} }] }
`);
  const proc = spawnCli(['start', '--config', file]);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  const started = await proc.waitFor(/switchyard listening/, 30_000);
  const port = Number(/"tls":"https:\/\/127\.0\.0\.1:(\d+)"/.exec(started)?.[1]);
  t.equal((await handshake(port, { servername: 'hup.test', ca: ca.ca })).serial, serialOf(first.cert));

  copyFileSync(second.certFile, live.cert);
  copyFileSync(second.keyFile, live.key);
  proc.child.kill('SIGHUP');
  const output = await proc.waitFor(/config reloaded/);
  // Loaded by the reload itself, before the file watcher (two polls, ≥ 500 ms) could see the change.
  t.ok(output.indexOf('certificate pair loaded') !== -1 && output.indexOf('certificate pair loaded') < output.indexOf('config reloaded'),
    'the pair is loaded as part of the reload');
  t.equal((await handshake(port, { servername: 'hup.test', ca: ca.ca })).serial, serialOf(second.cert));
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0);
});
