// `npm run bench`: Switchyard beside the proxies users would pick instead, in one run, on one
// upstream, with one load generator. Each proxy runs in its own process. Prints a table and
// writes bench/results/latest.json. Only ratios from one run mean anything on a shared box.
//
//   BENCH_SECONDS=5 BENCH_CONNECTIONS=64 npm run bench
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, waitForPort, waitForUrl } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 2000);
/** A smoke run (part of `npm test`): a few hundred requests a row, to prove every row works. */
const SMOKE = process.env.BENCH_SMOKE === '1';
const SMOKE_REQUESTS = 300;
const OUT = process.env.BENCH_OUT ?? join(root, 'bench/results/latest.json');
const work = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
const children = new Set();

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const which = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();

function start(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGKILL'); });
}

process.on('exit', () => { for (const child of children) child.kill('SIGKILL'); });

// --- the upstream: nginx when installed, else a minimal Node server; two ports (two pools) ---

async function startUpstream() {
  const ports = [await freePort(), await freePort()];
  writeFileSync(join(work, 'big.bin'), Buffer.alloc(1024 * 1024, 'x'));
  if (has('nginx')) {
    const conf = join(work, 'upstream.conf');
    writeFileSync(conf, nginxBase(`
      server {
        ${ports.map((port) => `listen 127.0.0.1:${port} reuseport;`).join(' ')}
        keepalive_requests 1000000;
        location = /big { alias ${join(work, 'big.bin')}; }
        location / { default_type text/plain; return 200 "hello world\\n"; }
      }`));
    const child = start(which('nginx'), ['-c', conf, '-p', work]);
    await Promise.all(ports.map((port) => waitForPort(port)));
    return { kind: 'nginx', ports, child };
  }
  const child = start(process.execPath, [join(root, 'bench/peers/node-upstream.js'), ...ports.map(String)]);
  await Promise.all(ports.map((port) => waitForPort(port)));
  return { kind: 'node', ports, child };
}

function nginxBase(http) {
  return `daemon off; master_process off; worker_processes 1; pid ${join(work, 'nginx.pid')}; error_log stderr error;
    events { worker_connections 16384; }
    http {
      access_log off;
      client_body_temp_path ${work}; proxy_temp_path ${work}; fastcgi_temp_path ${work}; uwsgi_temp_path ${work}; scgi_temp_path ${work};
      ${http}
    }`;
}

// --- the proxies ---

async function startSwitchyard(upstreamPorts, { access }) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const conf = join(work, `switchyard-${access}.yaml`);
  writeFileSync(conf, `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools:
  blue: { version: "1.0.0", targets: ["http://127.0.0.1:${upstreamPorts[0]}"] }
  green: { version: "2.0.0", targets: ["http://127.0.0.1:${upstreamPorts[1]}"] }
routing: { initial: { blue: 90, green: 10 } }
healthCheck: { path: /healthz, intervalMs: 2000 }
log: { level: info, access: ${access} }
`);
  // Access log on: written for real (to /dev/null), as production writes it.
  const child = start(process.execPath, [join(root, 'dist/cli/main.js'), 'start', '--config', conf]);
  await waitForUrl(`http://127.0.0.1:${adminPort}/readyz`);
  return { port, child };
}

async function startNodePeer(script, upstreamPort) {
  const port = await freePort();
  const child = start(process.execPath, [join(root, 'bench/peers', script), String(port), `http://127.0.0.1:${upstreamPort}`]);
  await waitForPort(port);
  return { port, child };
}

async function startNginxProxy(upstreamPort) {
  const port = await freePort();
  const conf = join(work, 'proxy.conf');
  writeFileSync(conf, nginxBase(`
    upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
    server {
      listen 127.0.0.1:${port};
      keepalive_requests 1000000;
      location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; }
    }`));
  const child = start(which('nginx'), ['-c', conf, '-p', work]);
  await waitForPort(port);
  return { port, child };
}

async function startHaproxy(upstreamPort) {
  const port = await freePort();
  const conf = join(work, 'haproxy.cfg');
  writeFileSync(conf, `global
  maxconn 4000
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend f
  bind 127.0.0.1:${port}
  default_backend b
backend b
  http-reuse always
  server s1 127.0.0.1:${upstreamPort}
`);
  const child = start(which('haproxy'), ['-f', conf, '-db']);
  await waitForPort(port);
  return { port, child };
}

// --- load: wrk when installed (the same for every row), else autocannon ---

const LOADER = has('wrk') && !SMOKE ? 'wrk' : 'autocannon';

