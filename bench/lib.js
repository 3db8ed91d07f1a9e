// Small process and port helpers shared by bench/run.js and bench/soak.js.
import { connect, createServer } from 'node:net';

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
