// `npm run bench`: Switchyard beside the proxies users would pick instead, in one run, on one
// upstream, with one load generator. Each proxy runs in its own process. Prints a table and
// writes bench/results/latest.json. Only ratios from one run mean anything on a shared box, so
// every proxy runs at once and the load visits them in turn, round after round: a slow spell of
// the machine then falls on all rows alike. Besides req/s, each row reports the proxy process's
// CPU time per request (from /proc).
//
//   BENCH_SECONDS=2 BENCH_ROUNDS=7 BENCH_CONNECTIONS=64 npm run bench
//
// Each figure is the median of the rounds: a round that a neighbour's burst slowed down does
// not drag a row down. Switchyard's ratios to the bare undici proxy are taken round by round
// (the two rows run back to back) and the median of those is reported: a slow spell then
// cancels out of each ratio instead of landing on one row's median and not the other's.
// Then the HTTPS rows (bench/tls.js): Switchyard's TLS listener against nginx's, same pair;
// the HTTP/2 rows (bench/h2load.js): h2load over h2c against Switchyard and nginx; and the gRPC
// rows (bench/grpc.js): unary calls direct, through Switchyard and through nginx grpc_pass; and
// the workers rows (bench/workers.js): Switchyard with workers 1, 2 and auto beside nginx with
// worker_processes 1 and 2, CPU counted over each process tree.
//
//   BENCH_ONLY=workers npm run bench    # only some sections: plain, tls, h2, grpc, workers (comma-separated)
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, has, median, nginxConfig, start, startNginxProxy, stop, waitForPort, waitForUrl, which, withCpu } from './lib.js';
import { loader } from './load.js';
import { paced } from './paced.js';
import { tlsSection } from './tls.js';
import { h2loadSection } from './h2load.js';
import { grpcSection } from './grpc.js';
import { workersSection } from './workers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Seconds of load per row per round. */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 2000);
/** A smoke run (part of `npm test`): a few hundred requests a row, to prove every row works. */
const SMOKE = process.env.BENCH_SMOKE === '1';
const ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_ROUNDS ?? 7);
const SMOKE_REQUESTS = 300;
/** The HTTPS rows: rounds of SECONDS for each of two loads; full handshakes from this many `openssl s_time` processes. */
const TLS_ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_TLS_ROUNDS ?? 5);
const HANDSHAKE_PROCESSES = Number(process.env.BENCH_HANDSHAKE_PROCESSES ?? 8);
/** The HTTP/2 rows: rounds of SECONDS; h2load's concurrent streams per connection (CONNECTIONS connections). */
const H2_ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_H2_ROUNDS ?? 5);
const H2_STREAMS = Number(process.env.BENCH_H2_STREAMS ?? 10);
/** The gRPC rows: rounds of SECONDS; the load client's channels (one call in flight on each). */
const GRPC_ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_GRPC_ROUNDS ?? 5);
const GRPC_CHANNELS = Number(process.env.BENCH_GRPC_CHANNELS ?? 16);
/** The workers rows: rounds of SECONDS. */
const WORKERS_ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_WORKERS_ROUNDS ?? ROUNDS);
const SECTIONS = ['plain', 'tls', 'h2', 'grpc', 'workers'];
/** BENCH_ONLY: the sections to run (all by default). */
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((name) => name.trim()) : SECTIONS;
const unknown = ONLY.filter((name) => !SECTIONS.includes(name));
if (unknown.length > 0) {
  console.error(`BENCH_ONLY: no section ${unknown.join(', ')} (sections: ${SECTIONS.join(', ')})`);
  process.exit(2);
}
const runs = (section) => ONLY.includes(section);
// A run of some sections only does not overwrite the whole run's results.
const OUT = process.env.BENCH_OUT ?? join(root, `bench/results/${process.env.BENCH_ONLY ? `latest-${ONLY.join('-')}` : 'latest'}.json`);
const work = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));

// --- the upstream: nginx when installed, else a minimal Node server; two ports (two pools) ---

