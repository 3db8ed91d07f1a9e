// Small process and port helpers shared by bench/run.js, bench/tls.js and bench/soak.js.
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

/** nginx proxying to `upstreamPort` on a fresh port; given `tls` (a cert/key pair), over https. */
export async function startNginxProxy(work, upstreamPort, tls) {
  const port = await freePort();
  const conf = join(work, tls === undefined ? 'proxy.conf' : 'proxy-tls.conf');
  // Debian's nginx 1.22 leaves TLSv1.3 out of its default protocols; Node offers it.
  const ssl = tls === undefined ? '' : `ssl_certificate ${tls.certFile}; ssl_certificate_key ${tls.keyFile}; ssl_protocols TLSv1.2 TLSv1.3;`;
  writeFileSync(conf, nginxConfig(work, `
    upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
    server {
      listen 127.0.0.1:${port}${tls === undefined ? '' : ' ssl'};
      ${ssl}
      keepalive_requests 1000000;
      location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; }
    }`));
  const child = start(which('nginx'), ['-c', conf, '-p', work]);
  await waitForPort(port);
  return { port, child };
}
