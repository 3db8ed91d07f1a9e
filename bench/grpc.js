// The gRPC rows of `npm run bench` (issue 15): unary calls a second from one grpc-js load
// client (bench/grpc-load.js: N channels, each looping SayHello one call at a time) against the
// same grpc-js upstream three ways, in the same run:
// - direct to the upstream;
// - through Switchyard: h2c prior knowledge on its plain port, `protocol: h2c` upstream, gRPC
//   health checks, default features (access log, metrics);
// - through nginx: `listen … http2` and `grpc_pass` with upstream keep-alive.
// The rows alternate, round after round; Switchyard's ratios to direct and to nginx are per
// round, medians. CPU per call of each proxy process comes from /proc, as in the other rows.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort, has, markdownTable, median, nginxConfig, perRoundRatio, showRatio, start, stop, waitForPort, waitForUrl, which, withCpu,
} from './lib.js';

/** The gRPC upstream (bench/peers/grpc-upstream.js, the demo's Greeter from dist/) on a fresh port. */
async function startGrpcUpstream(root) {
  const port = await freePort();
  const child = start(process.execPath, [join(root, 'bench/peers/grpc-upstream.js'), String(port)]);
  await waitForPort(port);
  return { port, child };
}

/** Switchyard with a `protocol: h2c` pool and gRPC health checks in front of `upstreamPort`. */
async function startGrpcSwitchyard(root, work, upstreamPort) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const conf = join(work, 'switchyard-grpc.yaml');
  writeFileSync(conf, `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools:
  blue: { version: "1.0.0", protocol: h2c, targets: ["http://127.0.0.1:${upstreamPort}"] }
healthCheck: { type: grpc, grpcService: switchyard.demo.Greeter, intervalMs: 2000 }
log: { level: info, access: true }
`);
  const child = start(process.execPath, [join(root, 'dist/cli/main.js'), 'start', '--config', conf]);
  // A build without HTTP/2 refuses the config and exits: the row is then missing, not failed.
  const exited = once(child, 'exit').then(() => 'exited');
  const ready = waitForUrl(`http://127.0.0.1:${adminPort}/readyz`).then(() => 'ready', () => 'not ready');
  const outcome = await Promise.race([ready, exited]);
  if (outcome !== 'ready') {
    await stop(child);
    throw new Error(`switchyard ${outcome}`);
  }
  return { port, child };
}

/** nginx with an HTTP/2 (h2c) listener and `grpc_pass` to `upstreamPort`, upstream connections kept alive. */
async function startNginxGrpc(work, upstreamPort) {
  const port = await freePort();
  const conf = join(work, 'grpc.conf');
  // `listen … http2` (nginx 1.22; 1.25.1+ also takes `http2 on;`). keepalive_requests also bounds
  // the streams of a client's HTTP/2 connection: high, so no GOAWAY every 1,000 calls.
  writeFileSync(conf, nginxConfig(work, `
    upstream grpcapp { server 127.0.0.1:${upstreamPort}; keepalive 256; }
    server {
      listen 127.0.0.1:${port} http2;
      keepalive_requests 1000000;
      location / { grpc_pass grpc://grpcapp; }
    }`));
  const child = start(which('nginx'), ['-c', conf, '-p', work]);
  await waitForPort(port);
  return { port, child };
}