async function startUpstream() {
  // Ports 0 and 1: blue and green of the default rows; 2 and 3: blue's extra targets in the weighted row.
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  writeFileSync(join(work, 'big.bin'), Buffer.alloc(1024 * 1024, 'x'));
  if (has('nginx')) {
    const conf = join(work, 'upstream.conf');
    writeFileSync(conf, nginxConfig(work, `
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

// --- the proxies ---

async function startSwitchyard(upstreamPorts, { access, weighted = false, tls, workers }) {
  const [port, adminPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const conf = join(work, `switchyard-${access}-${weighted}${tls ? '-tls' : ''}${workers === undefined ? '' : `-w${workers}`}.yaml`);
  const [u1, u2, u3, u4] = upstreamPorts;
  // The weighted row: one pool of three targets at weights 1:2:3 (SPEC §11), all the traffic.
  const blue = weighted ? [u1, u3, u4] : [u1];
  writeFileSync(conf, `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools:
  blue: { version: "1.0.0", targets: [${blue.map((p) => `"http://127.0.0.1:${p}"`).join(', ')}] }
  green: { version: "2.0.0", targets: ["http://127.0.0.1:${u2}"] }
routing: { initial: { blue: ${weighted ? 100 : 90}, green: ${weighted ? 0 : 10} } }
healthCheck: { path: /healthz, intervalMs: 2000 }
log: { level: info, access: ${access} }
${tls ? `tls: { host: 127.0.0.1, port: ${tlsPort}, certificates: [{ cert: "${tls.certFile}", key: "${tls.keyFile}" }] }` : ''}
${workers === undefined ? '' : `workers: ${workers}`}
`);
  // Access log on: written for real (to /dev/null), as production writes it.
  const child = start(process.execPath, [join(root, 'dist/cli/main.js'), 'start', '--config', conf]);
  await waitForUrl(`http://127.0.0.1:${adminPort}/readyz`);
  if (weighted) {
    // A build before target weights existed answers 404 and keeps three equal targets: the same
    // row then measures the picker it had, so before/after ratios compare like with like.
    for (const [index, p] of blue.entries()) {
      await fetch(`http://127.0.0.1:${adminPort}/pools/blue/targets/127.0.0.1:${p}`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ weight: index + 1 }),
      }).catch(() => undefined);
    }
  }
  return { port, tlsPort, adminPort, child };
}