function msOf(text) {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (match === null) return null;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

function bytesOf(text) {
  const match = /([\d.]+)(B|KB|MB|GB)/.exec(text);
  if (match === null) return 0;
  return Number(match[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[match[2]];
}

async function load(url, { connections = CONNECTIONS, seconds = SECONDS } = {}) {
  if (LOADER === 'wrk') {
    const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { encoding: 'utf8' }).stdout;
    const line = (label) => out.split('\n').find((text) => text.trim().startsWith(label)) ?? '';
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
      p50: msOf(line('50%')),
      p99: msOf(line('99%')),
      bytesPerSec: bytesOf(/Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? '0B'),
      errors: Number(errors) + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
    };
  }
  const result = await autocannon({ url, connections, ...(SMOKE ? { amount: SMOKE_REQUESTS } : { duration: seconds }) });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, bytesPerSec: result.throughput.average, errors: result.errors + result.non2xx };
}

/** Latency at a fixed request rate (autocannon paces; wrk cannot). */
async function fixedRate(url) {
  const result = await autocannon({ url, connections: 16, overallRate: FIXED_RATE, ...(SMOKE ? { amount: SMOKE_REQUESTS } : { duration: SECONDS }) });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

// --- the run ---

const upstream = await startUpstream();
const [u1] = upstream.ports;
const rows = [
  { name: 'direct', start: async () => ({ port: u1, child: null }) },
  { name: 'switchyard (default: access log, metrics, health checks, 90/10)', start: () => startSwitchyard(upstream.ports, { access: true }) },
  { name: 'switchyard, access log off', start: () => startSwitchyard(upstream.ports, { access: false }) },
  { name: 'bare undici dispatch proxy', start: () => startNodePeer('undici-dispatch.js', u1) },
  { name: 'node-http-proxy (keep-alive agent)', start: () => startNodePeer('node-http-proxy.js', u1) },
  { name: '@fastify/http-proxy', start: () => startNodePeer('fastify-http-proxy.js', u1) },
  { name: 'nginx', start: () => startNginxProxy(u1), missing: !has('nginx') },
  { name: 'haproxy', start: () => startHaproxy(u1), missing: !has('haproxy') },
];

console.log(`upstream: ${upstream.kind} · load: ${LOADER}, ${CONNECTIONS} keep-alive connections, ${SECONDS} s a run · fixed rate ${FIXED_RATE} req/s (autocannon)`);
const results = [];
for (const row of rows) {
  if (row.missing) {
    results.push({ name: row.name, missing: true });
    console.log(`  ${row.name}: not installed`);
    continue;
  }
  const peer = await row.start();
  const base = `http://127.0.0.1:${peer.port}`;
  if (!SMOKE) await load(`${base}/`, { seconds: 1 }); // warm-up: JIT, connection pools
  const full = await load(`${base}/`);
  const paced = await fixedRate(`${base}/`);
  const big = await load(`${base}/big`, { connections: 16 });
  if (peer.child) await stop(peer.child);
  results.push({ name: row.name, rps: full.rps, p50: full.p50, p99: full.p99, errors: full.errors, fixed: paced, bigMBps: big.bytesPerSec / 1024 ** 2 });
  console.log(`  ${row.name}: ${Math.round(full.rps)} req/s`);
}
await stop(upstream.child);

const find = (prefix) => results.find((result) => result.name.startsWith(prefix) && !result.missing);
const nhp = find('node-http-proxy');
const nginx = find('nginx');
const direct = find('direct');
const fmt = (value, digits = 2) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
const header = ['proxy', 'req/s', 'p50 ms', 'p99 ms', '×nhp', '×nginx', `+p50@${FIXED_RATE}`, `+p99@${FIXED_RATE}`, '1MiB MB/s', 'errors'];
const table = results.map((result) => result.missing ? [result.name, 'not installed', ...header.slice(2).map(() => '')] : [
  result.name,
  String(Math.round(result.rps)),
  fmt(result.p50), fmt(result.p99),
  nhp ? fmt(result.rps / nhp.rps) : '-',
  nginx ? fmt(result.rps / nginx.rps) : '-',
  result === direct ? '0' : fmt(result.fixed.p50 - direct.fixed.p50),
  result === direct ? '0' : fmt(result.fixed.p99 - direct.fixed.p99),
  fmt(result.bigMBps, 0),
  String(result.errors + result.fixed.errors),
]);
const widths = header.map((_, column) => Math.max(header[column].length, ...table.map((row) => row[column].length)));
const line = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
console.log(`\n${line(header)}\n| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |\n${table.map(line).join('\n')}`);
const floor = find('bare undici');
const sy = find('switchyard (default');
if (floor && sy) console.log(`\nswitchyard default / bare undici dispatch: ${fmt(sy.rps / floor.rps)} (p99 ${fmt(sy.p99 / floor.p99)}×)`);

mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({
  at: new Date().toISOString(), smoke: SMOKE, upstream: upstream.kind, loader: LOADER, seconds: SECONDS, connections: CONNECTIONS, fixedRate: FIXED_RATE,
  node: process.version, results,
}, null, 2)}\n`);
console.log(`written: ${OUT}`);
process.exit(0);
