// `npm run soak`: memory and handles under a long run. One Switchyard process (default
// features) in front of a Node upstream; SOAK_REQUESTS (1,000,000) keep-alive requests with a
// flip every second; then SOAK_CONNECTIONS (10,000) idle keep-alive connections held open.
// Reports RSS/heap after warm-up and at the end (from the proxy's own /metrics) and the memory
// per held connection.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, waitForUrl } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 1_000_000);
const HELD = Number(process.env.SOAK_CONNECTIONS ?? 10_000);
const work = mkdtempSync(join(tmpdir(), 'switchyard-soak-'));
const children = [];
process.on('exit', () => { for (const child of children) child.kill('SIGKILL'); });

const [u1, u2, port, adminPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
children.push(spawn(process.execPath, [join(root, 'bench/peers/node-upstream.js'), String(u1), String(u2)], { stdio: 'ignore' }));
const conf = join(work, 'soak.yaml');
writeFileSync(conf, `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools:
  blue: { targets: ["http://127.0.0.1:${u1}"] }
  green: { targets: ["http://127.0.0.1:${u2}"] }
`);
const proxy = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'start', '--config', conf], { stdio: 'ignore' });
children.push(proxy);
const admin = `http://127.0.0.1:${adminPort}`;
await waitForUrl(`${admin}/readyz`);

/** The proxy's own numbers, from its Prometheus endpoint. */
async function sample() {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssMB: value('process_resident_memory_bytes') / 2 ** 20,
    heapMB: value('nodejs_heap_size_used_bytes') / 2 ** 20,
    handles: value('nodejs_active_handles_total'),
  };
}

let pool = 'blue';
const flipper = setInterval(() => {
  pool = pool === 'blue' ? 'green' : 'blue';
  fetch(`${admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pool }) }).then((r) => r.text(), () => undefined);
}, 1000);

const run = (amount) => autocannon({ url: `http://127.0.0.1:${port}/`, connections: 64, amount });
await run(Math.min(100_000, REQUESTS / 10)); // warm-up
const before = await sample();
const started = Date.now();
const result = await run(REQUESTS);
clearInterval(flipper);
await new Promise((resolve) => setTimeout(resolve, 1500)); // let idle sockets close and GC settle
const after = await sample();
const seconds = (Date.now() - started) / 1000;
console.log(`soak: ${result.requests.total} requests in ${seconds.toFixed(0)} s (${Math.round(result.requests.total / seconds)} req/s), flip every second; non-2xx ${result.non2xx}, errors ${result.errors}`);
console.log(`  after warm-up: rss ${before.rssMB.toFixed(1)} MB, heap ${before.heapMB.toFixed(1)} MB, handles ${before.handles}`);
console.log(`  at the end:    rss ${after.rssMB.toFixed(1)} MB, heap ${after.heapMB.toFixed(1)} MB, handles ${after.handles}`);
console.log(`  rss growth ${(((after.rssMB - before.rssMB) / before.rssMB) * 100).toFixed(1)}%`);

// Held connections: open HELD keep-alive connections, each after one request, and keep them.
const idle = await sample();
const sockets = [];
for (let i = 0; i < HELD; i++) {
  sockets.push(await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('GET / HTTP/1.1\r\nHost: soak\r\n\r\n');
      socket.once('data', () => resolve(socket));
    });
    socket.on('error', reject);
  }));
}
const held = await sample();
console.log(`held ${HELD} keep-alive connections: rss ${idle.rssMB.toFixed(1)} → ${held.rssMB.toFixed(1)} MB, ` +
  `${(((held.rssMB - idle.rssMB) * 2 ** 20) / HELD / 1024).toFixed(1)} KiB per connection, handles ${idle.handles} → ${held.handles}`);
for (const socket of sockets) socket.destroy();
process.exit(0);
