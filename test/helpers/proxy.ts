// Starts a real Switchyard on ephemeral loopback ports with a log sink.
import { resolveConfig } from '../../src/config/load.js';
import { Switchyard, type SwitchyardOptions } from '../../src/main.js';
import type { Probe } from '../../src/health/http-probe.js';
import { LogSink } from './log-sink.js';

export interface TestProxy {
  switchyard: Switchyard;
  url: string;
  admin: string;
  logs: LogSink;
  close(): Promise<void>;
}

/** `pools` maps pool name → target URLs (or a full pool object); other keys override config. */
export async function startProxy(pools: Record<string, string[] | Record<string, unknown>>, overrides: Record<string, unknown> = {},
  options: SwitchyardOptions = {}): Promise<TestProxy> {
  const document = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    pools: Object.fromEntries(Object.entries(pools).map(([name, pool]) => [name, Array.isArray(pool) ? { version: `${name}-v1`, targets: pool } : pool])),
    log: { level: 'info' },
    ...overrides,
  };
  const logs = new LogSink();
  const switchyard = await Switchyard.start(resolveConfig(document, {}), { logDestination: logs, ...options });
  return { switchyard, url: switchyard.proxyUrl, admin: switchyard.adminUrl, logs, close: () => switchyard.close() };
}

/**
 * A probe that finds every target healthy: for data-plane tests about what happens when a
 * target fails between two health checks (the window the retry rules exist for).
 */
export const trustingProbe: Probe = async () => ({ ok: true, status: 200, ms: 0 });
