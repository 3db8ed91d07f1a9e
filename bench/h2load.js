// The HTTP/2 rows of `npm run bench` (issue 15): h2load (Debian's nghttp2-client) with h2c
// prior knowledge against Switchyard's plain listener and nginx's `listen … http2`, both
// proxying to the same HTTP/1.1 upstream as the plain rows. The two alternate, round after
// round; Switchyard's ratios to nginx are per round, medians; CPU per request from /proc.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http2 from 'node:http2';
import { has, markdownTable, median, perRoundRatio, showRatio, startNginxProxy, stop, withCpu } from './lib.js';

/** Whether `port` answers one h2c prior-knowledge GET / with a 2xx (a build without h2c does not). */
function speaksH2c(port) {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const done = (ok) => { session.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), 5000);
    session.on('error', () => { clearTimeout(timer); done(false); });
    const stream = session.request({ ':path': '/' });
    stream.on('response', (headers) => { clearTimeout(timer); stream.resume(); done(headers[':status'] >= 200 && headers[':status'] < 300); });
    stream.on('error', () => { clearTimeout(timer); done(false); });
    stream.end();
  });
}

/**
 * One h2load run: `connections` clients, `streams` concurrent streams each, one thread, for
 * `seconds` (or `requests` in all, for smoke runs). Errors: failed, errored, timed-out and
 * non-2xx requests, or a run that printed no summary.
 */
async function h2load(url, { connections, streams, seconds, requests }) {
  const args = ['-t1', `-c${connections}`, `-m${streams}`, ...(requests ? [`-n${requests}`] : [`-D${seconds}`]), url];
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  child.stderr.on('data', (chunk) => { out += chunk; });
  const [code] = await once(child, 'exit');
  const finished = /finished in [\d.]+(?:us|ms|s), ([\d.]+) req\/s/.exec(out);
  const counts = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1];
  if (code !== 0 || finished === null || counts === null) {
    return { requests: 0, rps: 0, meanMs: null, errors: 1, failures: [`h2load exit ${code}: ${out.trim().slice(-300)}`] };
  }
  const [done, , failed, errored, timeout] = counts.slice(2).map(Number);
  const non2xx = codes === null ? 0 : Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  const meanMs = mean === undefined ? null : Number.parseFloat(mean) * (mean.endsWith('us') ? 1e-3 : mean.endsWith('ms') ? 1 : 1000);
  return { requests: done, rps: Number(finished[1]), meanMs, errors: failed + errored + timeout + non2xx };
}

/**
 * Runs the section; `startSwitchyard()` starts a default-features Switchyard in front of the
 * upstream and returns `{ port, child }`. Returns the figures for latest.json.
 */
export async function h2loadSection({ work, upstreamPort, startSwitchyard, rounds, seconds, connections, streams, smoke }) {
  if (!has('h2load')) {
    console.log('\nHTTP/2 rows: h2load not installed, skipped (apt-get install nghttp2-client)');
    return { missing: 'h2load not installed' };
  }
  const rows = [];
  const name = 'switchyard (h2c prior knowledge, default features)';
  const switchyard = await startSwitchyard();
  if (await speaksH2c(switchyard.port)) {
    rows.push({ name, peer: switchyard });
  } else {
    await stop(switchyard.child);
    rows.push({ name, missing: 'no h2c on the plain listener in this build' });
  }
  rows.push(has('nginx')
    ? { name: 'nginx (listen http2)', peer: await startNginxProxy(work, upstreamPort, undefined, { http2: true }) }
    : { name: 'nginx (listen http2)', missing: 'not installed' });
  const live = rows.filter((row) => !row.missing);
  const options = smoke ? { connections: 4, streams: 4, requests: 300 } : { connections, streams, seconds };
  const run = (row) => withCpu(row.peer.child.pid, () => h2load(`http://127.0.0.1:${row.peer.port}/`, options));
  for (const row of live) {
    row.runs = [];
    if (!smoke) await h2load(`http://127.0.0.1:${row.peer.port}/`, { ...options, seconds: 2 }); // warm-up
  }
  for (let round = 0; round < rounds; round++) {
    for (const row of round % 2 === 0 ? live : [...live].reverse()) row.runs.push(await run(row));
  }
  for (const row of live) await stop(row.peer.child);

  const results = rows.map((row) => (row.missing ? { name: row.name, missing: row.missing } : {
    name: row.name,
    rps: median(row.runs.map((r) => r.rps)),
    meanMs: median(row.runs.map((r) => r.meanMs)),
    cpuUsPerRequest: median(row.runs.map((r) => r.cpuUsPerRequest)),
    errors: row.runs.reduce((sum, r) => sum + r.errors, 0),
    ...(row.runs.some((r) => r.failures?.length) ? { failures: row.runs.flatMap((r) => r.failures ?? []).slice(0, 5) } : {}),
    rounds: row.runs.map((r) => Math.round(r.rps)),
  }));
  const [sy, ng] = rows;
  const ratios = { rps: perRoundRatio(sy, ng, 'rps'), cpu: perRoundRatio(sy, ng, 'cpuUsPerRequest') };
  print(results, ratios, smoke ? options : { connections, streams });
  return { connections: options.connections, streams: options.streams, results, switchyardVsNginx: ratios };
}

function print(results, ratios, { connections, streams }) {
  const fmt = (value, digits = 2) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const header = ['http/2 (h2c)', 'req/s', 'mean ms', 'CPU µs/req', 'errors'];
  const table = results.map((result) => (result.missing ? [result.name, result.missing, '', '', ''] : [
    result.name, String(Math.round(result.rps)), fmt(result.meanMs), fmt(result.cpuUsPerRequest, 1), String(result.errors),
  ]));
  console.log(`\nHTTP/2 (h2load -t1 -c${connections} -m${streams}, h2c prior knowledge; HTTP/1.1 upstream)`);
  console.log(markdownTable(header, table));
  if (ratios.rps.median !== null) {
    console.log(`\nswitchyard / nginx over h2c, per round, median:\n  ${[showRatio('req/s', ratios.rps), showRatio('CPU per request', ratios.cpu)].join('\n  ')}`);
  }
}
