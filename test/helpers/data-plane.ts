// Shared setup for data-plane tests: a proxy in front of real upstreams, all closed on
// teardown, plus access-log lookups and the "still serves" check every error test ends with.
import type { Test } from 'tap';
import { startProxy, trustingProbe, type TestProxy } from './proxy.js';
import { startUpstream, type Handler, type Upstream } from './upstream.js';
import { send, waitFor } from './http-client.js';
import type { Target } from '../../src/pool/target.js';

/** Starts an upstream that is closed when the test ends. */
export async function upstreamFor(t: Test, name: string, handler?: Handler, port?: number): Promise<Upstream> {
  const upstream = await startUpstream(name, handler, port);
  t.teardown(() => upstream.close());
  return upstream;
}

/** Starts a proxy that is closed when the test ends (before its upstreams, which were registered earlier). */
export async function proxyFor(t: Test, pools: Record<string, string[] | Record<string, unknown>>, overrides: Record<string, unknown> = {}): Promise<TestProxy> {
  // Data-plane tests exercise failures that happen between health checks, so every target
  // starts ready; the active checker has its own tests.
  const proxy = await startProxy(pools, overrides, { probe: trustingProbe });
  // Teardowns run in reverse order of registration: the proxy goes before the upstreams.
  // close() waits for in-flight upstream requests; tests that leave some hanging end them first.
  t.teardown(() => proxy.close());
  return proxy;
}

export type AccessLine = Record<string, unknown> & {
  reqId: string; method: string; url: string; status: number; ms: number; pool: string | null;
  version: string | null; target: string | null; retries: number; bytes: number; error?: string;
};

export function accessLines(proxy: TestProxy): AccessLine[] {
  return proxy.logs.find({ kind: 'access' }) as AccessLine[];
}

/** The access line for a URL, waiting for it to be written (exchanges that end by abort log a little later). */
export function accessFor(proxy: TestProxy, url: string, timeoutMs = 5000): Promise<AccessLine> {
  return waitFor(`access log line for ${url}`, () => accessLines(proxy).find((line) => line.url === url), { timeoutMs });
}

/** The proxy still answers a normal request after whatever the test did to it. */
export async function assertServes(t: Test, proxy: TestProxy, path = '/ok'): Promise<void> {
  const answer = await send(proxy.url, path);
  t.equal(answer.status, 200, `proxy still serves ${path}`);
}

/** Every pool's in-flight counters are back to zero (nothing leaked by an aborted exchange). */
export function inflightTotal(proxy: TestProxy): number {
  let total = 0;
  for (const pool of proxy.switchyard.pools.pools) {
    total += pool.inflight;
    for (const target of pool.targets) total += target.inflight;
  }
  return total;
}

/** Every passive-health observation the proxy makes from now on (true = ok), in order. */
export function spyObservations(proxy: TestProxy): boolean[] {
  const seen: boolean[] = [];
  const ejector = proxy.switchyard.ejector;
  const observe = ejector.observe.bind(ejector);
  ejector.observe = (target: Target, ok: boolean) => {
    seen.push(ok);
    observe(target, ok);
  };
  return seen;
}
