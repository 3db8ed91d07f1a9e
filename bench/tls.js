// The HTTPS rows of `npm run bench` (issue 14): Switchyard's TLS listener beside nginx's
// `listen … ssl` with the same certificate and key, in front of the same upstream, in the same
// run. Two loads visit them in turn, round after round as the plain rows do:
// - keep-alive req/s: TLS records on warm connections;
// - full handshakes a second: `openssl s_time -new`, each connection a new session (nothing
//   resumed), one `GET /` on it, read to the close. Not wrk with `Connection: close`: wrk
//   keeps its TLS session across reconnects, so those are resumed handshakes.
// Switchyard's ratios to nginx are taken round by round (the two run back to back), medians.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { has, markdownTable, median, start, startNginxProxy, stop, waitForPort, withCpu } from './lib.js';

/** A self-signed ECDSA P-256 pair for localhost and 127.0.0.1, made now in `dir` (no key is ever committed). */
export function makePair(dir) {
  const certFile = join(dir, 'bench-tls.pem');
  const keyFile = join(dir, 'bench-tls.key');
  const run = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
  { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl failed: ${run.stderr || run.error?.message}`);
  return { certFile, keyFile };
}

/** What a client negotiates (protocol, cipher, the certificate's key): both rows must say the same. */
function negotiated(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      const key = cert.asn1Curve ? `ECDSA ${cert.nistCurve ?? cert.asn1Curve}` : `RSA ${cert.bits}`;
      resolve(`${socket.getProtocol()} ${socket.getCipher().name}, ${key} certificate`);
      socket.end();
    });
    socket.once('error', (err) => resolve(`(${err.message})`));
  });
}

/**
 * Full handshakes a second: `processes` × `openssl s_time -new` for `seconds`, each connecting
 * with a new session, sending `GET / HTTP/1.0`, reading the answer until the server closes.
 * A process that fails, or whose connections read nothing, counts as an error.
 */
async function handshakes(url, { processes, seconds }) {
  const started = performance.now();
  const runs = await Promise.all(Array.from({ length: processes }, async () => {
    const child = start('openssl', ['s_time', '-connect', new URL(url).host, '-new', '-time', String(seconds), '-www', '/'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { out += chunk; });
    const [code, signal] = await once(child, 'exit');
    const connections = Number(/(\d+) connections in [\d.]+ real seconds/.exec(out)?.[1] ?? 0);
    const bytes = Number(/(\d+) bytes read per connection/.exec(out)?.[1] ?? 0);
    const failed = code !== 0 || bytes === 0;
    // What s_time said, without its one-mark-per-connection progress line, for latest.json.
    return { connections, failed, said: failed ? `exit ${signal ?? code}: ${out.replace(/^[*rt]+$/gm, '').trim().slice(-300)}` : null };
  }));
  const requests = runs.reduce((sum, run) => sum + run.connections, 0);
  const elapsed = (performance.now() - started) / 1000;
  const failures = runs.filter((run) => run.failed);
  return { requests, rps: requests / elapsed, p50: null, p99: null, errors: failures.length, failures: failures.map((run) => run.said) };
}

/** One load on one row, with the CPU the row's process spent per request (or handshake) over it. */
function measure(entry, run) {
  return withCpu(entry.peer.child.pid, () => run(entry.url));
}

/**
 * Runs the section; `startSwitchyard(pair)` starts a Switchyard with a `tls` block and returns
 * `{ tlsPort, child }`. Returns the figures for latest.json and prints a table and the ratios.
 */
export async function tlsSection({ work, upstreamPort, startSwitchyard, load, rounds, seconds, connections, handshakeProcesses, smoke }) {
  if (!has('openssl')) {
    console.log('\nHTTPS rows: openssl not installed (the bench makes its certificate with it)');
    return { missing: 'openssl not installed' };
  }
  const pair = makePair(work);
  const rows = [];
  const name = 'switchyard (TLS listener, default features)';
  const switchyard = await startSwitchyard(pair).catch(() => null);
  if (switchyard === null) {
    rows.push({ name, missing: 'this build refuses the tls block' });
  } else {
    try {
      // A build that knows the block but has no listener yet starts, with nothing on tls.port.
      await waitForPort(switchyard.tlsPort, 5000);
      rows.push({ name, peer: switchyard, url: `https://127.0.0.1:${switchyard.tlsPort}/` });
    } catch {
      await stop(switchyard.child);
      rows.push({ name, missing: 'no TLS listener in this build' });
    }
  }
  rows.push(has('nginx')
    ? { name: 'nginx (listen ssl)', peer: await startNginxProxy(work, upstreamPort, pair), url: '' }
    : { name: 'nginx (listen ssl)', missing: 'not installed' });
  const live = rows.filter((row) => !row.missing);
  const keepAlive = (url) => load(url);
  const fresh = (url) => handshakes(url, { processes: handshakeProcesses, seconds: smoke ? 1 : seconds });
  for (const row of live) {
    row.url ||= `https://127.0.0.1:${row.peer.port}/`;
    row.negotiated = await negotiated(Number(new URL(row.url).port));
    row.keepAlive = [];
    row.handshakes = [];
    if (!smoke) { // warm-up: JIT, upstream connection pools
      await load(row.url, { seconds: 2 });
      await handshakes(row.url, { processes: handshakeProcesses, seconds: 1 });
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const row of round % 2 === 0 ? live : [...live].reverse()) {
      row.keepAlive.push(await measure(row, keepAlive));
      row.handshakes.push(await measure(row, fresh));
    }
  }
  for (const row of live) await stop(row.peer.child);

  const summary = (runs) => ({
    rps: median(runs.map((run) => run.rps)),
    p50: median(runs.map((run) => run.p50)),
    p99: median(runs.map((run) => run.p99)),
    cpuUsPerRequest: median(runs.map((run) => run.cpuUsPerRequest)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    ...(runs.some((run) => run.failures?.length) ? { failures: runs.flatMap((run) => run.failures ?? []) } : {}),
    rounds: runs.map((run) => Math.round(run.rps)),
  });
  const results = rows.map((row) => (row.missing ? { name: row.name, missing: row.missing } : {
    name: row.name, negotiated: row.negotiated, keepAlive: summary(row.keepAlive), handshakes: summary(row.handshakes),
  }));
  const [sy, ng] = rows;
  const perRound = (of, field) => {
    if (sy.missing || ng.missing) return { median: null, rounds: [] };
    const values = sy[of].map((run, round) => run[field] / ng[of][round][field]).filter(Number.isFinite);
    return { median: median(values), rounds: values };
  };
  // The rates share two cores with their clients (a handshake costs the client about what it
  // costs the server), so CPU per request / per handshake is the server's own cost.
  const ratios = {
    keepAlive: perRound('keepAlive', 'rps'), keepAliveCpu: perRound('keepAlive', 'cpuUsPerRequest'),
    handshakes: perRound('handshakes', 'rps'), handshakeCpu: perRound('handshakes', 'cpuUsPerRequest'),
  };
  print(results, ratios, { connections, handshakeProcesses });
  return { connections, handshakeProcesses, results, switchyardVsNginx: ratios };
}

