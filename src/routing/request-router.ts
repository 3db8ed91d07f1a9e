// Which pool one request goes to (SPEC §4): the override header (if configured, allowed for
// this client, and naming a configured pool) → the sticky cookie (if configured and its pool
// still has weight) → the weighted choice. Also the preview listener's rule: the standby pool.
//
// Allocation-free per request: a route is one of two objects made once per pool, the
// Set-Cookie line is built once per pool, header names are lower-cased at construction.
import type { IncomingHttpHeaders } from 'node:http';
import type { BlockList } from 'node:net';
import { addressAllowed, allowList } from './override.js';
import { cookieValue, stickyCookieHeader } from './sticky.js';

export interface RoutablePool {
  readonly name: string;
  /** The pool's current weight (0..100). */
  readonly weight: number;
}

/** What routing needs of a request. */
export interface RoutableRequest {
  readonly headers: IncomingHttpHeaders;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

export interface Route<P> {
  readonly pool: P;
  /** The `Set-Cookie` value the response must carry (sticky cookie missing, invalid or stale), or null. */
  readonly setCookie: string | null;
}

export interface RequestRouterOptions<P, R> {
  /** The weighted choice: the last step, and the only one when nothing else is configured. */
  weighted(req: R): P | undefined;
  /** A configured pool by name (undefined for anything else). */
  named(name: string): P | undefined;
  /** routing.stickyCookie */
  stickyCookie?: string | undefined;
  /** routing.overrideHeader (any casing) */
  overrideHeader?: string | undefined;
  /** routing.overrideAllow: client CIDRs that may use the override header; undefined = anyone. */
  overrideAllow?: readonly string[] | undefined;
}

interface PoolRoutes<P> {
  plain: Route<P>;
  withCookie: Route<P>;
}

export class RequestRouter<P extends RoutablePool, R extends RoutableRequest = RoutableRequest> {
  private readonly weighted: (req: R) => P | undefined;
  private readonly named: (name: string) => P | undefined;
  private readonly cookieName: string | null;
  private readonly overrideHeader: string | null;
  private readonly allow: BlockList | null;
  private readonly routes = new WeakMap<P, PoolRoutes<P>>();

  constructor(options: RequestRouterOptions<P, R>) {
    this.weighted = options.weighted;
    this.named = options.named;
    this.cookieName = options.stickyCookie ?? null;
    this.overrideHeader = options.overrideHeader?.toLowerCase() ?? null;
    this.allow = options.overrideAllow === undefined ? null : allowList(options.overrideAllow);
  }

  /** True when routing.stickyCookie is configured: routes may ask for a Set-Cookie. */
  get sticky(): boolean {
    return this.cookieName !== null;
  }

  /** The route for a request, or undefined when no pool has weight (and nothing overrode that). */
  route(req: R): Route<P> | undefined {
    if (this.overrideHeader !== null) {
      const value = req.headers[this.overrideHeader];
      if (typeof value === 'string' && (this.allow === null || addressAllowed(this.allow, req.socket.remoteAddress))) {
        const pool = this.named(value);
        // Even a pool at weight 0: testers reach green before the flip. The cookie stays as it is.
        if (pool !== undefined) return this.routesOf(pool).plain;
      }
    }
    if (this.cookieName !== null) {
      const header = req.headers.cookie;
      if (header !== undefined) {
        const value = cookieValue(header, this.cookieName);
        const pool = value === undefined ? undefined : this.named(value);
        if (pool !== undefined && pool.weight > 0) return this.routesOf(pool).plain;
      }
      const pool = this.weighted(req);
      return pool === undefined ? undefined : this.routesOf(pool).withCookie;
    }
    const pool = this.weighted(req);
    return pool === undefined ? undefined : this.routesOf(pool).plain;
  }

  private routesOf(pool: P): PoolRoutes<P> {
    let routes = this.routes.get(pool);
    if (routes === undefined) {
      const setCookie = this.cookieName === null ? null : stickyCookieHeader(this.cookieName, pool.name);
      routes = { plain: { pool, setCookie: null }, withCookie: { pool, setCookie } };
      this.routes.set(pool, routes);
    }
    return routes;
  }
}

/**
 * The preview listener's pool: the standby pool (weight 0); in a split with none at 0, the one
 * with the lowest weight; ties go to the first in config order. Read fresh on every request.
 */
export function standbyPool<P extends RoutablePool>(pools: readonly P[]): P | undefined {
  let best: P | undefined;
  for (const pool of pools) if (best === undefined || pool.weight < best.weight) best = pool;
  return best;
}
