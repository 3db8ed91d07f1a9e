// SIGTERM to a real proxy process under load with slow requests in flight: every in-flight
// request completes, new connections are refused, and the process exits 0.
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { spawnCli, type CliChild } from '../helpers/cli.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import { startLoad } from '../helpers/load.js';
import { send, waitFor } from '../helpers/http-client.js';

/** `switchyard start` as a child on free loopback ports, one pool on `upstream`, plus `extra` YAML. */
async function startProxy(t: Test, upstream: string, extra: string): Promise<{ proc: CliChild; port: number; adminPort: number }> {
  const [port, adminPort] = [await closedPort(), await closedPort()];
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-shutdown-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools: { blue: { targets: ["${upstream}"] } }
log: { access: false }
${extra}
`);
  const proc = spawnCli(['start', '--config', config]);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  await proc.waitFor(/switchyard listening/);
  return { proc, port, adminPort };
}

t.test('SIGTERM: in-flight requests finish, new connections are refused, exit 0', async (t) => {
  const blue = await startUpstream('blue', (req, res) => {
    req.resume();
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms')) || 0;
    setTimeout(() => res.end('{"name":"blue"}'), ms);
  });
  t.teardown(() => blue.close());
  const { proc, port, adminPort } = await startProxy(t, blue.url, 'shutdown: { graceMs: 10000 }');
  const proxy = `http://127.0.0.1:${port}`;

  const load = startLoad(proxy, { seconds: 30, connections: 8, path: '/?ms=5' });
  await waitFor('load running', () => load.completed() > 200, { timeoutMs: 10_000 });
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 20 });
  t.teardown(() => keepAlive.destroy());
  const slow = Array.from({ length: 20 }, () => send(proxy, '/?ms=1500', { agent: keepAlive }));
  await waitFor('20 slow requests at the upstream', () => blue.seen.filter((req) => req.url === '/?ms=1500').length === 20, { timeoutMs: 10_000 });

  proc.child.kill('SIGTERM');
  await proc.waitFor(/shutting down gracefully/);
  const readyz = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
  t.equal(readyz.status, 503, '/readyz answers 503 during shutdown');
  await readyz.text();
  const refused = await send(proxy, '/new').then(() => 'accepted', (err: NodeJS.ErrnoException) => err.code);
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused after the signal');

  const answers = await Promise.all(slow);
  t.equal(answers.filter((answer) => answer.status === 200).length, 20, 'all 20 slow requests completed 200');
  t.ok(answers.every((answer) => answer.headers.connection === 'close'), 'answered with Connection: close');
  t.equal(await proc.exited, 0, 'exit 0');
  load.stop();
  const result = await load.done;
  t.comment(`load during shutdown: ${result.requests} requests, ${result.non2xx} non-2xx (errors after the listener closed: ${result.errors})`);
  t.equal(result.non2xx, 0, 'no request got an error status');
  t.match(proc.output(), /switchyard stopped/);
});

t.test('SIGTERM is not held past graceMs by connections that never sent a request (silent, half-closed, a partial head)', async (t) => {
  const blue = await startUpstream('blue');
  t.teardown(() => blue.close());
  // requestHeadMs (how long a connection may take to send its head) far beyond the grace.
  const { proc, port } = await startProxy(t, blue.url, 'shutdown: { graceMs: 1500 }\nlimits: { requestHeadMs: 60000 }');
  const open = (write?: string, halfClose = false) => new Promise<Socket>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      if (write !== undefined) socket.write(write);
      if (halfClose) socket.end();
      resolve(socket);
    });
    socket.on('error', () => undefined);
  });
  // A balancer's TCP check (connect, FIN), a silent connection, one that sent half a head.
  const sockets = [await open(undefined, true), await open(), await open('GET / HTTP/1.1\r\nHost: x\r\n')];
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  // The one that half-closed before saying anything is closed by the proxy at its FIN (it used to
  // sit in CLOSE-WAIT for requestHeadMs); the other two are held, waiting for their heads.
  await waitFor('the half-closed connection closed by the proxy', () => sockets[0]!.destroyed || sockets[0]!.readableEnded, { timeoutMs: 5000 });
  t.ok(sockets.slice(1).every((socket) => !socket.destroyed && !socket.readableEnded), 'the silent and the half-a-head connections are held');
  const began = performance.now();
  proc.child.kill('SIGTERM');
  t.equal(await proc.exited, 0, 'exit 0');
  const took = performance.now() - began;
  t.ok(took < 1500 + 2000, `stopped within the 1.5 s grace (and its own teardown): ${took.toFixed(0)} ms, not requestHeadMs`);
});
