// Certificate rotation under load (SPEC §13): keep-alive HTTPS requests on several connections
// and a loop of fresh, verified handshakes run while three pairs are replaced three ways —
// written in place, renamed over, swapped under a Kubernetes `..data` symlink. No request and
// no handshake may fail, and each name serves its new serial within 2 s of its change. Then a
// broken pair (the key of another certificate) is refused with a log line and an event, and
// the last good serial keeps being served.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Pool } from 'undici';
import { testCa, type LeafPair } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { handshake, serialOf } from './tls-client.js';

const NAMES = ['inplace.test', 'rename.test', 'k8s.test'] as const;
type Name = typeof NAMES[number];
/** SPEC §13: new handshakes get the new pair within this long of the change. */
const ROTATE_MS = 2000;

t.test('three ways to replace a pair, under load: 0 failures, new serial within 2 s; a broken pair is refused', async (t) => {
  const ca = testCa(t);
  const leaf = (id: string, name: Name): LeafPair => ca.leaf(id, [name]);
  const dir = ca.dir;

  // inplace.test: files written over in place.
  const inplace = { cert: join(dir, 'inplace.crt'), key: join(dir, 'inplace.key') };
  const first = leaf('inplace-1', 'inplace.test');
  writeFileSync(inplace.cert, first.cert);
  writeFileSync(inplace.key, first.key);
  // rename.test: new files written beside and renamed over.
  const renamed = { cert: join(dir, 'rename.crt'), key: join(dir, 'rename.key') };
  const second = leaf('rename-1', 'rename.test');
  writeFileSync(renamed.cert, second.cert);
  writeFileSync(renamed.key, second.key);
  // k8s.test: a secret volume — tls.crt -> ..data/tls.crt, ..data -> ..2026_01_01.
  const volume = join(dir, 'secret');
  const writeVersion = (version: string, pair: LeafPair) => {
    mkdirSync(join(volume, version), { recursive: true });
    writeFileSync(join(volume, version, 'tls.crt'), pair.cert);
    writeFileSync(join(volume, version, 'tls.key'), pair.key);
  };
  const third = leaf('k8s-1', 'k8s.test');
  writeVersion('..2026_01_01', third);
  symlinkSync('..2026_01_01', join(volume, '..data'));
  symlinkSync('..data/tls.crt', join(volume, 'tls.crt'));
  symlinkSync('..data/tls.key', join(volume, 'tls.key'));
  const k8s = { cert: join(volume, 'tls.crt'), key: join(volume, 'tls.key') };

  const upstream = await startUpstream('blue');
  t.teardown(() => upstream.close());
  const proxy = await startProxy({ blue: [upstream.url] }, { tls: { host: '127.0.0.1', port: 0, certificates: [inplace, renamed, k8s] } });
  t.teardown(() => proxy.close());
  const port = (proxy.switchyard.tls!.server.address() as AddressInfo).port;

  // Keep-alive load: 8 connections, 16 requests always in flight, each verified against the CA.
  const pool = new Pool(proxy.switchyard.tlsUrl!, { connections: 8, connect: { ca: ca.ca, servername: 'inplace.test' } });
  t.teardown(() => pool.destroy());
  const load = { ok: 0, failed: 0, errors: [] as string[] };
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const { statusCode, body } = await pool.request({ path: '/', method: 'GET' });
        await body.text();
        if (statusCode === 200) load.ok++;
        else load.failed++, load.errors.push(`status ${statusCode}`);
      } catch (error) {
        load.failed++;
        load.errors.push((error as Error).message);
      }
    }
  };
  const workers = Array.from({ length: 16 }, worker);

  // Fresh handshakes, one after another, each verified for its name: every one must succeed.
  const fresh = { ok: 0, failed: 0, errors: [] as string[] };
  const latest = new Map<Name, string>();
  const verifiedHandshake = (servername: Name) => new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca: ca.ca }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toUpperCase();
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
  const handshakes = (async () => {
    for (let i = 0; running; i++) {
      const name = NAMES[i % NAMES.length]!;
      try {
        latest.set(name, await verifiedHandshake(name));
        fresh.ok++;
      } catch (error) {
        fresh.failed++;
        fresh.errors.push(`${name}: ${(error as Error).message}`);
      }
    }
  })();

  /** ms from `changedAt` until a fresh handshake for `name` gets `serial` (polled back to back); null past the deadline. */
  const timeToSerial = async (name: Name, serial: string, changedAt: number, deadlineMs = 5000): Promise<number | null> => {
    while (Date.now() - changedAt < deadlineMs) {
      if ((await handshake(port, { servername: name, ca: ca.ca })).serial === serial) return Date.now() - changedAt;
    }
    return null;
  };

  // Let the load settle on its connections first.
  while (load.ok < 200) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal((await handshake(port, { servername: 'rename.test', ca: ca.ca })).serial, serialOf(second.cert));

  const times: Record<string, number | null> = {};
  // 1. In place: the same inodes, truncated and rewritten (cert first, then key: a watcher may see the halfway state).
  const inplace2 = leaf('inplace-2', 'inplace.test');
  let changedAt = Date.now();
  writeFileSync(inplace.cert, inplace2.cert);
  writeFileSync(inplace.key, inplace2.key);
  times.inPlace = await timeToSerial('inplace.test', serialOf(inplace2.cert), changedAt);

  // 2. Rename over: complete new files beside, each renamed over the old name.
  const rename2 = leaf('rename-2', 'rename.test');
  writeFileSync(`${renamed.cert}.new`, rename2.cert);
  writeFileSync(`${renamed.key}.new`, rename2.key);
  changedAt = Date.now();
  renameSync(`${renamed.cert}.new`, renamed.cert);
  renameSync(`${renamed.key}.new`, renamed.key);
  times.rename = await timeToSerial('rename.test', serialOf(rename2.cert), changedAt);

  // 3. Kubernetes: a new version folder, a new link renamed over `..data` (atomic), the old folder removed.
  const k8s2 = leaf('k8s-2', 'k8s.test');
  writeVersion('..2026_01_02', k8s2);
  symlinkSync('..2026_01_02', join(volume, '..data_tmp'));
  changedAt = Date.now();
  renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
  rmSync(join(volume, '..2026_01_01'), { recursive: true });
  times.symlinkSwap = await timeToSerial('k8s.test', serialOf(k8s2.cert), changedAt);

  for (const [method, ms] of Object.entries(times)) {
    t.comment(`${method}: new serial served ${ms} ms after the change`);
    t.ok(ms !== null && ms <= ROTATE_MS, `${method}: new serial within ${ROTATE_MS} ms (${ms} ms)`);
  }

  // 4. A broken pair: a certificate with the key of another one, written in place.
  const mine = leaf('broken-cert', 'inplace.test');
  const other = leaf('broken-key', 'inplace.test');
  changedAt = Date.now();
  writeFileSync(inplace.cert, mine.cert);
  writeFileSync(inplace.key, other.key);
  const refusedBy = Date.now() + 5000;
  while (proxy.logs.find({ msg: 'certificate pair refused; the pair in use stays' }).length === 0 && Date.now() < refusedBy) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const refused = proxy.logs.find({ msg: 'certificate pair refused; the pair in use stays' });
  t.equal(refused.length, 1, `the broken pair is refused once (${Date.now() - changedAt} ms after the change)`);
  t.match(refused[0], { level: 50, certificate: 'tls.certificates[0]', problems: [/tls\.certificates\[0\]\.key: does not match the certificate/] });
  // It stays refused: for another two watch periods the old serial is what new handshakes get.
  const holdUntil = Date.now() + 1200;
  const served = new Set<string>();
  while (Date.now() < holdUntil) served.add((await handshake(port, { servername: 'inplace.test', ca: ca.ca })).serial);
  t.same([...served], [serialOf(inplace2.cert)], 'the last good pair keeps serving');
  const events = await fetch(`${proxy.admin}/events`).then((res) => res.json()) as { events: Array<{ kind: string; reason: string }> };
  t.match(events.events.filter((event) => event.kind === 'certificate').map((event) => event.reason), [
    /^refused: tls\.certificates\[0\]\.key: does not match/, /^rotated: tls\.certificates\[2\] k8s\.test/, /^rotated: tls\.certificates\[1\] rename\.test/,
    /^rotated: tls\.certificates\[0\] inplace\.test/,
  ], 'rotations and the refusal are in the event list, newest first');

  running = false;
  await Promise.all([...workers, handshakes]);
  t.comment(`keep-alive requests: ${load.ok} ok, ${load.failed} failed; fresh handshakes: ${fresh.ok} ok, ${fresh.failed} failed`);
  t.equal(load.failed, 0, `no failed request${load.errors.length > 0 ? `: ${[...new Set(load.errors)].join('; ')}` : ''}`);
  t.equal(fresh.failed, 0, `no failed handshake${fresh.errors.length > 0 ? `: ${[...new Set(fresh.errors)].join('; ')}` : ''}`);
  t.ok(load.ok > 1000, `load ran throughout (${load.ok} requests)`);
  t.ok(fresh.ok > 50, `handshakes ran throughout (${fresh.ok})`);
  t.equal(latest.get('k8s.test'), serialOf(k8s2.cert), 'the handshake loop ended on the new k8s serial');
  t.equal((await handshake(port, { servername: 'rename.test', ca: ca.ca })).serial, serialOf(rename2.cert));
});
