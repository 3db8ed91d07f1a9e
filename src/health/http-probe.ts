// The HTTP probe: `GET path` on a target with a deadline. A fresh connection each time
// (Connection: close) so a check never rides a socket the data plane might be reusing,
// and a dead target is noticed by the next check. An https target is checked with its pool's
// upstream TLS (SPEC §13: CA, client certificate, verify), as its requests are sent.
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { connectOptions } from '../proxy/upstream-client.js';
import { DEFAULT_UPSTREAM_TLS, type UpstreamTlsOptions } from '../tls/upstream-tls.js';
import { statusInRanges, type StatusRanges } from './status-range.js';

export interface ProbeResult {
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

/** What one check does (from a pool's `healthCheck`, SPEC §5 and §14). */
export interface ProbeSettings {
  /** `http` (the default when absent): GET `path`, healthy when the status is in `expect`. */
  type?: 'http' | 'grpc';
  path: string;
  /** The whole check (connect, TLS, answer) within this many ms, else `error: 'timeout'`. */
  timeoutMs: number;
  expect: StatusRanges;
  /** `grpc`: the service asked about in grpc.health.v1 Check; '' (the default) = the whole server. */
  grpcService?: string;
}

/**
 * `servername`: the target's TLS server name (SNI and the name its certificate is checked
 * against), null for none; `tls`: its pool's current upstream TLS options (absent: Node's defaults).
 */
export type Probe = (origin: string, settings: ProbeSettings, servername?: string | null, tls?: UpstreamTlsOptions) => Promise<ProbeResult>;

const agent = new Agent({ pipelining: 0, connections: 1024 });
/**
 * One agent per upstream TLS snapshot (its options are fixed when built); a rotated snapshot
 * gets a new one and the old is collected with it. Its connections close after each check.
 */
const tlsAgents = new WeakMap<UpstreamTlsOptions, Agent>();

function dispatcherFor(origin: string, tls: UpstreamTlsOptions | undefined): Agent {
  if (tls === undefined || tls === DEFAULT_UPSTREAM_TLS || !origin.startsWith('https:')) return agent;
  let tlsAgent = tlsAgents.get(tls);
  if (tlsAgent === undefined) {
    tlsAgent = new Agent({ pipelining: 0, connections: 1024, connect: connectOptions(tls) });
    tlsAgents.set(tls, tlsAgent);
  }
  return tlsAgent;
}

export const httpProbe: Probe = async (origin, { path, timeoutMs, expect }, servername, tls) => {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await request(`${origin}${path}`, {
      method: 'GET',
      dispatcher: dispatcherFor(origin, tls),
      reset: true,
      headers: { 'user-agent': 'switchyard-health-check' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      // undici reads it from dispatch options (its types leave it out); a connection per check, so no reuse to break.
      ...(servername ? { servername } : {}),
    } as Parameters<typeof request>[1]);
    await response.body.dump();
    const ok = statusInRanges(response.statusCode, expect);
    return { ok, status: response.statusCode, ms: elapsed() };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const name = (err as Error).name;
    const error = name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : code ?? (err as Error).message;
    return { ok: false, error, ms: elapsed() };
  }
};