/** One load from bench/grpc-load.js (its own process); `smokeCalls` bounds it instead of `seconds`. */
async function grpcLoad(root, address, { channels, seconds, smokeCalls }) {
  const args = [join(root, 'bench/grpc-load.js'), address, String(channels), String(seconds), ...(smokeCalls ? [String(smokeCalls)] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  child.stderr.on('data', (chunk) => { out += chunk; });
  const [code] = await once(child, 'exit');
  const line = out.split('\n').find((text) => text.startsWith('{'));
  if (code !== 0 || line === undefined) return { requests: 0, rps: 0, p50: null, p99: null, errors: 1, failures: [`load client exit ${code}: ${out.trim().slice(-300)}`] };
  return JSON.parse(line);
}

/**
 * Runs the section. Returns the figures for latest.json (`results`, `switchyardVsDirect`,
 * `switchyardVsNginx`) and prints a table and the per-round ratios.
 */
export async function grpcSection({ root, work, rounds, seconds, channels, smoke }) {
  const upstream = await startGrpcUpstream(root);
  const rows = [{ name: 'direct', peer: { port: upstream.port, child: null } }];
  const switchyard = await startGrpcSwitchyard(root, work, upstream.port).catch(() => null);
  rows.push(switchyard === null
    ? { name: 'switchyard (h2c → protocol: h2c)', missing: 'this build refuses protocol: h2c / healthCheck.type: grpc' }
    : { name: 'switchyard (h2c → protocol: h2c)', peer: switchyard });
  rows.push(has('nginx')
    ? { name: 'nginx (http2, grpc_pass)', peer: await startNginxGrpc(work, upstream.port) }
    : { name: 'nginx (http2, grpc_pass)', missing: 'not installed' });
  const live = rows.filter((row) => !row.missing);
  const run = (row) => withCpu(row.peer.child?.pid,
    () => grpcLoad(root, `127.0.0.1:${row.peer.port}`, { channels, seconds, smokeCalls: smoke ? 300 : 0 }));
  for (const row of live) {
    row.runs = [];
    if (!smoke) await grpcLoad(root, `127.0.0.1:${row.peer.port}`, { channels, seconds: 1 }); // warm-up: JIT, upstream sessions
  }
  for (let round = 0; round < rounds; round++) {
    for (const row of round % 2 === 0 ? live : [...live].reverse()) row.runs.push(await run(row));
  }
  for (const row of live) if (row.peer.child) await stop(row.peer.child);
  await stop(upstream.child);

  const results = rows.map((row) => (row.missing ? { name: row.name, missing: row.missing } : {
    name: row.name,
    rps: median(row.runs.map((r) => r.rps)),
    p50: median(row.runs.map((r) => r.p50)),
    p99: median(row.runs.map((r) => r.p99)),
    cpuUsPerRequest: median(row.runs.map((r) => r.cpuUsPerRequest)),
    clientCpuUsPerCall: median(row.runs.map((r) => r.clientCpuUsPerCall)),
    errors: row.runs.reduce((sum, r) => sum + r.errors, 0),
    ...(row.runs.some((r) => r.failures?.length) ? { failures: row.runs.flatMap((r) => r.failures ?? []).slice(0, 5) } : {}),
    rounds: row.runs.map((r) => Math.round(r.rps)),
  }));
  const [direct, sy, ng] = rows;
  const ratios = {
    switchyardVsDirect: { rps: perRoundRatio(sy, direct, 'rps') },
    switchyardVsNginx: { rps: perRoundRatio(sy, ng, 'rps'), cpu: perRoundRatio(sy, ng, 'cpuUsPerRequest') },
  };
  print(results, ratios, channels);
  return { channels, results, ...ratios };
}

function print(results, ratios, channels) {
  const fmt = (value, digits = 2) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const header = ['grpc unary', 'calls/s', 'p50 ms', 'p99 ms', 'CPU µs/call', 'client CPU µs/call', 'errors'];
  const table = results.map((result) => (result.missing ? [result.name, result.missing, '', '', '', '', ''] : [
    result.name, String(Math.round(result.rps)), fmt(result.p50), fmt(result.p99), fmt(result.cpuUsPerRequest, 1),
    fmt(result.clientCpuUsPerCall, 1), String(result.errors),
  ]));
  console.log(`\ngRPC unary (grpc-js client, ${channels} channels, one call at a time each; SayHello on a grpc-js upstream)`);
  console.log(markdownTable(header, table));
  const lines = [
    ...(ratios.switchyardVsDirect.rps.median === null ? [] : [showRatio('calls/s, switchyard / direct', ratios.switchyardVsDirect.rps)]),
    ...(ratios.switchyardVsNginx.rps.median === null ? [] : [showRatio('calls/s, switchyard / nginx', ratios.switchyardVsNginx.rps),
      showRatio('CPU per call, switchyard / nginx', ratios.switchyardVsNginx.cpu)]),
  ];
  if (lines.length > 0) console.log(`\ngRPC, per round, median:\n  ${lines.join('\n  ')}`);
}