function print(results, ratios, { connections, handshakeProcesses }) {
  const fmt = (value, digits = 2) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
  const nginx = results.find((result) => result.name.startsWith('nginx') && !result.missing);
  const header = ['https', 'keep-alive req/s', 'p99 ms', 'CPU µs/req', '×nginx', 'handshakes/s', 'CPU µs/handshake', '×nginx', 'errors'];
  const table = results.map((result) => (result.missing ? [result.name, result.missing, '', '', '', '', '', '', ''] : [
    result.name,
    String(Math.round(result.keepAlive.rps)), fmt(result.keepAlive.p99), fmt(result.keepAlive.cpuUsPerRequest, 1),
    nginx ? fmt(result.keepAlive.rps / nginx.keepAlive.rps) : '-',
    String(Math.round(result.handshakes.rps)), fmt(result.handshakes.cpuUsPerRequest, 1),
    nginx ? fmt(result.handshakes.rps / nginx.handshakes.rps) : '-',
    String(result.keepAlive.errors + result.handshakes.errors),
  ]));
  const negotiated = [...new Set(results.filter((result) => !result.missing).map((result) => result.negotiated))].join(' / ');
  console.log(`\nHTTPS (${negotiated}; one pair for both): keep-alive at ${connections} connections; full handshakes: ${handshakeProcesses} × openssl s_time -new, one GET / per connection`);
  console.log(markdownTable(header, table));
  const show = (label, ratio) => `${label} ${fmt(ratio.median)}× (rounds ${ratio.rounds.map((value) => fmt(value)).join(', ')})`;
  if (ratios.keepAlive.median !== null) {
    console.log(`\nswitchyard / nginx over https, per round, median:\n  ${[
      show('keep-alive req/s', ratios.keepAlive), show('CPU per keep-alive request', ratios.keepAliveCpu),
      show('full handshakes/s', ratios.handshakes), show('CPU per handshake', ratios.handshakeCpu),
    ].join('\n  ')}`);
  }
}
