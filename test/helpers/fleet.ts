// Several Switchyard instances sharing one private redis-server, for fleet tests.
import type { Test } from 'tap';
import { startProxy, type TestProxy } from './proxy.js';
import { startUpstream, type Upstream } from './upstream.js';

export interface TestFleet {
  blue: Upstream;
  green: Upstream;
  instances: TestProxy[];
  /** Starts one more instance on the same Redis and prefix. */
  add(): Promise<TestProxy>;
}

export async function fleetFor(t: Test, redisUrl: string, count: number, prefix = 'test:', extra: Record<string, unknown> = {}): Promise<TestFleet> {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  t.teardown(async () => {
    await blue.close();
    await green.close();
  });
  const instances: TestProxy[] = [];
  // `extra.state` adds to the Redis state block (e.g. opTimeoutMs) instead of replacing it.
  const { state, ...rest } = extra as { state?: Record<string, unknown> };
  const add = async () => {
    const proxy = await startProxy({ blue: [blue.url], green: [green.url] }, { state: { store: 'redis', url: redisUrl, prefix, ...state }, log: { access: false }, ...rest });
    t.teardown(() => proxy.close());
    instances.push(proxy);
    return proxy;
  };
  for (let i = 0; i < count; i++) await add();
  return { blue, green, instances, add };
}

export async function admin(proxy: TestProxy, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${proxy.admin}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

export async function servedBy(proxy: TestProxy): Promise<string> {
  const response = await fetch(`${proxy.url}/`);
  return ((await response.json()) as { name: string }).name;
}
