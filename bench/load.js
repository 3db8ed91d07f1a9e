// The load every row gets: wrk when installed (the same for every row), else autocannon.
import { spawnSync } from 'node:child_process';
import autocannon from 'autocannon';
import { has } from './lib.js';

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

function wrk(url, { connections, seconds }) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url];
  const out = spawnSync('wrk', args, { encoding: 'utf8' }).stdout;
  const line = (label) => out.split('\n').find((text) => text.trim().startsWith(label)) ?? '';
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: msOf(line('50%')),
    p99: msOf(line('99%')),
    bytesPerSec: bytesOf(/Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? '0B'),
    errors: Number(errors) + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  };
}

/** `load(url, { connections, seconds })`; a smoke run sends `smokeRequests` a row instead of running for `seconds`. */
export function loader({ smoke, connections, seconds, smokeRequests }) {
  const name = has('wrk') && !smoke ? 'wrk' : 'autocannon';
  async function load(url, { connections: c = connections, seconds: s = seconds } = {}) {
    if (name === 'wrk') return wrk(url, { connections: c, seconds: s });
    const amount = smoke ? smokeRequests : undefined;
    // An IP address is no SNI name (Node warns): the bench certificate's name instead.
    const servername = url.startsWith('https:') ? { servername: 'localhost' } : {};
    const result = await autocannon({ url, connections: c, ...servername, ...(amount === undefined ? { duration: s } : { amount }) });
    return { requests: result.requests.total, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, bytesPerSec: result.throughput.average, errors: result.errors + result.non2xx };
  }
  return { name, load };
}
