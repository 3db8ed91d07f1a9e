// Small process and port helpers shared by bench/run.js, its sections (tls.js, grpc.js, h2load.js) and bench/soak.js.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

/** A loopback port that was free a moment ago. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` (which may throw: a miss) every 50 ms until it is true, or fails with `what`. */
export async function until(what, check, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function waitForPort(port, ms) {
  return until(`nothing listening on ${port}`, () => new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  }), ms);
}

export function waitForUrl(url, ms) {
  return until(`${url} never answered 200`, async () => {
    const response = await fetch(url);
    await response.text();
    return response.status === 200;
  }, ms);
}

export const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
export const which = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();

const children = new Set();
process.on('exit', () => { for (const child of children) child.kill('SIGKILL'); });

/** A child process killed when the bench exits, however it exits. */
export function start(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGKILL'); });
}

/** User + system CPU seconds a process has used so far; null where /proc is missing. */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 a second on Linux
  } catch {
    return null;
  }
}

/**
 * Runs `load()` (resolving to `{ requests, … }`) and adds `cpuUsPerRequest`: the CPU µs process
 * `pid` spent over it per request; null without a pid (a row with no process of its own) or /proc.
 */
export async function withCpu(pid, load) {
  const before = pid === undefined ? null : cpuSeconds(pid);
  const result = await load();
  const after = pid === undefined ? null : cpuSeconds(pid);
  result.cpuUsPerRequest = before !== null && after !== null && result.requests > 0 ? ((after - before) * 1e6) / result.requests : null;
  return result;
}

export const median = (values) => {
  const sorted = values.filter((value) => value !== null && value !== undefined && Number.isFinite(value)).sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor((sorted.length - 1) / 2)];
};

/** An nginx config around `http` (server blocks), single process, files under `work`. */
export function nginxConfig(work, http) {
  return `daemon off; master_process off; worker_processes 1; pid ${work}/nginx.pid; error_log stderr error;
    events { worker_connections 16384; }
    http {
      access_log off;
      client_body_temp_path ${work}; proxy_temp_path ${work}; fastcgi_temp_path ${work}; uwsgi_temp_path ${work}; scgi_temp_path ${work};
      ${http}
    }`;
}

/**
 * nginx proxying to `upstreamPort` (HTTP/1.1, kept alive) on a fresh port; given `tls` (a
 * cert/key pair), over https; with `http2`, the listener speaks HTTP/2 (h2c with prior
 * knowledge when plain; `listen … http2` as nginx 1.22 spells it).
 */
export async function startNginxProxy(work, upstreamPort, tls, { http2 = false } = {}) {
  const port = await freePort();
  const conf = join(work, `proxy${tls === undefined ? '' : '-tls'}${http2 ? '-h2' : ''}.conf`);
  // Debian's nginx 1.22 leaves TLSv1.3 out of its default protocols; Node offers it.
  const ssl = tls === undefined ? '' : `ssl_certificate ${tls.certFile}; ssl_certificate_key ${tls.keyFile}; ssl_protocols TLSv1.2 TLSv1.3;`;
  // keepalive_requests also bounds the streams of one HTTP/2 connection (nginx ≥ 1.19.7).
  writeFileSync(conf, nginxConfig(work, `
    upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
    server {
      listen 127.0.0.1:${port}${tls === undefined ? '' : ' ssl'}${http2 ? ' http2' : ''};
      ${ssl}
      keepalive_requests 1000000;
      location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; }
    }`));
  const child = start(which('nginx'), ['-c', conf, '-p', work]);
  await waitForPort(port);
  return { port, child };
}

/** A Markdown table of `header` and `rows` (arrays of strings), columns padded. */
export function markdownTable(header, rows) {
  const widths = header.map((_, column) => Math.max(header[column].length, ...rows.map((row) => row[column].length)));
  const line = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  return `${line(header)}\n| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |\n${rows.map(line).join('\n')}`;
}

/**
 * `a / b` of `field` round by round (the two rows ran back to back in each round), and the
 * median: `{ median, rounds }`; `{ median: null, rounds: [] }` when either row is missing.
 */
export function perRoundRatio(a, b, field) {
  if (a.missing || b.missing) return { median: null, rounds: [] };
  const values = a.runs.map((run, round) => run[field] / b.runs[round][field]).filter(Number.isFinite);
  return { median: median(values), rounds: values };
}

/** `label 0.50× (rounds 0.48, 0.52)`: a per-round ratio as the bench prints it (`label - (no rounds)` without one). */
export function showRatio(label, ratio) {
  const fmt = (value) => Number(value).toFixed(2);
  // A smoke run's CPU can read 0 ticks (/proc counts in 10 ms): no ratio then, not 0.00×.
  return ratio.median === null ? `${label} - (no rounds)` : `${label} ${fmt(ratio.median)}× (rounds ${ratio.rounds.map(fmt).join(', ')})`;
}