async function startNodePeer(script, upstreamPort) {
  const port = await freePort();
  const child = start(process.execPath, [join(root, 'bench/peers', script), String(port), `http://127.0.0.1:${upstreamPort}`]);
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

const { name: LOADER, load } = loader({ smoke: SMOKE, connections: CONNECTIONS, seconds: SECONDS, smokeRequests: SMOKE_REQUESTS });

/** Latency at a fixed request rate, to the microsecond (bench/paced.js). */
function fixedRate(url) {
  return paced(url, { rate: FIXED_RATE, ...(SMOKE ? { amount: SMOKE_REQUESTS } : { seconds: SECONDS }) });
}

/**
 * Switchyard against the floor, round by round: the two rows ran back to back in each round,
 * so each ratio compares like with like. `addedP99Ms` (and the floor's) is the p99 added over
 * direct at the fixed rate, direct measured in the same round.
 */
function pairedRatios(sy, floor, direct) {
  const rounds = (of) => sy.runs.map((_, round) => of(round)).filter((value) => value !== null && Number.isFinite(value));
  const ratio = (of) => {
    const values = rounds(of);
    return { median: median(values), rounds: values };
  };
  return {
    rps: ratio((round) => sy.runs[round].rps / floor.runs[round].rps),
    cpu: ratio((round) => sy.runs[round].cpuUsPerRequest === null || floor.runs[round].cpuUsPerRequest === null ? null
      : sy.runs[round].cpuUsPerRequest / floor.runs[round].cpuUsPerRequest),
    p99: ratio((round) => sy.runs[round].p99 / floor.runs[round].p99),
    addedP99Ms: ratio((round) => sy.fixed[round].p99 - direct.fixed[round].p99),
    floorAddedP99Ms: ratio((round) => floor.fixed[round].p99 - direct.fixed[round].p99),
  };
}

// --- the plain rows ---

/** Every proxy up at once, the load visiting them in turn; returns `{ results, summary }` (the paired ratios). */
async function plainSection(upstream) {
  const [u1] = upstream.ports;
  const rows = [
    { name: 'direct', start: async () => ({ port: u1, child: null }) },
    { name: 'switchyard (default: access log, metrics, health checks, 90/10)', start: () => startSwitchyard(upstream.ports, { access: true }) },
    // The floor sits between the two Switchyard rows: each round measures them back to back.
    { name: 'bare undici dispatch proxy', start: () => startNodePeer('undici-dispatch.js', u1) },
    { name: 'switchyard, access log off', start: () => startSwitchyard(upstream.ports, { access: false }) },
    { name: 'switchyard, 3 targets weighted 1:2:3 (access log on)', start: () => startSwitchyard(upstream.ports, { access: true, weighted: true }) },
    { name: 'node-http-proxy (keep-alive agent)', start: () => startNodePeer('node-http-proxy.js', u1) },
    { name: '@fastify/http-proxy', start: () => startNodePeer('fastify-http-proxy.js', u1) },
    { name: 'nginx', start: () => startNginxProxy(work, u1), missing: !has('nginx') },
    { name: 'haproxy', start: () => startHaproxy(u1), missing: !has('haproxy') },
  ];

  // Every proxy starts first and stays up; the load then visits them in turn.
  const live = [];
  for (const row of rows) {
    if (row.missing) continue;
    const peer = await row.start();
    live.push({ row, peer, base: `http://127.0.0.1:${peer.port}`, runs: [], fixed: [] });
    if (!SMOKE) await load(`${live.at(-1).base}/`, { seconds: 2 }); // warm-up: JIT, connection pools
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so no row always follows the same neighbour.
    for (const entry of round % 2 === 0 ? live : [...live].reverse()) {
      entry.runs.push(await withCpu(entry.peer.child?.pid, () => load(`${entry.base}/`)));
      entry.fixed.push(await fixedRate(`${entry.base}/`));
    }
  }
  const results = [];
  for (const row of rows) {
    const entry = live.find((candidate) => candidate.row === row);
    if (entry === undefined) {
      results.push({ name: row.name, missing: true });
      console.log(`  ${row.name}: not installed`);
      continue;
    }
    const fixed = {
      rps: median(entry.fixed.map((run) => run.rps)),
      p50: median(entry.fixed.map((run) => run.p50)),
      p99: median(entry.fixed.map((run) => run.p99)),
      errors: entry.fixed.reduce((sum, run) => sum + run.errors, 0),
    };
    const big = await load(`${entry.base}/big`, { connections: 16 });
    if (entry.peer.child) await stop(entry.peer.child);
    const result = {
      name: row.name,
      rps: median(entry.runs.map((run) => run.rps)),
      p50: median(entry.runs.map((run) => run.p50)),
      p99: median(entry.runs.map((run) => run.p99)),
      cpuUsPerRequest: median(entry.runs.map((run) => run.cpuUsPerRequest)),
      errors: entry.runs.reduce((sum, run) => sum + run.errors, 0),
      fixed,
      bigMBps: big.bytesPerSec / 1024 ** 2,
      rounds: entry.runs.map((run) => Math.round(run.rps)),
    };
    results.push(result);
    console.log(`  ${row.name}: ${Math.round(result.rps)} req/s (rounds: ${result.rounds.join(', ')})`);
  }

  const find = (prefix) => results.find((result) => result.name.startsWith(prefix) && !result.missing);
  const nhp = find('node-http-proxy');
  const nginx = find('nginx');
  const direct = find('direct');
  const fmt = (value, digits = 2) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const header = ['proxy', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', '×nhp', '×nginx', `+p50@${FIXED_RATE} ms`, `+p99@${FIXED_RATE} ms`, '1MiB MB/s', 'errors'];
  const table = results.map((result) => result.missing ? [result.name, 'not installed', ...header.slice(2).map(() => '')] : [
    result.name,
    String(Math.round(result.rps)),
    fmt(result.p50), fmt(result.p99), fmt(result.cpuUsPerRequest, 1),
    nhp ? fmt(result.rps / nhp.rps) : '-',
    nginx ? fmt(result.rps / nginx.rps) : '-',
    result === direct ? '0' : fmt(result.fixed.p50 - direct.fixed.p50, 3),
    result === direct ? '0' : fmt(result.fixed.p99 - direct.fixed.p99, 3),
    fmt(result.bigMBps, 0),
    String(result.errors + result.fixed.errors),
  ]);
  const widths = header.map((_, column) => Math.max(header[column].length, ...table.map((row) => row[column].length)));
  const line = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  console.log(`\n${line(header)}\n| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |\n${table.map(line).join('\n')}`);
  const floor = find('bare undici');
  const summary = {};
  const pairs = [['switchyard (default', 'switchyard default', 'switchyardVsBare'], ['switchyard, 3 targets', 'switchyard 3 weighted targets', 'weightedVsBare']];
  for (const [prefix, label, key] of pairs) {
    const sy = find(prefix);
    if (!floor || !sy) continue;
    const pair = pairedRatios(live.find((entry) => entry.row.name === sy.name), live.find((entry) => entry.row.name === floor.name), live.find((entry) => entry.row.name === 'direct'));
    const show = (label, ratio, unit = '×') => ratio.median === null ? '' : `${label} ${fmt(ratio.median)}${unit} (rounds ${ratio.rounds.map((value) => fmt(value)).join(', ')})`;
    console.log(`\n${label} / bare undici dispatch, per round, median:\n  ${[
      show('req/s', pair.rps), show('CPU per request', pair.cpu), show(`p99 @${CONNECTIONS} connections`, pair.p99),
      show(`p99 added @${FIXED_RATE} req/s, switchyard`, pair.addedP99Ms, ' ms'), show(`p99 added @${FIXED_RATE} req/s, bare`, pair.floorAddedP99Ms, ' ms'),
    ].filter((text) => text !== '').join('\n  ')}`);
    summary[key] = pair;
  }
  return { results, summary };
}

// --- the run ---

// Every section but gRPC (its own upstream) proxies to this one.
const upstream = ONLY.some((section) => section !== 'grpc') ? await startUpstream() : null;
const u1 = upstream?.ports[0];
if (upstream) console.log(`upstream: ${upstream.kind} · load: ${LOADER}, ${CONNECTIONS} keep-alive connections, ${ROUNDS} round(s) of ${SECONDS} s a row · fixed rate ${FIXED_RATE} req/s`);
const plain = runs('plain') ? await plainSection(upstream) : null;
const tls = runs('tls') ? await tlsSection({
  work, upstreamPort: u1, load, rounds: TLS_ROUNDS, seconds: SECONDS, connections: CONNECTIONS, handshakeProcesses: HANDSHAKE_PROCESSES, smoke: SMOKE,
  startSwitchyard: (pair) => startSwitchyard(upstream.ports, { access: true, tls: pair }),
}) : undefined;
const h2 = runs('h2') ? await h2loadSection({
  work, upstreamPort: u1, rounds: H2_ROUNDS, seconds: SECONDS, connections: CONNECTIONS, streams: H2_STREAMS, smoke: SMOKE,
  startSwitchyard: () => startSwitchyard(upstream.ports, { access: true }),
}) : undefined;
const workers = runs('workers') ? await workersSection({
  work, upstreamPort: u1, upstreamPid: upstream.child.pid, load, loader: LOADER, rounds: WORKERS_ROUNDS, seconds: SECONDS, connections: CONNECTIONS, smoke: SMOKE,
  startSwitchyard: (count) => startSwitchyard(upstream.ports, { access: true, workers: count }),
}) : undefined;
if (upstream) await stop(upstream.child);
const grpc = runs('grpc') ? await grpcSection({ root, work, rounds: GRPC_ROUNDS, seconds: SECONDS, channels: GRPC_CHANNELS, smoke: SMOKE }) : undefined;

mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({
  at: new Date().toISOString(), smoke: SMOKE, sections: ONLY, upstream: upstream?.kind, loader: LOADER, seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, fixedRate: FIXED_RATE,
  node: process.version, ...plain?.summary, results: plain?.results, tls, h2, grpc, workers,
}, null, 2)}\n`);
console.log(`written: ${OUT}`);
process.exit(0);
