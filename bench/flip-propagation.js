// `node bench/flip-propagation.js`: how long a flip takes to reach every worker (SPEC §15), as
// the admin client sees it (POST /flip to its 200, which waits for every worker's ack) and as
// the primary measures it (switchyard_worker_propagation_seconds: push to the last ack), with
// `workers: 1` beside for the flip's own cost. Flips alternate blue/green under a steady load
// of keep-alive requests on every worker, so the acks compete with proxying as they would.
//
//   FLIPS=200 WORKERS=2 node bench/flip-propagation.js
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, stop, waitForUrl } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FLIPS = Number(process.env.FLIPS ?? 200);
const WORKERS = process.env.WORKERS ?? '2';
const work = mkdtempSync(join(tmpdir(), 'switchyard-flips-'));
const cli = join(root, 'dist/cli/main.js');

function call(method, url, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function run(workers, upstreams) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const conf = join(work, `flips-${workers}.yaml`);
  writeFileSync(conf, `workers: ${workers}
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
log: { level: warn, access: false }
pools:
  blue: { version: "1", targets: ["http://127.0.0.1:${upstreams[0]}"] }
  green: { version: "2", targets: ["http://127.0.0.1:${upstreams[1]}"] }
routing: { initial: { blue: 100, green: 0 } }
`);
  const child = start(process.execPath, [cli, 'start', '-c', conf]);
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitForUrl(`${admin}/readyz`);
  // Background load: 8 keep-alive loops, so each worker is busy proxying while it acks.
  let loading = true;
  const { Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const loops = Array.from({ length: Number(process.env.LOAD ?? 8) }, async () => {
    while (loading) {
      await new Promise((resolve) => request(`http://127.0.0.1:${port}/`, { agent }, (res) => res.resume().on('end', resolve)).on('error', resolve).end());
    }
  });
  const times = [];
  for (let i = 0; i < FLIPS; i++) {
    const began = performance.now();
    const answer = await call('POST', `${admin}/flip`, { pool: i % 2 === 0 ? 'green' : 'blue', force: true });
    if (answer.status !== 200) throw new Error(`flip ${i}: ${answer.status} ${answer.text}`);
    times.push(performance.now() - began);
  }
  loading = false;
  await Promise.all(loops);
  agent.destroy();
  const metrics = (await call('GET', `${admin}/metrics`)).text;
  await stop(child);
  times.sort((a, b) => a - b);
  return { workers, p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times.at(-1), histogram: propagationLines(metrics) };
}

function propagationLines(text) {
  const lines = text.split('\n').filter((line) => line.startsWith('switchyard_worker_propagation_seconds'));
  const buckets = lines.filter((line) => line.includes('_bucket')).map((line) => [Number(/le="([^"]+)"/.exec(line)[1]), Number(line.split(' ').at(-1))]);
  const count = Number(lines.find((line) => line.startsWith('switchyard_worker_propagation_seconds_count'))?.split(' ').at(-1) ?? 0);
  if (count === 0) return null;
  const at = (q) => buckets.find(([, n]) => n >= q * count)?.[0];
  return { count, p50LeMs: at(0.5) * 1000, p99LeMs: at(0.99) * 1000 };
}

const upstreamPorts = [await freePort(), await freePort()];
const upstream = start(process.execPath, [join(root, 'bench/peers/node-upstream.js'), ...upstreamPorts.map(String)]);
try {
  for (const workers of ['1', WORKERS]) {
    const result = await run(workers, upstreamPorts);
    const fmt = (ms) => `${ms.toFixed(2)} ms`;
    console.log(`workers ${result.workers}: POST /flip → 200 p50 ${fmt(result.p50)}, p99 ${fmt(result.p99)}, max ${fmt(result.max)} (${FLIPS} flips)` +
      (result.histogram === null ? '' : `; push → last worker's ack: p50 ≤ ${result.histogram.p50LeMs} ms, p99 ≤ ${result.histogram.p99LeMs} ms (${result.histogram.count} pushes)`));
  }
} finally {
  await stop(upstream);
}
