// Small process and port helpers shared by bench/run.js, its sections (tls.js, grpc.js, h2load.js) and bench/soak.js.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
// Killed with their descendants (Switchyard's workers, nginx's worker processes): an nginx worker
// outlives its master's SIGKILL and would keep the port and a core.
process.on('exit', () => { for (const child of children) killTree(child.pid); });

/** A child process killed when the bench exits, however it exits. */
export function start(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Stops `child` and every process below it (SIGKILL), once `child` has exited. */
export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => { child.once('exit', resolve); });
  const rest = killTree(child.pid);
  await exited;
  await until(`processes ${rest.join(', ')} outlived SIGKILL`, () => rest.every((pid) => !alive(pid)), 5000);
}

/** SIGKILLs `pid` and its descendants (found before the first kill); returns the descendants. */
function killTree(pid) {
  const [, ...below] = processTree(pid);
  for (const each of [pid, ...below]) {
    try { process.kill(each, 'SIGKILL'); } catch { /* gone already */ }
  }
  return below;
}

/** The fields of `/proc/<pid>/stat` after the command name (field 3, the state, first); null when gone. */
function statFields(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1).split(' ');
  } catch {
    return null;
  }
}

const alive = (pid) => { const fields = statFields(pid); return fields !== null && fields[0] !== 'Z'; };

/** `pid` then its descendants, parents before children, from the parent ids in /proc; [] where /proc is missing. */
export function processTree(pid) {
  let entries;
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const childrenOf = new Map();
  for (const name of entries) {
    const fields = statFields(name);
    if (fields === null) continue;
    const parent = Number(fields[1]);
    if (!childrenOf.has(parent)) childrenOf.set(parent, []);
    childrenOf.get(parent).push(Number(name));
  }
  const tree = [pid];
  for (let index = 0; index < tree.length; index++) tree.push(...(childrenOf.get(tree[index]) ?? []));
  return tree;
}

/** User + system CPU seconds a process has used so far; null where /proc is missing. */
export function cpuSeconds(pid) {
  const fields = statFields(pid);
  return fields === null ? null : (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 a second on Linux
}

/** The whole machine's CPU time so far, in clock ticks: `{ busy, total }` (all cores; busy: not idle nor waiting on I/O); null without /proc. */
export function machineTicks() {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0) - (ticks[8] ?? 0) - (ticks[9] ?? 0); // guest time is in user already
    return { busy: total - ticks[3] - ticks[4], total };
  } catch {
    return null;
  }
}

/**
 * CPU seconds of `pid`'s whole process tree so far: `{ total, root, processes }` (`root`: `pid`'s
 * own user + system time). Each process counts its own time and its reaped children's (cutime,
 * cstime), so a worker that exits between two readings still counts once its parent reaps it.
 * Null where /proc is missing.
 */
export function treeCpuSeconds(pid) {
  const root = cpuSeconds(pid);
  if (root === null) return null;
  const tree = processTree(pid);
  const total = tree.reduce((sum, each) => sum + (withReapedCpuSeconds(each) ?? 0), 0);
  return { total, root, processes: tree.length };
}

/**
 * User + system CPU seconds of `pid` and of its children it has reaped (the bench's own: with
 * every `wrk` it ran and waited for); null where /proc is missing.
 */
export function withReapedCpuSeconds(pid) {
  const fields = statFields(pid);
  return fields === null ? null : fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
}

/**
 * Runs `load()` (resolving to `{ requests, … }`) and adds `cpuUsPerRequest`: the CPU µs process
 * `pid` spent over it per request; null without a pid (a row with no process of its own) or /proc.
 * With `tree`, the CPU of `pid` and all its descendants (a primary and its workers, an nginx
 * master and its workers), and also `rootCpuShare` (the part `pid` itself spent, 0 to 1) and
 * `processes` (how many there were at the end).
 */
export async function withCpu(pid, load, { tree = false } = {}) {
  const read = (at) => (pid === undefined ? null : tree ? treeCpuSeconds(at) : { total: cpuSeconds(at), root: null });
  const before = read(pid);
  const result = await load();
  const after = read(pid);
  const spent = before?.total != null && after?.total != null ? after.total - before.total : null;
  result.cpuUsPerRequest = spent !== null && result.requests > 0 ? (spent * 1e6) / result.requests : null;
  if (tree) {
    result.rootCpuShare = spent > 0 ? (after.root - before.root) / spent : null;
    result.processes = after?.processes ?? null;
  }
  return result;
}

export const median = (values) => {
  const sorted = values.filter((value) => value !== null && value !== undefined && Number.isFinite(value)).sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor((sorted.length - 1) / 2)];
};

/** `{ [field]: median of the rounds' figures }` for each of `fields` of `runs` (one result a round). */
export const medians = (runs, fields) => Object.fromEntries(fields.map((field) => [field, median(runs.map((run) => run[field]))]));

/**
 * An nginx config around `http` (server blocks), files under `work`: one process, or with
 * `workers` a master and that many worker processes (`pid`: the master's pid file, one each).
 */
export function nginxConfig(work, http, { workers, pid = 'nginx.pid' } = {}) {
  const processes = workers === undefined ? 'master_process off; worker_processes 1;' : `master_process on; worker_processes ${workers};`;
  return `daemon off; ${processes} pid ${work}/${pid}; error_log stderr error;
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
 * knowledge when plain; `listen … http2` as nginx 1.22 spells it). With `workers`, a master and
 * that many worker processes (`stop()` ends them all) sharing the listening socket, nginx's
 * default (they took 64 keep-alive connections half and half, as with `reuseport`).
 */
export async function startNginxProxy(work, upstreamPort, tls, { http2 = false, workers } = {}) {
  const port = await freePort();
  const name = `proxy${tls === undefined ? '' : '-tls'}${http2 ? '-h2' : ''}${workers === undefined ? '' : `-w${workers}`}`;
  const conf = join(work, `${name}.conf`);
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
    }`, workers === undefined ? {} : { workers, pid: `${name}.pid` }));
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
 * `{ median, rounds }` of per-round figures, leaving out the rounds without one: null, NaN or
 * infinite, or 0 (a ratio over a smoke run's CPU reading of 0 ticks: /proc counts in 10 ms).
 */
export function perRound(values) {
  const kept = values.filter((value) => Number.isFinite(value) && value > 0);
  return { median: median(kept), rounds: kept };
}

/**
 * `a / b` of `field` round by round (the two rows ran back to back in each round), and the
 * median: `{ median, rounds }`; `{ median: null, rounds: [] }` when either row is missing.
 */
export function perRoundRatio(a, b, field) {
  if (a.missing || b.missing) return { median: null, rounds: [] };
  return perRound(a.runs.map((run, round) => run[field] / b.runs[round][field]));
}

/** `label 0.50× (rounds 0.48, 0.52)`: a per-round ratio as the bench prints it (`label - (no rounds)` without one). */
export function showRatio(label, ratio) {
  const fmt = (value) => Number(value).toFixed(2);
  // A smoke run's CPU can read 0 ticks (/proc counts in 10 ms): no ratio then, not 0.00×.
  return ratio.median === null ? `${label} - (no rounds)` : `${label} ${fmt(ratio.median)}× (rounds ${ratio.rounds.map(fmt).join(', ')})`;
}
