// Upstreams for the per-target tests (SPEC §11): each one names itself, records every request
// it receives with its arrival time and the client's send time (the `x-sent-at` stamp of
// stamped-load.ts), counts health probes apart, and answers `/slow?ms=N` after N ms.
import { performance } from 'node:perf_hooks';
import type { Test } from 'tap';
import { startUpstream, type Upstream } from './upstream.js';

/** One request as the upstream saw it; times are `performance.now()` ms of this process. */
export interface Arrival {
  at: number;
  /** The client's `x-sent-at` stamp, NaN when the request had none. */
  sentAt: number;
  url: string;
}

export interface TargetUpstream {
  name: string;
  url: string;
  /** SPEC §11 target id: `host:port`. */
  id: string;
  upstream: Upstream;
  /** Every request but health probes, in arrival order. */
  arrivals: Arrival[];
  /** Arrival times of health probes (`probePath`). */
  probes: number[];
  /** `/slow` requests being held right now. */
  slowHeld(): number;
}

export const PROBE_PATH = '/healthz';

/** Starts `names.length` upstreams closed at teardown; each answers `{ name }` (JSON) to anything but `/slow?ms=N`. */
export async function targetUpstreamsFor(t: Test, names: readonly string[]): Promise<TargetUpstream[]> {
  return Promise.all(names.map(async (name) => {
    const arrivals: Arrival[] = [];
    const probes: number[] = [];
    let held = 0;
    const upstream = await startUpstream(name, (req, res) => {
      const at = performance.now();
      const url = new URL(req.url ?? '/', 'http://x');
      req.resume();
      if (url.pathname === PROBE_PATH) {
        probes.push(at);
        return void res.end('ok');
      }
      arrivals.push({ at, sentAt: Number(req.headers['x-sent-at'] ?? NaN), url: req.url ?? '/' });
      const body = JSON.stringify({ name });
      const answer = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms')) : 0;
      if (ms <= 0) return answer();
      held++;
      setTimeout(() => {
        held--;
        answer();
      }, ms);
    });
    t.teardown(() => upstream.close());
    return { name, url: upstream.url, id: `127.0.0.1:${upstream.port}`, upstream, arrivals, probes, slowHeld: () => held };
  }));
}

/** Requests each upstream received with arrival in [from, to) (performance.now() ms), by name. */
export function arrivalsBetween(upstreams: readonly TargetUpstream[], from: number, to = Infinity): Map<string, number> {
  return new Map(upstreams.map((upstream) => [upstream.name, upstream.arrivals.filter((arrival) => arrival.at >= from && arrival.at < to).length]));
}
